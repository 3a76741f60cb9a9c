//! AVX-512 (F + BW + VL + VNNI) dot kernels for Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS against
//! Q8_K activations: one weight row against N activation rows, 64 elements per register.
//!
//! Per 64 elements and token: one `vpdpbusd` (u8 quants × i8 activations, four products per i32
//! lane, ≤ 4·63·127 = 32 004 so each lane's sum fits the low i16) and one `vpdpwssd` that
//! multiplies that low i16 by the lane's sub-block scale (zero-extended to 32 bits, so the high
//! i16 half contributes nothing) and accumulates in i32. The integer sums are exactly the scalar
//! reference's; the per-block float combination is the AVX2 kernel's. IQ4_XS has signed codebook
//! values up to ±127, whose four-product sums need all 32 bits: there `vpmulld` applies the scale.

use std::arch::x86_64::*;

use super::common::*;
use crate::quant::iq4_nl::KVALUES;

/// Q8_K: `f32 d` at 0, `qs` at 4, `bsums` at 260; 292 bytes.
const QK8: usize = 292;
const QS: usize = 4;
const BSUMS: usize = 260;

/// Bit selects for Q5_K's fifth bit: 64-element step j reads bit 2j (bytes 0..32, sub-block 2j)
/// and bit 2j+1 (bytes 32..64, sub-block 2j+1) of `qh[l]`.
static Q5K_SEL: [[u8; 64]; 4] = {
    let mut t = [[0u8; 64]; 4];
    let mut j = 0;
    while j < 4 {
        let mut i = 0;
        while i < 64 {
            t[j][i] = 1u8 << (2 * j + i / 32);
            i += 1;
        }
        j += 1;
    }
    t
};

/// The 8 six-bit scales and 8 mins of a Q4_K/Q5_K block (12 packed bytes at `p`, see
/// `quant::q4_k::scale_min_k4`), byte s = sub-block s, computed in general registers: filling
/// byte arrays and reloading them as vectors stalls on store-to-load forwarding.
///
/// # Safety
/// `p..p+12` readable.
#[inline]
unsafe fn scales_k4(p: *const u8) -> (u64, u64) {
    // SAFETY: 12 readable bytes (caller); unaligned reads.
    let u = |i: usize| unsafe { p.add(4 * i).cast::<u32>().read_unaligned() };
    let (u0, u1, u2) = (u(0), u(1), u(2));
    // Sub-blocks 0..4: the low 6 bits of bytes 0..4 (scales) and 4..8 (mins); 4..8: the
    // nibbles of bytes 8..12 plus the top 2 bits of bytes 0..4 (scales) and 4..8 (mins).
    let sc_lo = u0 & 0x3F3F_3F3F;
    let mn_lo = u1 & 0x3F3F_3F3F;
    let sc_hi = (u2 & 0x0F0F_0F0F) | ((u0 >> 6) & 0x0303_0303) << 4;
    let mn_hi = ((u2 >> 4) & 0x0F0F_0F0F) | ((u1 >> 6) & 0x0303_0303) << 4;
    (
        sc_lo as u64 | (sc_hi as u64) << 32,
        mn_lo as u64 | (mn_hi as u64) << 32,
    )
}

/// Lanes 0..8 = `a`, lanes 8..16 = `b`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn halves_epi32(a: i32, b: i32) -> __m512i {
    _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(a), _mm512_set1_epi32(b))
}

