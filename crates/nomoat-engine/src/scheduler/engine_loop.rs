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

use super::embed::EmbedJob;
use super::handle::{EngineStats, Permit, SchedulerConfig};
use super::prefix::PrefixCache;
use crate::request::{EngineError, Event, EventSink, FinishReason, GenRequest};
use crate::runner::{ModelRunner, SeqId, Vocab};
use crate::token_loop::{Outcome, Sequence, Step};

pub(super) struct Submission {
    pub req: GenRequest,
    pub sink: Box<dyn EventSink + Send>,
    pub permit: Permit,
}

pub(super) enum Msg {
    Submit(Box<Submission>),
    Embed(Box<EmbedJob>),
    Shutdown,
}

/// One request inside the loop: its token-loop state plus what the scheduler tracks.
struct Seq {
    /// Admission order: older sequences get the budget first and are preempted last.
    order: u64,
    sink: Box<dyn EventSink + Send>,
    _permit: Permit,
    /// Its KV sequence while admitted.
    seq: Option<SeqId>,
    /// Its prompt's whole blocks were offered to the prefix cache.
    registered: bool,
    state: Sequence,
}

pub(super) struct EngineLoop<R: ModelRunner> {
    runner: R,
    vocab: Arc<dyn Vocab>,
    cfg: SchedulerConfig,
    stats: Arc<EngineStats>,
    rx: Receiver<Msg>,
    waiting: VecDeque<Seq>,
    /// Sorted by `order`.
    running: Vec<Seq>,
    cache: PrefixCache,
    step: Step,
    next_order: u64,
    /// Embedding jobs, oldest first; one input of the front job runs per iteration.
    embeds: VecDeque<EmbedJob>,
}

impl<R: ModelRunner> EngineLoop<R> {
    pub(super) fn new(
        runner: R,
        vocab: Arc<dyn Vocab>,
        cfg: SchedulerConfig,
        stats: Arc<EngineStats>,
        rx: Receiver<Msg>,
    ) -> Self {
        let cache = PrefixCache::new(runner.block_size(), cfg.prefix_cache_entries);
        let lp = EngineLoop {
            runner,
            vocab,
            cfg,
            stats,
            rx,
            waiting: VecDeque::new(),
            running: Vec::new(),
            cache,
            step: Step::new(),
            next_order: 0,
            embeds: VecDeque::new(),
        };
        lp.publish();
        lp
    }

    pub(super) fn run(mut self) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() && self.embeds.is_empty() {
                match self.rx.recv() {
                    Ok(Msg::Submit(s)) => self.accept(*s),
                    Ok(Msg::Embed(j)) => self.embeds.push_back(*j),
                    Ok(Msg::Shutdown) | Err(_) => break,
                }
            }
            let mut stop = false;
            loop {
                match self.rx.try_recv() {
                    Ok(Msg::Submit(s)) => self.accept(*s),
                    Ok(Msg::Embed(j)) => self.embeds.push_back(*j),
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
            self.plan();
            if !self.step.is_empty() {
                self.run_step();
            }
            self.embed_one();
            self.publish();
        }
        self.stop_all();
    }

    fn accept(&mut self, s: Submission) {
        let Submission { req, sink, permit } = s;
        let state = {
            let decoder = self.vocab.decoder(req.render_special);
            Sequence::new(req, self.runner.n_vocab(), decoder)
        };
        let seq = Seq {
            order: self.next_order,
            sink,
            _permit: permit,
            seq: None,
            registered: false,
            state,
        };
        self.next_order += 1;
        self.waiting.push_back(seq);
    }

    /// One chunk (at most `step_tokens`) of the oldest embedding job, between generation steps,
    /// on this thread: the only one that drives the model. Jobs whose client is gone are dropped
    /// first (the front one's input in progress with them).
    fn embed_one(&mut self) {
        if self.embeds.front().is_some_and(|j| j.sink.is_closed()) {
            self.runner.embed_abort();
        }
        let before = self.embeds.len();
        self.embeds.retain(|j| !j.sink.is_closed());
        let gone = before - self.embeds.len();
        self.stats
            .cancelled
            .fetch_add(gone as u64, Ordering::Relaxed);
        let Some(job) = self.embeds.front_mut() else {
            return;
        };
        let n_tokens = job.n_tokens;
        let runner = &mut self.runner;
        let budget = self.cfg.step_tokens.max(1);
        let result =
            catch_unwind(AssertUnwindSafe(|| job.step(runner, budget))).unwrap_or_else(|_| {
                Some(Err(EngineError::Forward(
                    "internal error while embedding".into(),
                )))
            });
        if let Some(r) = result {
            match &r {
                Err(_) => self.runner.embed_abort(),
                Ok(_) => {
                    self.stats
                        .prompt_tokens_computed
                        .fetch_add(n_tokens as u64, Ordering::Relaxed);
                }
            }
            if let Some(job) = self.embeds.pop_front() {
                let EmbedJob { sink, permit, .. } = job;
                sink.send(r);
                drop(permit);
            }
        }
    }

