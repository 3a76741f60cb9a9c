//! [`Model`]: a validated model file plus its weight handles, and the batched forward pass.
//!
//! `forward` takes a [`Batch`] of tokens from one or more sequences (continuous batching), checks
//! it, reserves KV space, runs the architecture's layer loop in chunks of at most
//! `Scratch::max_batch` tokens, and writes logits for the rows that asked for them.

use std::sync::Arc;

use nomoat_gguf::GgufFile;
use nomoat_kernels::ops::{GeluMode, KvDtype, RopeParams};
use nomoat_kernels::ThreadPool;

use crate::config::{Arch, ModelConfig, RopeScaling};
use crate::kv::{KvCache, SeqId};
use crate::weights::{f32_vector, matrix, opt_f32_vector, LayerWeights, MatrixRef};
use crate::ModelError;

/// Choices made when loading a model.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// GELU evaluation (default: llama.cpp's f16 table, for parity).
    pub gelu: GeluMode,
    /// With an f16 KV cache and fewer than 64 tokens in a chunk, attend the way llama.cpp's CPU
    /// flash-attention vector kernel does (Q rounded to f16, output accumulated in f16), so
    /// decoding reproduces its log-probs closely. Off: f32 throughout (slightly more accurate).
    pub llama_cpp_attention: bool,
    /// Repack weights whose row-interleaved layout is faster (Q8_0 matrices with a multiple of 8
    /// rows, e.g. Gemma 3's tied 262 144-row embedding) into an owned copy at load; the mapping's
    /// pages of those tensors are then released, so resident memory stays about the same.
    pub repack: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            gelu: GeluMode::F16Table,
            llama_cpp_attention: true,
            repack: true,
        }
    }
}

/// Tokens to run, possibly of several sequences. All four vectors have one entry per token.
/// Within a sequence, tokens appear in position order, the first at the sequence's current length.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub positions: Vec<u32>,
    pub seq_ids: Vec<SeqId>,
    /// Rows whose logits are wanted (written in batch order).
    pub want_logits: Vec<bool>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Appends one token.
    pub fn push(&mut self, token: u32, pos: u32, seq: SeqId, want_logits: bool) {
        self.tokens.push(token);
        self.positions.push(pos);
        self.seq_ids.push(seq);
        self.want_logits.push(want_logits);
    }

    /// Empties the batch, keeping its capacity.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.positions.clear();
        self.seq_ids.clear();
        self.want_logits.clear();
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Rows that will get logits.
    pub fn n_outputs(&self) -> usize {
        self.want_logits.iter().filter(|&&w| w).count()
    }
}

/// Activation buffers reused across forward passes: allocated for `max_batch` tokens by
/// [`Scratch::new`], so the token loop allocates nothing once warm.
#[derive(Debug)]
pub struct Scratch {
    pub(crate) max_batch: usize,
    /// Residual stream, n × n_embd.
    pub(crate) x: Vec<f32>,
    /// Normed input / block output, n × n_embd.
    pub(crate) h: Vec<f32>,
    pub(crate) q: Vec<f32>,
    pub(crate) k: Vec<f32>,
    pub(crate) v: Vec<f32>,
    /// Attention output, n × (n_head · head_dim_v).
    pub(crate) attn: Vec<f32>,
    pub(crate) gate: Vec<f32>,
    pub(crate) up: Vec<f32>,
    /// RoPE cos/sin per token, n × n_rot: global layers and sliding-window layers.
    pub(crate) rope_g: Vec<f32>,
    pub(crate) rope_l: Vec<f32>,
    /// Attention bookkeeping of the current chunk.
    pub(crate) ranges: Vec<(u32, u32)>,
    pub(crate) table: Vec<u32>,
    pub(crate) seen: Vec<(SeqId, u32, u32)>,
    /// Rows selected for logits, n_out × n_embd.
    pub(crate) out_x: Vec<f32>,
    pub(crate) seq_counts: Vec<(SeqId, usize)>,
}

