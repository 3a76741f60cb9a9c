//! The non-matmul ops of a LLaMA-family forward pass: RMSNorm, RoPE, softmax, activations and their
//! gated forms, elementwise add/mul/scale, embedding lookup (`get_rows`) and attention over a paged
//! KV cache.
//!
//! Every op works on plain row-major `f32` slices; shapes are in each function's docs. Ops are
//! infallible: the model validates shapes at load time, so a mismatch here is a bug and asserts.
//! The SIMD paths (AVX2 + FMA + F16C dot/axpy helpers in `simd`) are the dispatch table's, so they
//! follow the same level as the matmuls; `NOMOAT_KERNELS=scalar` forces the scalar code everywhere
//! (CI runs the tests both ways).

pub mod act;
pub mod attention;
pub mod elementwise;
pub mod get_rows;
pub mod norm;
pub mod rope;
pub mod simd;
pub mod softmax;

pub use act::{geglu, gelu, gelu_inplace, silu, silu_inplace, swiglu, GeluMode};
pub use attention::{
    attention, attention_items, attention_serial, AttnParams, KvBlocks, KvDtype, KvPool, SeqTables,
};
pub use elementwise::{add, add_assign, mul, mul_assign, scale};
pub use get_rows::get_rows;
pub use norm::{rms_norm, rms_norm_inplace, rms_norm_plain};
pub use rope::{llama3_freq_factors, rope_apply, rope_cache, RopeMode, RopeParams};
pub use softmax::softmax_inplace;

#[cfg(test)]
pub(crate) mod testutil;
