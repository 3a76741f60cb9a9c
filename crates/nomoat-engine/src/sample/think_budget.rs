//! A thinking budget as a [`Constraint`]: after `budget` tokens inside the reasoning block, the
//! close tag's tokens are forced one by one, so the model moves on to its answer. Outside the
//! block (and once it closed) it allows everything. [`Both`] runs it next to another
//! constraint (a lazy tool-call grammar).

use std::sync::Arc;

use super::constraint::{Constraint, ConstraintBox};

/// A token's text (special tokens as their text).
pub type PieceFn = Arc<dyn Fn(u32) -> String + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the open tag.
    Before,
    /// Inside the block, `n` tokens so far.
    Inside(usize),
    /// Forcing `close[i]`.
    Forcing(usize),
    /// The block is over.
    Done,
}

/// Ends a reasoning block after `budget` tokens by forcing its close tag.
#[derive(Clone)]
pub struct ThinkBudget {
    /// The tags as text: spotted in the output text, whatever tokens wrote them.
    open: String,
    close_text: String,
    /// The close tag's tokens, forced in order.
    close: Vec<u32>,
    piece: PieceFn,
    budget: usize,
    state: State,
    /// The end of the output text, as long as the longer tag.
    recent: String,
}

impl ThinkBudget {
    /// `open` / `close`: the tags; `close_ids`: the close tag's tokens (as the tokenizer writes
    /// it); `piece`: a token's text; `starts_inside`: the prompt already opened the block.
    /// Budget 0 closes the block as soon as it opens.
    pub fn new(
        open: &str,
        close: &str,
        close_ids: Vec<u32>,
        piece: PieceFn,
        budget: usize,
        starts_inside: bool,
    ) -> ThinkBudget {
        let mut b = ThinkBudget {
            open: open.to_owned(),
            close_text: close.to_owned(),
            close: close_ids,
            piece,
            budget,
            state: State::Before,
            recent: String::new(),
        };
        if starts_inside {
            b.enter();
        }
        b
    }

    fn enter(&mut self) {
        self.state = if self.budget == 0 && !self.close.is_empty() {
            State::Forcing(0)
        } else {
            State::Inside(0)
        };
    }

    fn ends_with(&self, tag: &str) -> bool {
        !tag.is_empty() && self.recent.ends_with(tag)
    }
}

