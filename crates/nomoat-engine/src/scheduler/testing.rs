//! A deterministic stand-in model ([`FakeRunner`], a [`ModelRunner`]) for tests of the token loop,
//! the scheduler and the HTTP server.
//!
//! Its "KV cache" stores each sequence's tokens in refcounted blocks exactly like a paged cache
//! would, and its logits are a pseudo-random function of the sequence's whole history, so any
//! mix-up between sequences in a batch, a wrong position, or a bad prefix fork changes the output.
//! Not a model: only for tests and examples.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use crate::runner::{
    Batch, EmbedInfo, IncrementalDecoder, KvError, ModelError, ModelRunner, Pooling, SeqId, Vocab,
};

struct FakeSeq {
    blocks: Vec<usize>,
    tokens: Vec<u32>,
}

/// Paged fake model with `n_blocks` blocks of `block_size` tokens.
pub struct FakeRunner {
    pub n_vocab: usize,
    pub n_ctx: usize,
    block_size: usize,
    refcount: Vec<u32>,
    seqs: HashMap<SeqId, FakeSeq>,
    next_seq: u32,
    /// Sleep per forward pass (to keep requests in flight in tests).
    pub step_delay: Duration,
    /// Tokens per forward pass seen so far (to check the budget).
    pub max_batch_seen: usize,
    /// Width and pooling of its embeddings (`None`: it has none).
    pub embedding: Option<EmbedInfo>,
    /// Embedding chunks run so far (to check long inputs are spread over steps).
    pub embed_chunks: usize,
    /// The embedding input in progress: its tokens, the next position, the pooler.
    embed_run: Option<(Vec<u32>, usize, nomoat_models::embed::Pooler)>,
}

impl FakeRunner {
    pub fn new(n_vocab: usize, n_ctx: usize, block_size: usize, n_blocks: usize) -> Self {
        FakeRunner {
            n_vocab,
            n_ctx,
            block_size,
            refcount: vec![0; n_blocks],
            seqs: HashMap::new(),
            next_seq: 0,
            step_delay: Duration::ZERO,
            max_batch_seen: 0,
            embedding: Some(EmbedInfo {
                n_embd: 8,
                pooling: Pooling::Mean,
            }),
            embed_chunks: 0,
            embed_run: None,
        }
    }

    /// The fake "hidden state" of the last token of `history` (`n_embd` values in [-1, 1)),
    /// a function of the whole history like its logits.
    pub fn hidden_for(history: &[u32], n_embd: usize) -> Vec<f32> {
        Self::logits_for(history, n_embd)
            .into_iter()
            .map(|x| x / 4.0 - 1.0)
            .collect()
    }

    fn take_block(&mut self) -> Option<usize> {
        let b = self.refcount.iter().position(|&r| r == 0)?;
        self.refcount[b] = 1;
        Some(b)
    }

    /// The logits the fake model gives after `history`.
    pub fn logits_for(history: &[u32], n_vocab: usize) -> Vec<f32> {
        let mut h = DefaultHasher::new();
        history.hash(&mut h);
        let mut x = h.finish() | 1;
        (0..n_vocab)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 * 8.0
            })
            .collect()
    }
}

