//! nomoat-models: model configuration, load-time validation, the paged KV cache and the forward
//! passes of each architecture, written against the compute-backend seam (`nomoat-backend`).
//!
//! - [`validate()`]: every problem of a file for running it, or its [`ModelConfig`].
//! - [`Model`]: load (validates first, then hands the weights to a backend), `forward` over a
//!   [`Batch`] of tokens of one or more sequences, logits for the rows asked for.
//! - [`kv::KvCache`]: the paged KV cache's bookkeeping (block tables, shared prefix blocks,
//!   copy-on-write) over backend-owned storage.
//!
//! Inside: one file per architecture (`llama.rs`, `gemma3.rs`, `qwen2.rs`, `qwen3.rs`) registered
//! in `registry.rs`; the blocks they share in `layers.rs`; `loader.rs` reads tensors by GGUF name
//! for validation and loading alike. No code here sees a thread pool, a weight layout or a SIMD
//! level: those belong to the backend.
#![forbid(unsafe_code)]

pub mod config;
pub mod embed;
mod error;
mod gemma3;
pub mod kv;
mod layers;
mod llama;
mod loader;
mod model;
mod qwen2;
mod qwen3;
mod registry;
mod validate;

pub use config::{Arch, ModelConfig, RopeConfig, RopeScaling, SpecialTokens};
pub use embed::{EmbedRun, Pooling};
pub use error::ModelError;
pub use kv::{BlockId, KvCache, KvError, SeqId};
pub use model::{Batch, LoadOptions, MemoryReport, Model, Scratch};
pub use nomoat_backend::{GeluMode, KvDtype};
pub use validate::{validate, validate_gguf};
