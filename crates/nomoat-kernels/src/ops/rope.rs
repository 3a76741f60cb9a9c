//! Rotary position embeddings.
//!
//! Two orderings: [`RopeMode::Norm`] rotates adjacent pairs `(x[2i], x[2i+1])` (LLaMA), and
//! [`RopeMode::Neox`] rotates `(x[i], x[i + n_rot/2])` (Qwen, Gemma). Only the first `n_rot` dims of
//! each head rotate; the rest pass through. Angles are computed exactly as ggml computes them
//! (`theta = pos · base^(-2i/n_rot)` built by repeated f32 multiplication, then `/ freq_factor[i]`
//! and `· freq_scale`) so positions far into the context round the same way as llama.cpp.

/// Pair ordering of the rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeMode {
    /// Adjacent pairs (llama.cpp `LLAMA_ROPE_TYPE_NORM`).
    Norm,
    /// Element i with i + n_rot/2 (llama.cpp `LLAMA_ROPE_TYPE_NEOX`).
    Neox,
}

/// Everything needed to rotate one head.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeParams {
    /// Number of rotated dims per head (even, ≤ head dim).
    pub n_rot: usize,
    pub mode: RopeMode,
    /// `rope.freq_base` (10000 by default).
    pub freq_base: f32,
    /// Linear position scaling: 1 / `rope.scaling.factor` for `linear`, else 1.
    pub freq_scale: f32,
    /// Per-pair frequency divisors (`n_rot / 2` of them): Llama-3 scaling (`rope_freqs.weight` or
    /// computed by [`llama3_freq_factors`]). `None` = all 1.
    pub freq_factors: Option<Vec<f32>>,
}

/// Llama-3.1 frequency factors (the same formula llama.cpp's converter writes into
/// `rope_freqs.weight`): long wavelengths are divided by `factor`, short ones kept, and the band in
/// between interpolated smoothly.
pub fn llama3_freq_factors(
    n_rot: usize,
    base: f32,
    factor: f32,
    low_freq_factor: f32,
    high_freq_factor: f32,
    original_ctx: f32,
) -> Vec<f32> {
    let low_wavelen = f64::from(original_ctx) / f64::from(low_freq_factor);
    let high_wavelen = f64::from(original_ctx) / f64::from(high_freq_factor);
    (0..n_rot / 2)
        .map(|i| {
            let freq = 1.0 / f64::from(base).powf((2 * i) as f64 / n_rot as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (f64::from(original_ctx) / wavelen - f64::from(low_freq_factor))
                    / f64::from(high_freq_factor - low_freq_factor);
                (1.0 / ((1.0 - smooth) / f64::from(factor) + smooth)) as f32
            }
        })
        .collect()
}

/// Writes `(cos θ_i, sin θ_i)` for `i < n_rot/2` at position `pos` into `cache` (length `n_rot`,
/// interleaved cos, sin). Compute once per token and reuse for every head and layer sharing `p`.
pub fn rope_cache(p: &RopeParams, pos: u32, cache: &mut [f32]) {
    assert!(p.n_rot.is_multiple_of(2) && cache.len() == p.n_rot);
    let theta_scale = p.freq_base.powf(-2.0 / p.n_rot as f32);
    let mut theta = pos as f32;
    for (i, cs) in cache.chunks_exact_mut(2).enumerate() {
        let ff = p.freq_factors.as_ref().map_or(1.0, |f| f[i]);
        let t = p.freq_scale * (theta / ff);
        cs[0] = t.cos();
        cs[1] = t.sin();
        theta *= theta_scale;
    }
}

/// Rotates every head of `x` (n_heads × head_dim) in place with a cache from [`rope_cache`].
pub fn rope_apply(x: &mut [f32], head_dim: usize, cache: &[f32], mode: RopeMode) {
    let n_rot = cache.len();
    assert!(n_rot <= head_dim && n_rot.is_multiple_of(2) && x.len().is_multiple_of(head_dim));
    let half = n_rot / 2;
    for h in x.chunks_exact_mut(head_dim) {
        match mode {
            RopeMode::Norm => {
                for (pair, cs) in h[..n_rot].chunks_exact_mut(2).zip(cache.chunks_exact(2)) {
                    let (x0, x1) = (pair[0], pair[1]);
                    pair[0] = x0 * cs[0] - x1 * cs[1];
                    pair[1] = x0 * cs[1] + x1 * cs[0];
                }
            }
            RopeMode::Neox => {
                let (a, b) = h[..n_rot].split_at_mut(half);
                for ((x0, x1), cs) in a.iter_mut().zip(b.iter_mut()).zip(cache.chunks_exact(2)) {
                    let (v0, v1) = (*x0, *x1);
                    *x0 = v0 * cs[0] - v1 * cs[1];
                    *x1 = v0 * cs[1] + v1 * cs[0];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Straightforward f64 rotation from the definition.
    fn naive(x: &[f32], head_dim: usize, p: &RopeParams, pos: u32) -> Vec<f64> {
        let mut out: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let half = p.n_rot / 2;
        for h in out.chunks_mut(head_dim) {
            let orig = h.to_vec();
            for i in 0..half {
                let ff = p.freq_factors.as_ref().map_or(1.0, |f| f64::from(f[i]));
                let theta = f64::from(p.freq_scale)
                    * f64::from(pos)
                    * f64::from(p.freq_base).powf(-2.0 * i as f64 / p.n_rot as f64)
                    / ff;
                let (a, b) = match p.mode {
                    RopeMode::Norm => (2 * i, 2 * i + 1),
                    RopeMode::Neox => (i, i + half),
                };
                h[a] = orig[a] * theta.cos() - orig[b] * theta.sin();
                h[b] = orig[a] * theta.sin() + orig[b] * theta.cos();
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_naive(half_rot in 1usize..20, extra in 0usize..6, heads in 1usize..4,
                         pos in 0u32..300, neox in any::<bool>(), scaled in any::<bool>(), seed in any::<u64>()) {
            let n_rot = 2 * half_rot;
            let head_dim = n_rot + 2 * extra;
            let freq_factors = scaled.then(|| llama3_freq_factors(n_rot, 10000.0, 8.0, 1.0, 4.0, 64.0));
            let p = RopeParams {
                n_rot,
                mode: if neox { RopeMode::Neox } else { RopeMode::Norm },
                freq_base: 10000.0,
                freq_scale: if scaled { 0.5 } else { 1.0 },
                freq_factors,
            };
            let x = crate::ops::testutil::rand_vec(seed, heads * head_dim, 2.0);
            let mut cache = vec![0.0; n_rot];
            rope_cache(&p, pos, &mut cache);
            let mut y = x.clone();
            rope_apply(&mut y, head_dim, &cache, p.mode);
            let want = naive(&x, head_dim, &p, pos);
            // f32 angles of up to ~300 rad: ggml's own rounding is ~1e-4 there.
            for (a, b) in y.iter().zip(&want) {
                prop_assert!((f64::from(*a) - b).abs() < 2e-4 * (1.0 + f64::from(pos) / 100.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn llama3_factors_bands() {
        let f = llama3_freq_factors(128, 500000.0, 8.0, 1.0, 4.0, 8192.0);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[63], 8.0);
        assert!(f.windows(2).all(|w| w[1] >= w[0]));
        assert!(f.iter().any(|&v| v > 1.0 && v < 8.0));
    }
}
