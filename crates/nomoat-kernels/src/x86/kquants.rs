//! AVX2 dot kernels for the 256-element formats against Q8_K activations: Q4_K, Q5_K, Q6_K,
//! Q2_K, Q3_K, IQ4_XS. One weight row against N activation rows: each super-block's quants and
//! scales are unpacked once and used for all N rows. Integer sums are exact; the per-block
//! float combination matches the scalar reference up to summation order.

use std::arch::x86_64::*;

use super::common::*;
use crate::quant::iq4_nl::KVALUES;

/// Q8_K: `f32 d` at 0, `qs` at 4, `bsums` at 260; 292 bytes.
const QK8: usize = 292;
const QS: usize = 4;
const BSUMS: usize = 260;

/// Q4_K/Q5_K packed 6-bit scales → (scales[8], mins[8]).
#[inline]
fn unpack_scales_k4(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut m) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        let (a, b) = crate::quant::q4_k::scale_min_k4(j, s);
        sc[j] = a;
        m[j] = b;
    }
    (sc, m)
}

/// Q4_K (`x = d·sc·q − dmin·m`) and Q5_K (the same with a fifth bit) share everything except
/// the quant unpacking, selected by `FIVE`.
///
/// # Safety
/// `w` holds `nb` blocks, `a` holds N rows of `nb` Q8_K blocks `stride` bytes apart.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q45k<const FIVE: bool, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let wb = if FIVE { 176 } else { 144 };
    let qs_off = if FIVE { 48 } else { 16 };
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * wb);
            let d = load_f16(wp);
            let dmin = load_f16(wp.add(2));
            let mut s12 = [0u8; 12];
            std::ptr::copy_nonoverlapping(wp.add(4), s12.as_mut_ptr(), 12);
            let (sc, mn) = unpack_scales_k4(&s12);
            let mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(mn.as_ptr().cast()));
            let hbits = if FIVE {
                load256(wp.add(16))
            } else {
                _mm256_setzero_si256()
            };
            let mut sumi = [_mm256_setzero_si256(); N];
            for j in 0..4 {
                let bits = load256(wp.add(qs_off + 32 * j));
                let mut ql = _mm256_and_si256(bits, m4);
                let mut qh = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
                if FIVE {
                    let b0 = _mm256_set1_epi8((1u8 << (2 * j)) as i8);
                    let b1 = _mm256_set1_epi8((1u8 << (2 * j + 1)) as i8);
                    let sixteen = _mm256_set1_epi8(16);
                    let h0 = _mm256_and_si256(
                        _mm256_cmpeq_epi8(_mm256_and_si256(hbits, b0), b0),
                        sixteen,
                    );
                    let h1 = _mm256_and_si256(
                        _mm256_cmpeq_epi8(_mm256_and_si256(hbits, b1), b1),
                        sixteen,
                    );
                    ql = _mm256_or_si256(ql, h0);
                    qh = _mm256_or_si256(qh, h1);
                }
                let sl = _mm256_set1_epi16(sc[2 * j] as i16);
                let sh = _mm256_set1_epi16(sc[2 * j + 1] as i16);
                for (t, s) in sumi.iter_mut().enumerate() {
                    let ap = a.add(t * stride + ib * QK8 + QS + 64 * j);
                    let pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, load256(ap)));
                    let ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, load256(ap.add(32))));
                    *s = _mm256_add_epi32(*s, _mm256_add_epi32(pl, ph));
                }
            }
            for t in 0..N {
                let ap = a.add(t * stride + ib * QK8);
                let dy = load_f32(ap);
                let bs = load256(ap.add(BSUMS));
                let pairs = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bs),
                    _mm256_extracti128_si256::<1>(bs),
                );
                let pm = _mm_madd_epi16(mins, pairs);
                let pm = _mm256_inserti128_si256::<0>(_mm256_setzero_si256(), pm);
                acc[t] =
                    _mm256_fmadd_ps(_mm256_set1_ps(d * dy), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
                acc[t] =
                    _mm256_fmadd_ps(_mm256_set1_ps(-dmin * dy), _mm256_cvtepi32_ps(pm), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = hsum(acc[t]);
    }
}

/// Shuffle masks broadcasting Q6_K scales 2k (bytes 0..8) and 2k+1 (bytes 8..16), k = 0..8.
static Q6K_SHUF: [[u8; 16]; 8] = {
    let mut t = [[0u8; 16]; 8];
    let mut k = 0;
    while k < 8 {
        let mut i = 0;
        while i < 16 {
            t[k][i] = (2 * k + i / 8) as u8;
            i += 1;
        }
        k += 1;
    }
    t
};

