//! The serving engine: one OS thread runs a continuous-batching loop over a paged KV cache.
//!
//! - [`Engine::spawn`] starts the loop over a [`ModelRunner`] (model + paged KV cache);
//!   `nomoat_models` models are wrapped by [`PagedRunner`].
//! - [`Engine::try_reserve`] takes a place in the bounded queue (refuse → HTTP 503) before any
//!   tokenizing; [`Engine::submit`] queues a [`GenRequest`] whose [`Event`]s go to an
//!   [`EventSink`]. A sink whose receiver is gone cancels the request within one step.
//! - [`Engine::submit_embed`] queues an embedding job; the loop runs one of its inputs between
//!   steps (`embed.rs`), so embeddings never race generation for the model.
//! - Prefix sharing: full blocks of computed prompts are kept (refcounted, LRU) and forked into
//!   new requests with the same prefix.
//!
//! The per-sequence state machine and the forward pass are [`crate::token_loop`]'s, shared with
//! the CLI's single-sequence driver; this module only plans which sequences feed what.

mod embed;
mod engine_loop;
mod handle;
mod prefix;
pub mod testing;

pub use crate::paged::{PagedRunner, TokenizerVocab, KV_BLOCK_SIZE};
pub use crate::request::{
    EngineError, Event, EventSink, FinishReason, GenRequest, SamplingParams, TokenLogprob, Usage,
};
pub use crate::runner::{Batch, EmbedInfo, IncrementalDecoder, ModelRunner, Pooling, SeqId, Vocab};
pub use embed::{EmbedSink, Embeddings};
pub use handle::{Engine, EngineStats, Permit, SchedulerConfig, StatsSnapshot, SubmitError};
pub use nomoat_models::embed::l2_normalize;

#[cfg(test)]
mod tests;
