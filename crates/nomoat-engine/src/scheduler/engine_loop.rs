//! The engine loop: one thread owns the model and the KV cache and runs steps.
//!
//! Each step: take new requests, drop cancelled ones (client gone → blocks freed now), admit
//! waiting requests while their blocks fit, then build one batch of the decode token of every
//! running sequence plus prompt chunks of sequences still prefilling, within a token budget, so
//! a long prompt is spread over several steps instead of stalling the streams. Decoding and
//! prefilling are the same thing here: a sequence feeds `tokens[n_computed..]`, and when its
//! chunk reaches the end it samples the next token. When blocks run short the youngest sequence
//! is preempted (its blocks freed, recomputed later from its tokens), never the process.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use super::backend::{Backend, IncrementalDecoder, SeqId, StepBatch, Vocab};
use super::handle::{EngineStats, Permit, SchedulerConfig};
use super::prefix::PrefixCache;
use super::types::{Event, EventSink, FinishReason, GenRequest, TokenLogprob, Usage};
use crate::sample::{log_softmax_top_n, log_sum_exp, SamplerChain};
use crate::stop::StopStrings;

pub(super) struct Submission {
    pub req: GenRequest,
    pub sink: Box<dyn EventSink>,
    pub permit: Permit,
}

pub(super) enum Msg {
    Submit(Box<Submission>),
    Shutdown,
}

/// One request inside the loop.
struct Seq {
    /// Admission order: older sequences get the budget first and are preempted last.
    order: u64,
    sink: Box<dyn EventSink>,
    _permit: Permit,
    /// Prompt, then every generated token. KV holds `tokens[..n_computed]`.
    tokens: Vec<u32>,
    n_prompt: usize,
    n_computed: usize,
    seq: Option<SeqId>,
    max_tokens: usize,
    generated: usize,
    cached_tokens: usize,
    logprobs: Option<usize>,
    /// Prompt log-probs being collected (`Some` until sent).
    prompt_lp: Option<Vec<Option<TokenLogprob>>>,
    registered: bool,
    sampler: SamplerChain,
    decoder: Box<dyn IncrementalDecoder>,
    stop: StopStrings,
}

impl Seq {
    fn remaining(&self) -> usize {
        self.tokens.len() - self.n_computed
    }
    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.n_prompt,
            completion_tokens: self.generated,
            cached_tokens: self.cached_tokens,
        }
    }
}

/// One sequence's share of a step: `n` tokens from `start`, and which of them produce logits.
struct Planned {
    order: u64,
    start: usize,
    n: usize,
    /// Positions (absolute) with a logits row, in order.
    rows: Vec<usize>,
}

pub(super) struct EngineLoop<B: Backend> {
    backend: B,
    vocab: Arc<dyn Vocab>,
    cfg: SchedulerConfig,
    stats: Arc<EngineStats>,
    rx: Receiver<Msg>,
    waiting: VecDeque<Seq>,
    /// Sorted by `order`.
    running: Vec<Seq>,
    cache: PrefixCache,
    batch: StepBatch,
    logits: Vec<f32>,
    next_order: u64,
}

/// What to do with a sequence after its logits were used.
enum Outcome {
    Continue,
    Finished,
    Cancelled,
}

impl<B: Backend> EngineLoop<B> {
    pub(super) fn new(
        backend: B,
        vocab: Arc<dyn Vocab>,
        cfg: SchedulerConfig,
        stats: Arc<EngineStats>,
        rx: Receiver<Msg>,
    ) -> Self {
        let cache = PrefixCache::new(backend.block_size(), cfg.prefix_cache_entries);
        let lp = EngineLoop {
            backend,
            vocab,
            cfg,
            stats,
            rx,
            waiting: VecDeque::new(),
            running: Vec::new(),
            cache,
            batch: StepBatch::default(),
            logits: Vec::new(),
            next_order: 0,
        };
        lp.publish();
        lp
    }