/// Q4_K (`x = d·sc·q − dmin·m`) and Q5_K (the same with a fifth bit), selected by `FIVE`.
///
/// # Safety
/// `w` holds `nb` blocks, `a` holds N rows of `nb` Q8_K blocks `stride` bytes apart.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_q45k<const FIVE: bool, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let wb = if FIVE { 176 } else { 144 };
    let qs_off = if FIVE { 48 } else { 16 };
    let m4 = _mm512_set1_epi8(0x0F);
    let zero = _mm512_setzero_si512();
    let mut acc = [_mm512_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * wb);
            let d = load_f16(wp);
            let dmin = load_f16(wp.add(2));
            let (sc, mn) = scales_k4(wp.add(4));
            // Lane s = scale of sub-block s (s < 8), zero-extended.
            let sc32 = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(sc as i64));
            let mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(mn as i64));
            let hbits = if FIVE {
                _mm512_broadcast_i64x4(load256(wp.add(16)))
            } else {
                zero
            };
            let mut sumi = [zero; N];
            for j in 0..4 {
                // Elements 64j..64j+32 are the low nibbles of qs[32j..32j+32], 64j+32..64j+64
                // the high nibbles: both copies loaded, the upper one shifted down by 4.
                let bits = _mm512_broadcast_i64x4(load256(wp.add(qs_off + 32 * j)));
                let mut q =
                    _mm512_and_si512(_mm512_mask_srli_epi16::<4>(bits, 0xFFFF_0000, bits), m4);
                if FIVE {
                    let high = _mm512_test_epi8_mask(hbits, load512(Q5K_SEL[j].as_ptr()));
                    q = _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(16));
                }
                // i32 lane i covers elements 64j+4i..64j+4i+4: sub-block 2j for i < 8.
                let scv =
                    _mm512_permutexvar_epi32(halves_epi32(2 * j as i32, 2 * j as i32 + 1), sc32);
                for (t, s) in sumi.iter_mut().enumerate() {
                    let y = load512(a.add(t * stride + ib * QK8 + QS + 64 * j));
                    *s = _mm512_dpwssd_epi32(*s, _mm512_dpbusd_epi32(zero, q, y), scv);
                }
            }
            for t in 0..N {
                let ap = a.add(t * stride + ib * QK8);
                let dy = load_f32(ap);
                let bs = load256(ap.add(BSUMS));
                // Σ m_s·(bsum_2s + bsum_2s+1) over the 8 sub-blocks.
                let pairs = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bs),
                    _mm256_extracti128_si256::<1>(bs),
                );
                let pm = _mm512_zextsi128_si512(_mm_madd_epi16(mins, pairs));
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(d * dy), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(-dmin * dy), _mm512_cvtepi32_ps(pm), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = _mm512_reduce_add_ps(acc[t]);
    }
}

/// Lane i = `base + i / 4`: the 16-element sub-block of each i32 lane of a 64-element register.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn quad_idx(base: i32) -> __m512i {
    _mm512_add_epi32(
        _mm512_set1_epi32(base),
        _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
    )
}

