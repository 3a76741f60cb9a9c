//! Small vector primitives used by the ops (dot products, `y += a·x`). The kernels are the
//! dispatch table's [`crate::dispatch::VecKernels`] (AVX2+FMA+F16C where the table is SIMD, the
//! scalar references under `NOMOAT_KERNELS=scalar`), so every op and every matmul of a run use the
//! same level; these wrappers check the lengths and call them.

use half::f16;

use crate::dispatch::kernels;

/// `Σ a[i]·b[i]` over `f32`. Panics if the lengths differ.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    (kernels().vec().dot_f32)(a, b)
}

/// `Σ a[i]·b[i]` with `a` in f16 (a KV cache row) and `b` in f32. Panics if the lengths differ.
#[inline]
pub fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    (kernels().vec().dot_f16_f32)(a, b)
}

/// `y[i] += a·x[i]` over `f32`. Panics if the lengths differ.
#[inline]
pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len());
    (kernels().vec().axpy_f32)(y, a, x)
}

/// Four dot products sharing `k`: `[k·q[0], k·q[1], k·q[2], k·q[3]]`, each summed exactly as
/// [`dot_f32`] sums it (so results are bit-identical to four calls), loading `k` once.
#[inline]
pub fn dot4_f32(k: &[f32], q: [&[f32]; 4]) -> [f32; 4] {
    assert!(q.iter().all(|r| r.len() == k.len()));
    (kernels().vec().dot4_f32)(k, q)
}

/// `y += w[0]·x[0]; y += w[1]·x[1]; …` for four rows, each step rounded exactly as
/// [`axpy_f32`] rounds it (bit-identical to four calls), loading and storing `y` once.
#[inline]
pub fn axpy4_f32(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
    assert!(x.iter().all(|r| r.len() == y.len()));
    (kernels().vec().axpy4_f32)(y, w, x)
}

/// `y[i] += a·x[i]` with `x` in f16 (a KV cache row). Panics if the lengths differ.
#[inline]
pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    assert_eq!(y.len(), x.len());
    (kernels().vec().axpy_f16)(y, a, x)
}

/// `y[i] = f16(y[i] + a·x[i])` on an f16 accumulator (llama.cpp's `ggml_vec_mad_f16`: the sum is
/// formed in f32 and rounded to f16 after every call).
#[inline]
pub fn axpy_f16_acc(y: &mut [f16], a: f32, x: &[f16]) {
    assert_eq!(y.len(), x.len());
    (kernels().vec().axpy_f16_acc)(y, a, x)
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

/// Convert f16 → f32 (exact, so any method gives the same bits; F16C via the `half` crate's
/// run-time detection).
#[inline]
pub fn f16_to_f32_slice(src: &[f16], dst: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    src.convert_to_f32_slice(dst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{Kernels, VecKernels};
    use proptest::prelude::*;

    fn scalar() -> VecKernels {
        *Kernels::scalar().vec()
    }

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    proptest! {
        #[test]
        fn dots_match_scalar(v in proptest::collection::vec((-4.0f32..4.0, -4.0f32..4.0), 0..70)) {
            let a: Vec<f32> = v.iter().map(|p| p.0).collect();
            let b: Vec<f32> = v.iter().map(|p| p.1).collect();
            let ah: Vec<f16> = a.iter().map(|&x| f16::from_f32(x)).collect();
            prop_assert!(close(dot_f32(&a, &b), (scalar().dot_f32)(&a, &b), 1e-5));
            prop_assert!(close(dot_f16_f32(&ah, &b), (scalar().dot_f16_f32)(&ah, &b), 1e-5));
        }

        #[test]
        fn axpys_match_scalar(v in proptest::collection::vec((-4.0f32..4.0, -4.0f32..4.0), 0..70), a in -2.0f32..2.0) {
            let x: Vec<f32> = v.iter().map(|p| p.0).collect();
            let y0: Vec<f32> = v.iter().map(|p| p.1).collect();
            let xh: Vec<f16> = x.iter().map(|&e| f16::from_f32(e)).collect();
            let (mut y1, mut y2) = (y0.clone(), y0.clone());
            axpy_f32(&mut y1, a, &x);
            (scalar().axpy_f32)(&mut y2, a, &x);
            for (p, q) in y1.iter().zip(&y2) { prop_assert!(close(*p, *q, 1e-6)); }
            let (mut y1, mut y2) = (y0.clone(), y0);
            axpy_f16(&mut y1, a, &xh);
            (scalar().axpy_f16)(&mut y2, a, &xh);
            for (p, q) in y1.iter().zip(&y2) { prop_assert!(close(*p, *q, 1e-6)); }
            let acc0: Vec<f16> = v.iter().map(|p| f16::from_f32(p.1)).collect();
            let (mut a1, mut a2) = (acc0.clone(), acc0);
            axpy_f16_acc(&mut a1, a, &xh);
            (scalar().axpy_f16_acc)(&mut a2, a, &xh);
            prop_assert_eq!(a1, a2);
        }
    }
}
