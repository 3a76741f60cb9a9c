//! x86-64 kernels. Every `#[target_feature]` function here is reached only through the dispatch
//! table or `crate::vec`, which install/call them after `avx2_available()` returned true.
// Block formats are specified by index arithmetic; index loops read closest to the spec.
#![allow(clippy::needless_range_loop)]

mod avx512;
mod avx512_float;
mod avx512_gemm;
mod avx512_kquants;
mod common;
mod float;
mod gemm_r8;
mod kquants;
mod legacy;
pub(crate) mod packed;
mod quantize;
pub mod vec;

use crate::dispatch::{ActFormat, DotFn, DotKernel, Kernels, Level};
use crate::GgmlType;

/// AVX2 + FMA + F16C (the level all x86 kernels here need).
pub fn avx2_available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

pub use avx512::install_avx512;

/// The AVX-512 level (`Level::Avx512`): F + BW + VL + VNNI, on top of the AVX2 level.
pub fn avx512_available() -> bool {
    avx2_available()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// Replace the scalar entries of `k` with the AVX2 kernels.
pub fn install_avx2(k: &mut Kernels) {
    k.level = Level::Avx2;
    k.tile_dot = (gemm_r8::tile_dot, "avx2");
    let table: [(GgmlType, ActFormat, DotFn, &'static str); 15] = [
        (
            GgmlType::Q4_K,
            ActFormat::Q8K,
            kquants::dot_q4_k,
            "q4_K·q8_K avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q5_K,
            ActFormat::Q8K,
            kquants::dot_q5_k,
            "q5_K·q8_K avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q6_K,
            ActFormat::Q8K,
            kquants::dot_q6_k,
            "q6_K·q8_K avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q2_K,
            ActFormat::Q8K,
            kquants::dot_q2_k,
            "q2_K·q8_K avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q3_K,
            ActFormat::Q8K,
            kquants::dot_q3_k,
            "q3_K·q8_K avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::IQ4_XS,
            ActFormat::Q8K,
            kquants::dot_iq4_xs,
            "iq4_xs·q8_K avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q4_0,
            ActFormat::Q8_0,
            legacy::dot_q4_0,
            "q4_0·q8_0 avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q5_0,
            ActFormat::Q8_0,
            legacy::dot_q5_0,
            "q5_0·q8_0 avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q8_0,
            ActFormat::Q8_0,
            legacy::dot_q8_0,
            "q8_0·q8_0 avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::IQ4_NL,
            ActFormat::Q8_0,
            legacy::dot_iq4_nl,
            "iq4_nl·q8_0 avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q4_1,
            ActFormat::Q8_1,
            legacy::dot_q4_1,
            "q4_1·q8_1 avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::Q5_1,
            ActFormat::Q8_1,
            legacy::dot_q5_1,
            "q5_1·q8_1 avx2 (1 row × 4 tokens)",
        ),
        (
            GgmlType::F32,
            ActFormat::F32,
            float::dot_f32,
            "f32·f32 avx2+fma (1 row × 4 tokens)",
        ),
        (
            GgmlType::F16,
            ActFormat::F32,
            float::dot_f16,
            "f16·f32 f16c+fma (1 row × 4 tokens)",
        ),
        (
            GgmlType::BF16,
            ActFormat::F32,
            float::dot_bf16,
            "bf16·f32 avx2+fma (1 row × 4 tokens)",
        ),
    ];
    for (ty, act, f, name) in table {
        k.set_dot(ty, DotKernel { act, f, name });
    }
    k.set_rows4(GgmlType::Q4_0, legacy::rows4_q4_0);
    k.set_rows4(GgmlType::Q5_0, legacy::rows4_q5_0);
    k.set_rows4(GgmlType::Q8_0, legacy::rows4_q8_0);
    k.set_rows4(GgmlType::IQ4_NL, legacy::rows4_iq4_nl);
    k.set_quantize(ActFormat::Q8_0, quantize::quantize_q8_0, "q8_0 avx2");
    k.set_quantize(ActFormat::Q8K, quantize::quantize_q8k, "q8_K avx2");
}
