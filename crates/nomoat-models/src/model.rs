//! [`Model`]: a validated model file, its weights on a compute backend, and the batched forward
//! pass.
//!
//! `forward` takes a [`Batch`] of tokens from one or more sequences (continuous batching), checks
//! it, reserves KV space, then runs the architecture's layers in chunks of at most
//! `Scratch::max_batch` tokens on the backend, and writes logits for the rows that asked for them.

use std::sync::Arc;

use nomoat_backend::{Backend, BackendOptions, GeluMode, StepInput, Workspace, WorkspaceSpec};
use nomoat_gguf::GgufFile;

use crate::config::ModelConfig;
use crate::kv::{KvCache, SeqId};
use crate::layers::Ctx;
use crate::loader::Loader;
use crate::registry::Forward;
use crate::{KvDtype, ModelError};

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
    /// Compute threads (0: one per physical core).
    pub threads: usize,
    /// The compute backend, by registry name (`nomoat_backend::BACKENDS`).
    pub backend: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            gelu: GeluMode::F16Table,
            llama_cpp_attention: true,
            repack: true,
            threads: 0,
            backend: nomoat_backend::DEFAULT_BACKEND.to_owned(),
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

/// Activation memory (backend-owned) and the step bookkeeping, reused across forward passes:
/// made for `max_batch` tokens by [`Model::new_scratch`], so the token loop allocates nothing
/// once warm.
#[derive(Debug)]
pub struct Scratch {
    ws: Workspace,
    /// Per token of the current chunk: `(start, len)` of its sequence's block table in `table`.
    ranges: Vec<(u32, u32)>,
    table: Vec<u32>,
    seen: Vec<(SeqId, u32, u32)>,
    seq_counts: Vec<(SeqId, usize)>,
}

impl Scratch {
    /// Largest chunk processed at once.
    pub fn max_batch(&self) -> usize {
        self.ws.max_rows()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.ws.bytes()
    }

    /// The block tables of the chunk's sequences for the attention op: `ranges[t]` is token
    /// t's sequence's table in `table` (each sequence's table copied once).
    fn block_tables(&mut self, seqs: &[SeqId], kv: &KvCache) {
        self.ranges.clear();
        self.table.clear();
        self.seen.clear();
        for &seq in seqs {
            let range = match self.seen.iter().find(|e| e.0 == seq) {
                Some(&(_, start, len)) => (start, len),
                None => {
                    let t = kv.block_table(seq).expect("sequence checked by forward");
                    let start = self.table.len() as u32;
                    self.table.extend_from_slice(t);
                    self.seen.push((seq, start, t.len() as u32));
                    (start, t.len() as u32)
                }
            };
            self.ranges.push(range);
        }
    }
}

/// What a forward pass writes for the rows that want output.
#[derive(Clone, Copy)]
enum Output {
    Logits,
    Hidden,
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

/// A loaded model: the mapped file, its validated config, the compute backend holding its
/// weights, and the architecture's forward pass over the backend's weight handles.
#[derive(Debug)]
pub struct Model {
    file: Arc<GgufFile>,
    cfg: ModelConfig,
    backend: Box<dyn Backend>,
    net: Box<dyn Forward>,
}

impl Model {
    /// Validates `file` ([`crate::validate()`]; the first error is returned, all are in
    /// `validate`'s result), makes the compute backend and hands it the weights.
    pub fn load(file: Arc<GgufFile>, opts: LoadOptions) -> Result<Model, ModelError> {
        let cfg = crate::validate(&file).map_err(|mut e| e.swap_remove(0))?;
        let mut backend = nomoat_backend::create(
            &opts.backend,
            &BackendOptions {
                threads: opts.threads,
                repack: opts.repack,
                llama_cpp_attention: opts.llama_cpp_attention,
                gelu: opts.gelu,
            },
        )?;
        let net = {
            let mut ld = Loader::loading(&file, backend.as_mut());
            (cfg.arch.def().load)(&mut ld, &cfg)?
        };
        Ok(Model {
            file,
            cfg,
            backend,
            net,
        })
    }

