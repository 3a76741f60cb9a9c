//! nomoat-models: model configuration, load-time validation, the paged KV cache and the forward
//! passes of the LLaMA family (llama, gemma3, qwen2, qwen3).
//!
//! - [`validate()`]: every problem of a file for running it, or its [`ModelConfig`].
//! - [`kv::KvCache`]: paged KV cache with shared prefix blocks.
//! - [`Model`]: load (validates first), `forward` over a [`Batch`] of tokens of one or more
//!   sequences, logits for the rows asked for.
//!
//! Weights stay in the memory-mapped file: matrices are borrowed per forward pass; only norm
//! weights and biases (F32 vectors, a few KB per layer) are copied out at load.
#![forbid(unsafe_code)]

pub mod config;
mod error;
mod gemma3;
pub mod kv;
mod layers;
mod llama;
mod model;
mod qwen2;
mod qwen3;
mod validate;
mod weights;

pub use config::{Arch, ModelConfig, RopeConfig, RopeScaling, SpecialTokens};
pub use error::ModelError;
pub use kv::{BlockId, KvCache, KvError, SeqId};
pub use model::{Batch, LoadOptions, MemoryReport, Model, Scratch};
pub use nomoat_kernels::ops::{GeluMode, KvDtype};
pub use validate::{validate, validate_gguf};