/// Q6_K: unsigned `u = q + 32` ∈ [0, 63] in `vpdpbusd`, then `−32·Σ sc·bsum` per row.
///
/// # Safety
/// As [`dot_q45k`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_q6k<const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let m4 = _mm512_set1_epi8(0x0F);
    let m2 = _mm512_set1_epi8(0x03);
    let zero = _mm512_setzero_si512();
    // 16-bit shift counts of the high-bit planes: elements 128h + 64z + 32e take bits
    // 2·(2z + e) of qh (e = which half of the register).
    let shifts = [
        join256(_mm256_set1_epi16(0), _mm256_set1_epi16(2)),
        join256(_mm256_set1_epi16(4), _mm256_set1_epi16(6)),
    ];
    let mut acc = [_mm512_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * 210);
            let d = load_f16(wp.add(208));
            let sc16 = _mm256_cvtepi8_epi16(load128(wp.add(192)));
            // Lane k = scale of sub-block k as i16 in the low half, zero high half.
            let scz = _mm512_cvtepu16_epi32(sc16);
            let mut sumi = [zero; N];
            for h in 0..2 {
                let l = load512(wp.add(64 * h));
                let hb = _mm512_broadcast_i64x4(load256(wp.add(128 + 32 * h)));
                for z in 0..2 {
                    let lo = if z == 0 {
                        _mm512_and_si512(l, m4)
                    } else {
                        _mm512_and_si512(_mm512_srli_epi16::<4>(l), m4)
                    };
                    let hi = _mm512_and_si512(_mm512_srlv_epi16(hb, shifts[z]), m2);
                    let q = _mm512_or_si512(lo, _mm512_slli_epi16::<4>(hi));
                    // i32 lane i covers elements 128h + 64z + 4i..+4: sub-block 8h + 4z + i/4.
                    let scv = _mm512_permutexvar_epi32(quad_idx((8 * h + 4 * z) as i32), scz);
                    for (t, s) in sumi.iter_mut().enumerate() {
                        let y = load512(a.add(t * stride + ib * QK8 + QS + 128 * h + 64 * z));
                        *s = _mm512_dpwssd_epi32(*s, _mm512_dpbusd_epi32(zero, q, y), scv);
                    }
                }
            }
            for t in 0..N {
                let ap = a.add(t * stride + ib * QK8);
                let dy = load_f32(ap);
                let off = _mm256_madd_epi16(sc16, load256(ap.add(BSUMS)));
                let off = _mm512_zextsi256_si512(_mm256_slli_epi32::<5>(off));
                let s = _mm512_sub_epi32(sumi[t], off);
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * dy), _mm512_cvtepi32_ps(s), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = _mm512_reduce_add_ps(acc[t]);
    }
}

/// Q3_K's 16 six-bit scales plus 32 (byte k % 4 of word k / 4 = sub-block k, in [0, 63]) from
/// the 12 packed bytes at `p`, computed in general registers (see [`scales_k4`]): the low 4 bits
/// are the nibbles of bytes 0..8 (low nibbles for sub-blocks 0..8, high for 8..16), the high 2
/// bits the 2-bit fields of bytes 8..12 (field k / 4 of byte 8 + k % 4).
///
/// # Safety
/// `p..p+12` readable.
#[inline]
unsafe fn scales_q3k(p: *const u8) -> [u32; 4] {
    // SAFETY: 12 readable bytes (caller); unaligned reads.
    let u = |i: usize| unsafe { p.add(4 * i).cast::<u32>().read_unaligned() };
    let (a0, a1, h) = (u(0), u(1), u(2));
    let m4 = 0x0F0F_0F0F;
    let m2 = 0x0303_0303;
    [
        (a0 & m4) | (h & m2) << 4,
        (a1 & m4) | ((h >> 2) & m2) << 4,
        ((a0 >> 4) & m4) | ((h >> 4) & m2) << 4,
        ((a1 >> 4) & m4) | ((h >> 6) & m2) << 4,
    ]
}

/// Bit selects for Q3_K's high bit: register (n, h) (elements 128n + 64h..+64) reads bit
/// 4n + 2h (bytes 0..32) and 4n + 2h + 1 (bytes 32..64) of `hmask[l]`; index 2n + h.
static Q3K_SEL: [[u8; 64]; 4] = {
    let mut t = [[0u8; 64]; 4];
    let mut r = 0;
    while r < 4 {
        let mut i = 0;
        while i < 64 {
            t[r][i] = 1u8 << (4 * (r / 2) + 2 * (r % 2) + i / 32);
            i += 1;
        }
        r += 1;
    }
    t
};