impl Scratch {
    /// Buffers for chunks of up to `max_batch` tokens (at least 1) of a model of `cfg`.
    pub fn new(cfg: &ModelConfig, max_batch: usize) -> Scratch {
        let b = max_batch.max(1);
        let z = |w: usize| Vec::with_capacity(b * w);
        Scratch {
            max_batch: b,
            x: z(cfg.n_embd),
            h: z(cfg.n_embd),
            q: z(cfg.q_dim()),
            k: z(cfg.k_dim()),
            v: z(cfg.v_dim()),
            attn: z(cfg.attn_out_dim()),
            gate: z(cfg.n_ff),
            up: z(cfg.n_ff),
            rope_g: z(cfg.rope.n_rot),
            rope_l: z(cfg.rope.n_rot),
            ranges: Vec::with_capacity(b),
            table: Vec::new(),
            seen: Vec::new(),
            out_x: z(cfg.n_embd),
            seq_counts: Vec::new(),
        }
    }

    /// Largest chunk processed at once.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        4 * (self.x.capacity()
            + self.h.capacity()
            + self.q.capacity()
            + self.k.capacity()
            + self.v.capacity()
            + self.attn.capacity()
            + self.gate.capacity()
            + self.up.capacity()
            + self.rope_g.capacity()
            + self.rope_l.capacity()
            + self.out_x.capacity())
    }

    /// Sizes every buffer for a chunk of `n` tokens (within capacity: no allocation).
    fn size_for(&mut self, cfg: &ModelConfig, n: usize) {
        self.x.resize(n * cfg.n_embd, 0.0);
        self.h.resize(n * cfg.n_embd, 0.0);
        self.q.resize(n * cfg.q_dim(), 0.0);
        self.k.resize(n * cfg.k_dim(), 0.0);
        self.v.resize(n * cfg.v_dim(), 0.0);
        self.attn.resize(n * cfg.attn_out_dim(), 0.0);
        self.gate.resize(n * cfg.n_ff, 0.0);
        self.up.resize(n * cfg.n_ff, 0.0);
        self.rope_g.resize(n * cfg.rope.n_rot, 0.0);
        self.rope_l.resize(n * cfg.rope.n_rot, 0.0);
    }
}

/// One chunk of a batch, as the layer loops see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step<'a> {
    pub tokens: &'a [u32],
    pub pos: &'a [u32],
    pub seqs: &'a [SeqId],
    pub want: &'a [bool],
}

impl Step<'_> {
    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }
}

/// Memory held by a loaded model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryReport {
    /// Size of the mapped file (weights are read in place from it).
    pub mapped_bytes: usize,
    /// Weights copied out of the mapping (norm vectors and biases).
    pub owned_weight_bytes: usize,
    /// Matrices repacked at load into an owned row-interleaved copy (their pages of the mapping
    /// are released, so this replaces rather than adds to resident memory).
    pub repacked_weight_bytes: usize,
    /// The KV cache passed to [`Model::memory_report_with`] (allocated up front), else 0.
    pub kv_bytes: usize,
    /// The scratch buffers passed to [`Model::memory_report_with`], else 0.
    pub scratch_bytes: usize,
}

/// A loaded model: the mapped file, its validated config and weight handles.
#[derive(Debug)]
pub struct Model {
    pub(crate) file: Arc<GgufFile>,
    pub(crate) cfg: ModelConfig,
    pub(crate) opts: LoadOptions,
    /// Bytes of the weights repacked at load.
    pub(crate) packed_bytes: usize,
    pub(crate) token_embd: MatrixRef,
    pub(crate) output_norm: Vec<f32>,
    /// The LM head: `output.weight`, or `token_embd` when tied.
    pub(crate) output: MatrixRef,
    pub(crate) layers: Vec<LayerWeights>,
    pub(crate) rope_global: RopeParams,
    pub(crate) rope_swa: RopeParams,
}

