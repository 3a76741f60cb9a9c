//! nomoat-engine: see the crate description.
//!
//! - [`sample`]: the sampler chain (llama.cpp's default order, seeded).
//! - [`stop`]: end-of-generation tokens and stop strings, never emitting part of a stop string.
//! - [`generate`]: single-sequence generation (CLI, tests); [`perplexity`] and [`bench`] use it.
#![forbid(unsafe_code)]

pub mod bench;
pub mod generate;
pub mod perplexity;
pub mod sample;
pub mod scheduler;
pub mod stop;
