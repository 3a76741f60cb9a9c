//! AVX2 activation quantizers (Q8_0, Q8_K). They produce the same bytes as the scalar
//! references in `crate::quant` (which follow ggml's AVX2 `quantize_row_q8_0` and
//! `quantize_row_q8_K_ref`): the same f32 products rounded half to even (`cvtps_epi32` under the
//! default MXCSR mode equals ggml's `nearest_int`). The scalar code's `round_ties_even` compiles
//! to a libm call without SSE4.1, which made activation quantization 12 % of prompt time.

use std::arch::x86_64::*;

use crate::quant::{f16_to_le, QK_K};

/// Bytes of one Q8_0 block (f16 d, 32 × i8).
const Q8_0_BYTES: usize = 34;
/// Bytes of one Q8_K block (f32 d, 256 × i8, 16 × i16 sums).
const Q8K_BYTES: usize = 4 + QK_K + 32;

/// 32 floats at `p` as four vectors.
///
/// # Safety
/// `p..p+32` must be readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load32(p: *const f32) -> [__m256; 4] {
    // SAFETY: caller guarantees 32 readable floats; unaligned loads.
    unsafe { std::array::from_fn(|i| _mm256_loadu_ps(p.add(8 * i))) }
}

/// Largest |x| over four vectors.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn amax4(v: &[__m256; 4]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let m01 = _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1]));
    let m23 = _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3]));
    let m = _mm256_max_ps(m01, m23);
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    _mm_cvtss_f32(m)
}

/// `round_half_even(v·s)` of four vectors as i32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_round(v: &[__m256; 4], s: f32) -> [__m256i; 4] {
    let s = _mm256_set1_ps(s);
    std::array::from_fn(|i| _mm256_cvtps_epi32(_mm256_mul_ps(v[i], s)))
}

/// Four vectors of i32 (each within i8 range) → 32 bytes in element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn pack_i8(q: &[__m256i; 4]) -> __m256i {
    // packs work per 128-bit lane: the result holds elements in the order 0-3 8-11 16-19 24-27
    // 4-7 12-15 20-23 28-31 (in 4-byte groups); the permute puts the groups back in order.
    let a = _mm256_packs_epi32(q[0], q[1]);
    let b = _mm256_packs_epi32(q[2], q[3]);
    let c = _mm256_packs_epi16(a, b);
    _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Quantize a row to Q8_0 (`x.len() == 32 · blocks`, `out.len() == 34 · blocks`).
pub(crate) fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    let nb = x.len() / 32;
    assert!(
        x.len() == nb * 32 && out.len() == nb * Q8_0_BYTES,
        "q8_0 quantize: row of {} floats into {} bytes",
        x.len(),
        out.len()
    );
    for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(Q8_0_BYTES)) {
        // SAFETY: `xb` has 32 floats and `ob` 34 bytes; installed only when AVX2+FMA+F16C exist.
        unsafe { q8_0_block(xb.as_ptr(), ob.as_mut_ptr()) }
    }
}

/// # Safety
/// `x..x+32` readable, `o..o+34` writable.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_block(x: *const f32, o: *mut u8) {
    // SAFETY: per the function contract.
    unsafe {
        let v = load32(x);
        let amax = amax4(&v);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let q = pack_i8(&scale_round(&v, id));
        let db = f16_to_le(d);
        *o = db[0];
        *o.add(1) = db[1];
        _mm256_storeu_si256(o.add(2).cast(), q);
    }
}

/// Quantize a row to Q8_K (`x.len() == 256 · blocks`, `out.len() == 292 · blocks`).
pub(crate) fn quantize_q8k(x: &[f32], out: &mut [u8]) {
    let nb = x.len() / QK_K;
    assert!(
        x.len() == nb * QK_K && out.len() == nb * Q8K_BYTES,
        "q8_K quantize: row of {} floats into {} bytes",
        x.len(),
        out.len()
    );
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q8K_BYTES)) {
        // SAFETY: `xb` has 256 floats and `ob` 292 bytes; installed only when AVX2+FMA+F16C exist.
        unsafe { q8k_block(xb, ob) }
    }
}

/// # Safety
/// `x.len() == 256`, `o.len() == 292`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8k_block(x: &[f32], o: &mut [u8]) {
    let mut amax = 0.0f32;
    for c in x.chunks_exact(32) {
        // SAFETY: each chunk has 32 floats.
        amax = amax.max(amax4(&unsafe { load32(c.as_ptr()) }));
    }
    if amax == 0.0 {
        o.fill(0);
        return;
    }
    // The reference keeps the first element of largest magnitude, with its sign.
    let max = x[x
        .iter()
        .position(|v| v.abs() == amax)
        .expect("amax is one of the values")];
    let iscale = -127.0 / max;
    let top = _mm256_set1_epi32(127);
    let (qs, rest) = o[4..].split_at_mut(QK_K);
    for (j, c) in x.chunks_exact(32).enumerate() {
        // SAFETY: each chunk has 32 floats; `qs` has 32 bytes at 32·j.
        unsafe {
            let mut q = scale_round(&load32(c.as_ptr()), iscale);
            for v in &mut q {
                *v = _mm256_min_epi32(*v, top);
            }
            // Sums of each 16 quants, from the i32 lanes before packing.
            for h in 0..2 {
                let s = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
                let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
                let s = _mm_hadd_epi32(s, s);
                let s = _mm_hadd_epi32(s, s);
                let sum = _mm_cvtsi128_si32(s) as i16;
                rest[2 * (2 * j + h)..2 * (2 * j + h) + 2].copy_from_slice(&sum.to_le_bytes());
            }
            _mm256_storeu_si256(qs.as_mut_ptr().add(32 * j).cast(), pack_i8(&q));
        }
    }
    o[..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
}
