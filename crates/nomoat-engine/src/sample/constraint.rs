//! Constrained decoding: the stage before every other sampler that removes the tokens a grammar
//! (JSON schema, regex, Lark) does not allow next. The engine knows only this trait; the grammar
//! engine behind it lives in `nomoat-grammar`.

use std::fmt;

/// What a grammar allows next, and how it moves on.
pub trait Constraint: Send {
    /// Sets `logits[t]` to `-inf` for every token `t` the grammar forbids at this position.
    /// `logits` has one entry per vocabulary token. At least one token stays allowed, or this is
    /// an error.
    fn mask(&mut self, logits: &mut [f32]) -> Result<(), String>;
    /// Advances past `token` (which [`Constraint::mask`] allowed). Returns true when the output is
    /// complete: the grammar allows nothing more, so generation ends here.
    fn accept(&mut self, token: u32) -> Result<bool, String>;
    /// An independent copy in the same state (the other choices of an `n > 1` request).
    fn fork(&self) -> Box<dyn Constraint>;
}

/// A boxed [`Constraint`] that clones by forking, so a request carrying one stays `Clone`.
pub struct ConstraintBox(pub Box<dyn Constraint>);

impl Clone for ConstraintBox {
    fn clone(&self) -> Self {
        ConstraintBox(self.0.fork())
    }
}

impl fmt::Debug for ConstraintBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Constraint")
    }
}

/// Test helper and the simplest real constraint: only the tokens of `allowed[i]` at step `i`,
/// complete after the last step.
#[derive(Debug, Clone)]
pub struct Sequential {
    pub allowed: Vec<Vec<u32>>,
    pub step: usize,
}

impl Constraint for Sequential {
    fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
        let ok = self
            .allowed
            .get(self.step)
            .ok_or_else(|| "the constraint is already complete".to_string())?;
        if !ok.iter().any(|&t| (t as usize) < logits.len()) {
            return Err(format!("no allowed token at step {}", self.step));
        }
        for (t, l) in logits.iter_mut().enumerate() {
            if !ok.contains(&(t as u32)) {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    fn accept(&mut self, token: u32) -> Result<bool, String> {
        let ok = self
            .allowed
            .get(self.step)
            .ok_or_else(|| "the constraint is already complete".to_string())?;
        if !ok.contains(&token) {
            return Err(format!(
                "token {token} is not allowed at step {}",
                self.step
            ));
        }
        self.step += 1;
        Ok(self.step == self.allowed.len())
    }

    fn fork(&self) -> Box<dyn Constraint> {
        Box::new(self.clone())
    }
}
