//! AVX2 dot kernels for the 32-element formats: Q4_0, Q5_0, Q8_0, IQ4_NL (× Q8_0, signed, via the
//! `sign` trick) and Q4_1, Q5_1 (× Q8_1, unsigned quants plus the `m·s` term). Each kernel runs
//! one weight row against N activation rows, unpacking every weight block once for all N.

use std::arch::x86_64::*;

use super::common::*;
use crate::quant::iq4_nl::KVALUES;

const Q8_0_BYTES: usize = 34;
const Q8_1_BYTES: usize = 36;

/// A format whose blocks unpack to 32 signed quants and a scale.
trait Signed {
    const WB: usize;
    /// # Safety
    /// `p` points at a whole block; AVX2+FMA+F16C are available.
    unsafe fn unpack(p: *const u8) -> (__m256i, f32);
}

/// A format whose blocks unpack to 32 unsigned quants, a scale d and an offset m.
trait Unsigned {
    const WB: usize;
    /// # Safety
    /// `p` points at a whole block; AVX2+FMA+F16C are available.
    unsafe fn unpack(p: *const u8) -> (__m256i, f32, f32);
}

macro_rules! impl_unpack {
    ($ty:ident, $tr:ident, $wb:expr, $f:ident, $ret:ty) => {
        struct $ty;
        impl $tr for $ty {
            const WB: usize = $wb;
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn unpack(p: *const u8) -> $ret {
                // SAFETY: forwarded contract.
                unsafe { $f(p) }
            }
        }
    };
}
impl_unpack!(Q4_0, Signed, 18, unpack_q4_0, (__m256i, f32));
impl_unpack!(Q5_0, Signed, 22, unpack_q5_0, (__m256i, f32));
impl_unpack!(Q8_0, Signed, 34, unpack_q8_0, (__m256i, f32));
impl_unpack!(Iq4Nl, Signed, 18, unpack_iq4_nl, (__m256i, f32));
impl_unpack!(Q4_1, Unsigned, 20, unpack_q4_1, (__m256i, f32, f32));
impl_unpack!(Q5_1, Unsigned, 24, unpack_q5_1, (__m256i, f32, f32));

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_q4_0(p: *const u8) -> (__m256i, f32) {
    // SAFETY: caller passes a whole 18-byte block.
    unsafe {
        let q = nibbles_32(load128(p.add(2)));
        (_mm256_sub_epi8(q, _mm256_set1_epi8(8)), load_f16(p))
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_q5_0(p: *const u8) -> (__m256i, f32) {
    // SAFETY: caller passes a whole 22-byte block.
    unsafe {
        let qh = u32::from_le_bytes([*p.add(2), *p.add(3), *p.add(4), *p.add(5)]);
        let lo = nibbles_32(load128(p.add(6)));
        // Elements without the 5th bit are nibble − 16 (set the top 4 bits), the others nibble.
        let hi = _mm256_andnot_si256(bytes_from_bits_32(qh), _mm256_set1_epi8(0xF0u8 as i8));
        (_mm256_or_si256(lo, hi), load_f16(p))
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_q8_0(p: *const u8) -> (__m256i, f32) {
    // SAFETY: caller passes a whole 34-byte block.
    unsafe { (load256(p.add(2)), load_f16(p)) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_iq4_nl(p: *const u8) -> (__m256i, f32) {
    // SAFETY: caller passes a whole 18-byte block; KVALUES is 16 bytes.
    unsafe {
        let table = _mm256_broadcastsi128_si256(load128(KVALUES.as_ptr().cast()));
        let q = _mm256_shuffle_epi8(table, nibbles_32(load128(p.add(2))));
        (q, load_f16(p))
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_q4_1(p: *const u8) -> (__m256i, f32, f32) {
    // SAFETY: caller passes a whole 20-byte block.
    unsafe {
        (
            nibbles_32(load128(p.add(4))),
            load_f16(p),
            load_f16(p.add(2)),
        )
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_q5_1(p: *const u8) -> (__m256i, f32, f32) {
    // SAFETY: caller passes a whole 24-byte block.
    unsafe {
        let qh = u32::from_le_bytes([*p.add(4), *p.add(5), *p.add(6), *p.add(7)]);
        let lo = nibbles_32(load128(p.add(8)));
        let hi = _mm256_and_si256(bytes_from_bits_32(qh), _mm256_set1_epi8(0x10));
        (_mm256_or_si256(lo, hi), load_f16(p), load_f16(p.add(2)))
    }
}

/// Up to eight little-endian f16 values at `p`, `p + step`, … (`count` of them, the other lanes
/// zero) as f32 lanes.
///
/// # Safety
/// The first `count` (≤ 8) 2-byte values must be readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gather_f16x8(p: *const u8, step: usize, count: usize) -> __m256 {
    // Built in registers (`pinsrw`): writing the halves to a stack array and loading it back as
    // one vector stalls on store-to-load forwarding, which cost ~150 cycles per 640-wide row.
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

/// Σ over blocks of d_x·d_y·Σ x·y for signed weights against Q8_0 rows. Blocks go by eights:
/// the 8 weight scales and each row's 8 activation scales are converted in one F16C instruction
/// each, and every block's combined scale is then a lane permute (per-block scalar f16
/// conversions made these formats compute-bound).
///
/// # Safety
/// `w` holds `nb` blocks of `U::WB` bytes, `a` holds `N` rows of `nb` Q8_0 blocks `stride` apart.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_signed<U: Signed, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let mut acc = [_mm256_setzero_ps(); N];
    let mut ib = 0;
    while ib < nb {
        let cnt = (nb - ib).min(8);
        // SAFETY: blocks ib..ib+cnt are inside w and inside every activation row.
        unsafe {
            let dx = gather_f16x8(w.add(ib * U::WB), U::WB, cnt);
            let mut s = [_mm256_setzero_ps(); N];
            for (t, s) in s.iter_mut().enumerate() {
                let dy = gather_f16x8(a.add(t * stride + ib * Q8_0_BYTES), Q8_0_BYTES, cnt);
                *s = _mm256_mul_ps(dx, dy);
            }
            for j in 0..cnt {
                let (qx, _) = U::unpack(w.add((ib + j) * U::WB));
                let ax = _mm256_sign_epi8(qx, qx);
                let idx = _mm256_set1_epi32(j as i32);
                for t in 0..N {
                    let ap = a.add(t * stride + (ib + j) * Q8_0_BYTES);
                    let p = dot_i8(ax, qx, load256(ap.add(2)));
                    let d = _mm256_permutevar8x32_ps(s[t], idx);
                    acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t]);
                }
            }
        }
        ib += cnt;
    }
    for t in 0..N {
        out[t] = hsum(acc[t]);
    }
}

/// Σ over blocks of d_x·d_y·Σ q·y + m_x·s_y for unsigned weights against Q8_1 rows.
///
/// # Safety
/// As [`dot_signed`] with Q8_1 activation blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_unsigned<U: Unsigned, const N: usize>(
    nb: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let mut acc = [_mm256_setzero_ps(); N];
    let mut summ = [0f32; N];
    for ib in 0..nb {
        // SAFETY: block ib is inside w and inside every activation row (caller's contract).
        unsafe {
            let (qx, dx, mx) = U::unpack(w.add(ib * U::WB));
            for t in 0..N {
                let ap = a.add(t * stride + ib * Q8_1_BYTES);
                let d = _mm256_set1_ps(dx * load_f16(ap));
                summ[t] += mx * load_f16(ap.add(2));
                let p = dot_u8_i8(qx, load256(ap.add(4)));
                acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = hsum(acc[t]) + summ[t];
    }
}

macro_rules! signed_kernel {
    ($name:ident, $u:ident) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let nb = check(w, <$u as Signed>::WB, a, Q8_0_BYTES, stride, out.len());
            let (wp, ap) = (w.as_ptr(), a.as_ptr());
            // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
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

macro_rules! unsigned_kernel {
    ($name:ident, $u:ident) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let nb = check(w, <$u as Unsigned>::WB, a, Q8_1_BYTES, stride, out.len());
            let (wp, ap) = (w.as_ptr(), a.as_ptr());
            // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
            unsafe {
                match out.len() {
                    1 => dot_unsigned::<$u, 1>(nb, wp, ap, stride, out),
                    2 => dot_unsigned::<$u, 2>(nb, wp, ap, stride, out),
                    3 => dot_unsigned::<$u, 3>(nb, wp, ap, stride, out),
                    _ => dot_unsigned::<$u, 4>(nb, wp, ap, stride, out),
                }
            }
        }
    };
}

/// GEMV: 4 weight rows against one activation row. The activation's quants and scales are
/// loaded once for the 4 rows, and the per-call overheads (scale conversion, horizontal sums,
/// call) are shared: short rows such as gemma's 640-wide output layer are dominated by them.
///
/// # Safety
/// Each `w[r]` holds `nb` blocks of `U::WB` bytes and `a` holds `nb` Q8_0 blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_signed_rows4<U: Signed>(
    nb: usize,
    w: [*const u8; 4],
    a: *const u8,
    out: &mut [f32; 4],
) {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut ib = 0;
    while ib < nb {
        let cnt = (nb - ib).min(8);
        // SAFETY: blocks ib..ib+cnt are inside every weight row and the activation row.
        unsafe {
            let dy = gather_f16x8(a.add(ib * Q8_0_BYTES), Q8_0_BYTES, cnt);
            let mut s = [_mm256_setzero_ps(); 4];
            for (r, s) in s.iter_mut().enumerate() {
                *s = _mm256_mul_ps(dy, gather_f16x8(w[r].add(ib * U::WB), U::WB, cnt));
            }
            for j in 0..cnt {
                let qy = load256(a.add((ib + j) * Q8_0_BYTES + 2));
                let idx = _mm256_set1_epi32(j as i32);
                for r in 0..4 {
                    let (qx, _) = U::unpack(w[r].add((ib + j) * U::WB));
                    let p = dot_i8(_mm256_sign_epi8(qx, qx), qx, qy);
                    let d = _mm256_permutevar8x32_ps(s[r], idx);
                    acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);
                }
            }
        }
        ib += cnt;
    }
    for r in 0..4 {
        out[r] = hsum(acc[r]);
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
            // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
            unsafe { dot_signed_rows4::<$u>(nb, wp, a.as_ptr(), out) }
        }
    };
}

signed_rows4!(rows4_q4_0, Q4_0);
signed_rows4!(rows4_q5_0, Q5_0);
signed_rows4!(rows4_q8_0, Q8_0);
signed_rows4!(rows4_iq4_nl, Iq4Nl);

signed_kernel!(dot_q4_0, Q4_0);
signed_kernel!(dot_q5_0, Q5_0);
signed_kernel!(dot_q8_0, Q8_0);
signed_kernel!(dot_iq4_nl, Iq4Nl);
unsigned_kernel!(dot_q4_1, Q4_1);
unsigned_kernel!(dot_q5_1, Q5_1);
