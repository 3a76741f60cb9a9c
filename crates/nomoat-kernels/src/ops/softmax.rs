//! Numerically stable softmax over one row, in place.

/// `x[i] = exp(x[i] - max) / Σ exp(x[j] - max)`. The sum is accumulated in f64 (as ggml does).
/// An empty row is left alone; a row of all `-inf` becomes all zeros rather than NaN.
pub fn softmax_inplace(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        x.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_naive(n in 1usize..100, amp in 0.1f32..50.0, seed in any::<u64>()) {
            let x = crate::ops::testutil::rand_vec(seed, n, amp);
            let mut y = x.clone();
            softmax_inplace(&mut y);
            let m = x.iter().map(|&v| f64::from(v)).fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = x.iter().map(|&v| (f64::from(v) - m).exp()).sum();
            for (a, &b) in y.iter().zip(&x) {
                let want = (f64::from(b) - m).exp() / z;
                prop_assert!((f64::from(*a) - want).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn all_masked_row_is_zero() {
        let mut x = [f32::NEG_INFINITY; 3];
        softmax_inplace(&mut x);
        assert_eq!(x, [0.0; 3]);
    }
}
