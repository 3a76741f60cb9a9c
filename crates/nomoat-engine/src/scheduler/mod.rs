//! The serving engine: one OS thread runs a continuous-batching loop over a paged KV cache.
//!
//! - [`Engine::spawn`] starts the loop over a [`Backend`] (model + paged KV cache);
//!   `nomoat_models` models are wrapped by [`ModelBackend`].
//! - [`Engine::try_reserve`] takes a place in the bounded queue (refuse → HTTP 503) before any
//!   tokenizing; [`Engine::submit`] queues a [`GenRequest`] whose [`Event`]s go to an
//!   [`EventSink`]. A sink whose receiver is gone cancels the request within one step.
//! - Prefix sharing: full blocks of computed prompts are kept (refcounted, LRU) and forked into
//!   new requests with the same prefix.

mod backend;
mod engine_loop;
mod handle;
mod model_backend;
mod prefix;
pub mod testing;
mod types;

pub use backend::{Backend, IncrementalDecoder, SeqId, StepBatch, Vocab};
pub use handle::{Engine, EngineStats, Permit, SchedulerConfig, StatsSnapshot, SubmitError};
pub use model_backend::{ModelBackend, TokenizerVocab, KV_BLOCK_SIZE};
pub use types::{Event, EventSink, FinishReason, GenRequest, SamplingParams, TokenLogprob, Usage};

#[cfg(test)]
mod tests;