/// Q6_K: unsigned `q+32` in `maddubs`, then `−32·Σ sc·bsums` per row.
///
/// # Safety
/// As [`dot_q45k`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q6k<const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let m4 = _mm256_set1_epi8(0x0F);
    let m2 = _mm256_set1_epi8(0x03);
    let mut acc = [_mm256_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * 210);
            let d = load_f16(wp.add(208));
            let sc = load128(wp.add(192));
            let sc16 = _mm256_cvtepi8_epi16(sc);
            let mut sumi = [_mm256_setzero_si256(); N];
            for h in 0..2 {
                let l0 = load256(wp.add(64 * h));
                let l1 = load256(wp.add(64 * h + 32));
                let hb = load256(wp.add(128 + 32 * h));
                for k in 0..4 {
                    let (lo, hi2) = match k {
                        0 => (_mm256_and_si256(l0, m4), _mm256_and_si256(hb, m2)),
                        1 => (
                            _mm256_and_si256(l1, m4),
                            _mm256_and_si256(_mm256_srli_epi16::<2>(hb), m2),
                        ),
                        2 => (
                            _mm256_and_si256(_mm256_srli_epi16::<4>(l0), m4),
                            _mm256_and_si256(_mm256_srli_epi16::<4>(hb), m2),
                        ),
                        _ => (
                            _mm256_and_si256(_mm256_srli_epi16::<4>(l1), m4),
                            _mm256_and_si256(_mm256_srli_epi16::<6>(hb), m2),
                        ),
                    };
                    let q = _mm256_or_si256(lo, _mm256_slli_epi16::<4>(hi2));
                    let s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(
                        sc,
                        load128(Q6K_SHUF[4 * h + k].as_ptr()),
                    ));
                    for (t, si) in sumi.iter_mut().enumerate() {
                        let ap = a.add(t * stride + ib * QK8 + QS + 128 * h + 32 * k);
                        let p = _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, load256(ap)));
                        *si = _mm256_add_epi32(*si, p);
                    }
                }
            }
            for t in 0..N {
                let ap = a.add(t * stride + ib * QK8);
                let dy = load_f32(ap);
                let off = _mm256_madd_epi16(sc16, load256(ap.add(BSUMS)));
                let s = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32::<5>(off));
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * dy), _mm256_cvtepi32_ps(s), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = hsum(acc[t]);
    }
}

/// Shuffle masks for 16×i16 scales duplicated in both lanes: lane 0 broadcasts i16 index 2k,
/// lane 1 index 2k+1 (k = 0..4), matching 32 quants = two 16-element sub-blocks.
static K16_SHUF: [[u8; 32]; 4] = {
    let mut t = [[0u8; 32]; 4];
    let mut k = 0;
    while k < 4 {
        let mut i = 0;
        while i < 32 {
            let idx = 2 * k + i / 16;
            t[k][i] = (2 * idx + (i % 2)) as u8;
            i += 1;
        }
        k += 1;
    }
    t
};

