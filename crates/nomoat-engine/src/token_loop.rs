//! The one token loop: the per-sequence state machine ([`Sequence`]) and the forward pass it
//! rides on ([`Step`]). Both drivers run it:
//!
//! - the server's engine thread (`scheduler/engine_loop.rs`) plans one [`Step`] over many
//!   sequences (decode tokens first, then prompt chunks, within a token budget and the free KV
//!   blocks), runs it, and hands every sequence its rows with [`Sequence::advance`];
//! - the CLI's [`crate::generate::Session`] does the same with one sequence and no scheduler
//!   (its budget is `--batch-size`), keeping the KV cache between calls so a chat's next turn only
//!   evaluates what is new.
//!
//! A sequence is `tokens = prompt ++ generated`, of which the KV cache holds
//! `tokens[..n_computed]`. Every step feeds it `tokens[n_computed..n_computed + n]`; prefill and
//! decode are the same thing (decode is a chunk of one). When a chunk reaches the end of
//! `tokens`, its last row's logits are sampled: the new token is appended, decoded, checked
//! against end-of-generation (unless `ignore_eos`), stop strings and the limits, and sent as an
//! [`Event`]. Shapes: `rows` handed to `advance` are `n_rows × n_vocab` f32, row-major, one row
//! per position for which [`Sequence::wants_row`] holds, in position order.
//!
//! Once warm nothing here allocates per token except the decoded text of the token (and the
//! log-prob lists when asked): the batch, the plan and the logits are reused, and the plan
//! records row ranges instead of row lists.

use std::panic::{catch_unwind, AssertUnwindSafe};

use nomoat_models::{Batch, ModelError, SeqId};

use crate::request::{
    EngineError, Event, EventSink, FinishReason, GenRequest, TokenLogprob, Usage,
};
use crate::runner::{IncrementalDecoder, ModelRunner, Vocab};
use crate::sample::{log_softmax_top_n, log_sum_exp, Constraint, SamplerChain};
use crate::stop::StopStrings;

/// Why a forward pass gave no usable logits.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("forward pass: {0}")]
    Model(#[from] ModelError),
    #[error("the model returned {got} logits, {want} expected")]
    TooFewLogits { got: usize, want: usize },
    #[error("internal error: the model panicked")]
    Panicked,
}

/// What to do with a sequence after [`Sequence::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// More tokens to feed.
    Continue,
    /// `Done` was sent.
    Finished,
    /// The sink is closed (client gone, Ctrl-C): nothing more is sent.
    Cancelled,
}

/// One request's state in the token loop (see the module doc).
pub struct Sequence {
    /// Prompt, then every generated token. The KV cache holds `tokens[..n_computed]`.
    tokens: Vec<u32>,
    n_prompt: usize,
    n_computed: usize,
    max_tokens: usize,
    generated: usize,
    cached_tokens: usize,
    logprobs: Option<usize>,
    /// Prompt log-probs being collected (`Some` until sent).
    prompt_lp: Option<Vec<Option<TokenLogprob>>>,
    ignore_eos: bool,
    sampler: SamplerChain,
    decoder: Box<dyn IncrementalDecoder>,
    stop: StopStrings,
    /// Reused by the log-prob computations.
    top: Vec<(u32, f64)>,
    /// The output grammar, if any: it masks the row before the sampler chain sees it.
    constraint: Option<Box<dyn Constraint>>,
    /// The masked copy of the row (allocated only for a constrained sequence).
    masked: Vec<f32>,
}

