//! The thread-safe side of the engine: admission permits, the bounded request channel, shared
//! counters, shutdown.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::embed::{EmbedJob, EmbedSink};
use super::engine_loop::{EngineLoop, Msg, Submission};
use crate::request::{EventSink, GenRequest};
use crate::runner::{EmbedInfo, ModelRunner, Vocab};

/// Limits of the engine loop.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Sequences decoded together (`--parallel`).
    pub max_running: usize,
    /// Requests that may wait for a running slot; beyond it `try_reserve` refuses (HTTP 503).
    pub queue_capacity: usize,
    /// Tokens per forward pass: the decode tokens of all running sequences plus prompt chunks.
    /// Bounds how long a new prompt can stall the running streams.
    pub step_tokens: usize,
    /// Logit rows per forward pass (prompt log-probs need one row per prompt token; each row is
    /// n_vocab floats).
    pub max_logit_rows: usize,
    /// Cached prompt prefixes kept for reuse.
    pub prefix_cache_entries: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_running: 4,
            queue_capacity: 16,
            step_tokens: 256,
            max_logit_rows: 64,
            prefix_cache_entries: 32,
        }
    }
}

/// Counters the engine thread publishes after every step (read by `/metrics`).
#[derive(Debug, Default)]
pub struct EngineStats {
    pub waiting: AtomicUsize,
    pub running: AtomicUsize,
    pub kv_blocks_total: AtomicUsize,
    pub kv_blocks_free: AtomicUsize,
    pub prefix_cache_entries: AtomicUsize,
    /// Admissions that reused at least one cached block, and the prompt tokens they skipped.
    pub prefix_hits: AtomicU64,
    pub prefix_hit_tokens: AtomicU64,
    pub preemptions: AtomicU64,
    pub cancelled: AtomicU64,
    pub steps: AtomicU64,
    pub prompt_tokens_computed: AtomicU64,
    pub generated_tokens: AtomicU64,
    /// Requests holding a permit (queued, running, or between reservation and submission).
    pub inflight: AtomicUsize,
}

/// A plain copy of [`EngineStats`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub waiting: usize,
    pub running: usize,
    pub kv_blocks_total: usize,
    pub kv_blocks_free: usize,
    pub prefix_cache_entries: usize,
    pub prefix_hits: u64,
    pub prefix_hit_tokens: u64,
    pub preemptions: u64,
    pub cancelled: u64,
    pub steps: u64,
    pub prompt_tokens_computed: u64,
    pub generated_tokens: u64,
    pub inflight: usize,
}

impl EngineStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = Ordering::Relaxed;
        StatsSnapshot {
            waiting: self.waiting.load(r),
            running: self.running.load(r),
            kv_blocks_total: self.kv_blocks_total.load(r),
            kv_blocks_free: self.kv_blocks_free.load(r),
            prefix_cache_entries: self.prefix_cache_entries.load(r),
            prefix_hits: self.prefix_hits.load(r),
            prefix_hit_tokens: self.prefix_hit_tokens.load(r),
            preemptions: self.preemptions.load(r),
            cancelled: self.cancelled.load(r),
            steps: self.steps.load(r),
            prompt_tokens_computed: self.prompt_tokens_computed.load(r),
            generated_tokens: self.generated_tokens.load(r),
            inflight: self.inflight.load(r),
        }
    }
}

/// One admitted request's place in the engine; releases it when dropped (request done,
/// cancelled, or never submitted).
#[derive(Debug)]
pub struct Permit {
    stats: Arc<EngineStats>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.stats.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("the engine has stopped")]
    Stopped,
    #[error("prompt is empty")]
    EmptyPrompt,
    #[error("prompt token {id} at index {index} is outside the vocabulary of {n_vocab}")]
    BadToken {
        index: usize,
        id: u32,
        n_vocab: usize,
    },
    #[error("prompt ({prompt}) + max_tokens ({max_tokens}) exceeds the context of {n_ctx} tokens")]
    TooLong {
        prompt: usize,
        max_tokens: usize,
        n_ctx: usize,
    },
    #[error("this model cannot embed: {0}")]
    NoEmbeddings(String),
    #[error("input {index}: token {id} is outside the vocabulary of {n_vocab}")]
    BadInputToken {
        index: usize,
        id: u32,
        n_vocab: usize,
    },
    #[error("input {index} is empty")]
    EmptyInput { index: usize },
    #[error("input {index} has {len} tokens but the context holds {n_ctx}")]
    InputTooLong {
        index: usize,
        len: usize,
        n_ctx: usize,
    },
}

