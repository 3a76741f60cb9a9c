//! Paged KV cache: a fixed pool of blocks of `block_size` token slots per layer, per-sequence block
//! tables, and reference-counted blocks so sequences can share the blocks of a common prompt
//! prefix.
//!
//! The storage itself is backend-owned (a [`KvStore`]: host vectors on the CPU, device memory on
//! a GPU), `n_blocks × block_bytes()`, allocated once by [`KvCache::new`]; this module keeps the
//! bookkeeping. Running out of blocks is an error ([`KvError::OutOfBlocks`]), never a panic or a
//! reallocation.
//!
//! Sharing: [`KvCache::fork_prefix`] and [`KvCache::attach_blocks`] make several sequences (and the
//! server's prefix cache, through [`KvCache::retain_block`]) reference the same blocks. A block is
//! written only through a sequence that holds the sole reference: before a write lands in a shared
//! block it is copied (copy-on-write), so a shared block is effectively immutable.
//!
//! Gemma 3's sliding-window layers store every position like the global ones (simplest; the window
//! is applied by the attention mask), so their memory is not reclaimed early.

use nomoat_backend::{Backend, BackendError, KvDtype, KvGeometry, KvStore};

use crate::ModelConfig;

/// A sequence in the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqId(pub u32);

/// A block of the pool (index into every layer's storage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

/// Cache errors: all recoverable by the caller (evict, wait, shorten).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("out of KV cache blocks: {needed} needed, {free} free")]
    OutOfBlocks { needed: usize, free: usize },
    #[error("unknown sequence {0:?}")]
    UnknownSeq(SeqId),
    #[error("unknown or free block {0:?}")]
    BadBlock(BlockId),
    #[error("sequence {seq:?} has {len} tokens, cannot {what} {n}")]
    BadLength {
        seq: SeqId,
        len: usize,
        what: &'static str,
        n: usize,
    },
    #[error("sequence {0:?} must be empty")]
    NotEmpty(SeqId),
    #[error("KV cache of {what} does not fit in memory")]
    TooLarge { what: String },
    #[error("bad KV cache geometry: {0}")]
    BadGeometry(String),
}