    pub(super) fn run(mut self) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                match self.rx.recv() {
                    Ok(Msg::Submit(s)) => self.accept(*s),
                    Ok(Msg::Shutdown) | Err(_) => break,
                }
            }
            let mut stop = false;
            loop {
                match self.rx.try_recv() {
                    Ok(Msg::Submit(s)) => self.accept(*s),
                    Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            if stop {
                break;
            }
            self.reap_cancelled();
            self.admit();
            let plan = self.plan();
            if !plan.is_empty() {
                self.step(plan);
            }
            self.publish();
        }
        self.stop_all();
    }

    fn accept(&mut self, s: Submission) {
        let Submission { req, sink, permit } = s;
        let mut sampler = SamplerChain::new(req.sampling, self.backend.n_vocab());
        // The penalties' window starts over the prompt, as in llama-server.
        for &t in &req.prompt {
            sampler.accept(t);
        }
        let n_prompt = req.prompt.len();
        let seq = Seq {
            order: self.next_order,
            sink,
            _permit: permit,
            tokens: req.prompt,
            n_prompt,
            n_computed: 0,
            seq: None,
            max_tokens: req.max_tokens,
            generated: 0,
            cached_tokens: 0,
            logprobs: req.logprobs,
            prompt_lp: req.prompt_logprobs.then(Vec::new),
            registered: false,
            sampler,
            decoder: self.vocab.decoder(),
            stop: StopStrings::new(req.stop),
        };
        self.next_order += 1;
        self.waiting.push_back(seq);
    }

    fn release(&mut self, s: &mut Seq) {
        if let Some(id) = s.seq.take() {
            self.backend.free_seq(id);
        }
    }

    fn reap_cancelled(&mut self) {
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].sink.is_closed() {
                let mut s = self.running.remove(i);
                self.release(&mut s);
                self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            } else {
                i += 1;
            }
        }
        let before = self.waiting.len();
        self.waiting.retain(|s| !s.sink.is_closed());
        let gone = before - self.waiting.len();
        self.stats
            .cancelled
            .fetch_add(gone as u64, Ordering::Relaxed);
    }

    /// Free blocks until `need` are free: prefix-cache entries first (LRU).
    fn evict_cache_for(&mut self, need: usize) -> bool {
        while self.backend.n_free_blocks() < need {
            match self.cache.evict_lru() {
                Some(seq) => self.backend.free_seq(seq),
                None => return false,
            }
        }
        true
    }

    /// Blocks the running sequences still need for their pending tokens plus one more.
    fn running_reserve(&self) -> usize {
        self.running
            .iter()
            .filter_map(|s| {
                s.seq
                    .map(|id| self.backend.blocks_needed(id, s.remaining() + 1))
            })
            .sum()
    }

    fn admit(&mut self) {
        while self.running.len() < self.cfg.max_running.max(1) {
            let Some(mut s) = self.waiting.pop_front() else {
                break;
            };
            if s.max_tokens == 0 && s.prompt_lp.is_none() {
                // Nothing to compute: report the prompt and stop.
                let usage = s.usage();
                s.sink.send(Event::Done {
                    finish_reason: FinishReason::Length,
                    usage,
                });
                continue;
            }
            let Some(id) = self.backend.alloc_seq().or_else(|| {
                self.cache.evict_lru().and_then(|c| {
                    self.backend.free_seq(c);
                    self.backend.alloc_seq()
                })
            }) else {
                self.waiting.push_front(s);
                break;
            };
            // Reuse cached whole blocks of the prompt, leaving at least one token to compute
            // (its logits start the generation). Not while prompt log-probs are wanted: those
            // need every prompt position computed.
            let mut reused = 0;
            if s.prompt_lp.is_none() {
                if let Some(hit) = self.cache.lookup(&s.tokens, s.tokens.len() - 1) {
                    if self.backend.fork_prefix(hit.seq, id, hit.n_tokens).is_ok() {
                        reused = hit.n_tokens;
                    }
                }
            }
            let need = self.backend.blocks_needed(id, s.tokens.len() - reused + 1);
            let reserve = self.running_reserve();
            if !self.evict_cache_for(need + reserve) {
                self.backend.free_seq(id);
                let bs = self.backend.block_size().max(1);
                let need_alone = (s.tokens.len() + 1).div_ceil(bs);
                if self.running.is_empty() && self.backend.n_free_blocks() < need_alone {
                    s.sink.send(Event::Error(format!(
                        "the request needs {need_alone} KV blocks but the cache has {}; \
                         lower max_tokens or raise --ctx",
                        self.backend.n_free_blocks()
                    )));
                    continue;
                }
                self.waiting.push_front(s);
                break;
            }
            if reused > 0 && s.n_computed == 0 && s.cached_tokens == 0 {
                s.cached_tokens = reused;
                self.stats.prefix_hits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .prefix_hit_tokens
                    .fetch_add(reused as u64, Ordering::Relaxed);
            }
            s.seq = Some(id);
            s.n_computed = reused;
            let pos = self.running.partition_point(|r| r.order < s.order);
            self.running.insert(pos, s);
        }
    }

    /// Preempt the youngest running sequence younger than `than`: free its blocks, requeue it
    /// to be recomputed from its tokens.
    fn preempt_youngest(&mut self, than: u64) -> bool {
        match self.running.last() {
            Some(last) if last.order > than => {}
            _ => return false,
        }
        let Some(mut s) = self.running.pop() else {
            return false;
        };
        self.release(&mut s);
        s.n_computed = 0;
        if let Some(lp) = s.prompt_lp.as_mut() {
            lp.clear();
        }
        self.stats.preemptions.fetch_add(1, Ordering::Relaxed);
        // Older than everything still waiting: it goes first.
        self.waiting.push_front(s);
        true
    }

    /// Fill `self.batch` for this step.
    fn plan(&mut self) -> Vec<Planned> {
        self.batch.clear();
        let mut plan: Vec<Planned> = Vec::new();
        let mut budget = self.cfg.step_tokens.max(1);
        let mut rows_left = self.cfg.max_logit_rows.max(1);
        let mut committed = 0usize;
        // Pass 1: the decode token of every sequence, oldest first; preempt the youngest if a
        // new block is needed and none is free.
        let mut i = 0;
        while i < self.running.len() && budget > 0 && rows_left > 0 {
            let (order, id, remaining) = {
                let s = &self.running[i];
                (s.order, s.seq, s.remaining())
            };
            let Some(id) = id else {
                i += 1;
                continue;
            };
            if remaining != 1 {
                i += 1;
                continue;
            }
            // Blocks already promised to earlier rows of this step count as taken.
            let need = self.backend.blocks_needed(id, 1) + committed;
            if need > committed && !self.evict_cache_for(need) {
                while self.backend.n_free_blocks() < need && self.preempt_youngest(order) {}
                if self.backend.n_free_blocks() < need {
                    i += 1;
                    continue;
                }
            }
            committed = need;
            let s = &self.running[i];
            let pos = s.n_computed;
            self.batch.push(s.tokens[pos], pos as u32, id, true);
            plan.push(Planned {
                order,
                start: pos,
                n: 1,
                rows: vec![pos],
            });
            budget -= 1;
            rows_left -= 1;
            i += 1;
        }
        // Pass 2: prompt chunks, oldest first, shrunk to the free blocks and the budget.
        for i in 0..self.running.len() {
            if budget == 0 {
                break;
            }
            let (id, remaining, collecting) = {
                let s = &self.running[i];
                (s.seq, s.remaining(), s.prompt_lp.is_some())
            };
            let Some(id) = id else { continue };
            if remaining <= 1 {
                continue;
            }
            let mut n = remaining.min(budget);
            if collecting {
                // One logits row per prompt position.
                n = n.min(rows_left);
            } else if n == remaining && rows_left == 0 {
                // The last prompt token needs a logits row: leave it for the next step.
                n -= 1;
            }
            let bs = self.backend.block_size().max(1);
            while n > 0 {
                let need = self.backend.blocks_needed(id, n) + committed;
                if need <= self.backend.n_free_blocks() || self.evict_cache_for(need) {
                    break;
                }
                n = n.saturating_sub(bs);
            }
            if n == 0 {
                continue;
            }
            committed += self.backend.blocks_needed(id, n);
            let s = &self.running[i];
            let end = s.n_computed + n;
            let mut rows = Vec::new();
            for pos in s.n_computed..end {
                let want = (collecting && pos + 1 < s.n_prompt) || pos + 1 == s.tokens.len();
                if want {
                    rows.push(pos);
                }
                self.batch.push(s.tokens[pos], pos as u32, id, want);
            }
            rows_left = rows_left.saturating_sub(rows.len());
            budget -= n;
            plan.push(Planned {
                order: s.order,
                start: s.n_computed,
                n,
                rows,
            });
        }
        if plan.is_empty() && !self.running.is_empty() {
            // Nothing fits: make room by preempting the youngest; a lone sequence that cannot
            // progress can never finish.
            if !self.preempt_youngest(self.running[0].order) {
                let mut s = self.running.remove(0);
                self.release(&mut s);
                s.sink.send(Event::Error(
                    "out of KV cache blocks for this request; raise --ctx".into(),
                ));
            }
        }
        plan
    }

    fn step(&mut self, plan: Vec<Planned>) {
        let n_vocab = self.backend.n_vocab();
        let n_ctx = self.backend.n_ctx();
        let backend = &mut self.backend;
        let batch = &self.batch;
        let logits = &mut self.logits;
        let result = catch_unwind(AssertUnwindSafe(|| backend.forward(batch, logits)));
        let err = match result {
            Ok(Ok(())) if self.logits.len() >= batch.n_logit_rows() * n_vocab => None,
            Ok(Ok(())) => Some("the model returned too few logits".to_string()),
            Ok(Err(e)) => Some(e),
            Err(_) => Some("internal error: the model panicked".to_string()),
        };
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = err {
            for p in &plan {
                if let Some(i) = self.running.iter().position(|s| s.order == p.order) {
                    let mut s = self.running.remove(i);
                    self.release(&mut s);
                    s.sink.send(Event::Error(e.clone()));
                }
            }
            return;
        }
        let mut row = 0usize;
        for p in plan {
            let first_row = row;
            row += p.rows.len();
            let Some(i) = self.running.iter().position(|s| s.order == p.order) else {
                continue;
            };
            let logits = std::mem::take(&mut self.logits);
            let outcome = {
                let s = &mut self.running[i];
                let vocab = self.vocab.clone();
                let stats = &self.stats;
                catch_unwind(AssertUnwindSafe(|| {
                    advance(
                        s,
                        &p,
                        &logits,
                        first_row,
                        n_vocab,
                        n_ctx,
                        vocab.as_ref(),
                        stats,
                    )
                }))
            };
            self.logits = logits;
            let outcome = outcome.unwrap_or_else(|_| {
                let s = &mut self.running[i];
                s.sink
                    .send(Event::Error("internal error while sampling".into()));
                Outcome::Finished
            });
            match outcome {
                Outcome::Continue => self.maybe_register(i),
                Outcome::Finished | Outcome::Cancelled => {
                    self.maybe_register(i);
                    let mut s = self.running.remove(i);
                    self.release(&mut s);
                    if matches!(outcome, Outcome::Cancelled) {
                        self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Once a prompt is computed, keep its whole blocks in the prefix cache (shared, no copy).
    fn maybe_register(&mut self, i: usize) {
        let s = &self.running[i];
        let Some(id) = s.seq else { return };
        if s.registered || s.n_computed < s.n_prompt {
            return;
        }
        let bs = self.backend.block_size().max(1);
        let k = s.n_prompt / bs * bs;
        let prefix: Vec<u32> = s.tokens[..k].to_vec();
        self.running[i].registered = true;
        if k == 0 || self.cfg.prefix_cache_entries == 0 || self.cache.covered(&prefix) >= k {
            return;
        }
        if self.cache.is_full() {
            if let Some(old) = self.cache.evict_lru() {
                self.backend.free_seq(old);
            }
        }
        let Some(c) = self.backend.alloc_seq() else {
            return;
        };
        if self.backend.fork_prefix(id, c, k).is_ok() {
            self.cache.insert(c, prefix);
        } else {
            self.backend.free_seq(c);
        }
    }

    fn publish(&self) {
        let r = Ordering::Relaxed;
        self.stats.waiting.store(self.waiting.len(), r);
        self.stats.running.store(self.running.len(), r);
        self.stats
            .kv_blocks_total
            .store(self.backend.n_blocks_total(), r);
        self.stats
            .kv_blocks_free
            .store(self.backend.n_free_blocks(), r);
        self.stats.prefix_cache_entries.store(self.cache.len(), r);
    }

    fn stop_all(&mut self) {
        let mut all: Vec<Seq> = self.running.drain(..).collect();
        all.extend(self.waiting.drain(..));
        for mut s in all {
            self.release(&mut s);
            s.sink
                .send(Event::Error("the server is shutting down".into()));
        }
        for c in self.cache.drain() {
            self.backend.free_seq(c);
        }
        self.publish();
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
            .map_or(f32::NEG_INFINITY, |&l| (f64::from(l) - lse) as f32),
        top: top.iter().map(|&(t, lp)| (t, lp as f32)).collect(),
    }
}

/// Use one step's logits rows of `s`: collect prompt log-probs, sample, emit events.
#[allow(clippy::too_many_arguments)]
fn advance(
    s: &mut Seq,
    p: &Planned,
    logits: &[f32],
    first_row: usize,
    n_vocab: usize,
    n_ctx: usize,
    vocab: &dyn Vocab,
    stats: &EngineStats,
) -> Outcome {
    s.n_computed = p.start + p.n;
    let prompt_part = s.n_computed.min(s.n_prompt).saturating_sub(p.start);
    stats
        .prompt_tokens_computed
        .fetch_add(prompt_part as u64, Ordering::Relaxed);
    let mut top = Vec::new();
    let mut sample_row: Option<usize> = None;
    for (k, &pos) in p.rows.iter().enumerate() {
        let r = first_row + k;
        let row = &logits[r * n_vocab..(r + 1) * n_vocab];
        if let Some(lp) = s.prompt_lp.as_mut() {
            if pos + 1 < s.n_prompt {
                let n_top = s.logprobs.unwrap_or(0);
                lp.push(Some(token_logprob(row, s.tokens[pos + 1], n_top, &mut top)));
            }
        }
        if pos + 1 == s.tokens.len() {
            sample_row = Some(r);
        }
    }
    if s.n_computed >= s.n_prompt {
        if let Some(mut lp) = s.prompt_lp.take() {
            lp.insert(0, None);
            if !s.sink.send(Event::PromptLogprobs(lp)) {
                return Outcome::Cancelled;
            }
        }
    }
    if s.generated >= s.max_tokens {
        if s.n_computed >= s.tokens.len() {
            let usage = s.usage();
            s.sink.send(Event::Done {
                finish_reason: FinishReason::Length,
                usage,
            });
            return Outcome::Finished;
        }
        return Outcome::Continue;
    }
    let Some(r) = sample_row else {
        return Outcome::Continue;
    };
    let row = &logits[r * n_vocab..(r + 1) * n_vocab];
    let id = s.sampler.sample(row);
    s.sampler.accept(id);
    let logprob = s.logprobs.map(|n| token_logprob(row, id, n, &mut top));
    s.tokens.push(id);
    s.generated += 1;
    stats.generated_tokens.fetch_add(1, Ordering::Relaxed);

    let mut text = String::new();
    let finish = if vocab.is_eog(id) {
        // The end-of-generation token itself has no text; release what was held back.
        s.stop.flush(&mut text);
        Some(FinishReason::Stop)
    } else {
        let piece = s.decoder.push(id);
        if s.stop.push(&piece, &mut text) {
            Some(FinishReason::Stop)
        } else if s.generated >= s.max_tokens || s.tokens.len() >= n_ctx {
            let tail = s.decoder.finish();
            if s.stop.push(&tail, &mut text) {
                Some(FinishReason::Stop)
            } else {
                s.stop.flush(&mut text);
                Some(FinishReason::Length)
            }
        } else {
            None
        }
    };
    if !s.sink.send(Event::Token { id, text, logprob }) {
        return Outcome::Cancelled;
    }
    match finish {
        Some(finish_reason) => {
            let usage = s.usage();
            s.sink.send(Event::Done {
                finish_reason,
                usage,
            });
            Outcome::Finished
        }
        None => Outcome::Continue,
    }
}
