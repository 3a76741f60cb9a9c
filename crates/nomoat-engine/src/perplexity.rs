//! Perplexity with llama.cpp's method (`llama-perplexity`, its default path):
//!
//! - the whole text is tokenized once, with BOS when the model adds one;
//! - it is cut into `n_chunk = n_tokens / n_ctx` non-overlapping windows of `n_ctx` tokens (the
//!   tail is dropped), each evaluated from an empty cache with its first token replaced by BOS;
//! - in each window only the second half is scored: logits at positions `n_ctx/2 .. n_ctx-2`
//!   predict the tokens after them (`n_ctx - 1 - n_ctx/2` per window);
//! - PPL = exp(mean NLL); its standard error is `sqrt((E[nll²] - E[nll]²) / (N - 1)) · PPL`.

use std::time::Instant;

use crate::generate::{GenerateError, Session};
use crate::sample::{log_sum_exp, TokenId};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    pub ppl: f64,
    pub ppl_stderr: f64,
    pub n_chunks: usize,
    /// Tokens evaluated (n_chunks × n_ctx).
    pub tokens: usize,
    /// Tokens scored.
    pub scored: usize,
    pub seconds: f64,
}

impl Perplexity {
    pub fn tokens_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.tokens as f64 / self.seconds
        } else {
            0.0
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PerplexityError {
    #[error(
        "the text has {tokens} tokens; at least 2 × the context ({n_ctx}) = {} are needed",
        2 * n_ctx
    )]
    TooShort { tokens: usize, n_ctx: usize },
    #[error("context {n_ctx} is too small (at least 4) or above the session's {session}")]
    BadContext { n_ctx: usize, session: usize },
    #[error(transparent)]
    Generate(#[from] GenerateError),
}

/// Computes the perplexity of `tokens` (tokenized with BOS by the caller, as llama.cpp does) in
/// windows of `n_ctx`. `on_chunk(done, total, running_ppl)` is called after each window.
pub fn perplexity(
    session: &mut Session,
    tokens: &[TokenId],
    n_ctx: usize,
    bos: Option<TokenId>,
    on_chunk: &mut dyn FnMut(usize, usize, f64),
) -> Result<Perplexity, PerplexityError> {
    if n_ctx < 4 || n_ctx > session.n_ctx() {
        return Err(PerplexityError::BadContext {
            n_ctx,
            session: session.n_ctx(),
        });
    }
    if tokens.len() < 2 * n_ctx {
        return Err(PerplexityError::TooShort {
            tokens: tokens.len(),
            n_ctx,
        });
    }
    let n_chunks = tokens.len() / n_ctx;
    let first = n_ctx / 2;
    let (mut nll, mut nll2, mut count) = (0.0f64, 0.0f64, 0usize);
    let mut window = vec![0; n_ctx];
    let t0 = Instant::now();
    for c in 0..n_chunks {
        let chunk = &tokens[c * n_ctx..(c + 1) * n_ctx];
        window.copy_from_slice(chunk);
        if let Some(b) = bos {
            window[0] = b;
        }
        session.clear()?;
        session.eval(&window, first..n_ctx - 1, &mut |i, row| {
            let target = chunk[i + 1] as usize;
            let lp = row.get(target).map_or(f64::NEG_INFINITY, |&l| l as f64) - log_sum_exp(row);
            nll -= lp;
            nll2 += lp * lp;
        })?;
        count += n_ctx - 1 - first;
        on_chunk(c + 1, n_chunks, (nll / count as f64).exp());
    }
    let seconds = t0.elapsed().as_secs_f64();
    let n = count as f64;
    let mean = nll / n;
    let ppl = mean.exp();
    let var = nll2 / n - mean * mean;
    let ppl_stderr = if var > 0.0 && count > 1 {
        (var / (n - 1.0)).sqrt() * ppl
    } else {
        0.0
    };
    Ok(Perplexity {
        ppl,
        ppl_stderr,
        n_chunks,
        tokens: n_chunks * n_ctx,
        scored: count,
        seconds,
    })
}
