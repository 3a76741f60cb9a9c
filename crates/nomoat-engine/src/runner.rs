//! What the token loop needs from a model and its paged KV cache ([`ModelRunner`]), and from the
//! vocabulary ([`Vocab`]).
//!
//! The real implementation wraps `nomoat_models` ([`crate::paged::PagedRunner`]); tests use the
//! deterministic stand-in of [`crate::scheduler::testing`]. The seam is narrow on purpose: the
//! per-sequence state machine and the scheduler's bookkeeping (admission, chunking, prefix
//! sharing, preemption, cancellation) can then be tested without a model.
//!
//! The batch and sequence-id types that cross it are the model crate's own ([`Batch`],
//! [`SeqId`]): the engine fills the batch the model reads, with no copy in between, and the
//! errors are the model crate's typed [`ModelError`] / [`KvError`].
//!
//! ("Runner", not "backend": a compute backend is the layer below the model, see
//! `nomoat-backend`; a runner is model + KV cache, what one forward pass needs.)

pub use nomoat_models::{Batch, KvError, ModelError, Pooling, SeqId};

/// A model with a paged KV cache of fixed-size blocks and per-sequence block tables.
///
/// Every method but `forward` is bookkeeping and must be cheap; `forward` runs one pass over a
/// batch that may mix tokens of several sequences (continuous batching).
pub trait ModelRunner: Send {
    fn n_vocab(&self) -> usize;
    /// Longest sequence (prompt + generated) one sequence may hold.
    fn n_ctx(&self) -> usize;
    /// Tokens per KV block.
    fn block_size(&self) -> usize;
    fn n_blocks_total(&self) -> usize;
    fn n_free_blocks(&self) -> usize;
    /// Free blocks `seq` needs to grow by `n_new` tokens (0 when its last block has room).
    fn blocks_needed(&self, seq: SeqId, n_new: usize) -> usize;
    /// A new empty sequence, or `None` when no sequence slot is left.
    fn alloc_seq(&mut self) -> Option<SeqId>;
    /// Release the sequence and drop its references to its blocks.
    fn free_seq(&mut self, seq: SeqId);
    /// Make `dst` (empty) start with the first `n_tokens` of `src`, sharing its full blocks
    /// (`n_tokens` is a multiple of the block size).
    fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), KvError>;
    /// Keep the first `len` tokens of `seq` (the single-sequence driver's chat cache keeps the
    /// common prefix of two turns this way).
    fn truncate(&mut self, seq: SeqId, len: usize) -> Result<(), KvError>;
    /// Tokens held by `seq`.
    fn seq_len(&self, seq: SeqId) -> usize;
    /// Run the batch; write `batch.n_outputs() * n_vocab` logits, row-major in batch order, into
    /// `logits` (resized as needed; its capacity is reused across calls).
    fn forward(&mut self, batch: &Batch, logits: &mut Vec<f32>) -> Result<(), ModelError>;
    /// The embeddings this model gives (width, pooling), or why it gives none.
    fn embedding(&self) -> Result<EmbedInfo, String> {
        Err("this model does not produce embeddings".into())
    }
    /// Start embedding one input (non-empty, in the vocabulary, at most `n_ctx` tokens),
    /// replacing any input in progress. It runs outside the paged cache, in storage of its own
    /// freed when it ends, and on the caller's thread (for the server: the engine thread,
    /// between steps).
    fn embed_start(&mut self, tokens: Vec<u32>) -> Result<(), ModelError> {
        let _ = tokens;
        Err(ModelError::BadBatch(
            "this model does not produce embeddings".into(),
        ))
    }
    /// Run up to `max_tokens` more tokens of the input in progress; its pooled, unnormalised
    /// vector once it is done (the input is then finished and its storage freed).
    fn embed_step(&mut self, max_tokens: usize) -> Result<Option<Vec<f32>>, ModelError> {
        let _ = max_tokens;
        Err(ModelError::BadBatch("no embedding in progress".into()))
    }
    /// Drop the input in progress, if any (its client went away).
    fn embed_abort(&mut self) {}
}

/// What [`ModelRunner::embed`] returns: vectors of `n_embd` values, pooled with `pooling`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbedInfo {
    pub n_embd: usize,
    pub pooling: Pooling,
}

/// Turns generated ids into text, one token at a time, and says which ids end generation.
pub trait Vocab: Send + Sync {
    fn is_eog(&self, id: u32) -> bool;
    /// A decoder for one sequence; `render_special` writes control tokens as their text.
    fn decoder(&self, render_special: bool) -> Box<dyn IncrementalDecoder>;
}

/// Incremental detokenizer: `push` returns the text completed by this token (holding back an
/// unfinished UTF-8 sequence).
pub trait IncrementalDecoder: Send {
    fn push(&mut self, id: u32) -> String;
    /// Text still held at the end (an unfinished UTF-8 sequence, as U+FFFD).
    fn finish(&mut self) -> String;
}
