//! What the engine loop needs from a model and its paged KV cache, and from the vocabulary.
//!
//! The real implementation wraps `nomoat_models` (see `model_backend.rs`); tests use the
//! deterministic stand-in of `testing.rs`. Keeping this seam narrow lets the scheduler's
//! bookkeeping (admission, chunking, prefix sharing, preemption, cancellation) be tested without
//! a model.

/// A sequence slot in the paged KV cache.
pub type SeqId = u32;

/// One forward pass over tokens of possibly several sequences (continuous batching).
/// Row `i` is token `tokens[i]` at position `positions[i]` of sequence `seq_ids[i]`; logits are
/// produced for the rows with `want_logits[i]`, in row order.
#[derive(Debug, Default, Clone)]
pub struct StepBatch {
    pub tokens: Vec<u32>,
    pub positions: Vec<u32>,
    pub seq_ids: Vec<SeqId>,
    pub want_logits: Vec<bool>,
}

impl StepBatch {
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.positions.clear();
        self.seq_ids.clear();
        self.want_logits.clear();
    }
    pub fn push(&mut self, token: u32, pos: u32, seq: SeqId, logits: bool) {
        self.tokens.push(token);
        self.positions.push(pos);
        self.seq_ids.push(seq);
        self.want_logits.push(logits);
    }
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    pub fn n_logit_rows(&self) -> usize {
        self.want_logits.iter().filter(|w| **w).count()
    }
}

/// A model with a paged KV cache of fixed-size blocks and per-sequence block tables.
pub trait Backend: Send {
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
    fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), String>;
    /// Tokens held by `seq`.
    fn seq_len(&self, seq: SeqId) -> usize;
    /// Run the batch; write `batch.n_logit_rows() * n_vocab` logits, row-major, into `logits`.
    fn forward(&mut self, batch: &StepBatch, logits: &mut Vec<f32>) -> Result<(), String>;
}

/// Turns generated ids into text, one token at a time, and says which ids end generation.
pub trait Vocab: Send + Sync {
    fn is_eog(&self, id: u32) -> bool;
    fn decoder(&self) -> Box<dyn IncrementalDecoder>;
}

/// Incremental detokenizer: `push` returns the text completed by this token (holding back an
/// unfinished UTF-8 sequence).
pub trait IncrementalDecoder: Send {
    fn push(&mut self, id: u32) -> String;
    /// Text still held at the end (an unfinished UTF-8 sequence, as U+FFFD).
    fn finish(&mut self) -> String;
}
