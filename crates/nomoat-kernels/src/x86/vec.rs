//! AVX2+FMA+F16C vector helpers of the ops (attention's dot/axpy; scalar references in
//! `crate::scalar::vec`). The safe wrappers at the end are what the dispatch table installs, only
//! after `avx2_available()` returned true.

use std::arch::x86_64::*;

use half::f16;

use super::common::hsum;

/// Loads 8 f16 values at `p` as f32.
///
/// # Safety
/// `p` must point at 8 readable `f16` values (16 bytes); the CPU must have F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_f16x8(p: *const f16) -> __m256 {
    // SAFETY: the caller guarantees 16 readable bytes; unaligned load.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
}

/// # Safety
/// CPU has AVX2+FMA+F16C; `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f32_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n for both slices (equal lengths).
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
        }
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

/// # Safety
/// CPU has AVX2+FMA+F16C; every `q[r].len() == k.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot4_f32_impl(k: &[f32], q: [&[f32]; 4]) -> [f32; 4] {
    let n = k.len();
    let pk = k.as_ptr();
    let pq = q.map(<[f32]>::as_ptr);
    let mut acc0 = [_mm256_setzero_ps(); 4];
    let mut acc1 = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n for every slice (equal lengths).
        unsafe {
            let (k0, k1) = (_mm256_loadu_ps(pk.add(i)), _mm256_loadu_ps(pk.add(i + 8)));
            for r in 0..4 {
                acc0[r] = _mm256_fmadd_ps(k0, _mm256_loadu_ps(pq[r].add(i)), acc0[r]);
                acc1[r] = _mm256_fmadd_ps(k1, _mm256_loadu_ps(pq[r].add(i + 8)), acc1[r]);
            }
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            let k0 = _mm256_loadu_ps(pk.add(i));
            for r in 0..4 {
                acc0[r] = _mm256_fmadd_ps(k0, _mm256_loadu_ps(pq[r].add(i)), acc0[r]);
            }
        }
        i += 8;
    }
    std::array::from_fn(|r| {
        let mut s = hsum(_mm256_add_ps(acc0[r], acc1[r]));
        for j in i..n {
            s += k[j] * q[r][j];
        }
        s
    })
}

/// # Safety
/// CPU has AVX2+FMA+F16C; every `x[r].len() == y.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy4_f32_impl(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
    let n = y.len();
    let py = y.as_mut_ptr();
    let px = x.map(<[f32]>::as_ptr);
    let vw = w.map(|v| _mm256_set1_ps(v));
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for every slice (equal lengths).
        unsafe {
            let mut r = _mm256_loadu_ps(py.add(i));
            for j in 0..4 {
                r = _mm256_fmadd_ps(vw[j], _mm256_loadu_ps(px[j].add(i)), r);
            }
            _mm256_storeu_ps(py.add(i), r);
        }
        i += 8;
    }
    for j in 0..4 {
        for e in i..n {
            y[e] += w[j] * x[j][e];
        }
    }
}

/// # Safety
/// CPU has AVX2+FMA+F16C; `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_f32_impl(a: &[f16], b: &[f32]) -> f32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n for both slices (equal lengths).
        unsafe {
            acc0 = _mm256_fmadd_ps(load_f16x8(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                load_f16x8(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            acc0 = _mm256_fmadd_ps(load_f16x8(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
        }
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    for j in i..n {
        s += a[j].to_f32() * b[j];
    }
    s
}

/// # Safety
/// CPU has AVX2+FMA+F16C; `y.len() == x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_f32_impl(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len();
    let (py, px) = (y.as_mut_ptr(), x.as_ptr());
    let va = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices (equal lengths).
        unsafe {
            let r = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
            _mm256_storeu_ps(py.add(i), r);
        }
        i += 8;
    }
    for j in i..n {
        y[j] += a * x[j];
    }
}

/// # Safety
/// CPU has AVX2+FMA+F16C; `y.len() == x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_f16_acc_impl(y: &mut [f16], a: f32, x: &[f16]) {
    let n = y.len();
    let (py, px) = (y.as_mut_ptr(), x.as_ptr());
    let va = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices (equal lengths); 16-byte unaligned loads/stores.
        unsafe {
            let r = _mm256_fmadd_ps(load_f16x8(px.add(i)), va, load_f16x8(py.add(i)));
            _mm_storeu_si128(
                py.add(i).cast(),
                _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(r),
            );
        }
        i += 8;
    }
    for j in i..n {
        y[j] = f16::from_f32(x[j].to_f32().mul_add(a, y[j].to_f32()));
    }
}

/// # Safety
/// CPU has AVX2+FMA+F16C; `y.len() == x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_f16_impl(y: &mut [f32], a: f32, x: &[f16]) {
    let n = y.len();
    let (py, px) = (y.as_mut_ptr(), x.as_ptr());
    let va = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices (equal lengths).
        unsafe {
            let r = _mm256_fmadd_ps(va, load_f16x8(px.add(i)), _mm256_loadu_ps(py.add(i)));
            _mm256_storeu_ps(py.add(i), r);
        }
        i += 8;
    }
    for j in i..n {
        y[j] += a * x[j].to_f32();
    }
}

// Safe entry points for the dispatch table: each checks the lengths the `_impl` contract needs.

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { dot_f32_impl(a, b) }
}

pub(crate) fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { dot_f16_f32_impl(a, b) }
}

pub(crate) fn dot4_f32(k: &[f32], q: [&[f32]; 4]) -> [f32; 4] {
    assert!(q.iter().all(|r| r.len() == k.len()));
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { dot4_f32_impl(k, q) }
}

pub(crate) fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len());
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { axpy_f32_impl(y, a, x) }
}

pub(crate) fn axpy4_f32(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
    assert!(x.iter().all(|r| r.len() == y.len()));
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { axpy4_f32_impl(y, w, x) }
}

pub(crate) fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    assert_eq!(y.len(), x.len());
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { axpy_f16_impl(y, a, x) }
}

pub(crate) fn axpy_f16_acc(y: &mut [f16], a: f32, x: &[f16]) {
    assert_eq!(y.len(), x.len());
    // SAFETY: lengths equal; installed only when AVX2+FMA+F16C are present.
    unsafe { axpy_f16_acc_impl(y, a, x) }
}
