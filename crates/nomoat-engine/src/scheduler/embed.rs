//! Embedding jobs: a request's inputs, embedded by the engine thread a chunk at a time (at most
//! `step_tokens` tokens per loop iteration), between generation steps.
//!
//! The engine thread is the only one that drives the model (and so the backend's thread pool):
//! an embedding job is queued like a generation request and the loop runs the next chunk of its
//! current input after each step ([`super::engine_loop`]), so embeddings and streams share the
//! server without a second forward pass racing the first, and a long input delays each decode
//! step by one chunk rather than by the whole input. Each input runs in storage of its own
//! ([`crate::runner::ModelRunner::embed_start`]), so it neither needs nor takes the paged cache's
//! blocks.

use std::time::{Duration, Instant};

use super::handle::Permit;
use crate::request::EngineError;
use crate::runner::{ModelError, ModelRunner};

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
    /// The next input has been handed to the runner and is part-way through.
    pub started: bool,
    pub compute: Duration,
    /// Tokens of all inputs.
    pub n_tokens: usize,
}

impl EmbedJob {
    pub(super) fn new(inputs: Vec<Vec<u32>>, sink: Box<dyn EmbedSink>, permit: Permit) -> Self {
        EmbedJob {
            done: Vec::with_capacity(inputs.len()),
            n_tokens: inputs.iter().map(Vec::len).sum(),
            inputs,
            sink,
            permit,
            started: false,
            compute: Duration::ZERO,
        }
    }

    /// Runs up to `budget` tokens of the current input on `runner` (starting it first if
    /// needed); returns the job's result when it is finished (all inputs done, or one failed).
    pub(super) fn step<R: ModelRunner>(
        &mut self,
        runner: &mut R,
        budget: usize,
    ) -> Option<Result<Embeddings, EngineError>> {
        let t = Instant::now();
        let r = self.advance(runner, budget);
        self.compute += t.elapsed();
        match r {
            Err(e) => Some(Err(EngineError::Forward(e.to_string()))),
            Ok(()) if self.done.len() == self.inputs.len() => Some(Ok(Embeddings {
                vectors: std::mem::take(&mut self.done),
                compute: self.compute,
            })),
            Ok(()) => None,
        }
    }

    fn advance<R: ModelRunner>(&mut self, runner: &mut R, budget: usize) -> Result<(), ModelError> {
        if !self.started {
            let next = std::mem::take(&mut self.inputs[self.done.len()]);
            runner.embed_start(next)?;
            self.started = true;
        }
        if let Some(v) = runner.embed_step(budget)? {
            self.done.push(v);
            self.started = false;
        }
        Ok(())
    }
}
