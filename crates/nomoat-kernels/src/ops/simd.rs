//! Small vector primitives used by the ops (dot products, `y += a·x`), with an AVX2+FMA+F16C path
//! chosen at run time and a scalar path that is the reference. `NOMOAT_KERNELS=scalar` forces the
//! scalar path.

use half::f16;
use std::sync::OnceLock;

/// Whether the AVX2 + FMA + F16C paths may be used (detected once; `NOMOAT_KERNELS=scalar` disables).
#[inline]
pub fn use_avx2() -> bool {
    static LEVEL: OnceLock<bool> = OnceLock::new();
    *LEVEL.get_or_init(detect_avx2)
}

fn detect_avx2() -> bool {
    if std::env::var("NOMOAT_KERNELS").is_ok_and(|v| v.eq_ignore_ascii_case("scalar")) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `Σ a[i]·b[i]` over `f32`. Panics if the lengths differ.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::dot_f32(a, b) };
    }
    scalar::dot_f32(a, b)
}

/// `Σ a[i]·b[i]` with `a` in f16 (a KV cache row) and `b` in f32. Panics if the lengths differ.
#[inline]
pub fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::dot_f16_f32(a, b) };
    }
    scalar::dot_f16_f32(a, b)
}

/// `y[i] += a·x[i]` over `f32`. Panics if the lengths differ.
#[inline]
pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::axpy_f32(y, a, x) };
    }
    scalar::axpy_f32(y, a, x)
}

/// Four dot products sharing `k`: `[k·q[0], k·q[1], k·q[2], k·q[3]]`, each summed exactly as
/// [`dot_f32`] sums it (so results are bit-identical to four calls), loading `k` once.
#[inline]
pub fn dot4_f32(k: &[f32], q: [&[f32]; 4]) -> [f32; 4] {
    assert!(q.iter().all(|r| r.len() == k.len()));
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::dot4_f32(k, q) };
    }
    q.map(|r| scalar::dot_f32(k, r))
}

/// `y += w[0]·x[0]; y += w[1]·x[1]; …` for four rows, each step rounded exactly as
/// [`axpy_f32`] rounds it (bit-identical to four calls), loading and storing `y` once.
#[inline]
pub fn axpy4_f32(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
    assert!(x.iter().all(|r| r.len() == y.len()));
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::axpy4_f32(y, w, x) };
    }
    for (a, r) in w.into_iter().zip(x) {
        scalar::axpy_f32(y, a, r);
    }
}

/// `y[i] += a·x[i]` with `x` in f16 (a KV cache row). Panics if the lengths differ.
#[inline]
pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    assert_eq!(y.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::axpy_f16(y, a, x) };
    }
    scalar::axpy_f16(y, a, x)
}

/// `y[i] = f16(y[i] + a·x[i])` on an f16 accumulator (llama.cpp's `ggml_vec_mad_f16`: the sum is
/// formed in f32 and rounded to f16 after every call).
#[inline]
pub fn axpy_f16_acc(y: &mut [f16], a: f32, x: &[f16]) {
    assert_eq!(y.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2, FMA and F16C were detected at run time; lengths are equal.
        return unsafe { avx2::axpy_f16_acc(y, a, x) };
    }
    scalar::axpy_f16_acc(y, a, x)
}

/// `y[i] = f16(y[i]·a)` on an f16 accumulator (`ggml_vec_scale_f16`).
#[inline]
pub fn scale_f16(y: &mut [f16], a: f32) {
    for v in y {
        *v = f16::from_f32(v.to_f32() * a);
    }
}

/// `y[i] *= a`.
#[inline]
pub fn scale_f32(y: &mut [f32], a: f32) {
    for v in y {
        *v *= a;
    }
}

/// Scalar references (also the fallback on CPUs without AVX2).
pub mod scalar {
    use half::f16;

    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    pub fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x.to_f32() * y).sum()
    }

    pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi;
        }
    }

    pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi.to_f32();
        }
    }

    pub fn axpy_f16_acc(y: &mut [f16], a: f32, x: &[f16]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi = f16::from_f32(xi.to_f32().mul_add(a, yi.to_f32()));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use half::f16;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }

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
    pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n for both slices (equal lengths).
            unsafe {
                acc0 =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
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
                acc0 =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
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
    pub unsafe fn dot4_f32(k: &[f32], q: [&[f32]; 4]) -> [f32; 4] {
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
    pub unsafe fn axpy4_f32(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
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
    pub unsafe fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
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
    pub unsafe fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
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
    pub unsafe fn axpy_f16_acc(y: &mut [f16], a: f32, x: &[f16]) {
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
    pub unsafe fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    proptest! {
        #[test]
        fn dots_match_scalar(v in proptest::collection::vec((-4.0f32..4.0, -4.0f32..4.0), 0..70)) {
            let a: Vec<f32> = v.iter().map(|p| p.0).collect();
            let b: Vec<f32> = v.iter().map(|p| p.1).collect();
            let ah: Vec<f16> = a.iter().map(|&x| f16::from_f32(x)).collect();
            prop_assert!(close(dot_f32(&a, &b), scalar::dot_f32(&a, &b), 1e-5));
            prop_assert!(close(dot_f16_f32(&ah, &b), scalar::dot_f16_f32(&ah, &b), 1e-5));
        }

        #[test]
        fn axpys_match_scalar(v in proptest::collection::vec((-4.0f32..4.0, -4.0f32..4.0), 0..70), a in -2.0f32..2.0) {
            let x: Vec<f32> = v.iter().map(|p| p.0).collect();
            let y0: Vec<f32> = v.iter().map(|p| p.1).collect();
            let xh: Vec<f16> = x.iter().map(|&e| f16::from_f32(e)).collect();
            let (mut y1, mut y2) = (y0.clone(), y0.clone());
            axpy_f32(&mut y1, a, &x);
            scalar::axpy_f32(&mut y2, a, &x);
            for (p, q) in y1.iter().zip(&y2) { prop_assert!(close(*p, *q, 1e-6)); }
            let (mut y1, mut y2) = (y0.clone(), y0);
            axpy_f16(&mut y1, a, &xh);
            scalar::axpy_f16(&mut y2, a, &xh);
            for (p, q) in y1.iter().zip(&y2) { prop_assert!(close(*p, *q, 1e-6)); }
            let acc0: Vec<f16> = v.iter().map(|p| f16::from_f32(p.1)).collect();
            let (mut a1, mut a2) = (acc0.clone(), acc0);
            axpy_f16_acc(&mut a1, a, &xh);
            scalar::axpy_f16_acc(&mut a2, a, &xh);
            prop_assert_eq!(a1, a2);
        }
    }
}
