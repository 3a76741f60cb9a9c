//! [`Backend`] and [`Vocab`] over a real model: `nomoat_models`' paged KV cache and forward pass,
//! and the tokenizer's stream decoder.

use std::sync::Arc;

use nomoat_models::{Batch, KvCache, KvDtype, Scratch, SeqId as KvSeq};
use nomoat_tokenizer::{DecodeOptions, StreamDecoder};

use super::backend::{Backend, IncrementalDecoder, SeqId, StepBatch, Vocab};
use crate::generate::LoadedModel;

/// Tokens per KV block (the prefix cache shares whole blocks).
pub const KV_BLOCK_SIZE: usize = 16;

/// A loaded model with a paged KV cache of `kv_tokens` tokens shared by all sequences.
pub struct ModelBackend {
    lm: Arc<LoadedModel>,
    kv: KvCache,
    scratch: Scratch,
    batch: Batch,
    n_ctx: usize,
}

impl ModelBackend {
    /// `kv_tokens`: KV cache size in tokens (all sequences together); `n_ctx`: the most one
    /// sequence may hold (capped by the cache and the model's training context); `max_batch`:
    /// tokens per forward chunk.
    pub fn new(
        lm: Arc<LoadedModel>,
        kv_tokens: usize,
        n_ctx: usize,
        max_batch: usize,
    ) -> Result<ModelBackend, nomoat_models::ModelError> {
        let kv =
            lm.model
                .new_kv_cache(kv_tokens.max(KV_BLOCK_SIZE), KV_BLOCK_SIZE, KvDtype::F16)?;
        let cfg = lm.model.config();
        let train = (cfg.n_ctx_train as usize).max(1);
        let n_ctx = n_ctx.min(train).min(kv.n_blocks() * KV_BLOCK_SIZE).max(1);
        let scratch = Scratch::new(cfg, max_batch.max(1));
        Ok(ModelBackend {
            lm,
            kv,
            scratch,
            batch: Batch::new(),
            n_ctx,
        })
    }

    /// Bytes of the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.kv.total_bytes()
    }
}

impl Backend for ModelBackend {
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
        self.kv
            .blocks_needed(KvSeq(seq), n_new)
            .unwrap_or(usize::MAX / 2)
    }
    fn alloc_seq(&mut self) -> Option<SeqId> {
        Some(self.kv.alloc_seq().0)
    }
    fn free_seq(&mut self, seq: SeqId) {
        let _ = self.kv.free_seq(KvSeq(seq));
    }
    fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), String> {
        self.kv
            .fork_prefix(KvSeq(src), KvSeq(dst), n_tokens)
            .map_err(|e| e.to_string())
    }
    fn seq_len(&self, seq: SeqId) -> usize {
        self.kv.seq_len(KvSeq(seq))
    }
    fn forward(&mut self, batch: &StepBatch, logits: &mut Vec<f32>) -> Result<(), String> {
        self.batch.clear();
        for i in 0..batch.len() {
            self.batch.push(
                batch.tokens[i],
                batch.positions[i],
                KvSeq(batch.seq_ids[i]),
                batch.want_logits[i],
            );
        }
        self.lm
            .model
            .forward(
                &self.lm.pool,
                &self.batch,
                &mut self.kv,
                &mut self.scratch,
                logits,
            )
            .map_err(|e| e.to_string())
    }
}

/// The tokenizer as the engine loop needs it.
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
    fn decoder(&self) -> Box<dyn IncrementalDecoder> {
        // Generated text continues the prompt: no space prefix to strip, special tokens hidden.
        Box::new(TokenizerDecoder {
            lm: self.lm.clone(),
            dec: StreamDecoder::continuing(DecodeOptions::default()),
        })
    }
}