    fn release(&mut self, s: &mut Seq) {
        if let Some(id) = s.seq.take() {
            self.runner.free_seq(id);
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
        while self.runner.n_free_blocks() < need {
            match self.cache.evict_lru() {
                Some(seq) => self.runner.free_seq(seq),
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
                    .map(|id| self.runner.blocks_needed(id, s.state.remaining() + 1))
            })
            .sum()
    }

    fn admit(&mut self) {
        while self.running.len() < self.cfg.max_running.max(1) {
            let Some(mut s) = self.waiting.pop_front() else {
                break;
            };
            if s.state.max_tokens() == 0 && !s.state.collects_prompt_logprobs() {
                // Nothing to compute: report the prompt and stop.
                let usage = s.state.usage();
                s.sink.send(Event::Done {
                    finish_reason: FinishReason::Length,
                    usage,
                    stop: None,
                });
                continue;
            }
            let Some(id) = self.runner.alloc_seq().or_else(|| {
                self.cache.evict_lru().and_then(|c| {
                    self.runner.free_seq(c);
                    self.runner.alloc_seq()
                })
            }) else {
                self.waiting.push_front(s);
                break;
            };
            // Reuse cached whole blocks of the prompt, leaving at least one token to compute
            // (its logits start the generation). Not while prompt log-probs are wanted: those
            // need every prompt position computed.
            let n_tokens = s.state.tokens().len();
            let mut reused = 0;
            if !s.state.collects_prompt_logprobs() {
                if let Some(hit) = self.cache.lookup(s.state.tokens(), n_tokens - 1) {
                    if self.runner.fork_prefix(hit.seq, id, hit.n_tokens).is_ok() {
                        reused = hit.n_tokens;
                    }
                }
            }
            let need = self.runner.blocks_needed(id, n_tokens - reused + 1);
            let reserve = self.running_reserve();
            if !self.evict_cache_for(need + reserve) {
                self.runner.free_seq(id);
                let bs = self.runner.block_size().max(1);
                let need_alone = (n_tokens + 1).div_ceil(bs);
                if self.running.is_empty() && self.runner.n_free_blocks() < need_alone {
                    s.sink.send(Event::Error(EngineError::RequestTooLarge {
                        needed: need_alone,
                        free: self.runner.n_free_blocks(),
                    }));
                    continue;
                }
                self.waiting.push_front(s);
                break;
            }
            if reused > 0 && s.state.n_computed() == 0 && s.state.usage().cached_tokens == 0 {
                self.stats.prefix_hits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .prefix_hit_tokens
                    .fetch_add(reused as u64, Ordering::Relaxed);
            }
            s.seq = Some(id);
            s.state.set_reused(reused);
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
        s.state.restart();
        self.stats.preemptions.fetch_add(1, Ordering::Relaxed);
        // Older than everything still waiting: it goes first.
        self.waiting.push_front(s);
        true
    }

    /// Fill `self.step` for this step.
    fn plan(&mut self) {
        self.step.clear();
        let mut budget = self.cfg.step_tokens.max(1);
        let mut rows_left = self.cfg.max_logit_rows.max(1);
        let mut committed = 0usize;
        // Pass 1: the decode token of every sequence, oldest first; preempt the youngest if a
        // new block is needed and none is free.
        let mut i = 0;
        while i < self.running.len() && budget > 0 && rows_left > 0 {
            let (order, id, remaining) = {
                let s = &self.running[i];
                (s.order, s.seq, s.state.remaining())
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
            let need = self.runner.blocks_needed(id, 1) + committed;
            if need > committed && !self.evict_cache_for(need) {
                while self.runner.n_free_blocks() < need && self.preempt_youngest(order) {}
                if self.runner.n_free_blocks() < need {
                    i += 1;
                    continue;
                }
            }
            committed = need;
            let p = self.step.push_chunk(order, &self.running[i].state, id, 1);
            budget -= 1;
            rows_left -= p.n_rows;
            i += 1;
        }
        // Pass 2: prompt chunks, oldest first, shrunk to the free blocks and the budget.
        for i in 0..self.running.len() {
            if budget == 0 {
                break;
            }
            let s = &self.running[i];
            let Some(id) = s.seq else { continue };
            if s.state.remaining() <= 1 {
                continue;
            }
            let mut n = s.state.chunk_len(budget, rows_left);
            let bs = self.runner.block_size().max(1);
            while n > 0 {
                let need = self.runner.blocks_needed(id, n) + committed;
                if need <= self.runner.n_free_blocks() || self.evict_cache_for(need) {
                    break;
                }
                n = n.saturating_sub(bs);
            }
            if n == 0 {
                continue;
            }
            committed += self.runner.blocks_needed(id, n);
            let s = &self.running[i];
            let p = self.step.push_chunk(s.order, &s.state, id, n);
            rows_left = rows_left.saturating_sub(p.n_rows);
            budget -= n;
        }
        if self.step.is_empty() && !self.running.is_empty() {
            // Nothing fits: make room by preempting the youngest; a lone sequence that cannot
            // progress can never finish.
            if !self.preempt_youngest(self.running[0].order) {
                let mut s = self.running.remove(0);
                self.release(&mut s);
                s.sink.send(Event::Error(EngineError::OutOfKvBlocks));
            }
        }
    }

    fn run_step(&mut self) {
        let n_vocab = self.runner.n_vocab();
        let n_ctx = self.runner.n_ctx();
        let result = self.step.forward(&mut self.runner);
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            let err = EngineError::Forward(e.to_string());
            for k in 0..self.step.planned().len() {
                let key = self.step.planned()[k].key;
                if let Some(i) = self.running.iter().position(|s| s.order == key) {
                    let mut s = self.running.remove(i);
                    self.release(&mut s);
                    s.sink.send(Event::Error(err.clone()));
                }
            }
            return;
        }
        for k in 0..self.step.planned().len() {
            let p = self.step.planned()[k];
            let Some(i) = self.running.iter().position(|s| s.order == p.key) else {
                continue;
            };
            let outcome = {
                let s = &mut self.running[i];
                let (prompt_before, generated_before) = (
                    s.state.n_computed().min(s.state.n_prompt()),
                    s.state.generated(),
                );
                let rows = self.step.rows(&p, n_vocab);
                let vocab = self.vocab.as_ref();
                let (state, sink) = (&mut s.state, s.sink.as_mut());
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    state.advance(p.n, rows, n_vocab, n_ctx, vocab, sink)
                }));
                let prompt_part = s.state.n_computed().min(s.state.n_prompt()) - prompt_before;
                self.stats
                    .prompt_tokens_computed
                    .fetch_add(prompt_part as u64, Ordering::Relaxed);
                self.stats.generated_tokens.fetch_add(
                    (s.state.generated() - generated_before) as u64,
                    Ordering::Relaxed,
                );
                outcome.unwrap_or_else(|_| {
                    s.sink.send(Event::Error(EngineError::SamplingPanicked));
                    Outcome::Finished
                })
            };
            match outcome {
                Outcome::Continue => self.maybe_register(i),
                Outcome::Finished | Outcome::Cancelled => {
                    self.maybe_register(i);
                    let mut s = self.running.remove(i);
                    self.release(&mut s);
                    if outcome == Outcome::Cancelled {
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
        let n_prompt = s.state.n_prompt();
        if s.registered || s.state.n_computed() < n_prompt {
            return;
        }
        let bs = self.runner.block_size().max(1);
        let k = n_prompt / bs * bs;
        self.running[i].registered = true;
        if k == 0
            || self.cfg.prefix_cache_entries == 0
            || self.cache.covered(&self.running[i].state.tokens()[..k]) >= k
        {
            return;
        }
        let prefix: Vec<u32> = self.running[i].state.tokens()[..k].to_vec();
        if self.cache.is_full() {
            if let Some(old) = self.cache.evict_lru() {
                self.runner.free_seq(old);
            }
        }
        let Some(c) = self.runner.alloc_seq() else {
            return;
        };
        if self.runner.fork_prefix(id, c, k).is_ok() {
            self.cache.insert(c, prefix);
        } else {
            self.runner.free_seq(c);
        }
    }

    fn publish(&self) {
        let r = Ordering::Relaxed;
        self.stats.waiting.store(self.waiting.len(), r);
        self.stats.running.store(self.running.len(), r);
        self.stats
            .kv_blocks_total
            .store(self.runner.n_blocks_total(), r);
        self.stats
            .kv_blocks_free
            .store(self.runner.n_free_blocks(), r);
        self.stats.prefix_cache_entries.store(self.cache.len(), r);
    }

    fn stop_all(&mut self) {
        let mut all: Vec<Seq> = self.running.drain(..).collect();
        all.extend(self.waiting.drain(..));
        for mut s in all {
            self.release(&mut s);
            s.sink.send(Event::Error(EngineError::ShuttingDown));
        }
        for j in self.embeds.drain(..) {
            j.sink.send(Err(EngineError::ShuttingDown));
        }
        for c in self.cache.drain() {
            self.runner.free_seq(c);
        }
        self.publish();
    }
}
