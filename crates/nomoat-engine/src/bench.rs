//! Speed measurements with llama-bench's method: a test is `n_prompt` tokens in one batch (pp)
//! and/or `n_gen` tokens one at a time (tg), after `n_depth` tokens already in the cache (filled
//! before each repetition, not timed). Token ids are random valid ids (the first one BOS); one
//! untimed warm-up run precedes the repetitions. Sampling and tokenization are not timed.

use std::time::Instant;

use crate::generate::{GenerateError, Session};
use crate::sample::{Rng, TokenId};

/// One test's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchTest {
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
}

impl BenchTest {
    /// llama-bench's name: `pp512`, `tg128`, `pp512 @ d2048`.
    pub fn name(&self) -> String {
        let mut s = if self.n_prompt > 0 && self.n_gen == 0 {
            format!("pp{}", self.n_prompt)
        } else if self.n_gen > 0 && self.n_prompt == 0 {
            format!("tg{}", self.n_gen)
        } else {
            format!("pp{}+tg{}", self.n_prompt, self.n_gen)
        };
        if self.n_depth > 0 {
            s.push_str(&format!(" @ d{}", self.n_depth));
        }
        s
    }

    /// Tokens a repetition processes (what t/s counts).
    pub fn n_tokens(&self) -> usize {
        self.n_prompt + self.n_gen
    }
}

/// Runs `reps` timed repetitions (after one warm-up) and returns each one's nanoseconds.
/// `n_batch` is the prompt batch size (the prompt goes in `ceil(n_prompt / n_batch)` forwards).
pub fn run_test(
    session: &mut Session,
    test: BenchTest,
    n_batch: usize,
    reps: usize,
    seed: u64,
) -> Result<Vec<u64>, GenerateError> {
    let n_vocab = session.model().n_vocab();
    let bos = session.model().tokenizer.bos();
    let mut rng = Rng::new(seed);
    let mut random_tokens = |n: usize, first_bos: bool| -> Vec<TokenId> {
        (0..n)
            .map(|i| match bos {
                Some(b) if i == 0 && first_bos => b,
                _ => (rng.next_u64() % n_vocab as u64) as TokenId,
            })
            .collect()
    };
    let depth = random_tokens(test.n_depth, true);
    let prompt = random_tokens(test.n_prompt, test.n_depth == 0);
    let gen = random_tokens(test.n_gen.max(1), test.n_depth == 0 && test.n_prompt == 0);

    let one = |session: &mut Session, n_gen: usize, timed: bool| -> Result<u64, GenerateError> {
        session.clear()?;
        if !depth.is_empty() {
            eval_batched(session, &depth, n_batch)?;
        }
        let t = Instant::now();
        if !prompt.is_empty() {
            eval_batched(session, &prompt, n_batch)?;
        }
        for &tok in &gen[..n_gen] {
            session.eval(&[tok], 0..1, &mut |_, _| {})?;
        }
        Ok(if timed {
            t.elapsed().as_nanos() as u64
        } else {
            0
        })
    };
    // Warm-up: the prompt, and one generated token.
    one(session, test.n_gen.min(1), false)?;
    (0..reps).map(|_| one(session, test.n_gen, true)).collect()
}

/// Evaluates `tokens` `n_batch` at a time, logits for the last token of each batch.
fn eval_batched(
    session: &mut Session,
    tokens: &[TokenId],
    n_batch: usize,
) -> Result<(), GenerateError> {
    for chunk in tokens.chunks(n_batch.max(1)) {
        session.eval(chunk, chunk.len() - 1..chunk.len(), &mut |_, _| {})?;
    }
    Ok(())
}

/// Mean and sample standard deviation (Bessel's correction, as llama-bench).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_llama_bench() {
        let t = |p, g, d| BenchTest {
            n_prompt: p,
            n_gen: g,
            n_depth: d,
        };
        assert_eq!(t(512, 0, 0).name(), "pp512");
        assert_eq!(t(0, 128, 0).name(), "tg128");
        assert_eq!(t(512, 0, 2048).name(), "pp512 @ d2048");
    }

    #[test]
    fn mean_and_bessel_sd() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert_eq!(mean_sd(&[5.0]), (5.0, 0.0));
    }
}