impl Sequence {
    /// A sequence for `req` with nothing computed yet. The sampler's penalty window starts over
    /// the prompt, as in llama.cpp.
    pub fn new(req: GenRequest, n_vocab: usize, decoder: Box<dyn IncrementalDecoder>) -> Sequence {
        let GenRequest {
            prompt,
            max_tokens,
            sampling,
            stop,
            logprobs,
            prompt_logprobs,
            ignore_eos,
            constraint,
            render_special: _,
        } = req;
        let mut sampler = SamplerChain::new(sampling, n_vocab);
        for &t in &prompt {
            sampler.accept(t);
        }
        let n_prompt = prompt.len();
        let mut tokens = prompt;
        tokens.reserve(max_tokens.saturating_add(1).min(1 << 20));
        Sequence {
            tokens,
            n_prompt,
            n_computed: 0,
            max_tokens,
            generated: 0,
            cached_tokens: 0,
            logprobs,
            prompt_lp: prompt_logprobs.then(Vec::new),
            ignore_eos,
            sampler,
            decoder,
            stop: StopStrings::new(stop),
            top: Vec::new(),
            constraint: constraint.map(|c| c.0),
            masked: Vec::new(),
        }
    }

    /// Prompt followed by the generated tokens.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    pub fn n_prompt(&self) -> usize {
        self.n_prompt
    }
    /// Tokens whose K/V are in the cache.
    pub fn n_computed(&self) -> usize {
        self.n_computed
    }
    /// Tokens still to feed.
    pub fn remaining(&self) -> usize {
        self.tokens.len() - self.n_computed
    }
    pub fn generated(&self) -> usize {
        self.generated
    }
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }
    /// Whether every prompt position's logits are wanted (echo scoring): such a sequence
    /// cannot reuse cached KV, since every position must be computed.
    pub fn collects_prompt_logprobs(&self) -> bool {
        self.prompt_lp.is_some()
    }

    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.n_prompt,
            completion_tokens: self.generated,
            cached_tokens: self.cached_tokens,
        }
    }

    /// The KV cache already holds `tokens[..n]` (a reused prefix; `n` must leave at least the
    /// last token to compute, whose logits start generation). The first call also records them
    /// as cached tokens for [`Usage`].
    pub fn set_reused(&mut self, n: usize) {
        debug_assert!(n < self.tokens.len());
        if self.n_computed == 0 && self.cached_tokens == 0 {
            self.cached_tokens = n;
        }
        self.n_computed = n;
    }

    /// Forget the KV (the sequence was preempted): it is recomputed from its tokens.
    pub fn restart(&mut self) {
        self.n_computed = 0;
        if let Some(lp) = self.prompt_lp.as_mut() {
            lp.clear();
        }
    }

    /// Whether position `pos` needs a logits row: the last token (its row is sampled), and
    /// every prompt position but the last while prompt log-probs are collected.
    pub fn wants_row(&self, pos: usize) -> bool {
        (self.prompt_lp.is_some() && pos + 1 < self.n_prompt) || pos + 1 == self.tokens.len()
    }

    /// How many tokens to feed in a step with `budget` tokens and `rows_left` logits rows left:
    /// at most the budget; with prompt log-probs, at most one row per token; otherwise the last
    /// token (which needs a row) waits when no row is left. 0 means "nothing this step".
    pub fn chunk_len(&self, budget: usize, rows_left: usize) -> usize {
        let remaining = self.remaining();
        let mut n = remaining.min(budget);
        if self.prompt_lp.is_some() {
            n = n.min(rows_left);
        } else if n == remaining && n > 0 && rows_left == 0 {
            n -= 1;
        }
        n
    }

    /// Appends the next `n` tokens to `batch` as sequence `id`; returns the logits rows they
    /// take.
    pub fn push_chunk(&self, batch: &mut Batch, id: SeqId, n: usize) -> usize {
        let mut rows = 0;
        for pos in self.n_computed..self.n_computed + n {
            let want = self.wants_row(pos);
            rows += usize::from(want);
            batch.push(self.tokens[pos], pos as u32, id, want);
        }
        rows
    }

    /// Uses one step's result for this sequence: the chunk of `n` tokens pushed by
    /// [`Sequence::push_chunk`] is now in the KV cache and `rows` holds its logits rows. Collects
    /// prompt log-probs, samples when the chunk reached the end, and sends the events.
    /// `n_ctx` is the most tokens the KV may hold for this sequence.
    pub fn advance(
        &mut self,
        n: usize,
        rows: &[f32],
        n_vocab: usize,
        n_ctx: usize,
        vocab: &dyn Vocab,
        sink: &mut dyn EventSink,
    ) -> Outcome {
        let start = self.n_computed;
        let mut sample_row: Option<usize> = None;
        let mut r = 0;
        for pos in start..start + n {
            if !self.wants_row(pos) {
                continue;
            }
            let row = &rows[r * n_vocab..(r + 1) * n_vocab];
            if pos + 1 < self.n_prompt {
                if let Some(lp) = self.prompt_lp.as_mut() {
                    let n_top = self.logprobs.unwrap_or(0);
                    let next = self.tokens[pos + 1];
                    lp.push(Some(token_logprob(row, next, n_top, &mut self.top)));
                }
            }
            if pos + 1 == self.tokens.len() {
                sample_row = Some(r);
            }
            r += 1;
        }
        self.n_computed = start + n;
        if self.n_computed >= self.n_prompt {
            if let Some(mut lp) = self.prompt_lp.take() {
                lp.insert(0, None);
                if !sink.send(Event::PromptLogprobs(lp)) {
                    return Outcome::Cancelled;
                }
            }
        }
        if self.generated >= self.max_tokens {
            if self.n_computed >= self.tokens.len() {
                sink.send(Event::Done {
                    finish_reason: FinishReason::Length,
                    usage: self.usage(),
                    stop: None,
                });
                return Outcome::Finished;
            }
            return Outcome::Continue;
        }
        let Some(r) = sample_row else {
            return Outcome::Continue;
        };
        if sink.is_closed() {
            return Outcome::Cancelled;
        }
        let row = &rows[r * n_vocab..(r + 1) * n_vocab];
        // A grammar first removes what it forbids; the sampler chain sees only the rest.
        let mut complete = false;
        let id = match self.constraint.as_mut() {
            None => self.sampler.sample(row),
            Some(c) => {
                self.masked.clear();
                self.masked.extend_from_slice(row);
                let picked = c
                    .mask(&mut self.masked)
                    .map(|()| self.sampler.sample(&self.masked));
                match picked.and_then(|id| c.accept(id).map(|done| (id, done))) {
                    Ok((id, done)) => {
                        complete = done;
                        id
                    }
                    Err(e) => {
                        sink.send(Event::Error(EngineError::Constraint(e)));
                        return Outcome::Finished;
                    }
                }
            }
        };
        self.sampler.accept(id);
        let logprob = self
            .logprobs
            .map(|k| token_logprob(row, id, k, &mut self.top));
        self.tokens.push(id);
        self.generated += 1;

        let mut text = String::new();
        let finish = if !self.ignore_eos && vocab.is_eog(id) {
            // The end-of-generation token itself has no text; release what was held back.
            self.finish_text(&mut text);
            Some(FinishReason::Stop)
        } else {
            let piece = self.decoder.push(id);
            if self.stop.push(&piece, &mut text) {
                Some(FinishReason::Stop)
            } else if complete {
                // The grammar is complete: nothing more may follow.
                self.finish_text(&mut text);
                Some(FinishReason::Stop)
            } else if self.generated >= self.max_tokens || self.n_computed >= n_ctx {
                // The new token is not fed: the KV holds n_computed tokens, and may not hold more.
                Some(self.finish_text(&mut text))
            } else {
                None
            }
        };
        if !sink.send(Event::Token { id, text, logprob }) {
            return Outcome::Cancelled;
        }
        match finish {
            Some(finish_reason) => {
                sink.send(Event::Done {
                    finish_reason,
                    usage: self.usage(),
                    stop: self.stop.matched().map(str::to_string),
                });
                Outcome::Finished
            }
            None => Outcome::Continue,
        }
    }

    /// The end of the text: what the decoder still holds (an unfinished UTF-8 sequence) goes
    /// through the stop strings, then what they held back is released. `Stop` when the tail
    /// completed a stop string. Also used by a driver that cancels (Ctrl-C keeps what was said).
    pub fn finish_text(&mut self, out: &mut String) -> FinishReason {
        let tail = self.decoder.finish();
        if self.stop.push(&tail, out) {
            FinishReason::Stop
        } else {
            self.stop.flush(out);
            FinishReason::Length
        }
    }
}

