//! A deterministic stand-in model for tests of the scheduler and of the HTTP server.
//!
//! Its "KV cache" stores each sequence's tokens in refcounted blocks exactly like a paged cache
//! would, and its logits are a pseudo-random function of the sequence's whole history, so any
//! mix-up between sequences in a batch, a wrong position, or a bad prefix fork changes the output.
//! Not a model: only for tests and examples.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use super::backend::{Backend, IncrementalDecoder, SeqId, StepBatch, Vocab};

struct FakeSeq {
    blocks: Vec<usize>,
    tokens: Vec<u32>,
}

/// Paged fake model with `n_blocks` blocks of `block_size` tokens.
pub struct FakeBackend {
    pub n_vocab: usize,
    pub n_ctx: usize,
    block_size: usize,
    refcount: Vec<u32>,
    seqs: HashMap<SeqId, FakeSeq>,
    next_seq: SeqId,
    /// Sleep per forward pass (to keep requests in flight in tests).
    pub step_delay: Duration,
    /// Tokens per forward pass seen so far (to check the budget).
    pub max_batch_seen: usize,
}

impl FakeBackend {
    pub fn new(n_vocab: usize, n_ctx: usize, block_size: usize, n_blocks: usize) -> Self {
        FakeBackend {
            n_vocab,
            n_ctx,
            block_size,
            refcount: vec![0; n_blocks],
            seqs: HashMap::new(),
            next_seq: 0,
            step_delay: Duration::ZERO,
            max_batch_seen: 0,
        }
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

impl Backend for FakeBackend {
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
        let id = self.next_seq;
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
    fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), String> {
        if !n_tokens.is_multiple_of(self.block_size) {
            return Err("fork of a partial block".into());
        }
        let (blocks, tokens) = {
            let s = self.seqs.get(&src).ok_or("no source sequence")?;
            if s.tokens.len() < n_tokens {
                return Err("source too short".into());
            }
            let nb = n_tokens / self.block_size;
            (s.blocks[..nb].to_vec(), s.tokens[..n_tokens].to_vec())
        };
        let d = self.seqs.get_mut(&dst).ok_or("no destination sequence")?;
        if !d.tokens.is_empty() {
            return Err("destination not empty".into());
        }
        for &b in &blocks {
            self.refcount[b] += 1;
        }
        d.blocks = blocks;
        d.tokens = tokens;
        Ok(())
    }
    fn seq_len(&self, seq: SeqId) -> usize {
        self.seqs.get(&seq).map_or(0, |s| s.tokens.len())
    }
    fn forward(&mut self, batch: &StepBatch, logits: &mut Vec<f32>) -> Result<(), String> {
        if !self.step_delay.is_zero() {
            std::thread::sleep(self.step_delay);
        }
        self.max_batch_seen = self.max_batch_seen.max(batch.len());
        logits.clear();
        for i in 0..batch.len() {
            let seq = batch.seq_ids[i];
            let pos = batch.positions[i] as usize;
            let tok = batch.tokens[i];
            if tok as usize >= self.n_vocab {
                return Err(format!("token {tok} out of range"));
            }
            let len = self.seqs.get(&seq).ok_or("unknown sequence")?.tokens.len();
            if pos != len {
                return Err(format!(
                    "sequence {seq}: position {pos} but {len} tokens cached"
                ));
            }
            if len >= self.n_ctx {
                return Err("context overflow".into());
            }
            if len % self.block_size == 0 {
                let b = self.take_block().ok_or("out of blocks")?;
                if let Some(s) = self.seqs.get_mut(&seq) {
                    s.blocks.push(b);
                }
            }
            let s = self.seqs.get_mut(&seq).ok_or("unknown sequence")?;
            s.tokens.push(tok);
            if batch.want_logits[i] {
                logits.extend(Self::logits_for(&s.tokens, self.n_vocab));
            }
        }
        Ok(())
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
    fn decoder(&self) -> Box<dyn IncrementalDecoder> {
        Box::new(FakeDecoder)
    }
}
