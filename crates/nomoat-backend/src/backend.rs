//! The [`Backend`] trait and the vocabulary it speaks: handles to backend-owned weights
//! ([`MatrixId`], [`VectorId`], [`RopeId`]), activation slots of a [`Workspace`] ([`Act`]), the
//! per-step inputs ([`StepInput`]) and the backend-owned KV storage ([`KvStore`]).
//!
//! # How a forward pass runs on a backend
//! 1. Load: the model hands every matrix of the file to [`Backend::load_matrix`] (the backend
//!    may keep it in the mapping, repack it, or upload it to a device), every small f32 vector
//!    (norm weights, biases) to [`Backend::load_vector`], and its RoPE settings to
//!    [`Backend::add_rope`]. The model keeps only the returned handles.
//! 2. Storage: [`Backend::new_workspace`] allocates the activation slots (one row per token of a
//!    chunk, each slot its own width) and [`Backend::new_kv_store`] the KV blocks.
//! 3. A step: [`Backend::begin_step`] receives the chunk's token ids, positions and block tables
//!    (host data, the only upload of a step); the architecture then issues ops on slots; the last
//!    op, [`Backend::logits`], writes the logits rows into host memory. That copy is the step's
//!    one synchronisation point: everything before it may run asynchronously on a device.
//!
//! Ops are infallible: shapes are validated when the model is loaded, so a mismatch here is a bug
//! and panics. Every op works on the first `rows` rows of its slots.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use nomoat_gguf::{GgmlType, GgufFile};
use nomoat_kernels::ops::{GeluMode, KvDtype, RopeParams};

/// A weight matrix owned by a backend (`n_rows` output features × `n_cols` inputs). Only
/// meaningful to the backend that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatrixId(pub u32);

/// A small f32 vector owned by a backend (a norm weight, a bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VectorId(pub u32);

/// A RoPE frequency table registered with [`Backend::add_rope`]; its cos/sin values for the
/// step's positions are computed once per step by [`Backend::begin_step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RopeId(pub u32);

/// An activation slot of a [`Workspace`]: `max_rows` rows of the width given for it in the
/// [`WorkspaceSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Act(pub u16);

/// The activation slots a workspace holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceSpec {
    /// Most tokens in one step.
    pub max_rows: usize,
    /// Width (f32 values per row) of each slot; slot `i` is `Act(i)`.
    pub widths: Vec<usize>,
}

/// Backend-owned activation memory and per-step state (host vectors on the CPU, device buffers
/// on a GPU). Made by [`Backend::new_workspace`]; only the backend that made it can use it.
pub struct Workspace {
    inner: Box<dyn Any + Send>,
    backend: &'static str,
    max_rows: usize,
    bytes: usize,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("backend", &self.backend)
            .field("max_rows", &self.max_rows)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Workspace {
    /// Wraps a backend's own workspace type (for backend implementations).
    pub fn new<T: Any + Send>(
        backend: &'static str,
        inner: T,
        max_rows: usize,
        bytes: usize,
    ) -> Workspace {
        Workspace {
            inner: Box::new(inner),
            backend,
            max_rows,
            bytes,
        }
    }

    /// Most tokens in one step.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Bytes of activation memory held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The backend's own type (for backend implementations). Panics when the workspace was made
    /// by another backend: mixing backends is a bug of the caller.
    pub fn get_mut<T: Any>(&mut self) -> &mut T {
        let name = self.backend;
        self.inner
            .downcast_mut::<T>()
            .unwrap_or_else(|| panic!("a workspace of the {name} backend used by another"))
    }
}

/// The tokens of one step: all slices have one entry per token (row), in row order.
#[derive(Clone, Copy, Debug)]
pub struct StepInput<'a> {
    pub tokens: &'a [u32],
    /// Position of each token in its sequence.
    pub positions: &'a [u32],
    /// Per token: `(start, len)` of its sequence's block table in `table`.
    pub ranges: &'a [(u32, u32)],
    /// Block tables of the step's sequences, concatenated: position `p` of a sequence lives in
    /// block `table[start + p / block_size]`, slot `p % block_size`.
    pub table: &'a [u32],
}

/// Shape and masking of one attention op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attention {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Multiplies `q·k`.
    pub scale: f32,
    /// Sliding window: a query at position p sees keys `p-window+1 ..= p`; 0 = none.
    pub window: u32,
    /// Attention logit soft-capping `c·tanh(s/c)`; 0 = off.
    pub softcap: f32,
}