/// The engine: a loop on its own OS thread that batches all requests (continuous batching).
pub struct Engine {
    tx: Mutex<Option<SyncSender<Msg>>>,
    stats: Arc<EngineStats>,
    capacity: usize,
    max_running: usize,
    draining: AtomicBool,
    n_ctx: usize,
    n_vocab: usize,
    embedding: Result<EmbedInfo, String>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Start the engine thread. `vocab` decodes generated tokens and spots end-of-generation.
    pub fn spawn<R: ModelRunner + 'static>(
        runner: R,
        vocab: Arc<dyn Vocab>,
        cfg: SchedulerConfig,
    ) -> std::io::Result<Engine> {
        let max_running = cfg.max_running.max(1);
        let capacity = max_running + cfg.queue_capacity;
        let (tx, rx) = sync_channel(capacity + 1);
        let stats = Arc::new(EngineStats::default());
        let n_ctx = runner.n_ctx();
        let n_vocab = runner.n_vocab();
        let embedding = runner.embedding();
        let lp = EngineLoop::new(runner, vocab, cfg, stats.clone(), rx);
        let thread = std::thread::Builder::new()
            .name("nomoat-engine".into())
            .spawn(move || lp.run())?;
        Ok(Engine {
            tx: Mutex::new(Some(tx)),
            stats,
            capacity,
            max_running,
            draining: AtomicBool::new(false),
            n_ctx,
            n_vocab,
            embedding,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Most sequences decoded together (llama-server's slots).
    pub fn max_running(&self) -> usize {
        self.max_running
    }

    /// Most requests in flight at once (running + queued).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Reserve `n` places (one per choice), or `None` when the queue is full or the engine is
    /// shutting down. Cheap: call it before tokenizing anything.
    pub fn try_reserve(&self, n: usize) -> Option<Vec<Permit>> {
        if self.draining.load(Ordering::Acquire) {
            return None;
        }
        let mut cur = self.stats.inflight.load(Ordering::Acquire);
        loop {
            if cur + n > self.capacity {
                return None;
            }
            match self.stats.inflight.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        Some(
            (0..n)
                .map(|_| Permit {
                    stats: self.stats.clone(),
                })
                .collect(),
        )
    }

    /// Check a request against the vocabulary and the context.
    pub fn validate(&self, req: &GenRequest) -> Result<(), SubmitError> {
        if req.prompt.is_empty() {
            return Err(SubmitError::EmptyPrompt);
        }
        if let Some((index, &id)) = req
            .prompt
            .iter()
            .enumerate()
            .find(|(_, &t)| t as usize >= self.n_vocab)
        {
            return Err(SubmitError::BadToken {
                index,
                id,
                n_vocab: self.n_vocab,
            });
        }
        if req.prompt.len().saturating_add(req.max_tokens) > self.n_ctx {
            return Err(SubmitError::TooLong {
                prompt: req.prompt.len(),
                max_tokens: req.max_tokens,
                n_ctx: self.n_ctx,
            });
        }
        Ok(())
    }

    /// Queue a request; its events go to `sink`. The permit travels with it and is released when
    /// it ends.
    pub fn submit(
        &self,
        req: GenRequest,
        sink: Box<dyn EventSink + Send>,
        permit: Permit,
    ) -> Result<(), SubmitError> {
        self.validate(&req)?;
        let guard = self.tx.lock().map_err(|_| SubmitError::Stopped)?;
        let tx = guard.as_ref().ok_or(SubmitError::Stopped)?;
        let msg = Msg::Submit(Box::new(Submission { req, sink, permit }));
        match tx.try_send(msg) {
            Ok(()) => Ok(()),
            // The channel holds `capacity + 1` and every message carries a permit, so it is
            // never full; a stopped engine is the only failure.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                Err(SubmitError::Stopped)
            }
        }
    }

    /// Width and pooling of this model's embeddings, or why it has none.
    pub fn embedding(&self) -> Result<EmbedInfo, &str> {
        self.embedding.as_ref().copied().map_err(String::as_str)
    }

    /// Check embedding inputs: at least one, none empty, every token in the vocabulary, each
    /// at most the context.
    pub fn validate_embed(&self, inputs: &[Vec<u32>]) -> Result<(), SubmitError> {
        self.embedding()
            .map_err(|e| SubmitError::NoEmbeddings(e.to_string()))?;
        if inputs.is_empty() {
            return Err(SubmitError::EmptyPrompt);
        }
        for (index, t) in inputs.iter().enumerate() {
            if t.is_empty() {
                return Err(SubmitError::EmptyInput { index });
            }
            if let Some(&id) = t.iter().find(|&&id| id as usize >= self.n_vocab) {
                return Err(SubmitError::BadInputToken {
                    index,
                    id,
                    n_vocab: self.n_vocab,
                });
            }
            if t.len() > self.n_ctx {
                return Err(SubmitError::InputTooLong {
                    index,
                    len: t.len(),
                    n_ctx: self.n_ctx,
                });
            }
        }
        Ok(())
    }

    /// Queue an embedding job (its inputs as token ids); the result goes to `sink` once every
    /// input is done. Takes one permit, like a generation request.
    pub fn submit_embed(
        &self,
        inputs: Vec<Vec<u32>>,
        sink: Box<dyn EmbedSink>,
        permit: Permit,
    ) -> Result<(), SubmitError> {
        self.validate_embed(&inputs)?;
        let guard = self.tx.lock().map_err(|_| SubmitError::Stopped)?;
        let tx = guard.as_ref().ok_or(SubmitError::Stopped)?;
        let msg = Msg::Embed(Box::new(EmbedJob::new(inputs, sink, permit)));
        // Never full (every message carries a permit), as in `submit`.
        tx.try_send(msg).map_err(|_| SubmitError::Stopped)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Whether the engine thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread
            .lock()
            .map(|t| t.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false)
    }

    /// Stop admitting; wait up to `grace` for in-flight requests to finish, then cancel the
    /// rest (they get an error event) and stop the thread.
    pub fn shutdown(&self, grace: Duration) {
        self.draining.store(true, Ordering::Release);
        let deadline = Instant::now() + grace;
        while self.stats.inflight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(mut tx) = self.tx.lock() {
            if let Some(tx) = tx.take() {
                let _ = tx.send(Msg::Shutdown);
            }
        }
        if let Ok(mut t) = self.thread.lock() {
            if let Some(h) = t.take() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}
