//! [`Chain`] (samplers applied in order) and [`SamplerChain`], llama.cpp's default chain built
//! from [`SamplingParams`], with a fast path for greedy decoding.

use super::{
    Candidates, Dist, Greedy, LogitBias, MinP, Penalties, Sampler, Temperature, TokenId, TopK,
    TopP, Typical,
};

/// Samplers applied in order; itself a [`Sampler`].
#[derive(Default)]
pub struct Chain {
    pub samplers: Vec<Box<dyn Sampler>>,
}

impl Chain {
    pub fn push(&mut self, s: impl Sampler + 'static) {
        self.samplers.push(Box::new(s));
    }
}

impl Sampler for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }
    fn apply(&mut self, c: &mut Candidates) {
        for s in &mut self.samplers {
            s.apply(c);
        }
    }
    fn accept(&mut self, token: TokenId) {
        for s in &mut self.samplers {
            s.accept(token);
        }
    }
    fn reset(&mut self) {
        for s in &mut self.samplers {
            s.reset();
        }
    }
}

/// Sampling settings, named and defaulted as in llama.cpp's `common_params_sampling`.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Temperature; `<= 0` is greedy.
    pub temp: f32,
    /// `<= 0` disables.
    pub top_k: i32,
    /// `>= 1` disables.
    pub top_p: f32,
    /// `<= 0` disables.
    pub min_p: f32,
    /// Locally typical sampling; `>= 1` disables.
    pub typical_p: f32,
    /// 1.0 disables.
    pub repeat_penalty: f32,
    /// Window of the penalties in tokens (0 disables them).
    pub repeat_last_n: usize,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// Keep at least this many candidates in the truncating samplers.
    pub min_keep: usize,
    /// The same seed gives the same tokens.
    pub seed: u64,
    pub logit_bias: Vec<(TokenId, f32)>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temp: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            min_keep: 0,
            seed: 0,
            logit_bias: Vec::new(),
        }
    }
}

impl SamplingParams {
    /// Greedy settings: temperature 0, everything else off.
    pub fn greedy() -> Self {
        SamplingParams {
            temp: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..Default::default()
        }
    }

    /// Whether the chain always picks the highest adjusted logit. Top-k, top-p and min-p always
    /// keep the most likely token, so with temperature <= 0 only typical-p can change the pick.
    pub fn is_greedy(&self) -> bool {
        self.temp <= 0.0 && self.typical_p >= 1.0
    }
}

/// llama.cpp's default chain: logit bias → penalties → top-k → typical → top-p → min-p →
/// temperature → draw (or greedy). Owns its buffers, so sampling allocates nothing once warm.
pub struct SamplerChain {
    params: SamplingParams,
    bias: LogitBias,
    penalties: Penalties,
    /// The truncation, temperature and final samplers, after bias and penalties.
    rest: Chain,
    cands: Candidates,
    /// Greedy fast path: adjusted copy of the logits.
    scratch: Vec<f32>,
}

impl SamplerChain {
    pub fn new(params: SamplingParams, vocab_size: usize) -> Self {
        let mut rest = Chain::default();
        rest.push(TopK(params.top_k));
        rest.push(Typical::new(params.typical_p, params.min_keep));
        rest.push(TopP {
            p: params.top_p,
            min_keep: params.min_keep,
        });
        rest.push(MinP {
            p: params.min_p,
            min_keep: params.min_keep,
        });
        rest.push(Temperature(params.temp));
        if params.temp <= 0.0 {
            rest.push(Greedy);
        } else {
            rest.push(Dist::new(params.seed));
        }
        SamplerChain {
            bias: LogitBias {
                biases: params.logit_bias.clone(),
            },
            penalties: Penalties::new(
                params.repeat_last_n,
                params.repeat_penalty,
                params.frequency_penalty,
                params.presence_penalty,
                vocab_size,
            ),
            params,
            rest,
            cands: Candidates {
                data: Vec::with_capacity(vocab_size),
                ..Default::default()
            },
            scratch: Vec::with_capacity(vocab_size),
        }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Picks the next token from one row of raw logits (one per vocabulary entry). Does not
    /// [`accept`](Self::accept) it: the caller does, once it keeps the token.
    pub fn sample(&mut self, logits: &[f32]) -> TokenId {
        if self.params.is_greedy() {
            self.scratch.clear();
            self.scratch.extend_from_slice(logits);
            self.bias.adjust_logits(&mut self.scratch);
            self.penalties.adjust_logits(&mut self.scratch);
            return argmax(&self.scratch);
        }
        self.cands.fill(logits);
        self.bias.apply(&mut self.cands);
        self.penalties.apply(&mut self.cands);
        self.rest.apply(&mut self.cands);
        match self.cands.selected.and_then(|i| self.cands.data.get(i)) {
            Some(t) => t.id,
            // Every candidate was removed (all logits NaN): fall back to the raw argmax.
            None => argmax(logits),
        }
    }

    /// Records a token of the sequence (prompt or generated) for the penalties' window.
    pub fn accept(&mut self, token: TokenId) {
        self.penalties.accept(token);
        self.rest.accept(token);
    }

    /// Forgets the window and restarts the random stream from the seed.
    pub fn reset(&mut self) {
        self.penalties.reset();
        self.rest.reset();
    }
}

/// Index of the highest value (first on ties; NaN never wins).
pub fn argmax(xs: &[f32]) -> TokenId {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &x) in xs.iter().enumerate() {
        if x > best_v {
            best_v = x;
            best = i;
        }
    }
    best as TokenId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_fast_path_matches_generic_chain() {
        let logits: Vec<f32> = (0..300).map(|i| ((i * 37) % 101) as f32 * 0.1).collect();
        let mut params = SamplingParams::greedy();
        params.repeat_penalty = 1.5;
        params.logit_bias = vec![(3, 2.0)];
        let mut fast = SamplerChain::new(params.clone(), 300);
        // The same settings driven through the generic candidate path by hand.
        let mut slow = SamplerChain::new(params, 300);
        for step in 0..20 {
            let a = fast.sample(&logits);
            slow.cands.fill(&logits);
            slow.bias.apply(&mut slow.cands);
            slow.penalties.apply(&mut slow.cands);
            slow.rest.apply(&mut slow.cands);
            let b = slow.cands.data[slow.cands.selected.unwrap()].id;
            assert_eq!(a, b, "step {step}");
            fast.accept(a);
            slow.accept(b);
        }
    }
}
