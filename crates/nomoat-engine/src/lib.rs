//! nomoat-engine: see the crate description.
//!
//! - [`sample`]: the sampler chain (llama.cpp's default order, seeded).
//! - [`stop`]: end-of-generation tokens and stop strings, never emitting part of a stop string.
//! - [`runner`]: the seam to the model ([`runner::ModelRunner`]: model + paged KV cache, over
//!   `nomoat_models`' own `Batch` and `SeqId`); [`paged`] implements it for a loaded model.
//! - [`token_loop`]: the one token loop: the per-sequence state machine
//!   ([`token_loop::Sequence`]) and the forward pass ([`token_loop::Step`]), driven by
//!   [`scheduler`] (the server: many sequences, continuous batching) and by
//!   [`generate::Session`] (the CLI: one sequence); [`perplexity`] and [`bench`] feed tokens
//!   through the session's [`generate::Session::eval`].
//! - [`request`]: what a request is and the events it produces.
#![forbid(unsafe_code)]

pub mod bench;
pub mod generate;
pub mod paged;
pub mod perplexity;
pub mod request;
pub mod runner;
pub mod sample;
pub mod scheduler;
pub mod stop;
pub mod token_loop;