/// Q2_K (`FORMAT = 2`: `x = d·sc·q − dmin·m`, q ∈ [0, 3]) and Q3_K (`FORMAT = 3`:
/// `x = d·sc·(u − 4)` with u = q + 4·hbit ∈ [0, 7], the −4 applied as `−4·Σ sc·bsum`): 2-bit
/// planes, 16 sub-blocks of 16.
///
/// # Safety
/// As [`dot_q45k`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_q23k<const FORMAT: u8, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let (wb, qs_off) = if FORMAT == 2 { (84, 16) } else { (110, 32) };
    let m3 = _mm512_set1_epi8(3);
    let zero = _mm512_setzero_si512();
    // 16-bit shift counts of the 2-bit planes: register h of a 128-element half holds planes
    // 2h (bytes 0..32) and 2h + 1 (bytes 32..64).
    let shifts = [
        join256(_mm256_set1_epi16(0), _mm256_set1_epi16(2)),
        join256(_mm256_set1_epi16(4), _mm256_set1_epi16(6)),
    ];
    let mut acc = [_mm512_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * wb);
            let (d, dmin, sc16, mins16, hmask);
            if FORMAT == 2 {
                d = load_f16(wp.add(80));
                dmin = load_f16(wp.add(82));
                let raw = load128(wp);
                let m4 = _mm_set1_epi8(0x0F);
                sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
                mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(raw), m4));
                hmask = zero;
            } else {
                d = load_f16(wp.add(108));
                dmin = 0.0;
                let u = scales_q3k(wp.add(96));
                let biased = _mm_setr_epi32(u[0] as i32, u[1] as i32, u[2] as i32, u[3] as i32);
                sc16 = _mm256_cvtepi8_epi16(_mm_sub_epi8(biased, _mm_set1_epi8(32)));
                mins16 = _mm256_setzero_si256();
                hmask = _mm512_broadcast_i64x4(load256(wp));
            }
            // Lane k = scale of sub-block k as i16 in the low half, zero high half.
            let scz = _mm512_cvtepu16_epi32(sc16);
            let mut sumi = [zero; N];
            for n in 0..2 {
                let bits = _mm512_broadcast_i64x4(load256(wp.add(qs_off + 32 * n)));
                for h in 0..2 {
                    let mut q = _mm512_and_si512(_mm512_srlv_epi16(bits, shifts[h]), m3);
                    if FORMAT == 3 {
                        let sel = load512(Q3K_SEL[2 * n + h].as_ptr());
                        let high = _mm512_test_epi8_mask(hmask, sel);
                        q = _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(4));
                    }
                    let scv = _mm512_permutexvar_epi32(quad_idx((8 * n + 4 * h) as i32), scz);
                    for (t, s) in sumi.iter_mut().enumerate() {
                        let y = load512(a.add(t * stride + ib * QK8 + QS + 128 * n + 64 * h));
                        *s = _mm512_dpwssd_epi32(*s, _mm512_dpbusd_epi32(zero, q, y), scv);
                    }
                }
            }
            for t in 0..N {
                let ap = a.add(t * stride + ib * QK8);
                let dy = load_f32(ap);
                let bs = load256(ap.add(BSUMS));
                if FORMAT == 2 {
                    acc[t] = _mm512_fmadd_ps(
                        _mm512_set1_ps(d * dy),
                        _mm512_cvtepi32_ps(sumi[t]),
                        acc[t],
                    );
                    let pm = _mm512_zextsi256_si512(_mm256_madd_epi16(mins16, bs));
                    acc[t] =
                        _mm512_fmadd_ps(_mm512_set1_ps(-dmin * dy), _mm512_cvtepi32_ps(pm), acc[t]);
                } else {
                    let off = _mm256_slli_epi32::<2>(_mm256_madd_epi16(sc16, bs));
                    let s = _mm512_sub_epi32(sumi[t], _mm512_zextsi256_si512(off));
                    acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * dy), _mm512_cvtepi32_ps(s), acc[t]);
                }
            }
        }
    }
    for t in 0..N {
        out[t] = _mm512_reduce_add_ps(acc[t]);
    }
}

