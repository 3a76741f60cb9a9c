//! [`ModelRunner`] and [`Vocab`] over a real model: `nomoat_models`' paged KV cache and forward
//! pass, and the tokenizer's stream decoder. The server runs one `PagedRunner` shared by all
//! sequences; the CLI's [`crate::generate::Session`] runs one holding a single sequence.

use std::sync::Arc;

use nomoat_models::{
    Batch, EmbedRun, KvCache, KvDtype, KvError, ModelError, Pooling, Scratch, SeqId,
};
use nomoat_tokenizer::{DecodeOptions, StreamDecoder};

use crate::generate::LoadedModel;
use crate::runner::{EmbedInfo, IncrementalDecoder, ModelRunner, Vocab};

/// Tokens per KV block (the prefix cache shares whole blocks).
pub const KV_BLOCK_SIZE: usize = 16;

/// A loaded model with a paged KV cache (F16) of `kv_tokens` tokens shared by its sequences.
pub struct PagedRunner {
    lm: Arc<LoadedModel>,
    kv: KvCache,
    scratch: Scratch,
    n_ctx: usize,
    /// The file's `pooling_type` (mean when it names none), or why it cannot be used;
    /// [`PagedRunner::set_pooling`] overrides it.
    pooling: Result<Pooling, String>,
    /// The embedding input in progress.
    embed_run: Option<EmbedRun>,
}

impl PagedRunner {
    /// `kv_tokens`: KV cache size in tokens (all sequences together); `n_ctx`: the most one
    /// sequence may hold (capped by the cache; the caller applies any other cap, such as the
    /// model's training context); `max_batch`: tokens per forward pass (sizes the scratch).
    pub fn new(
        lm: Arc<LoadedModel>,
        kv_tokens: usize,
        n_ctx: usize,
        max_batch: usize,
    ) -> Result<PagedRunner, ModelError> {
        let kv =
            lm.model
                .new_kv_cache(kv_tokens.max(KV_BLOCK_SIZE), KV_BLOCK_SIZE, KvDtype::F16)?;
        let n_ctx = n_ctx.min(kv.n_blocks() * KV_BLOCK_SIZE).max(1);
        let scratch = lm.model.new_scratch(max_batch.max(1));
        // A causal model names no pooling; llama.cpp then pools nothing (`none`) and its
        // /v1/embeddings refuses. nomoat means over the tokens instead (see docs/serving.md).
        let pooling =
            Pooling::from_file(lm.model.file().gguf()).map(|p| p.unwrap_or(Pooling::Mean));
        Ok(PagedRunner {
            lm,
            kv,
            scratch,
            n_ctx,
            pooling,
            embed_run: None,
        })
    }

    /// Pool embeddings this way instead of the file's choice (`--pooling`).
    pub fn set_pooling(&mut self, pooling: Pooling) {
        self.pooling = Ok(pooling);
    }

    /// Bytes of the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.kv.total_bytes()
    }

    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.lm
    }
}

impl ModelRunner for PagedRunner {
    fn n_vocab(&self) -> usize {
        self.lm.n_vocab()
    }
    fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    fn block_size(&self) -> usize {
        self.kv.block_size()
    }
    fn n_blocks_total(&self) -> usize {
        self.kv.n_blocks()
    }
    fn n_free_blocks(&self) -> usize {
        self.kv.n_free_blocks()
    }
    fn blocks_needed(&self, seq: SeqId, n_new: usize) -> usize {
        // An unknown sequence cannot grow: report more than the cache holds.
        self.kv.blocks_needed(seq, n_new).unwrap_or(usize::MAX / 2)
    }
    fn alloc_seq(&mut self) -> Option<SeqId> {
        Some(self.kv.alloc_seq())
    }
    fn free_seq(&mut self, seq: SeqId) {
        // Freeing an unknown sequence is a no-op: the loop frees each sequence once.
        let _ = self.kv.free_seq(seq);
    }
    fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), KvError> {
        self.kv.fork_prefix(src, dst, n_tokens)
    }
    fn truncate(&mut self, seq: SeqId, len: usize) -> Result<(), KvError> {
        self.kv.truncate(seq, len)
    }
    fn seq_len(&self, seq: SeqId) -> usize {
        self.kv.seq_len(seq)
    }
    fn forward(&mut self, batch: &Batch, logits: &mut Vec<f32>) -> Result<(), ModelError> {
        self.lm
            .model
            .forward(batch, &mut self.kv, &mut self.scratch, logits)
    }
    fn embedding(&self) -> Result<EmbedInfo, String> {
        self.pooling.clone().map(|pooling| EmbedInfo {
            n_embd: self.lm.model.config().n_embd,
            pooling,
        })
    }
    fn embed_start(&mut self, tokens: Vec<u32>) -> Result<(), ModelError> {
        self.embed_run = None;
        let pooling = self.pooling.clone().map_err(ModelError::BadBatch)?;
        self.embed_run = Some(self.lm.model.embed_start(tokens, pooling)?);
        Ok(())
    }
    fn embed_step(&mut self, max_tokens: usize) -> Result<Option<Vec<f32>>, ModelError> {
        let mut run = self
            .embed_run
            .take()
            .ok_or_else(|| ModelError::BadBatch("no embedding in progress".into()))?;
        let r = run.step(&self.lm.model, &mut self.scratch, max_tokens);
        if let Ok(None) = r {
            self.embed_run = Some(run);
        }
        r
    }
    fn embed_abort(&mut self) {
        self.embed_run = None;
    }
}

/// The tokenizer as the token loop needs it.
pub struct TokenizerVocab {
    pub lm: Arc<LoadedModel>,
}

struct TokenizerDecoder {
    lm: Arc<LoadedModel>,
    dec: StreamDecoder,
}

impl IncrementalDecoder for TokenizerDecoder {
    fn push(&mut self, id: u32) -> String {
        self.dec.push(self.lm.tokenizer.vocab(), id)
    }
    fn finish(&mut self) -> String {
        self.dec.finish(self.lm.tokenizer.vocab())
    }
}

impl Vocab for TokenizerVocab {
    fn is_eog(&self, id: u32) -> bool {
        self.lm.tokenizer.is_eog(id)
    }
    fn decoder(&self, render_special: bool) -> Box<dyn IncrementalDecoder> {
        // Generated text continues the prompt: no space prefix to strip; special tokens hidden
        // unless asked for.
        Box::new(TokenizerDecoder {
            lm: self.lm.clone(),
            dec: StreamDecoder::continuing(DecodeOptions {
                remove_special: false,
                unparse_special: render_special,
            }),
        })
    }
}
