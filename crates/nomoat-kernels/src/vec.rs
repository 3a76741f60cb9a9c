//! Small f32/f16 vector helpers for the other ops (norms, attention), SIMD when the CPU allows
//! (AVX2+FMA+F16C, chosen at run time; `NOMOAT_KERNELS=scalar` forces the scalar versions).

use half::f16;

use crate::dispatch::{kernels, Level};

#[inline]
fn simd() -> bool {
    kernels().level == Level::Avx2
}

/// `Σ a[i]·b[i]`.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        return crate::x86::vec::dot_f32(a, b);
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `Σ a[i]·b[i]` with `a` in f16.
pub fn dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        return crate::x86::vec::dot_f16_f32(a, b);
    }
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y).sum()
}

/// `y[i] += a·x[i]` with `x` in f16.
pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    assert_eq!(x.len(), y.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        return crate::x86::vec::axpy_f16(y, a, x);
    }
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x.to_f32();
    }
}

/// `y[i] += a·x[i]`.
pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(x.len(), y.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        return crate::x86::vec::axpy_f32(y, a, x);
    }
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `x[i] *= a`.
pub fn scale(x: &mut [f32], a: f32) {
    for v in x {
        *v *= a;
    }
}

/// Convert f32 → f16 (round to nearest even); F16C via the `half` crate's run-time detection.
pub fn f32_to_f16_slice(src: &[f32], dst: &mut [f16]) {
    use half::slice::HalfFloatSliceExt;
    dst.convert_from_f32_slice(src);
}

/// Convert f16 → f32 (exact); F16C via the `half` crate's run-time detection.
pub fn f16_to_f32_slice(src: &[f16], dst: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    src.convert_to_f32_slice(dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_plain_loops() {
        for n in [0usize, 1, 7, 8, 9, 31, 33, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let h: Vec<f16> = a.iter().map(|&v| f16::from_f32(v)).collect();
            let r: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot_f32(&a, &b) - r).abs() < 1e-4);
            let rh: f32 = h.iter().zip(&b).map(|(x, y)| x.to_f32() * y).sum();
            assert!((dot_f16_f32(&h, &b) - rh).abs() < 1e-4);
            let mut y1 = b.clone();
            axpy_f16(&mut y1, 0.5, &h);
            let mut y2 = b.clone();
            axpy_f32(&mut y2, 0.5, &a);
            for i in 0..n {
                assert!((y1[i] - (b[i] + 0.5 * h[i].to_f32())).abs() < 1e-6);
                assert!((y2[i] - (b[i] + 0.5 * a[i])).abs() < 1e-6);
            }
            let mut hh = vec![f16::ZERO; n];
            f32_to_f16_slice(&a, &mut hh);
            assert_eq!(hh, h);
            let mut back = vec![0.0; n];
            f16_to_f32_slice(&hh, &mut back);
            for i in 0..n {
                assert_eq!(back[i], h[i].to_f32());
            }
        }
    }
}
