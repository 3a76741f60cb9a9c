//! AVX2+FMA dot kernels for float weights (F32, F16 via F16C, BF16 via a 16-bit shift) against
//! f32 activations, one weight row against N activation rows.

use std::arch::x86_64::*;

use super::common::*;

/// Weight element kinds: bytes per element and "load 8 elements as f32".
trait Elem {
    const BYTES: usize;
    /// # Safety
    /// `p..p+8·BYTES` readable; AVX2+FMA+F16C available.
    unsafe fn load8(p: *const u8) -> __m256;
    fn scalar(p: &[u8]) -> f32;
}

struct F32;
struct F16;
struct Bf16;

impl Elem for F32 {
    const BYTES: usize = 4;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const u8) -> __m256 {
        // SAFETY: forwarded contract.
        unsafe { _mm256_loadu_ps(p.cast()) }
    }
    fn scalar(p: &[u8]) -> f32 {
        f32::from_le_bytes([p[0], p[1], p[2], p[3]])
    }
}

impl Elem for F16 {
    const BYTES: usize = 2;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const u8) -> __m256 {
        // SAFETY: forwarded contract.
        unsafe { _mm256_cvtph_ps(load128(p)) }
    }
    fn scalar(p: &[u8]) -> f32 {
        crate::quant::f16_le([p[0], p[1]])
    }
}

impl Elem for Bf16 {
    const BYTES: usize = 2;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const u8) -> __m256 {
        // SAFETY: forwarded contract.
        unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(load128(p)))) }
    }
    fn scalar(p: &[u8]) -> f32 {
        f32::from_bits((u16::from_le_bytes([p[0], p[1]]) as u32) << 16)
    }
}

/// # Safety
/// `w` holds `k` elements; `a` holds N rows of `k` f32 `stride` bytes apart.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_float<E: Elem, const N: usize>(
    k: usize,
    w: &[u8],
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let wp = w.as_ptr();
    let mut acc = [_mm256_setzero_ps(); N];
    let mut i = 0;
    while i + 8 <= k {
        // SAFETY: elements i..i+8 are inside `w` and every activation row.
        unsafe {
            let x = E::load8(wp.add(i * E::BYTES));
            for (t, acc) in acc.iter_mut().enumerate() {
                let y = _mm256_loadu_ps(a.add(t * stride + 4 * i).cast());
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
        }
        i += 8;
    }
    for t in 0..N {
        let mut s = hsum(acc[t]);
        for j in i..k {
            // SAFETY: element j < k is inside row t.
            let y = unsafe { load_f32(a.add(t * stride + 4 * j)) };
            s += E::scalar(&w[j * E::BYTES..]) * y;
        }
        out[t] = s;
    }
}

macro_rules! kernel {
    ($name:ident, $e:ident) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let k = check(w, $e::BYTES, a, 4, stride, out.len());
            let ap = a.as_ptr();
            // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
            unsafe {
                match out.len() {
                    1 => dot_float::<$e, 1>(k, w, ap, stride, out),
                    2 => dot_float::<$e, 2>(k, w, ap, stride, out),
                    3 => dot_float::<$e, 3>(k, w, ap, stride, out),
                    _ => dot_float::<$e, 4>(k, w, ap, stride, out),
                }
            }
        }
    };
}

kernel!(dot_f32, F32);
kernel!(dot_f16, F16);
kernel!(dot_bf16, Bf16);
