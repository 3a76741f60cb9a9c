//! AVX-512 level (F + BW + VL + VNNI, on top of AVX2 + FMA + F16C): the dot and 4-rows GEMV
//! kernels of the signed 32-element formats (Q4_0, Q5_0, Q8_0, IQ4_NL × Q8_0). The 256-element
//! formats' kernels are in `avx512_kquants`, the R8 prompt-GEMM tile kernel in `avx512_gemm`, the
//! float formats' in `avx512_float`, the helpers they share in `common`; `crate::dispatch`
//! installs them. Q4_1 and Q5_1 keep their AVX2 kernels.
//!
//! What changes against AVX2: `vpdpbusd` (VNNI) sums four u8×i8 products into an i32 lane in one
//! instruction, where AVX2 needs `maddubs` + `madd` (and cannot let two `maddubs` pairs of
//! full-range signed quants share an i16); 64-byte registers take two 32-element blocks at once;
//! BW mask registers turn bit planes into byte selects (`vpmovm2b`-style) in one operation.
//! Every kernel here computes the same integer sums as the scalar reference; only the float
//! summation order differs.

use std::arch::x86_64::*;

use super::common::*;
use crate::quant::iq4_nl::KVALUES;

const Q8_0_BYTES: usize = 34;

/// Up to eight little-endian f16 values at `p`, `p + step`, … (`count` of them, the other lanes
/// zero) as f32 lanes.
///
/// # Safety
/// The first `count` (≤ 8) 2-byte values must be readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gather_f16x8(p: *const u8, step: usize, count: usize) -> __m256 {
    let h = |i: usize| -> i16 {
        if i < count {
            // SAFETY: caller guarantees the first `count` reads.
            unsafe { u16::from_le_bytes([*p.add(i * step), *p.add(i * step + 1)]) as i16 }
        } else {
            0
        }
    };
    _mm256_cvtph_ps(_mm_setr_epi16(
        h(0),
        h(1),
        h(2),
        h(3),
        h(4),
        h(5),
        h(6),
        h(7),
    ))
}

/// A format whose blocks unpack to 32 signed quants (the scale is read by `gather_f16x8` at
/// byte 0 of every block).
trait Signed {
    /// Bytes per block.
    const WB: usize;
    /// Blocks `p` and, when `two`, `p + WB`: quants of the first in bytes 0..32, of the second
    /// in bytes 32..64 (zero when `!two`).
    ///
    /// # Safety
    /// `p` points at one whole block, or two when `two`; AVX-512 level available.
    unsafe fn unpack2(p: *const u8, two: bool) -> __m512i;
}

struct Q4_0;
impl Signed for Q4_0 {
    const WB: usize = 18;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn unpack2(p: *const u8, two: bool) -> __m512i {
        // SAFETY: whole 18-byte blocks (caller); quants at byte 2.
        let q = unsafe { nibbles_64(p.add(2), Self::WB, two) };
        _mm512_sub_epi8(q, _mm512_set1_epi8(8))
    }
}

struct Q5_0;
impl Signed for Q5_0 {
    const WB: usize = 22;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn unpack2(p: *const u8, two: bool) -> __m512i {
        // SAFETY: whole 22-byte blocks (caller): qh at bytes 2..6, nibbles at 6..22.
        unsafe {
            let qh =
                |b: *const u8| u32::from_le_bytes([*b.add(2), *b.add(3), *b.add(4), *b.add(5)]);
            let h0 = qh(p) as u64;
            let h1 = if two { qh(p.add(Self::WB)) as u64 } else { 0 };
            let q = nibbles_64(p.add(6), Self::WB, two);
            // Element i of the pair has its fifth bit at bit i of h; without it the value is
            // nibble − 16 (with it, nibble + 16 − 16).
            let clear = !(h0 | h1 << 32);
            _mm512_mask_sub_epi8(q, clear, q, _mm512_set1_epi8(16))
        }
    }
}

struct Q8_0;
impl Signed for Q8_0 {
    const WB: usize = 34;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn unpack2(p: *const u8, two: bool) -> __m512i {
        // SAFETY: whole 34-byte blocks (caller); quants at byte 2.
        unsafe {
            let hi = if two {
                load256(p.add(Self::WB + 2))
            } else {
                _mm256_setzero_si256()
            };
            join256(load256(p.add(2)), hi)
        }
    }
}

struct Iq4Nl;
impl Signed for Iq4Nl {
    const WB: usize = 18;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn unpack2(p: *const u8, two: bool) -> __m512i {
        // SAFETY: whole 18-byte blocks (caller); KVALUES is 16 bytes.
        unsafe {
            // `vpshufb` looks up within each 128-bit lane: every lane holds the whole table.
            let table = _mm512_broadcast_i32x4(load128(KVALUES.as_ptr().cast()));
            _mm512_shuffle_epi8(table, nibbles_64(p.add(2), Self::WB, two))
        }
    }
}

