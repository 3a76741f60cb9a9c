//! AVX2+FMA+F16C versions of `crate::vec` (callers check `avx2_available()` first).

use std::arch::x86_64::*;

use half::f16;

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Horizontal sum of 8 lanes (shared with the dot kernels).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn hsum_ps(v: __m256) -> f32 {
    hsum(v)
}

#[target_feature(enable = "avx2,fma")]
fn dot_f32_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, within both slices; unaligned loads.
        unsafe {
            acc0 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                acc0,
            );
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i + 8)),
                _mm256_loadu_ps(b.as_ptr().add(i + 8)),
                acc1,
            );
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            acc0 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                acc0,
            );
        }
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma,f16c")]
fn dot_f16_f32_impl(a: &[f16], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    let ap = a.as_ptr().cast::<u16>();
    while i + 16 <= n {
        // SAFETY: i + 16 <= n; f16 is a u16 bit pattern; unaligned loads.
        unsafe {
            let h0 = _mm256_cvtph_ps(_mm_loadu_si128(ap.add(i).cast()));
            let h1 = _mm256_cvtph_ps(_mm_loadu_si128(ap.add(i + 8).cast()));
            acc0 = _mm256_fmadd_ps(h0, _mm256_loadu_ps(b.as_ptr().add(i)), acc0);
            acc1 = _mm256_fmadd_ps(h1, _mm256_loadu_ps(b.as_ptr().add(i + 8)), acc1);
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            let h0 = _mm256_cvtph_ps(_mm_loadu_si128(ap.add(i).cast()));
            acc0 = _mm256_fmadd_ps(h0, _mm256_loadu_ps(b.as_ptr().add(i)), acc0);
        }
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += a[i].to_f32() * b[i];
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma,f16c")]
fn axpy_f16_impl(y: &mut [f32], a: f32, x: &[f16]) {
    let n = x.len().min(y.len());
    let va = _mm256_set1_ps(a);
    let xp = x.as_ptr().cast::<u16>();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        unsafe {
            let h = _mm256_cvtph_ps(_mm_loadu_si128(xp.add(i).cast()));
            let yp = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(yp, _mm256_fmadd_ps(va, h, _mm256_loadu_ps(yp)));
        }
        i += 8;
    }
    while i < n {
        y[i] += a * x[i].to_f32();
        i += 1;
    }
}

#[target_feature(enable = "avx2,fma")]
fn axpy_f32_impl(y: &mut [f32], a: f32, x: &[f32]) {
    let n = x.len().min(y.len());
    let va = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        unsafe {
            let yp = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(
                yp,
                _mm256_fmadd_ps(va, _mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(yp)),
            );
        }
        i += 8;
    }
    while i < n {
        y[i] += a * x[i];
        i += 1;
    }
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only called when the dispatch level is AVX2 (features detected).
    unsafe { dot_f32_impl(a, b) }
}
pub fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    // SAFETY: as above.
    unsafe { dot_f16_f32_impl(a, b) }
}
pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    // SAFETY: as above.
    unsafe { axpy_f16_impl(y, a, x) }
}
pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    // SAFETY: as above.
    unsafe { axpy_f32_impl(y, a, x) }
}
