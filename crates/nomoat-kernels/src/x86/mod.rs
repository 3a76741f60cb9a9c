//! x86-64 SIMD kernels (AVX2 + FMA + F16C, and AVX-512 F + BW + VL + VNNI), one file per family.
//! Each file imports only `crate::quant`, `crate::layout` and the helpers in `common`; none knows
//! the dispatch table. `crate::dispatch` installs their safe entry points after
//! [`avx2_available`] / [`avx512_available`] returned true, which is what the `// SAFETY:`
//! comments of those entry points rely on.
// Block formats are specified by index arithmetic; index loops read closest to the spec.
#![allow(clippy::needless_range_loop)]

pub(crate) mod avx512;
pub(crate) mod avx512_float;
pub(crate) mod avx512_gemm;
pub(crate) mod avx512_kquants;
mod common;
pub(crate) mod float;
pub(crate) mod gemm_r8;
pub(crate) mod kquants;
pub(crate) mod legacy;
pub(crate) mod packed;
pub(crate) mod quantize;
pub(crate) mod vec;

/// AVX2 + FMA + F16C (the level all x86 kernels here need).
pub(crate) fn avx2_available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// The AVX-512 level (`Level::Avx512`): F + BW + VL + VNNI, on top of the AVX2 level.
pub(crate) fn avx512_available() -> bool {
    avx2_available()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}