impl Constraint for ThinkBudget {
    fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
        if let State::Forcing(i) = self.state {
            let want = self.close[i] as usize;
            if want >= logits.len() {
                return Err(format!("close-tag token {want} is outside the vocabulary"));
            }
            // A grammar that masked earlier (see [`Both`]) wins: when it forbids the tag's
            // token here, this step is free and the tag is tried again at the next one.
            if !logits[want].is_finite() {
                return Ok(());
            }
            for (t, l) in logits.iter_mut().enumerate() {
                if t != want {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, token: u32) -> Result<bool, String> {
        if self.state == State::Done {
            return Ok(false);
        }
        self.recent.push_str(&(self.piece)(token));
        let keep = self.open.len().max(self.close_text.len()).max(1);
        if self.recent.len() > keep {
            let mut cut = self.recent.len() - keep;
            while !self.recent.is_char_boundary(cut) {
                cut += 1;
            }
            self.recent.drain(..cut);
        }
        self.state = match self.state {
            State::Before if self.ends_with(&self.open) => {
                self.recent.clear();
                self.enter();
                self.state
            }
            State::Inside(_) if self.ends_with(&self.close_text) => State::Done,
            State::Inside(n) if n + 1 >= self.budget && !self.close.is_empty() => State::Forcing(0),
            State::Inside(n) => State::Inside(n + 1),
            // The token taken was not the tag's (a grammar forbade it): try again.
            State::Forcing(i) if token != self.close[i] => State::Forcing(i),
            State::Forcing(i) if i + 1 >= self.close.len() => State::Done,
            State::Forcing(i) => State::Forcing(i + 1),
            s => s,
        };
        Ok(false)
    }

    fn fork(&self) -> Box<dyn Constraint> {
        Box::new(self.clone())
    }
}

/// Two constraints at once: both mask (the first first: put the grammar there, the budget
/// second), both advance; complete when either is.
pub struct Both(pub ConstraintBox, pub ConstraintBox);

impl Constraint for Both {
    fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
        self.0 .0.mask(logits)?;
        self.1 .0.mask(logits)
    }

    fn accept(&mut self, token: u32) -> Result<bool, String> {
        let a = self.0 .0.accept(token)?;
        let b = self.1 .0.accept(token)?;
        Ok(a || b)
    }

    fn fork(&self) -> Box<dyn Constraint> {
        Box::new(Both(self.0.clone(), self.1.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Token `i` is the letter `"abcdefghij"[i]`: open is `b` (1), close `cd` (2, 3).
    fn letters() -> PieceFn {
        Arc::new(|t| ((b'a' + t as u8) as char).to_string())
    }

    fn budget(open: &str, close: &[u32], n: usize, inside: bool) -> ThinkBudget {
        let close_text: String = close.iter().map(|&t| (letters())(t)).collect();
        ThinkBudget::new(open, &close_text, close.to_vec(), letters(), n, inside)
    }

    /// Runs `b` over `model`'s preferred tokens (it always wants `want`), returning the tokens
    /// actually taken (the forced one when the mask left only it).
    fn run(b: &mut ThinkBudget, wants: &[u32], n_vocab: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for &want in wants {
            let mut logits = vec![0.0f32; n_vocab];
            b.mask(&mut logits).unwrap();
            let t = if logits[want as usize].is_finite() {
                want
            } else {
                logits.iter().position(|l| l.is_finite()).unwrap() as u32
            };
            b.accept(t).unwrap();
            out.push(t);
        }
        out
    }

    #[test]
    fn the_close_tag_is_forced_after_the_budget() {
        // open = [1], close = [2, 3]; the model would think (token 7) forever.
        let mut b = budget("b", &[2, 3], 3, false);
        let got = run(&mut b, &[5, 1, 7, 7, 7, 7, 7, 9, 9], 10);
        assert_eq!(got, vec![5, 1, 7, 7, 7, 2, 3, 9, 9]);
    }

    #[test]
    fn a_block_closed_in_time_is_left_alone() {
        let mut b = budget("b", &[2], 5, false);
        assert_eq!(
            run(&mut b, &[1, 7, 2, 9, 1, 7, 7, 7, 7, 7, 7], 10),
            vec![1, 7, 2, 9, 1, 7, 7, 7, 7, 7, 7]
        );
    }

    #[test]
    fn a_grammar_that_forbids_the_tag_delays_it() {
        // A first stage that forbids token 2 once: the tag waits one step.
        struct NoTwoOnce(bool);
        impl Constraint for NoTwoOnce {
            fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
                if !self.0 {
                    logits[2] = f32::NEG_INFINITY;
                }
                Ok(())
            }
            fn accept(&mut self, _: u32) -> Result<bool, String> {
                self.0 = true;
                Ok(false)
            }
            fn fork(&self) -> Box<dyn Constraint> {
                Box::new(NoTwoOnce(self.0))
            }
        }
        let mut both = Both(
            ConstraintBox(Box::new(NoTwoOnce(false))),
            ConstraintBox(Box::new(budget("b", &[2], 0, true))),
        );
        let mut taken = Vec::new();
        for want in [7u32, 7, 9] {
            let mut logits = vec![0.0f32; 10];
            both.mask(&mut logits).unwrap();
            let t = if logits[want as usize].is_finite() {
                want
            } else {
                logits.iter().position(|l| l.is_finite()).unwrap() as u32
            };
            both.accept(t).unwrap();
            taken.push(t);
        }
        assert_eq!(taken, vec![7, 2, 9]);
    }

    #[test]
    fn starting_inside_and_budget_zero() {
        let mut b = budget("b", &[2], 2, true);
        assert_eq!(run(&mut b, &[7, 7, 7, 9], 10), vec![7, 7, 2, 9]);
        let mut b = budget("b", &[2], 0, true);
        assert_eq!(run(&mut b, &[7, 9], 10), vec![2, 9]);
        let mut b = budget("be", &[2], 0, false);
        assert_eq!(run(&mut b, &[1, 4, 7, 9], 10), vec![1, 4, 2, 9]);
    }
}
