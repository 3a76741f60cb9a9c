//! Embedding jobs: a request's inputs, embedded by the engine thread one input per loop
//! iteration, between generation steps.
//!
//! The engine thread is the only one that drives the model (and so the backend's thread pool):
//! an embedding job is queued like a generation request and the loop runs one of its inputs
//! after each step ([`super::engine_loop`]), so embeddings and streams share the server without
//! a second forward pass racing the first. Each input runs in storage of its own
//! ([`crate::runner::ModelRunner::embed`]), so it neither needs nor takes the paged cache's
//! blocks. While an input runs, streams wait for it: an input is at most the context long.

use std::time::{Duration, Instant};

use super::handle::Permit;
use crate::request::EngineError;

/// The vectors of a finished job (one per input, in order, unnormalised), and the time the
/// engine spent computing them.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub compute: Duration,
}

/// Where a job's result goes. `is_closed` turns true when nobody waits any more (client gone):
/// the loop then drops the job before its next input.
pub trait EmbedSink: Send {
    fn send(self: Box<Self>, result: Result<Embeddings, EngineError>);
    fn is_closed(&self) -> bool;
}

/// For tests and blocking callers. A std channel cannot tell that its receiver is gone, so such a
/// job always runs to the end.
impl EmbedSink for std::sync::mpsc::Sender<Result<Embeddings, EngineError>> {
    fn send(self: Box<Self>, result: Result<Embeddings, EngineError>) {
        let _ = std::sync::mpsc::Sender::send(&self, result);
    }
    fn is_closed(&self) -> bool {
        false
    }
}

/// One queued job inside the loop.
pub(super) struct EmbedJob {
    pub inputs: Vec<Vec<u32>>,
    pub sink: Box<dyn EmbedSink>,
    pub permit: Permit,
    pub done: Vec<Vec<f32>>,
    pub compute: Duration,
}

impl EmbedJob {
    pub(super) fn new(inputs: Vec<Vec<u32>>, sink: Box<dyn EmbedSink>, permit: Permit) -> Self {
        EmbedJob {
            done: Vec::with_capacity(inputs.len()),
            inputs,
            sink,
            permit,
            compute: Duration::ZERO,
        }
    }

    /// Runs the next input with `embed`; returns the job's result when it is finished (all
    /// inputs done, or one failed).
    pub(super) fn step(
        &mut self,
        embed: impl FnOnce(&[u32]) -> Result<Vec<f32>, String>,
    ) -> Option<Result<Embeddings, EngineError>> {
        let next = self.done.len();
        let t = Instant::now();
        let r = embed(&self.inputs[next]);
        self.compute += t.elapsed();
        match r {
            Err(e) => Some(Err(EngineError::Forward(e))),
            Ok(v) => {
                self.done.push(v);
                (self.done.len() == self.inputs.len()).then(|| {
                    Ok(Embeddings {
                        vectors: std::mem::take(&mut self.done),
                        compute: self.compute,
                    })
                })
            }
        }
    }
}