impl Model {
    /// Validates `file` ([`crate::validate()`]; the first error is returned, all are in
    /// `validate`'s result) and takes handles on its weights.
    pub fn load(file: Arc<GgufFile>, opts: LoadOptions) -> Result<Model, ModelError> {
        let cfg = crate::validate(&file).map_err(|mut e| e.swap_remove(0))?;
        let mut token_embd = matrix(&file, "token_embd.weight")?;
        let mut layers = (0..cfg.n_layer)
            .map(|il| LayerWeights::load(&file, il))
            .collect::<Result<Vec<_>, _>>()?;
        let mut packed_bytes = 0;
        // Packing threads, for load only (dropped at the end of `load`).
        let pool = opts
            .repack
            .then(|| ThreadPool::new(nomoat_kernels::pool::default_threads()));
        if let Some(pool) = &pool {
            packed_bytes += token_embd.pack(&file, pool);
            for l in &mut layers {
                for w in [&mut l.wq, &mut l.wk, &mut l.wv, &mut l.wo] {
                    packed_bytes += w.pack(&file, pool);
                }
                for w in [&mut l.gate, &mut l.up, &mut l.down] {
                    packed_bytes += w.pack(&file, pool);
                }
            }
        }
        let output = match (cfg.arch, file.gguf().tensor("output.weight")) {
            (Arch::Gemma3, _) | (_, None) => token_embd.clone(),
            (_, Some(_)) => {
                let mut o = matrix(&file, "output.weight")?;
                if let Some(pool) = &pool {
                    packed_bytes += o.pack(&file, pool);
                }
                o
            }
        };
        let output_norm = f32_vector(&file, "output_norm.weight")?;
        let rope_freqs = opt_f32_vector(&file, "rope_freqs.weight")?;
        let r = &cfg.rope;
        let (freq_scale, freq_factors) = match &r.scaling {
            RopeScaling::None => (1.0, rope_freqs),
            RopeScaling::Linear { factor } => (1.0 / factor, rope_freqs),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_ctx,
            } => (
                1.0,
                rope_freqs.or_else(|| {
                    Some(nomoat_kernels::ops::llama3_freq_factors(
                        r.n_rot,
                        r.freq_base,
                        *factor,
                        *low_freq_factor,
                        *high_freq_factor,
                        *original_ctx as f32,
                    ))
                }),
            ),
        };
        let rope_global = RopeParams {
            n_rot: r.n_rot,
            mode: r.mode,
            freq_base: r.freq_base,
            freq_scale,
            freq_factors,
        };
        // llama.cpp: sliding-window layers use their own base and no position scaling.
        let rope_swa = RopeParams {
            freq_base: r.freq_base_swa,
            freq_scale: 1.0,
            ..rope_global.clone()
        };
        Ok(Model {
            file,
            cfg,
            opts,
            packed_bytes,
            token_embd,
            output_norm,
            output,
            layers,
            rope_global,
            rope_swa,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn file(&self) -> &Arc<GgufFile> {
        &self.file
    }

    /// A KV cache for this model holding `n_ctx` tokens in blocks of `block_size`.
    pub fn new_kv_cache(
        &self,
        n_ctx: usize,
        block_size: usize,
        dtype: KvDtype,
    ) -> Result<KvCache, ModelError> {
        let bs = block_size.max(1);
        Ok(KvCache::new(
            &self.cfg,
            n_ctx.div_ceil(bs).max(1),
            bs,
            dtype,
        )?)
    }

    /// Memory held by the model itself: the mapping, the few KB of vectors copied out of it and
    /// the weights repacked at load.
    pub fn memory_report(&self) -> MemoryReport {
        let owned: usize = self.layers.iter().map(LayerWeights::owned_bytes).sum();
        MemoryReport {
            mapped_bytes: self.file.bytes().len(),
            owned_weight_bytes: 4 * self.output_norm.len() + owned,
            repacked_weight_bytes: self.packed_bytes,
            kv_bytes: 0,
            scratch_bytes: 0,
        }
    }

    /// [`Model::memory_report`] plus a KV cache and scratch buffers.
    pub fn memory_report_with(&self, kv: &KvCache, scratch: &Scratch) -> MemoryReport {
        MemoryReport {
            kv_bytes: kv.total_bytes(),
            scratch_bytes: scratch.bytes(),
            ..self.memory_report()
        }
    }

    /// Runs `batch` and writes logits (n_out × n_vocab, row-major, batch order) for the rows with
    /// `want_logits` into `logits` (resized). The batch's K/V are appended to `kv`. On an error
    /// (bad batch, KV cache full) nothing is computed and no sequence's length changes.
    pub fn forward(
        &self,
        pool: &ThreadPool,
        batch: &Batch,
        kv: &mut KvCache,
        scratch: &mut Scratch,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        self.check_batch(batch, kv, scratch)?;
        // Reserve KV space for every sequence first, so a full cache fails before any work.
        let needed: usize = scratch
            .seq_counts
            .iter()
            .map(|&(s, n)| kv.blocks_needed(s, n))
            .sum::<Result<usize, _>>()?;
        if needed > kv.n_free_blocks() {
            return Err(crate::kv::KvError::OutOfBlocks {
                needed,
                free: kv.n_free_blocks(),
            }
            .into());
        }
        for &(s, n) in &scratch.seq_counts {
            kv.reserve(s, n)?;
        }
        let n_vocab = self.cfg.n_vocab;
        logits.clear();
        logits.resize(batch.n_outputs() * n_vocab, 0.0);
        let mut out_row = 0;
        let mut start = 0;
        while start < batch.len() {
            let end = (start + scratch.max_batch).min(batch.len());
            let st = Step {
                tokens: &batch.tokens[start..end],
                pos: &batch.positions[start..end],
                seqs: &batch.seq_ids[start..end],
                want: &batch.want_logits[start..end],
            };
            scratch.size_for(&self.cfg, st.len());
            crate::layers::prepare_step(self, &st, kv, scratch);
            match self.cfg.arch {
                Arch::Llama => crate::llama::forward(self, pool, &st, kv, scratch),
                Arch::Qwen2 => crate::qwen2::forward(self, pool, &st, kv, scratch),
                Arch::Qwen3 => crate::qwen3::forward(self, pool, &st, kv, scratch),
                Arch::Gemma3 => crate::gemma3::forward(self, pool, &st, kv, scratch),
            }
            let n_out = st.want.iter().filter(|&&w| w).count();
            let rows = &mut logits[out_row * n_vocab..(out_row + n_out) * n_vocab];
            crate::layers::output_logits(self, pool, &st, scratch, rows);
            out_row += n_out;
            start = end;
        }
        for &(s, n) in &scratch.seq_counts {
            kv.advance(s, n)?;
        }
        Ok(())
    }

    /// Checks every token id, sequence and position; fills `scratch.seq_counts`.
    fn check_batch(&self, b: &Batch, kv: &KvCache, s: &mut Scratch) -> Result<(), ModelError> {
        let n = b.tokens.len();
        if b.positions.len() != n || b.seq_ids.len() != n || b.want_logits.len() != n {
            return Err(ModelError::BadBatch(format!(
                "{n} tokens but {} positions, {} sequence ids, {} logit flags",
                b.positions.len(),
                b.seq_ids.len(),
                b.want_logits.len()
            )));
        }
        if !kv.fits(&self.cfg) {
            return Err(ModelError::BadBatch(
                "the KV cache was made for a model of another shape".into(),
            ));
        }
        s.seq_counts.clear();
        for i in 0..n {
            let (tok, pos, seq) = (b.tokens[i], b.positions[i], b.seq_ids[i]);
            if tok as usize >= self.cfg.n_vocab {
                return Err(ModelError::BadBatch(format!(
                    "token id {tok} at row {i} is outside the vocabulary of {}",
                    self.cfg.n_vocab
                )));
            }
            kv.block_table(seq)?;
            let count = match s.seq_counts.iter_mut().find(|(q, _)| *q == seq) {
                Some((_, c)) => c,
                None => {
                    s.seq_counts.push((seq, 0));
                    &mut s.seq_counts.last_mut().expect("just pushed").1
                }
            };
            let want = kv.seq_len(seq) + *count;
            if pos as usize != want {
                return Err(ModelError::BadBatch(format!(
                    "row {i}: sequence {} expects position {want}, got {pos}",
                    seq.0
                )));
            }
            *count += 1;
        }
        Ok(())
    }
}
