//! The sampler chain, after llama.cpp's `llama_sampler` interface.
//!
//! A [`Candidates`] array holds one entry per token still in play. Each sampler is a small object
//! that rewrites, reorders or truncates it ([`Sampler::apply`]); stateful ones (penalties) also see
//! every accepted token ([`Sampler::accept`]). A [`Chain`] applies its members in order and is
//! itself a sampler. [`SamplerChain`] builds llama.cpp's default chain from [`SamplingParams`]:
//! logit bias → penalties → top-k → typical → top-p → min-p → temperature → pick (greedy or a
//! seeded draw).
//!
//! Buffers are reused between calls, so once warmed up sampling a token allocates nothing.

mod chain;
mod constraint;
mod dist;
mod logit_bias;
mod logprobs;
mod min_p;
mod penalties;
mod rng;
mod temperature;
mod think_budget;
mod top_k;
mod top_p;
mod typical;

pub use chain::{Chain, SamplerChain, SamplingParams};
pub use constraint::{Constraint, ConstraintBox, Sequential};
pub use dist::{Dist, Greedy};
pub use logit_bias::LogitBias;
pub use logprobs::{log_softmax_top_n, log_sum_exp};
pub use min_p::MinP;
pub use penalties::Penalties;
pub use rng::{entropy_seed, Rng};
pub use temperature::Temperature;
pub use think_budget::{Both, PieceFn, ThinkBudget};
pub use top_k::TopK;
pub use top_p::TopP;
pub use typical::Typical;

/// A token id, as the tokenizer and the model use it.
pub type TokenId = u32;

/// One candidate token: its (possibly adjusted) logit and, after a softmax, its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenData {
    pub id: TokenId,
    pub logit: f32,
    pub p: f32,
}

/// The tokens still in play and what the chain knows about their order.
#[derive(Debug, Default, Clone)]
pub struct Candidates {
    pub data: Vec<TokenData>,
    /// `data` is sorted by logit, highest first.
    pub sorted: bool,
    /// `data[i].id == i` for every `i` (fresh from [`Candidates::fill`]): samplers that touch a few
    /// known ids (penalties, logit bias) can index directly instead of scanning.
    pub identity: bool,
    /// Index into `data` of the chosen token, set by the final sampler.
    pub selected: Option<usize>,
}

impl Candidates {
    /// Refills from raw logits (one per vocabulary entry), reusing the buffer.
    pub fn fill(&mut self, logits: &[f32]) {
        self.data.clear();
        self.data
            .extend(logits.iter().enumerate().map(|(i, &logit)| TokenData {
                id: i as TokenId,
                logit,
                p: 0.0,
            }));
        self.sorted = false;
        self.identity = true;
        self.selected = None;
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Sorts all candidates by logit, highest first (ties keep id order, so results are stable).
    pub fn sort_desc(&mut self) {
        if !self.sorted {
            self.data.sort_unstable_by(cmp_desc);
            self.sorted = true;
            self.identity = false;
        }
    }

    /// Puts the `k` highest logits first, in order; the rest follow in no particular order.
    /// With `k >= len` this is a full sort.
    pub fn partial_sort_desc(&mut self, k: usize) {
        if self.sorted {
            return;
        }
        if k >= self.data.len() {
            self.sort_desc();
            return;
        }
        if k == 0 {
            return;
        }
        self.data.select_nth_unstable_by(k - 1, cmp_desc);
        self.data[..k].sort_unstable_by(cmp_desc);
        self.identity = false;
    }

    /// Keeps the first `n` candidates.
    pub fn truncate(&mut self, n: usize) {
        if n < self.data.len() {
            self.data.truncate(n);
            self.identity = false;
        }
    }

    /// Sets `p` to the softmax of the logits, in f32 as llama.cpp does. Does not reorder.
    pub fn softmax(&mut self) {
        let max = self
            .data
            .iter()
            .map(|t| t.logit)
            .fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            // Every logit is -inf (or NaN): nothing is more likely than anything else.
            let n = self.data.len().max(1) as f32;
            for t in &mut self.data {
                t.p = 1.0 / n;
            }
            return;
        }
        let mut sum = 0.0f32;
        for t in &mut self.data {
            t.p = (t.logit - max).exp();
            sum += t.p;
        }
        for t in &mut self.data {
            t.p /= sum;
        }
    }

    /// Index of the highest logit (the first one on ties).
    pub fn argmax(&self) -> Option<usize> {
        if self.sorted {
            return (!self.data.is_empty()).then_some(0);
        }
        let mut best: Option<usize> = None;
        for (i, t) in self.data.iter().enumerate() {
            let better = match best {
                None => true,
                Some(b) => t.logit > self.data[b].logit,
            };
            if better {
                best = Some(i);
            }
        }
        best
    }
}

/// Highest logit first; equal logits by ascending id. NaN sorts last.
fn cmp_desc(a: &TokenData, b: &TokenData) -> std::cmp::Ordering {
    b.logit
        .partial_cmp(&a.logit)
        .unwrap_or_else(|| a.logit.is_nan().cmp(&b.logit.is_nan()))
        .then(a.id.cmp(&b.id))
}

/// One step of the chain. `apply` may rewrite logits, reorder or truncate the candidates, or set
/// `selected`; `accept` tells stateful samplers which token was finally chosen.
pub trait Sampler: Send {
    fn name(&self) -> &'static str;
    fn apply(&mut self, c: &mut Candidates);
    fn accept(&mut self, _token: TokenId) {}
    fn reset(&mut self) {}
}

#[cfg(test)]
pub(crate) fn cands(logits: &[f32]) -> Candidates {
    let mut c = Candidates::default();
    c.fill(logits);
    c
}