/// Σ over blocks of d_x·d_y·Σ x·y for signed weights against `N` Q8_0 rows, two blocks per
/// 64-byte register. Scales go by eights as in the AVX2 kernel (one F16C conversion for 8
/// blocks), and each pair's two products are spread to lanes 0..8 / 8..16 by one permute.
///
/// # Safety
/// `w` holds `nb` blocks of `U::WB` bytes, `a` holds `N` rows of `nb` Q8_0 blocks `stride` apart.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_signed<U: Signed, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let mut acc = [_mm512_setzero_ps(); N];
    let mut ib = 0;
    while ib < nb {
        let cnt = (nb - ib).min(8);
        // SAFETY: blocks ib..ib+cnt are inside w and inside every activation row; the second
        // block of a pair is read only when it exists (`two`).
        unsafe {
            let dx = gather_f16x8(w.add(ib * U::WB), U::WB, cnt);
            let mut s = [_mm256_setzero_ps(); N];
            for (t, s) in s.iter_mut().enumerate() {
                let dy = gather_f16x8(a.add(t * stride + ib * Q8_0_BYTES), Q8_0_BYTES, cnt);
                *s = _mm256_mul_ps(dx, dy);
            }
            let mut j = 0;
            while j < cnt {
                let two = j + 1 < cnt;
                let qx = U::unpack2(w.add((ib + j) * U::WB), two);
                let (ax, neg) = (_mm512_abs_epi8(qx), _mm512_movepi8_mask(qx));
                // Lanes 0..8 take scale j, lanes 8..16 scale j + 1 (j + 1 ≤ 7).
                let idx = _mm512_mask_blend_epi32(
                    0xFF00,
                    _mm512_set1_epi32(j as i32),
                    _mm512_set1_epi32(j as i32 + 1),
                );
                for t in 0..N {
                    let ap = a.add(t * stride + (ib + j) * Q8_0_BYTES);
                    let hi = if two {
                        load256(ap.add(Q8_0_BYTES + 2))
                    } else {
                        _mm256_setzero_si256()
                    };
                    let p = dot_i8x4(ax, neg, join256(load256(ap.add(2)), hi));
                    let d = _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(s[t]));
                    acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[t]);
                }
                j += 2;
            }
        }
        ib += cnt;
    }
    for t in 0..N {
        out[t] = _mm512_reduce_add_ps(acc[t]);
    }
}

macro_rules! signed_kernel {
    ($name:ident, $u:ident) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let nb = check(w, <$u as Signed>::WB, a, Q8_0_BYTES, stride, out.len());
            let (wp, ap) = (w.as_ptr(), a.as_ptr());
            // SAFETY: sizes checked above; installed only when `avx512_available()`.
            unsafe {
                match out.len() {
                    1 => dot_signed::<$u, 1>(nb, wp, ap, stride, out),
                    2 => dot_signed::<$u, 2>(nb, wp, ap, stride, out),
                    3 => dot_signed::<$u, 3>(nb, wp, ap, stride, out),
                    _ => dot_signed::<$u, 4>(nb, wp, ap, stride, out),
                }
            }
        }
    };
}

signed_kernel!(dot_q4_0, Q4_0);
signed_kernel!(dot_q5_0, Q5_0);
signed_kernel!(dot_q8_0, Q8_0);
signed_kernel!(dot_iq4_nl, Iq4Nl);

/// GEMV: 4 weight rows against one Q8_0 activation row, the activation's quants and scales
/// loaded once for the 4 rows. Per row the same operations in the same order as
/// [`dot_signed`] with one token, so the two give equal bits (the GEMM below the R8 threshold
/// and the decode GEMV agree exactly).
///
/// # Safety
/// Each `w[r]` holds `nb` blocks of `U::WB` bytes and `a` holds `nb` Q8_0 blocks.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows4_signed<U: Signed>(nb: usize, w: [*const u8; 4], a: *const u8, out: &mut [f32; 4]) {
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut ib = 0;
    while ib < nb {
        let cnt = (nb - ib).min(8);
        // SAFETY: blocks ib..ib+cnt are inside every weight row and the activation row; the
        // second block of a pair is read only when it exists (`two`).
        unsafe {
            let dy = gather_f16x8(a.add(ib * Q8_0_BYTES), Q8_0_BYTES, cnt);
            let mut s = [_mm256_setzero_ps(); 4];
            for (r, s) in s.iter_mut().enumerate() {
                *s = _mm256_mul_ps(gather_f16x8(w[r].add(ib * U::WB), U::WB, cnt), dy);
            }
            let mut j = 0;
            while j < cnt {
                let two = j + 1 < cnt;
                let ap = a.add((ib + j) * Q8_0_BYTES);
                let hi = if two {
                    load256(ap.add(Q8_0_BYTES + 2))
                } else {
                    _mm256_setzero_si256()
                };
                let y = join256(load256(ap.add(2)), hi);
                let idx = _mm512_mask_blend_epi32(
                    0xFF00,
                    _mm512_set1_epi32(j as i32),
                    _mm512_set1_epi32(j as i32 + 1),
                );
                for r in 0..4 {
                    let qx = U::unpack2(w[r].add((ib + j) * U::WB), two);
                    let p = dot_i8x4(_mm512_abs_epi8(qx), _mm512_movepi8_mask(qx), y);
                    let d = _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(s[r]));
                    acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r]);
                }
                j += 2;
            }
        }
        ib += cnt;
    }
    for r in 0..4 {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

macro_rules! signed_rows4 {
    ($name:ident, $u:ident) => {
        pub(crate) fn $name(w: [&[u8]; 4], a: &[u8], out: &mut [f32; 4]) {
            let wb = <$u as Signed>::WB;
            let nb = w[0].len() / wb;
            for row in &w {
                assert!(
                    row.len() == nb * wb,
                    "weight rows must be equal whole blocks"
                );
            }
            assert!(a.len() >= nb * Q8_0_BYTES, "activation row too short");
            let wp = w.map(|r| r.as_ptr());
            // SAFETY: sizes checked above; installed only when `avx512_available()`.
            unsafe { rows4_signed::<$u>(nb, wp, a.as_ptr(), out) }
        }
    };
}

signed_rows4!(rows4_q4_0, Q4_0);
signed_rows4!(rows4_q5_0, Q5_0);
signed_rows4!(rows4_q8_0, Q8_0);
signed_rows4!(rows4_iq4_nl, Iq4Nl);
