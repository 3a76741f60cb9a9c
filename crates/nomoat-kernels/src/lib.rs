//! nomoat-kernels: quantized block formats, SIMD kernels chosen once at run time, the matmul
//! drivers behind one weight handle, the persistent thread pool and the non-matmul ops.
//! `unsafe` lives only in the SIMD kernels (`#[target_feature]` functions reached through the
//! dispatch table), the block-slice casts of `quant`, the anonymous mapping of repacked weights,
//! and the thread pool with its disjoint output writes.
//!
//! # Data path
//! A weight matrix enters as rows of GGUF blocks in the mapped file and leaves as `y = x · Wᵀ`:
//!
//! 1. [`WeightMatrix`] is the entry point for users of the crate: `new` borrows the rows in
//!    place (nothing is copied), `pack` repacks Q8_0, Q4_0, Q5_0 and Q4_K matrices of a multiple
//!    of 8 rows into 8-row interleaved groups at load, and `matmul(pool, x, m, y)` / `get_rows`
//!    hide which form is read.
//! 2. The drivers split the work over the [`ThreadPool`] and ask the table for every kernel:
//!    - [`matmul()`] on GGUF rows ([`Matrix`]): activations converted once per call to the
//!      weight type's format; below [`matmul::R8_MIN_TOKENS`] tokens (decode) dot kernels of
//!      1 row × up to 4 tokens, and 4 rows × 1 token for the legacy formats at m = 1; from it
//!      (prompts) [`repack`]'s per-thread int8 8-row tiles swept by an 8 rows × 4 tokens
//!      micro-kernel (q4_0, q5_0, q8_0, iq4_nl, q2_K..q6_K, iq4_xs);
//!    - [`matmul_packed`] on the repacked groups ([`PackedMatrix`]): group kernels of 8 rows ×
//!      up to 4 tokens, summed in llama.cpp's order below [`packed::EXACT_BELOW_TOKENS`] tokens
//!      and by blocks from it.
//!
//!    [`Matrix`], [`matmul()`], [`matmul::matmul_with`], [`PackedMatrix`] and
//!    [`matmul_packed`] stay public as the lower-level API for tests and benchmarks.
//! 3. [`dispatch`]: the one [`Kernels`] table, chosen once from the CPU's features
//!    ([`kernels()`]; `NOMOAT_KERNELS=scalar` / `avx2` cap the level): dot, GEMV-4-rows, tile
//!    and group kernels, activation quantizers and the vector helpers of the ops. [`describe`]
//!    names the choices. Nothing else tests CPU features.
//! 4. The kernels, which know nothing of the table or the drivers: `scalar` (the portable
//!    references) and `x86` (AVX2 and AVX-512), reading the byte layouts and implementing the
//!    signatures of [`layout`], over the block formats of [`quant`] (one module per GGUF type:
//!    `#[repr(C)]` structs, dequantization, reference dot products, activation quantization).
//!
//! Beside the matmul path: [`ops`] (RMSNorm, RoPE, softmax, activations, `get_rows`, paged-KV
//! attention; their dot/axpy helpers come from the table too), [`dequantize_row`] (any
//! supported type → f32) and [`pool::ThreadPool`] (`run(&f)`, `parallel_for(n, chunk, f)`).
//!
//! # Module dependencies
//! `quant` → `layout` → `scalar`, `x86` (each x86 file: `quant`, `layout`, `x86::common`) →
//! `dispatch` → `repack`, `matmul` → `packed` → `weight`; `ops` → `dispatch` (and `pool`).
//! No module imports one that comes later in this order.

pub mod dispatch;
pub mod error;
pub mod layout;
pub mod matmul;
pub mod ops;
pub mod packed;
pub mod pool;
pub mod quant;
pub mod repack;
mod scalar;
mod shared;
pub mod weight;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use dispatch::{kernels, ActFormat, Kernels};
pub use error::KernelError;
pub use matmul::{matmul, Matrix};
pub use nomoat_gguf::GgmlType;
pub use packed::{matmul_packed, PackedMatrix};
pub use pool::ThreadPool;
pub use weight::WeightMatrix;

/// Whether tensors of type `ty` can be dequantized and multiplied.
pub fn supported(ty: GgmlType) -> bool {
    dispatch::SUPPORTED.contains(&ty)
}

/// `Ok` if `ty` is supported, else "unsupported tensor type X in tensor Y".
pub fn check_supported(ty: GgmlType, tensor_name: &str) -> Result<(), KernelError> {
    if supported(ty) {
        Ok(())
    } else {
        Err(KernelError::UnsupportedType {
            ty,
            tensor: tensor_name.to_string(),
        })
    }
}

/// Dequantize `dst.len()` elements (whole blocks) of type `ty` from `src` (exactly those blocks).
/// Panics if `ty` is unsupported or the sizes disagree (callers check at load time).
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    use quant::*;
    let bs = ty.block_size() as usize;
    assert_eq!(
        dst.len() % bs,
        0,
        "dequantize_row: {} elements is not whole {ty} blocks",
        dst.len()
    );
    assert_eq!(
        src.len(),
        dst.len() / bs * ty.type_size() as usize,
        "dequantize_row: {} bytes do not hold {} {ty} elements",
        src.len(),
        dst.len()
    );
    match ty {
        GgmlType::F32 => {
            for (o, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = f16_le([c[0], c[1]]);
            }
        }
        GgmlType::BF16 => dequantize_blocks::<BlockBf16>(cast_blocks(src), dst),
        GgmlType::Q4_0 => dequantize_blocks::<BlockQ4_0>(cast_blocks(src), dst),
        GgmlType::Q4_1 => dequantize_blocks::<BlockQ4_1>(cast_blocks(src), dst),
        GgmlType::Q5_0 => dequantize_blocks::<BlockQ5_0>(cast_blocks(src), dst),
        GgmlType::Q5_1 => dequantize_blocks::<BlockQ5_1>(cast_blocks(src), dst),
        GgmlType::Q8_0 => dequantize_blocks::<BlockQ8_0>(cast_blocks(src), dst),
        GgmlType::Q8_1 => dequantize_blocks::<BlockQ8_1>(cast_blocks(src), dst),
        GgmlType::Q2_K => dequantize_blocks::<BlockQ2K>(cast_blocks(src), dst),
        GgmlType::Q3_K => dequantize_blocks::<BlockQ3K>(cast_blocks(src), dst),
        GgmlType::Q4_K => dequantize_blocks::<BlockQ4K>(cast_blocks(src), dst),
        GgmlType::Q5_K => dequantize_blocks::<BlockQ5K>(cast_blocks(src), dst),
        GgmlType::Q6_K => dequantize_blocks::<BlockQ6K>(cast_blocks(src), dst),
        GgmlType::IQ4_NL => dequantize_blocks::<BlockIq4Nl>(cast_blocks(src), dst),
        GgmlType::IQ4_XS => dequantize_blocks::<BlockIq4Xs>(cast_blocks(src), dst),
        GgmlType::Q8_K => {
            for (b, o) in cast_blocks::<BlockQ8K>(src)
                .iter()
                .zip(dst.chunks_exact_mut(QK_K))
            {
                b.dequantize(o);
            }
        }
        other => panic!("dequantize_row: unsupported type {other}"),
    }
}

/// The chosen kernels, one line per type (for `nomoat show` / `bench`).
pub fn describe() -> String {
    kernels().describe()
}