/// The nonlinearity of a gated unit: `gate = f(gate) ⊙ up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x·sigmoid(x)` (SwiGLU).
    Silu,
    /// GELU, tanh approximation (GEGLU); evaluated as [`BackendOptions::gelu`] says.
    Gelu,
}

/// How mixture-of-experts router scores become expert weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gating {
    /// Softmax over all experts, then the top k (Mixtral, Qwen MoE); `renorm` rescales the k
    /// weights to sum to 1.
    SoftmaxTopK { renorm: bool },
    /// Top k of the raw scores, then a softmax over those k (gpt-oss).
    TopKSoftmax,
}

/// Shape and element type of a paged KV cache: per layer,
/// `[n_blocks][n_kv_head][block_size][head_dim]` for K and for V.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvGeometry {
    pub n_layer: usize,
    pub n_kv_head: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    pub block_size: usize,
    pub n_blocks: usize,
    pub dtype: KvDtype,
}

impl KvGeometry {
    /// Bytes of one block across all layers, K and V (`None` on overflow).
    pub fn block_bytes(&self) -> Option<usize> {
        let elem = match self.dtype {
            KvDtype::F16 => 2,
            KvDtype::F32 => 4,
        };
        self.n_layer
            .checked_mul(self.block_size)?
            .checked_mul(self.n_kv_head)?
            .checked_mul(self.head_dim_k.checked_add(self.head_dim_v)?)?
            .checked_mul(elem)
    }
}

/// Backend-owned KV memory. The block bookkeeping (tables, reference counts, copy-on-write)
/// lives in the model crate's cache; this is only the storage it drives.
pub trait KvStore: Send + fmt::Debug {
    fn geometry(&self) -> &KvGeometry;
    /// Bytes allocated.
    fn bytes(&self) -> usize;
    /// Copies block `from` into block `to` in every layer (copy-on-write of a shared block).
    fn copy_block(&mut self, from: u32, to: u32);
    /// Stores one token's K (`n_kv_head × head_dim_k`) and V in `layer` at `block`, `slot`.
    fn write(&mut self, layer: usize, block: u32, slot: usize, k: &[f32], v: &[f32]);
    /// Reads one token's K and V back (tests, debugging).
    fn read(&self, layer: usize, block: u32, slot: usize, k: &mut [f32], v: &mut [f32]);
    /// The backend's own type (for backend implementations).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Memory a backend holds for weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightMemory {
    /// Vectors copied out of the file (norm weights, biases).
    pub vector_bytes: usize,
    /// Matrices repacked at load into an owned copy (their pages of the mapping are released, so
    /// this replaces rather than adds to resident memory).
    pub repacked_bytes: usize,
    /// Matrices uploaded to device memory.
    pub device_bytes: usize,
}

/// Choices made when a backend is created.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendOptions {
    /// Compute threads (0: one per physical core).
    pub threads: usize,
    /// Repack matrices at load into layouts that are faster to stream (CPU).
    pub repack: bool,
    /// Reproduce llama.cpp's numerics where they differ from plain f32 (its f16 attention path
    /// for small batches), for log-prob parity.
    pub llama_cpp_attention: bool,
    /// How GELU is evaluated (default: llama.cpp's f16 table, for parity).
    pub gelu: GeluMode,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            threads: 0,
            repack: true,
            llama_cpp_attention: true,
            gelu: GeluMode::F16Table,
        }
    }
}

/// Why a backend cannot be made or cannot take a weight or a cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("unknown compute backend `{name}` (this build has: {available})")]
    UnknownBackend { name: String, available: String },
    #[error("tensor `{tensor}`: {reason}")]
    Tensor { tensor: String, reason: String },
    #[error("KV cache of {what} does not fit in memory")]
    KvTooLarge { what: String },
    #[error("bad KV cache geometry: {0}")]
    KvGeometry(String),
}