/// Log-prob of `id` and the top `n` alternatives in one raw logits row.
fn token_logprob(row: &[f32], id: u32, n: usize, top: &mut Vec<(u32, f64)>) -> TokenLogprob {
    let lse = log_sum_exp(row);
    log_softmax_top_n(row, n, top);
    TokenLogprob {
        id,
        logprob: row
            .get(id as usize)
            .map_or(f64::NEG_INFINITY, |&l| f64::from(l) - lse),
        top: top.clone(),
    }
}

/// One sequence's share of a step: `n` tokens from `start`, whose logits are rows
/// `first_row..first_row + n_rows` of the step's logits. `key` is the driver's name for the
/// sequence (the server's admission order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub key: u64,
    pub start: usize,
    pub n: usize,
    pub first_row: usize,
    pub n_rows: usize,
}

/// One forward pass: the batch being assembled, which sequence owns which rows, and the logits
/// (`n_rows × n_vocab`). Reused across steps, so planning allocates nothing once warm.
#[derive(Default)]
pub struct Step {
    batch: Batch,
    plan: Vec<Planned>,
    logits: Vec<f32>,
    n_rows: usize,
}

impl Step {
    pub fn new() -> Step {
        Step::default()
    }

    /// Starts a new step (keeps the buffers).
    pub fn clear(&mut self) {
        self.batch.clear();
        self.plan.clear();
        self.n_rows = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Tokens in the batch so far.
    pub fn n_tokens(&self) -> usize {
        self.batch.len()
    }

    /// Logits rows the batch will produce.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Adds the next `n` tokens of `seq` (KV sequence `id`), as [`Sequence::push_chunk`].
    pub fn push_chunk(&mut self, key: u64, seq: &Sequence, id: SeqId, n: usize) -> Planned {
        let first_row = self.n_rows;
        let n_rows = seq.push_chunk(&mut self.batch, id, n);
        self.n_rows += n_rows;
        let p = Planned {
            key,
            start: seq.n_computed(),
            n,
            first_row,
            n_rows,
        };
        self.plan.push(p);
        p
    }

    /// Adds one raw token (for drivers that feed tokens without a [`Sequence`], such as
    /// perplexity and bench).
    pub fn push_token(&mut self, token: u32, pos: u32, id: SeqId, want_logits: bool) {
        self.n_rows += usize::from(want_logits);
        self.batch.push(token, pos, id, want_logits);
    }

    /// What was planned, in batch order.
    pub fn planned(&self) -> &[Planned] {
        &self.plan
    }

    /// Runs the batch. A panic in the model becomes [`StepError::Panicked`], so one bad request
    /// cannot take the server's engine thread down.
    pub fn forward<R: ModelRunner + ?Sized>(&mut self, runner: &mut R) -> Result<(), StepError> {
        let (batch, logits) = (&self.batch, &mut self.logits);
        let want = self.n_rows * runner.n_vocab();
        match catch_unwind(AssertUnwindSafe(|| runner.forward(batch, logits))) {
            Ok(Ok(())) if self.logits.len() >= want => Ok(()),
            Ok(Ok(())) => Err(StepError::TooFewLogits {
                got: self.logits.len(),
                want,
            }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StepError::Panicked),
        }
    }

    /// The logits rows of `p` (`p.n_rows × n_vocab`).
    pub fn rows(&self, p: &Planned, n_vocab: usize) -> &[f32] {
        &self.logits[p.first_row * n_vocab..(p.first_row + p.n_rows) * n_vocab]
    }

    /// Row `r` of the step's logits.
    pub fn row(&self, r: usize, n_vocab: usize) -> &[f32] {
        &self.logits[r * n_vocab..(r + 1) * n_vocab]
    }
}
