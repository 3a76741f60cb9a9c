//! nomoat-kernels: quantized block formats, SIMD dot products chosen at run time, matmul and the
//! persistent thread pool. `unsafe` lives only in the SIMD kernels (`#[target_feature]` functions
//! reached through the dispatch table), the block-slice casts of `quant` and the thread pool.
//!
//! # Overview
//! - [`quant`]: one module per GGUF block format (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//!   Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL, IQ4_XS): `#[repr(C)]` byte-exact structs,
//!   scalar dequantization, the reference dot product, and `quantize` for the activation formats.
//! - [`dequantize_row`]: any supported type → f32 (embedding lookups, tests).
//! - [`dispatch`]: the per-type kernel table built once from the CPU's features
//!   ([`dispatch::kernels`]); `NOMOAT_KERNELS=scalar` forces the scalar reference kernels;
//!   [`describe`] names the chosen kernels.
//! - [`matmul::Matrix`] + [`matmul::matmul`]`(pool, &w, x, m, y)`: `y = x·Wᵀ` on weights borrowed
//!   in place (nothing is copied at load). Below [`matmul::R8_MIN_TOKENS`] tokens (decode): dot
//!   kernels of 1 row × up to 4 tokens, and 4 rows × 1 token for the legacy formats at m = 1.
//!   From it (prompts): [`repack`], a per-thread int8 repack of 8-row tiles swept by an
//!   8 rows × 4 tokens micro-kernel (q4_0, q5_0, q8_0, iq4_nl, q2_K..q6_K, iq4_xs).
//! - [`pool::ThreadPool`]: persistent workers, `run(&f)` and `parallel_for(n, chunk, f)`.
//! - [`vec`]: `dot_f32`, `dot_f16_f32`, `axpy_f16`, `axpy_f32`, `scale`, `f32_to_f16_slice`,
//!   `f16_to_f32_slice`, SIMD when available (for norms and attention).

pub mod dispatch;
pub mod error;
pub mod matmul;
pub mod ops;
pub mod packed;
pub mod pool;
pub mod quant;
pub mod repack;
mod shared;
pub mod vec;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use dispatch::{kernels, ActFormat, Kernels};
pub use error::KernelError;
pub use matmul::{matmul, Matrix};
pub use nomoat_gguf::GgmlType;
pub use packed::{matmul_packed, PackedMatrix};
pub use pool::ThreadPool;

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