/// Q2_K (`FORMAT = 2`) and Q3_K (`FORMAT = 3`): 2-bit quants in 4 planes, 16 sub-blocks of 16.
///
/// # Safety
/// As [`dot_q45k`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q23k<const FORMAT: u8, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let m3 = _mm256_set1_epi8(3);
    let (wb, qs_off) = if FORMAT == 2 { (84, 16) } else { (110, 32) };
    let mut acc = [_mm256_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * wb);
            let (d, dmin, scales16, mins16, hbits);
            if FORMAT == 2 {
                d = load_f16(wp.add(80));
                dmin = load_f16(wp.add(82));
                let raw = load128(wp);
                let m4 = _mm_set1_epi8(0x0F);
                scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
                mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(raw), m4));
                hbits = _mm256_setzero_si256();
            } else {
                d = load_f16(wp.add(108));
                dmin = 0.0;
                let mut s12 = [0u8; 12];
                std::ptr::copy_nonoverlapping(wp.add(96), s12.as_mut_ptr(), 12);
                let b = crate::quant::BlockQ3K {
                    hmask: [0; 32],
                    qs: [0; 64],
                    scales: s12,
                    d: [0; 2],
                };
                let sc = b.scales();
                scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc.as_ptr().cast()));
                mins16 = _mm256_setzero_si256();
                hbits = load256(wp);
            }
            // Scales of the first and second 128-element halves, duplicated in both lanes.
            let halves = [
                _mm256_permute2x128_si256::<0x00>(scales16, scales16),
                _mm256_permute2x128_si256::<0x11>(scales16, scales16),
            ];
            let mut sumi = [_mm256_setzero_si256(); N];
            for n in 0..2 {
                let bits = load256(wp.add(qs_off + 32 * n));
                for j in 0..4 {
                    let q = match j {
                        0 => _mm256_and_si256(bits, m3),
                        1 => _mm256_and_si256(_mm256_srli_epi16::<2>(bits), m3),
                        2 => _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m3),
                        _ => _mm256_and_si256(_mm256_srli_epi16::<6>(bits), m3),
                    };
                    // Q3_K: q − 4 where the high bit (4n+j) is clear.
                    let q4 = if FORMAT == 3 {
                        let bm = _mm256_set1_epi8((1u8 << (4 * n + j)) as i8);
                        let clear =
                            _mm256_cmpeq_epi8(_mm256_and_si256(hbits, bm), _mm256_setzero_si256());
                        _mm256_and_si256(clear, _mm256_set1_epi8(4))
                    } else {
                        _mm256_setzero_si256()
                    };
                    let s = _mm256_shuffle_epi8(halves[n], load256(K16_SHUF[j].as_ptr()));
                    for (t, si) in sumi.iter_mut().enumerate() {
                        let y = load256(a.add(t * stride + ib * QK8 + QS + 128 * n + 32 * j));
                        let mut p = _mm256_maddubs_epi16(q, y);
                        if FORMAT == 3 {
                            p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(q4, y));
                        }
                        *si = _mm256_add_epi32(*si, _mm256_madd_epi16(s, p));
                    }
                }
            }
            for t in 0..N {
                let ap = a.add(t * stride + ib * QK8);
                let dy = load_f32(ap);
                acc[t] =
                    _mm256_fmadd_ps(_mm256_set1_ps(d * dy), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
                if FORMAT == 2 {
                    let pm = _mm256_madd_epi16(mins16, load256(ap.add(BSUMS)));
                    acc[t] =
                        _mm256_fmadd_ps(_mm256_set1_ps(-dmin * dy), _mm256_cvtepi32_ps(pm), acc[t]);
                }
            }
        }
    }
    for t in 0..N {
        out[t] = hsum(acc[t]);
    }
}

/// IQ4_XS: codebook lookup by `pshufb`, signed dot via the `sign` trick, 6-bit scales per 32.
///
/// # Safety
/// As [`dot_q45k`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_iq4xs<const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    // SAFETY: KVALUES is 16 bytes.
    let table = _mm256_broadcastsi128_si256(unsafe { load128(KVALUES.as_ptr().cast()) });
    let mut acc = [_mm256_setzero_ps(); N];
    for ib in 0..nb {
        // SAFETY: block ib lies inside `w` and every activation row (caller's contract).
        unsafe {
            let wp = w.add(ib * 136);
            let d = load_f16(wp);
            let sh = u16::from_le_bytes([*wp.add(2), *wp.add(3)]);
            let mut sumi = [_mm256_setzero_si256(); N];
            for sb in 0..8 {
                let low = (*wp.add(4 + sb / 2) >> (4 * (sb % 2))) & 0xF;
                let ls = (low as i16 | (((sh >> (2 * sb)) & 3) as i16) << 4) - 32;
                let q = _mm256_shuffle_epi8(table, nibbles_32(load128(wp.add(8 + 16 * sb))));
                let aq = _mm256_sign_epi8(q, q);
                let s = _mm256_set1_epi16(ls);
                for (t, si) in sumi.iter_mut().enumerate() {
                    let y = load256(a.add(t * stride + ib * QK8 + QS + 32 * sb));
                    let p = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(y, q));
                    *si = _mm256_add_epi32(*si, _mm256_madd_epi16(p, s));
                }
            }
            for t in 0..N {
                let dy = load_f32(a.add(t * stride + ib * QK8));
                acc[t] =
                    _mm256_fmadd_ps(_mm256_set1_ps(d * dy), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = hsum(acc[t]);
    }
}

macro_rules! kernel {
    ($name:ident, $wb:expr, $f:ident $(, $c:expr)?) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let nb = check(w, $wb, a, QK8, stride, out.len());
            let (wp, ap) = (w.as_ptr(), a.as_ptr());
            // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
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