/// A compute backend: owns weights, activation memory, KV storage and the means to compute
/// (threads, devices), and runs the coarse operations forward passes are written in.
///
/// The load-time methods take `&mut self`; once loaded, a backend is shared and every op takes
/// `&self` plus the caller's [`Workspace`], so one loaded model serves several workspaces.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Registry name (`cpu`).
    fn name(&self) -> &'static str;
    /// One line for logs and `nomoat show`: what runs, on how many threads or which device.
    fn describe(&self) -> String;
    /// Compute threads (host threads driving a device count as one).
    fn n_threads(&self) -> usize;
    /// Whether matrices of this GGUF type can be loaded.
    fn supports(&self, ty: GgmlType) -> bool;

    // ---- load time -------------------------------------------------------------------------

    /// Takes the matrix tensor `name` of `file` (2-D: rows of whole blocks).
    fn load_matrix(&mut self, file: &Arc<GgufFile>, name: &str) -> Result<MatrixId, BackendError>;
    /// Takes a small f32 vector.
    fn load_vector(&mut self, values: &[f32]) -> VectorId;
    /// Registers RoPE settings; their cos/sin tables are computed per step.
    fn add_rope(&mut self, rope: RopeParams) -> RopeId;
    /// Rows and columns of a loaded matrix.
    fn matrix_shape(&self, m: MatrixId) -> (usize, usize);
    /// Memory held for weights.
    fn weight_memory(&self) -> WeightMemory;

    // ---- storage ---------------------------------------------------------------------------

    fn new_workspace(&self, spec: &WorkspaceSpec) -> Workspace;
    fn new_kv_store(&self, geom: &KvGeometry) -> Result<Box<dyn KvStore>, BackendError>;

    // ---- one step --------------------------------------------------------------------------

    /// Takes the step's tokens (at most the workspace's `max_rows`) and computes the RoPE tables
    /// for their positions.
    fn begin_step(&self, ws: &mut Workspace, step: &StepInput<'_>);
    /// `out[t] = table[token t]` (embedding lookup), for every token of the step.
    fn embed(&self, ws: &mut Workspace, table: MatrixId, out: Act);
    /// `y = x · Wᵀ`: x is rows × n_cols, y is rows × n_rows.
    fn matmul(&self, ws: &mut Workspace, w: MatrixId, x: Act, y: Act, rows: usize);
    /// Adds `bias` to every row of `x`.
    fn add_bias(&self, ws: &mut Workspace, x: Act, bias: VectorId, rows: usize);
    /// RMSNorm over groups of `len(w)` values (a row, or each head of a row), times `w`;
    /// `out` may be `x`.
    fn rms_norm(&self, ws: &mut Workspace, x: Act, w: VectorId, eps: f32, out: Act, rows: usize);
    /// `x += y`.
    fn add(&self, ws: &mut Workspace, x: Act, y: Act, rows: usize);
    /// `x *= y` elementwise.
    fn mul(&self, ws: &mut Workspace, x: Act, y: Act, rows: usize);
    /// `x *= s`.
    fn scale(&self, ws: &mut Workspace, x: Act, s: f32, rows: usize);
    /// `gate = f(gate) ⊙ up`.
    fn glu(&self, ws: &mut Workspace, gate: Act, up: Act, f: Activation, rows: usize);
    /// Rotates every head (`head_dim` values) of `x` by the token's position.
    fn rope(&self, ws: &mut Workspace, x: Act, head_dim: usize, rope: RopeId, rows: usize);
    /// Appends the step's K and V (`[q, k, v]` slots, after RoPE) of `layer` to the cache at the
    /// tokens' positions, then `out = softmax(q·Kᵀ·scale + mask)·V` per head over each token's
    /// sequence (causal, windowed when `a.window > 0`).
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        ws: &mut Workspace,
        kv: &mut dyn KvStore,
        layer: usize,
        qkv: [Act; 3],
        out: Act,
        a: &Attention,
        rows: usize,
    );
    /// Mixture-of-experts routing: for each row of `scores` (one score per expert), the `k`
    /// chosen experts' indices (as f32, exact below 2²⁴) into `ids` and their weights into
    /// `weights` (both rows × k).
    #[allow(clippy::too_many_arguments)]
    fn route_top_k(
        &self,
        ws: &mut Workspace,
        scores: Act,
        k: usize,
        gating: Gating,
        ids: Act,
        weights: Act,
        rows: usize,
    );
    /// Copies the rows of `src` whose `want` flag is set, in order, to the first rows of `dst`;
    /// returns how many.
    fn select_rows(&self, ws: &mut Workspace, src: Act, dst: Act, want: &[bool]) -> usize;
    /// `out = x · headᵀ` (rows × n_vocab) into host memory, soft-capped `c·tanh(v/c)` when
    /// `softcap` is set. The step's synchronisation point.
    fn logits(
        &self,
        ws: &mut Workspace,
        head: MatrixId,
        x: Act,
        rows: usize,
        softcap: Option<f32>,
        out: &mut [f32],
    );
    /// Copies `rows` rows of a slot into host memory (tests, embeddings).
    fn read(&self, ws: &mut Workspace, x: Act, rows: usize, out: &mut [f32]);
}