/// IQ4_XS: codebook lookup by `vpshufb` (the 16-entry table in every 128-bit lane), two
/// 32-element sub-blocks per register, signed dot via |w| × (y with w's sign), 6-bit scales.
///
/// # Safety
/// As [`dot_q45k`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_iq4xs<const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    // SAFETY: KVALUES is 16 bytes.
    let table = _mm512_broadcast_i32x4(unsafe { load128(KVALUES.as_ptr().cast()) });
    let mut acc = [_mm512_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * 136);
            let d = load_f16(wp);
            let sh = u16::from_le_bytes([*wp.add(2), *wp.add(3)]) as u32;
            let sl = wp.add(4).cast::<u32>().read_unaligned();
            // Sub-block sb: low 4 bits = nibble sb of scales_l, high 2 = bits 2sb, 2sb+1 of
            // scales_h; minus 32.
            let ls = |sb: usize| ((sl >> (4 * sb)) & 0xF | ((sh >> (2 * sb)) & 3) << 4) as i32 - 32;
            let mut sumi = [_mm512_setzero_si512(); N];
            for m in 0..4 {
                let q = _mm512_shuffle_epi8(table, nibbles_64(wp.add(8 + 32 * m), 16, true));
                let (aq, neg) = (_mm512_abs_epi8(q), _mm512_movepi8_mask(q));
                let scv = halves_epi32(ls(2 * m), ls(2 * m + 1));
                for (t, s) in sumi.iter_mut().enumerate() {
                    let y = load512(a.add(t * stride + ib * QK8 + QS + 64 * m));
                    *s = _mm512_add_epi32(*s, _mm512_mullo_epi32(dot_i8x4(aq, neg, y), scv));
                }
            }
            for t in 0..N {
                let dy = load_f32(a.add(t * stride + ib * QK8));
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(d * dy), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = _mm512_reduce_add_ps(acc[t]);
    }
}

macro_rules! kernel {
    ($name:ident, $wb:expr, $f:ident $(, $c:expr)?) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let nb = check(w, $wb, a, QK8, stride, out.len());
            let (wp, ap) = (w.as_ptr(), a.as_ptr());
            // SAFETY: sizes checked above; installed only when `avx512_available()`.
            unsafe {
                match out.len() {
                    1 => $f::<$($c,)? 1>(nb, wp, ap, stride, out),
                    2 => $f::<$($c,)? 2>(nb, wp, ap, stride, out),
                    3 => $f::<$($c,)? 3>(nb, wp, ap, stride, out),
                    _ => $f::<$($c,)? 4>(nb, wp, ap, stride, out),
                }
            }
        }
    };
}

kernel!(dot_q4_k, 144, dot_q45k, false);
kernel!(dot_q5_k, 176, dot_q45k, true);
kernel!(dot_q6_k, 210, dot_q6k);
kernel!(dot_q2_k, 84, dot_q23k, 2);
kernel!(dot_q3_k, 110, dot_q23k, 3);
kernel!(dot_iq4_xs, 136, dot_iq4xs);

#[cfg(test)]
mod tests {
    /// The register-level scale unpacking equals the reference (`scale_min_k4`,
    /// `BlockQ3K::scales`) for every sub-block (plain integer code: runs on any CPU).
    #[test]
    fn register_scale_unpacking_matches_reference() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            let mut q = [0u8; 12];
            for b in &mut q {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            // SAFETY: q is 12 readable bytes.
            let (sc, mn) = unsafe { super::scales_k4(q.as_ptr()) };
            for s in 0..8 {
                let (a, b) = crate::quant::q4_k::scale_min_k4(s, &q);
                assert_eq!(
                    ((sc >> (8 * s)) as u8, (mn >> (8 * s)) as u8),
                    (a, b),
                    "{q:?} s={s}"
                );
            }
            // SAFETY: as above.
            let u = unsafe { super::scales_q3k(q.as_ptr()) };
            let blk = crate::quant::BlockQ3K {
                hmask: [0; 32],
                qs: [0; 64],
                scales: q,
                d: [0; 2],
            };
            let want = blk.scales();
            for k in 0..16 {
                let got = (u[k / 4] >> (8 * (k % 4))) as u8 as i8 - 32;
                assert_eq!(got, want[k], "{q:?} k={k}");
            }
        }
    }
}