    /// Scratch buffers for forward passes of up to `max_batch` tokens (at least 1).
    pub fn new_scratch(&self, max_batch: usize) -> Scratch {
        let max_rows = max_batch.max(1);
        let ws = self.backend.new_workspace(&WorkspaceSpec {
            max_rows,
            widths: crate::layers::standard_slots(&self.cfg),
        });
        Scratch {
            ws,
            ranges: Vec::with_capacity(max_rows),
            table: Vec::new(),
            seen: Vec::new(),
            seq_counts: Vec::new(),
        }
    }

    /// Compute threads.
    pub fn n_threads(&self) -> usize {
        self.backend.n_threads()
    }

    /// The compute backend, in one line (e.g. `cpu: avx2 kernels, 2 threads`).
    pub fn backend_description(&self) -> String {
        self.backend.describe()
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn file(&self) -> &Arc<GgufFile> {
        &self.file
    }

    /// A KV cache for this model holding `n_ctx` tokens in blocks of `block_size`, its storage
    /// on the model's backend.
    pub fn new_kv_cache(
        &self,
        n_ctx: usize,
        block_size: usize,
        dtype: KvDtype,
    ) -> Result<KvCache, ModelError> {
        let bs = block_size.max(1);
        Ok(KvCache::new(
            self.backend.as_ref(),
            &self.cfg,
            n_ctx.div_ceil(bs).max(1),
            bs,
            dtype,
        )?)
    }

    /// Memory held by the model itself: the mapping, the few KB of vectors copied out of it and
    /// the weights repacked at load.
    pub fn memory_report(&self) -> MemoryReport {
        let w = self.backend.weight_memory();
        MemoryReport {
            mapped_bytes: self.file.bytes().len(),
            owned_weight_bytes: w.vector_bytes + w.device_bytes,
            repacked_weight_bytes: w.repacked_bytes,
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
        batch: &Batch,
        kv: &mut KvCache,
        scratch: &mut Scratch,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        self.run(batch, kv, scratch, logits, Output::Logits)
    }

    /// [`Model::forward`], but for the rows with `want_logits` it writes the final-normed hidden
    /// state (n_out × n_embd: after `output_norm`, before the LM head) into `hidden` instead of
    /// logits. Embeddings are pooled from these rows.
    pub fn forward_hidden(
        &self,
        batch: &Batch,
        kv: &mut KvCache,
        scratch: &mut Scratch,
        hidden: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        self.run(batch, kv, scratch, hidden, Output::Hidden)
    }

    fn run(
        &self,
        batch: &Batch,
        kv: &mut KvCache,
        scratch: &mut Scratch,
        out: &mut Vec<f32>,
        what: Output,
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
        let width = match what {
            Output::Logits => self.cfg.n_vocab,
            Output::Hidden => self.cfg.n_embd,
        };
        out.clear();
        out.resize(batch.n_outputs() * width, 0.0);
        let mut out_row = 0;
        let mut start = 0;
        while start < batch.len() {
            let end = (start + scratch.max_batch()).min(batch.len());
            let want = &batch.want_logits[start..end];
            scratch.block_tables(&batch.seq_ids[start..end], kv);
            self.backend.begin_step(
                &mut scratch.ws,
                &StepInput {
                    tokens: &batch.tokens[start..end],
                    positions: &batch.positions[start..end],
                    ranges: &scratch.ranges,
                    table: &scratch.table,
                },
            );
            let mut cx = Ctx {
                be: self.backend.as_ref(),
                ws: &mut scratch.ws,
                kv: kv.store_mut(),
                cfg: &self.cfg,
                n: end - start,
            };
            self.net.layers(&mut cx);
            let n_out = want.iter().filter(|&&w| w).count();
            let rows = &mut out[out_row * width..(out_row + n_out) * width];
            match what {
                Output::Logits => crate::layers::logits(&mut cx, self.net.head(), want, rows),
                Output::Hidden => crate::layers::hidden(&mut cx, self.net.head(), want, rows),
            }
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
