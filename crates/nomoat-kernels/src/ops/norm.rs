//! RMSNorm: `y = x / sqrt(mean(x²) + eps) · w`, row by row.
//!
//! The sum of squares is accumulated in f64 (as ggml does), the scale is applied in f32 and the weight
//! multiplies afterwards, in the same order as llama.cpp's `rms_norm` + `mul`, so results agree to the
//! last bit or two.

/// `1 / sqrt(mean(x²) + eps)` for one row.
#[inline]
fn inv_rms(x: &[f32], eps: f32) -> f32 {
    let sum: f64 = x.iter().map(|&v| f64::from(v * v)).sum();
    let mean = (sum / x.len() as f64) as f32;
    1.0 / (mean + eps).sqrt()
}

/// `x`: n_rows × n (n = `w.len()`), `out`: the same shape.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let n = w.len();
    assert!(n > 0 && x.len().is_multiple_of(n) && out.len() == x.len());
    for (xr, yr) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let s = inv_rms(xr, eps);
        for ((y, &xv), &wv) in yr.iter_mut().zip(xr).zip(w) {
            *y = (xv * s) * wv;
        }
    }
}

/// In-place [`rms_norm`]: `x` is n_rows × `w.len()`. Also used per head for Q/K norms (rows = heads).
pub fn rms_norm_inplace(x: &mut [f32], w: &[f32], eps: f32) {
    let n = w.len();
    assert!(n > 0 && x.len().is_multiple_of(n));
    for xr in x.chunks_exact_mut(n) {
        let s = inv_rms(xr, eps);
        for (v, &wv) in xr.iter_mut().zip(w) {
            *v = (*v * s) * wv;
        }
    }
}

/// RMSNorm without a weight over rows of length `n`, in place.
pub fn rms_norm_plain(x: &mut [f32], n: usize, eps: f32) {
    assert!(n > 0 && x.len().is_multiple_of(n));
    for xr in x.chunks_exact_mut(n) {
        let s = inv_rms(xr, eps);
        for v in xr.iter_mut() {
            *v *= s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(x: &[f32], w: &[f32], eps: f64) -> Vec<f64> {
        let n = w.len();
        x.chunks(n)
            .flat_map(|r| {
                let ms = r.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / n as f64;
                let s = 1.0 / (ms + eps).sqrt();
                r.iter()
                    .zip(w)
                    .map(move |(&v, &wv)| f64::from(v) * s * f64::from(wv))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_naive(n in 1usize..80, rows in 1usize..4, seed in any::<u64>()) {
            let x = crate::ops::testutil::rand_vec(seed, n * rows, 3.0);
            let w = crate::ops::testutil::rand_vec(seed ^ 7, n, 1.5);
            let want = naive(&x, &w, 1e-6);
            let mut out = vec![0.0; x.len()];
            rms_norm(&x, &w, 1e-6, &mut out);
            let mut inpl = x.clone();
            rms_norm_inplace(&mut inpl, &w, 1e-6);
            for i in 0..x.len() {
                prop_assert!((f64::from(out[i]) - want[i]).abs() < 1e-5 * (1.0 + want[i].abs()));
                prop_assert_eq!(out[i], inpl[i]);
            }
            let ones = vec![1.0f32; n];
            let want = naive(&x, &ones, 1e-6);
            let mut plain = x.clone();
            rms_norm_plain(&mut plain, n, 1e-6);
            for i in 0..x.len() {
                prop_assert!((f64::from(plain[i]) - want[i]).abs() < 1e-5 * (1.0 + want[i].abs()));
            }
        }
    }
}
