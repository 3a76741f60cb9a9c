//! AVX-512 dot kernels for float weights (F32, F16 via `vcvtph2ps`, BF16 via a 16-bit shift)
//! against f32 activations, one weight row against N activation rows. 32 elements per step in
//! two independent accumulators per row (one FMA chain would be bound by its latency at one
//! token), and the last partial step as masked loads, which read nothing past the row.

use std::arch::x86_64::*;

use super::common::check;

/// Weight element kinds: bytes per element and "load the first `m` of 16 elements as f32".
trait Elem {
    const BYTES: usize;
    /// Lanes set in `m` are read from `p + i·BYTES`, the others are zero and not read.
    ///
    /// # Safety
    /// The selected elements are readable; the AVX-512 level is available.
    unsafe fn load16(p: *const u8, m: __mmask16) -> __m512;
}

struct F32;
struct F16;
struct Bf16;

impl Elem for F32 {
    const BYTES: usize = 4;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn load16(p: *const u8, m: __mmask16) -> __m512 {
        // SAFETY: masked load: only the selected (readable) lanes are accessed.
        unsafe { _mm512_maskz_loadu_ps(m, p.cast()) }
    }
}

impl Elem for F16 {
    const BYTES: usize = 2;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn load16(p: *const u8, m: __mmask16) -> __m512 {
        // SAFETY: masked load: only the selected (readable) lanes are accessed.
        unsafe { _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p.cast())) }
    }
}

impl Elem for Bf16 {
    const BYTES: usize = 2;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn load16(p: *const u8, m: __mmask16) -> __m512 {
        // SAFETY: masked load: only the selected (readable) lanes are accessed.
        let h = unsafe { _mm256_maskz_loadu_epi16(m, p.cast()) };
        _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
    }
}

/// Mask of the first `n` (≤ 16) lanes.
#[inline]
fn first(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        (1u16 << n) - 1
    }
}

/// # Safety
/// `w` holds `k` elements; `a` holds N rows of `k` f32 `stride` bytes apart; AVX-512 level.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_float<E: Elem, const N: usize>(
    k: usize,
    w: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [f32],
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; N];
    let mut i = 0;
    while i < k {
        let m0 = first(k - i);
        let m1 = first((k - i).saturating_sub(16));
        // SAFETY: the masks select elements i..min(i + 32, k), inside `w` and every row.
        unsafe {
            let x0 = E::load16(w.add(i * E::BYTES), m0);
            // Past the row when m1 is empty: nothing is read there, hence `wrapping_add`.
            let x1 = E::load16(w.wrapping_add((i + 16) * E::BYTES), m1);
            for (t, acc) in acc.iter_mut().enumerate() {
                let ap = a.add(t * stride + 4 * i);
                let y0 = _mm512_maskz_loadu_ps(m0, ap.cast());
                let y1 = _mm512_maskz_loadu_ps(m1, ap.wrapping_add(64).cast());
                acc[0] = _mm512_fmadd_ps(x0, y0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x1, y1, acc[1]);
            }
        }
        i += 32;
    }
    for t in 0..N {
        out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
    }
}

macro_rules! kernel {
    ($name:ident, $e:ident) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], stride: usize, out: &mut [f32]) {
            let k = check(w, $e::BYTES, a, 4, stride, out.len());
            let (wp, ap) = (w.as_ptr(), a.as_ptr());
            // SAFETY: sizes checked above; installed only when `avx512_available()`.
            unsafe {
                match out.len() {
                    1 => dot_float::<$e, 1>(k, wp, ap, stride, out),
                    2 => dot_float::<$e, 2>(k, wp, ap, stride, out),
                    3 => dot_float::<$e, 3>(k, wp, ap, stride, out),
                    _ => dot_float::<$e, 4>(k, wp, ap, stride, out),
                }
            }
        }
    };
}

kernel!(dot_f32, F32);
kernel!(dot_f16, F16);
kernel!(dot_bf16, Bf16);
