//! nomoat-engine: see the crate description.
//!
//! - [`sample`]: the sampler chain (llama.cpp's default order, seeded).
//! - [`stop`]: end-of-generation tokens and stop strings, never emitting part of a stop string.
#![forbid(unsafe_code)]

pub mod sample;
pub mod scheduler;
pub mod stop;