impl ModelRunner for FakeRunner {
    fn n_vocab(&self) -> usize {
        self.n_vocab
    }
    fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    fn block_size(&self) -> usize {
        self.block_size
    }
    fn n_blocks_total(&self) -> usize {
        self.refcount.len()
    }
    fn n_free_blocks(&self) -> usize {
        self.refcount.iter().filter(|&&r| r == 0).count()
    }
    fn blocks_needed(&self, seq: SeqId, n_new: usize) -> usize {
        let Some(s) = self.seqs.get(&seq) else {
            return n_new.div_ceil(self.block_size);
        };
        (s.tokens.len() + n_new)
            .div_ceil(self.block_size)
            .saturating_sub(s.blocks.len())
    }
    fn alloc_seq(&mut self) -> Option<SeqId> {
        let id = SeqId(self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.seqs.insert(
            id,
            FakeSeq {
                blocks: Vec::new(),
                tokens: Vec::new(),
            },
        );
        Some(id)
    }
    fn free_seq(&mut self, seq: SeqId) {
        if let Some(s) = self.seqs.remove(&seq) {
            for b in s.blocks {
                self.refcount[b] -= 1;
            }
        }
    }
    fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), KvError> {
        if !n_tokens.is_multiple_of(self.block_size) {
            return Err(KvError::BadGeometry(format!(
                "fork of {n_tokens} tokens is not whole blocks of {}",
                self.block_size
            )));
        }
        let (blocks, tokens) = {
            let s = self.seqs.get(&src).ok_or(KvError::UnknownSeq(src))?;
            if s.tokens.len() < n_tokens {
                return Err(KvError::BadLength {
                    seq: src,
                    len: s.tokens.len(),
                    what: "fork",
                    n: n_tokens,
                });
            }
            let nb = n_tokens / self.block_size;
            (s.blocks[..nb].to_vec(), s.tokens[..n_tokens].to_vec())
        };
        let d = self.seqs.get_mut(&dst).ok_or(KvError::UnknownSeq(dst))?;
        if !d.tokens.is_empty() {
            return Err(KvError::NotEmpty(dst));
        }
        for &b in &blocks {
            self.refcount[b] += 1;
        }
        d.blocks = blocks;
        d.tokens = tokens;
        Ok(())
    }
    fn truncate(&mut self, seq: SeqId, len: usize) -> Result<(), KvError> {
        let bs = self.block_size;
        let s = self.seqs.get_mut(&seq).ok_or(KvError::UnknownSeq(seq))?;
        if len > s.tokens.len() {
            return Err(KvError::BadLength {
                seq,
                len: s.tokens.len(),
                what: "truncate to",
                n: len,
            });
        }
        s.tokens.truncate(len);
        for b in s.blocks.drain(len.div_ceil(bs)..) {
            self.refcount[b] -= 1;
        }
        Ok(())
    }
    fn seq_len(&self, seq: SeqId) -> usize {
        self.seqs.get(&seq).map_or(0, |s| s.tokens.len())
    }
    fn forward(&mut self, batch: &Batch, logits: &mut Vec<f32>) -> Result<(), ModelError> {
        if !self.step_delay.is_zero() {
            std::thread::sleep(self.step_delay);
        }
        self.max_batch_seen = self.max_batch_seen.max(batch.len());
        logits.clear();
        let bad = |m: String| ModelError::BadBatch(m);
        for i in 0..batch.len() {
            let seq = batch.seq_ids[i];
            let pos = batch.positions[i] as usize;
            let tok = batch.tokens[i];
            if tok as usize >= self.n_vocab {
                return Err(bad(format!("token {tok} out of range")));
            }
            let len = self
                .seqs
                .get(&seq)
                .ok_or(KvError::UnknownSeq(seq))?
                .tokens
                .len();
            if pos != len {
                return Err(bad(format!(
                    "sequence {seq:?}: position {pos} but {len} tokens cached"
                )));
            }
            if len >= self.n_ctx {
                return Err(bad("context overflow".into()));
            }
            if len % self.block_size == 0 {
                let free = self.n_free_blocks();
                let b = self
                    .take_block()
                    .ok_or(KvError::OutOfBlocks { needed: 1, free })?;
                if let Some(s) = self.seqs.get_mut(&seq) {
                    s.blocks.push(b);
                }
            }
            let s = self.seqs.get_mut(&seq).ok_or(KvError::UnknownSeq(seq))?;
            s.tokens.push(tok);
            if batch.want_logits[i] {
                logits.extend(Self::logits_for(&s.tokens, self.n_vocab));
            }
        }
        Ok(())
    }
    fn embedding(&self) -> Result<EmbedInfo, String> {
        self.embedding
            .ok_or_else(|| "the fake model has no embeddings".into())
    }
    fn embed_start(&mut self, tokens: Vec<u32>) -> Result<(), ModelError> {
        let info = self
            .embedding
            .ok_or_else(|| ModelError::BadBatch("no embeddings".into()))?;
        let p = nomoat_models::embed::Pooler::new(info.pooling, tokens.len(), info.n_embd);
        self.embed_run = Some((tokens, 0, p));
        Ok(())
    }
    fn embed_step(&mut self, max_tokens: usize) -> Result<Option<Vec<f32>>, ModelError> {
        let n_embd = self.embedding.map_or(1, |i| i.n_embd);
        let (tokens, mut next, mut p) = self
            .embed_run
            .take()
            .ok_or_else(|| ModelError::BadBatch("no embedding in progress".into()))?;
        if !self.step_delay.is_zero() {
            std::thread::sleep(self.step_delay);
        }
        self.embed_chunks += 1;
        let end = next.saturating_add(max_tokens.max(1)).min(tokens.len());
        while next < end {
            if p.wants(next) {
                p.push(&Self::hidden_for(&tokens[..=next], n_embd));
            }
            next += 1;
        }
        if next < tokens.len() {
            self.embed_run = Some((tokens, next, p));
            return Ok(None);
        }
        Ok(Some(p.finish()))
    }
    fn embed_abort(&mut self) {
        self.embed_run = None;
    }
}

/// Token `i` reads `"w{i} "`; the last id is the end-of-generation token.
pub struct FakeVocab {
    pub n_vocab: usize,
}

impl FakeVocab {
    pub fn piece(id: u32) -> String {
        format!("w{id} ")
    }
}

struct FakeDecoder;

impl IncrementalDecoder for FakeDecoder {
    fn push(&mut self, id: u32) -> String {
        FakeVocab::piece(id)
    }
    fn finish(&mut self) -> String {
        String::new()
    }
}

impl Vocab for FakeVocab {
    fn is_eog(&self, id: u32) -> bool {
        id as usize + 1 == self.n_vocab
    }
    fn decoder(&self, _render_special: bool) -> Box<dyn IncrementalDecoder> {
        Box::new(FakeDecoder)
    }
}