impl From<BackendError> for KvError {
    fn from(e: BackendError) -> KvError {
        match e {
            BackendError::KvTooLarge { what } => KvError::TooLarge { what },
            other => KvError::BadGeometry(other.to_string()),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Seq {
    blocks: Vec<u32>,
    len: usize,
}

/// The paged KV cache of one model. See the module docs.
pub struct KvCache {
    geom: KvGeometry,
    store: Box<dyn KvStore>,
    refs: Vec<u32>,
    free: Vec<u32>,
    seqs: Vec<Option<Seq>>,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("n_blocks", &self.geom.n_blocks)
            .field("block_size", &self.geom.block_size)
            .field("free", &self.free.len())
            .field("dtype", &self.geom.dtype)
            .finish()
    }
}

impl KvCache {
    /// A cache of `n_blocks` blocks of `block_size` tokens for every layer of `cfg`, its storage
    /// allocated now by `backend`.
    pub fn new(
        backend: &dyn Backend,
        cfg: &ModelConfig,
        n_blocks: usize,
        block_size: usize,
        dtype: KvDtype,
    ) -> Result<KvCache, KvError> {
        if n_blocks == 0 || block_size == 0 || n_blocks > u32::MAX as usize {
            return Err(KvError::BadGeometry(format!(
                "{n_blocks} blocks of {block_size} tokens"
            )));
        }
        let geom = KvGeometry {
            n_layer: cfg.n_layer,
            n_kv_head: cfg.n_head_kv,
            head_dim_k: cfg.head_dim_k,
            head_dim_v: cfg.head_dim_v,
            block_size,
            n_blocks,
            dtype,
        };
        let store = backend.new_kv_store(&geom)?;
        Ok(KvCache {
            geom,
            store,
            refs: vec![0; n_blocks],
            // Pop from the end: hand out low block ids first.
            free: (0..n_blocks as u32).rev().collect(),
            seqs: Vec::new(),
        })
    }

    /// Whether this cache has the layer count and K/V head geometry of `cfg`.
    pub fn fits(&self, cfg: &ModelConfig) -> bool {
        let g = &self.geom;
        (g.n_layer, g.n_kv_head, g.head_dim_k, g.head_dim_v)
            == (cfg.n_layer, cfg.n_head_kv, cfg.head_dim_k, cfg.head_dim_v)
    }

    /// Bytes of one block across all layers, K and V.
    pub fn block_bytes(&self) -> usize {
        self.geom.block_bytes().unwrap_or(usize::MAX)
    }

    /// Total bytes of the cache's storage.
    pub fn total_bytes(&self) -> usize {
        self.store.bytes()
    }

    pub fn block_size(&self) -> usize {
        self.geom.block_size
    }
    pub fn n_blocks(&self) -> usize {
        self.geom.n_blocks
    }
    pub fn n_free_blocks(&self) -> usize {
        self.free.len()
    }
    pub fn dtype(&self) -> KvDtype {
        self.geom.dtype
    }

    /// The backend's storage, for the attention op.
    pub(crate) fn store_mut(&mut self) -> &mut dyn KvStore {
        self.store.as_mut()
    }

    /// A new, empty sequence.
    pub fn alloc_seq(&mut self) -> SeqId {
        if let Some(i) = self.seqs.iter().position(Option::is_none) {
            self.seqs[i] = Some(Seq::default());
            return SeqId(i as u32);
        }
        self.seqs.push(Some(Seq::default()));
        SeqId(self.seqs.len() as u32 - 1)
    }

    fn seq(&self, s: SeqId) -> Result<&Seq, KvError> {
        self.seqs
            .get(s.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(KvError::UnknownSeq(s))
    }

    fn seq_mut(&mut self, s: SeqId) -> Result<&mut Seq, KvError> {
        self.seqs
            .get_mut(s.0 as usize)
            .and_then(Option::as_mut)
            .ok_or(KvError::UnknownSeq(s))
    }

    fn release(&mut self, b: u32) {
        let r = &mut self.refs[b as usize];
        *r -= 1;
        if *r == 0 {
            self.free.push(b);
        }
    }

    fn take_block(&mut self) -> Result<u32, KvError> {
        let b = self
            .free
            .pop()
            .ok_or(KvError::OutOfBlocks { needed: 1, free: 0 })?;
        self.refs[b as usize] = 1;
        Ok(b)
    }

    /// Frees a sequence; its blocks return to the pool once nothing else references them.
    pub fn free_seq(&mut self, s: SeqId) -> Result<(), KvError> {
        let blocks = std::mem::take(&mut self.seq_mut(s)?.blocks);
        for b in blocks {
            self.release(b);
        }
        self.seqs[s.0 as usize] = None;
        Ok(())
    }

    /// Tokens stored for `s` (0 for an unknown sequence).
    pub fn seq_len(&self, s: SeqId) -> usize {
        self.seq(s).map_or(0, |q| q.len)
    }

    /// The blocks of `s`, in order (block `i` holds positions `i·block_size ..`).
    pub fn seq_blocks(&self, s: SeqId) -> Result<Vec<BlockId>, KvError> {
        Ok(self.seq(s)?.blocks.iter().map(|&b| BlockId(b)).collect())
    }

    /// The block table of `s` as raw ids (for the attention op).
    pub fn block_table(&self, s: SeqId) -> Result<&[u32], KvError> {
        Ok(&self.seq(s)?.blocks)
    }

    /// Keeps `s`'s first `len` tokens and drops the rest (blocks no longer needed are released).
    pub fn truncate(&mut self, s: SeqId, len: usize) -> Result<(), KvError> {
        let bs = self.geom.block_size;
        let seq = self.seq_mut(s)?;
        if len > seq.len {
            return Err(KvError::BadLength {
                seq: s,
                len: seq.len,
                what: "truncate to",
                n: len,
            });
        }
        let keep = len.div_ceil(bs);
        let dropped: Vec<u32> = seq.blocks.drain(keep..).collect();
        seq.len = len;
        for b in dropped {
            self.release(b);
        }
        Ok(())
    }

    /// Makes the empty sequence `dst` start with the first `n_tokens` tokens of `src`, sharing
    /// its blocks (no copy; a later write into a shared partial block copies it first).
    pub fn fork_prefix(&mut self, src: SeqId, dst: SeqId, n_tokens: usize) -> Result<(), KvError> {
        let s = self.seq(src)?;
        if n_tokens > s.len {
            return Err(KvError::BadLength {
                seq: src,
                len: s.len,
                what: "fork a prefix of",
                n: n_tokens,
            });
        }
        let blocks: Vec<BlockId> = s.blocks[..n_tokens.div_ceil(self.geom.block_size)]
            .iter()
            .map(|&b| BlockId(b))
            .collect();
        self.attach_blocks(dst, &blocks, n_tokens)
    }

    /// Makes the empty sequence `s` hold `n_tokens` tokens stored in `blocks` (e.g. a cached
    /// prompt prefix), taking a reference on each. `blocks` must cover exactly `n_tokens`.
    pub fn attach_blocks(
        &mut self,
        s: SeqId,
        blocks: &[BlockId],
        n_tokens: usize,
    ) -> Result<(), KvError> {
        if self.seq(s)?.len != 0 || !self.seq(s)?.blocks.is_empty() {
            return Err(KvError::NotEmpty(s));
        }
        if blocks.len() != n_tokens.div_ceil(self.geom.block_size) {
            return Err(KvError::BadLength {
                seq: s,
                len: blocks.len() * self.geom.block_size,
                what: "attach",
                n: n_tokens,
            });
        }
        for b in blocks {
            if self.refs.get(b.0 as usize).copied().unwrap_or(0) == 0 {
                return Err(KvError::BadBlock(*b));
            }
        }
        for b in blocks {
            self.refs[b.0 as usize] += 1;
        }
        let seq = self.seq_mut(s)?;
        seq.blocks = blocks.iter().map(|b| b.0).collect();
        seq.len = n_tokens;
        Ok(())
    }

    /// Takes an extra reference on a live block (a prefix cache keeping it after its sequences end).
    pub fn retain_block(&mut self, b: BlockId) -> Result<(), KvError> {
        match self.refs.get_mut(b.0 as usize) {
            Some(r) if *r > 0 => {
                *r += 1;
                Ok(())
            }
            _ => Err(KvError::BadBlock(b)),
        }
    }

    /// Drops a reference taken with [`KvCache::retain_block`].
    pub fn release_block(&mut self, b: BlockId) -> Result<(), KvError> {
        match self.refs.get(b.0 as usize) {
            Some(&r) if r > 0 => {
                self.release(b.0);
                Ok(())
            }
            _ => Err(KvError::BadBlock(b)),
        }
    }

    /// References held on a block (0 = free).
    pub fn block_refs(&self, b: BlockId) -> u32 {
        self.refs.get(b.0 as usize).copied().unwrap_or(0)
    }

    /// Fresh blocks `s` needs to append `n_new` tokens (including a copy of a shared last block).
    pub fn blocks_needed(&self, s: SeqId, n_new: usize) -> Result<usize, KvError> {
        let seq = self.seq(s)?;
        if n_new == 0 {
            return Ok(0);
        }
        let have = seq.blocks.len();
        let need = (seq.len + n_new).div_ceil(self.geom.block_size);
        let cow = usize::from(seq.len % self.geom.block_size != 0 && self.last_shared(seq));
        Ok(need.saturating_sub(have) + cow)
    }

    fn last_shared(&self, seq: &Seq) -> bool {
        let slot = seq.len / self.geom.block_size;
        seq.blocks
            .get(slot)
            .is_some_and(|&b| self.refs[b as usize] > 1)
    }

    /// Makes room for `n_new` more tokens of `s`: allocates blocks and un-shares a shared block
    /// that would be written. All or nothing: on [`KvError::OutOfBlocks`] nothing changes.
    pub fn reserve(&mut self, s: SeqId, n_new: usize) -> Result<(), KvError> {
        let needed = self.blocks_needed(s, n_new)?;
        if needed > self.free.len() {
            return Err(KvError::OutOfBlocks {
                needed,
                free: self.free.len(),
            });
        }
        if n_new == 0 {
            return Ok(());
        }
        let bs = self.geom.block_size;
        let len = self.seq(s)?.len;
        // Un-share the block the new tokens start writing into (only a partial last block can be
        // shared and still written; blocks past `len` are never shared).
        let first = len / bs;
        let shared = self.seq(s)?.blocks.get(first).copied();
        if let Some(b) = shared.filter(|&b| self.refs[b as usize] > 1) {
            let nb = self.take_block()?;
            self.copy_block(b, nb);
            self.release(b);
            self.seq_mut(s)?.blocks[first] = nb;
        }
        let need = (len + n_new).div_ceil(bs);
        while self.seq(s)?.blocks.len() < need {
            let b = self.take_block()?;
            self.seq_mut(s)?.blocks.push(b);
        }
        Ok(())
    }

    fn copy_block(&mut self, from: u32, to: u32) {
        self.store.copy_block(from, to);
    }

    /// Where position `pos` of `s` lives: `(block, slot)`. The slot must have been reserved
    /// and, for a write, must not be shared (guaranteed by [`KvCache::reserve`]); a violation is
    /// a bug and panics.
    fn slot(&self, s: SeqId, pos: usize, writing: bool) -> (u32, usize) {
        let bs = self.geom.block_size;
        let seq = self.seq(s).expect("a live sequence");
        let b = seq.blocks[pos / bs];
        assert!(
            !writing || self.refs[b as usize] == 1,
            "write into a shared KV block"
        );
        (b, pos % bs)
    }

    /// Stores K (`n_kv_head × head_dim_k`) and V (`n_kv_head × head_dim_v`) of the token at
    /// position `pos` of `s` in `layer` (the forward pass writes through the backend's attention
    /// op instead; this is for tests and tools).
    pub fn write(&mut self, layer: usize, s: SeqId, pos: usize, k: &[f32], v: &[f32]) {
        let (b, slot) = self.slot(s, pos, true);
        self.store.write(layer, b, slot, k, v);
    }

    /// Reads back K and V of the token at `pos` of `s` in `layer`.
    pub fn read(&self, layer: usize, s: SeqId, pos: usize, k: &mut [f32], v: &mut [f32]) {
        let (b, slot) = self.slot(s, pos, false);
        self.store.read(layer, b, slot, k, v);
    }

    /// Marks `n` more tokens of `s` as stored (after their K/V were written in every layer).
    pub fn advance(&mut self, s: SeqId, n: usize) -> Result<(), KvError> {
        let cap = self.seq(s)?.blocks.len() * self.geom.block_size;
        let seq = self.seq_mut(s)?;
        if seq.len + n > cap {
            return Err(KvError::BadLength {
                seq: s,
                len: seq.len,
                what: "advance beyond reserved space by",
                n,
            });
        }
        seq.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, RopeConfig, RopeScaling, SpecialTokens};
    use nomoat_backend::BackendOptions;

    fn cache(n_blocks: usize, block_size: usize, dtype: KvDtype) -> Result<KvCache, KvError> {
        let be = nomoat_backend::create("cpu", &BackendOptions::default()).unwrap();
        KvCache::new(be.as_ref(), &cfg(), n_blocks, block_size, dtype)
    }

    fn cfg() -> ModelConfig {
        let arch = Arch::from_name("llama").unwrap();
        ModelConfig {
            arch,
            n_vocab: 16,
            n_embd: 8,
            n_layer: 2,
            n_head: 2,
            n_head_kv: 1,
            head_dim_k: 4,
            head_dim_v: 4,
            n_ff: 16,
            n_ctx_train: 64,
            norm_eps: 1e-5,
            rope: RopeConfig {
                mode: arch.rope_mode(),
                n_rot: 4,
                freq_base: 10000.0,
                freq_base_swa: 10000.0,
                scaling: RopeScaling::None,
            },
            sliding_window: 0,
            swa_layers: vec![false; 2],
            attn_scale: 0.5,
            final_logit_softcap: None,
            attn_logit_softcap: None,
            tied_output: true,
            special: SpecialTokens::default(),
        }
    }

    fn fill(kv: &mut KvCache, s: SeqId, n: usize, val: f32) {
        kv.reserve(s, n).unwrap();
        let start = kv.seq_len(s);
        for p in start..start + n {
            for l in 0..2 {
                kv.write(l, s, p, &[val + p as f32; 4], &[val; 4]);
            }
        }
        kv.advance(s, n).unwrap();
    }

    fn k_at(kv: &KvCache, s: SeqId, pos: usize) -> f32 {
        let (mut k, mut v) = ([0.0; 4], [0.0; 4]);
        kv.read(1, s, pos, &mut k, &mut v);
        k[0]
    }

    #[test]
    fn allocation_is_bounded_and_all_or_nothing() {
        let mut kv = cache(4, 4, KvDtype::F32).unwrap();
        assert_eq!(kv.total_bytes(), 4 * kv.block_bytes());
        assert_eq!(kv.block_bytes(), 2 * 4 * (4 + 4) * 4);
        let s = kv.alloc_seq();
        assert_eq!(kv.blocks_needed(s, 9).unwrap(), 3);
        fill(&mut kv, s, 9, 0.0);
        assert_eq!(kv.n_free_blocks(), 1);
        let t = kv.alloc_seq();
        assert_eq!(
            kv.reserve(t, 5),
            Err(KvError::OutOfBlocks { needed: 2, free: 1 })
        );
        assert_eq!((kv.seq_len(t), kv.n_free_blocks()), (0, 1));
        kv.truncate(s, 4).unwrap();
        assert_eq!((kv.seq_len(s), kv.n_free_blocks()), (4, 3));
        kv.free_seq(s).unwrap();
        assert_eq!(kv.n_free_blocks(), 4);
        assert_eq!(kv.free_seq(s), Err(KvError::UnknownSeq(s)));
        assert!(cache(0, 4, KvDtype::F16).is_err());
        assert!(cache(usize::MAX / 2, 1 << 20, KvDtype::F16).is_err());
    }

    #[test]
    fn shared_prefix_blocks_are_copied_on_write() {
        let mut kv = cache(8, 4, KvDtype::F16).unwrap();
        let a = kv.alloc_seq();
        fill(&mut kv, a, 6, 0.0); // one full block, one with 2 of 4 slots
        let b = kv.alloc_seq();
        kv.fork_prefix(a, b, 6).unwrap();
        assert_eq!(kv.n_free_blocks(), 6);
        assert_eq!(kv.block_table(a).unwrap(), kv.block_table(b).unwrap());
        // b appends: its shared partial block is copied first; a keeps its own.
        assert_eq!(kv.blocks_needed(b, 1).unwrap(), 1);
        fill(&mut kv, b, 1, 100.0);
        assert_eq!(kv.block_table(a).unwrap()[0], kv.block_table(b).unwrap()[0]);
        assert_ne!(kv.block_table(a).unwrap()[1], kv.block_table(b).unwrap()[1]);
        assert_eq!(k_at(&kv, b, 5), 5.0, "copied prefix");
        assert_eq!(k_at(&kv, b, 6), 106.0);
        fill(&mut kv, a, 1, 50.0);
        assert_eq!(k_at(&kv, a, 6), 56.0);
        assert_eq!(k_at(&kv, b, 6), 106.0, "b unaffected by a");
        // A prefix cache keeps block 0 alive after both sequences end.
        let shared = kv.seq_blocks(a).unwrap()[0];
        kv.retain_block(shared).unwrap();
        kv.free_seq(a).unwrap();
        kv.free_seq(b).unwrap();
        assert_eq!((kv.block_refs(shared), kv.n_free_blocks()), (1, 7));
        let c = kv.alloc_seq();
        kv.attach_blocks(c, &[shared], 4).unwrap();
        assert_eq!(k_at(&kv, c, 3), 3.0);
        kv.release_block(shared).unwrap();
        kv.free_seq(c).unwrap();
        assert_eq!(kv.n_free_blocks(), 8);
        assert_eq!(kv.release_block(shared), Err(KvError::BadBlock(shared)));
        assert!(kv.attach_blocks(c, &[shared], 4).is_err());
    }

    #[test]
    fn bad_lengths_are_errors() {
        let mut kv = cache(2, 4, KvDtype::F32).unwrap();
        let a = kv.alloc_seq();
        fill(&mut kv, a, 3, 0.0);
        assert!(kv.truncate(a, 4).is_err());
        let b = kv.alloc_seq();
        assert!(kv.fork_prefix(a, b, 4).is_err());
        kv.fork_prefix(a, b, 3).unwrap();
        assert_eq!(kv.fork_prefix(a, b, 1), Err(KvError::NotEmpty(b)));
        assert!(kv.advance(a, 5).is_err());
    }
}
