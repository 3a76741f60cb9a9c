//! Activations and their gated forms: SiLU, GELU (tanh approximation), SwiGLU, GEGLU.
//!
//! llama.cpp's CPU backend does not evaluate GELU in f32: it rounds the input to f16 and reads a
//! 65,536-entry table of f16 results (`GGML_GELU_FP16`). [`GeluMode::F16Table`] reproduces that
//! exactly (the difference is up to ~1e-3 relative per element, enough to move Gemma's log-probs by
//! a few 1e-4); [`GeluMode::Exact`] is the plain f32 formula.

use half::f16;
use std::sync::OnceLock;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044715;

/// How GELU is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GeluMode {
    /// llama.cpp's f16 lookup: `f16(gelu(f16(x)))` for |x| < 10 (the default: parity first).
    #[default]
    F16Table,
    /// `0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))` in f32.
    Exact,
}

/// `x · sigmoid(x)`.
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation, in f32.
#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh())
}

fn gelu_table() -> &'static [f16] {
    static TABLE: OnceLock<Vec<f16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|b| f16::from_f32(gelu(f16::from_bits(b).to_f32())))
            .collect()
    })
}

#[inline]
fn gelu_mode(x: f32, mode: GeluMode, table: &[f16]) -> f32 {
    match mode {
        GeluMode::Exact => gelu(x),
        GeluMode::F16Table => {
            if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x
            } else {
                table[usize::from(f16::from_f32(x).to_bits())].to_f32()
            }
        }
    }
}

/// `x[i] = silu(x[i])`.
pub fn silu_inplace(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = silu(*v));
}

/// `x[i] = gelu(x[i])`.
pub fn gelu_inplace(x: &mut [f32], mode: GeluMode) {
    let table = gelu_table();
    x.iter_mut().for_each(|v| *v = gelu_mode(*v, mode, table));
}

/// SwiGLU: `out[i] = silu(gate[i]) · up[i]`.
pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(gate.len() == up.len() && out.len() == up.len());
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = silu(g) * u;
    }
}

/// GEGLU: `out[i] = gelu(gate[i]) · up[i]`.
pub fn geglu(gate: &[f32], up: &[f32], out: &mut [f32], mode: GeluMode) {
    assert!(gate.len() == up.len() && out.len() == up.len());
    let table = gelu_table();
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = gelu_mode(g, mode, table) * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gelu_f64(x: f64) -> f64 {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * x * (1.0 + 0.044715 * x * x)).tanh())
    }

    proptest! {
        #[test]
        fn gated_match_naive(n in 1usize..64, seed in any::<u64>()) {
            let g = crate::ops::testutil::rand_vec(seed, n, 12.0);
            let u = crate::ops::testutil::rand_vec(seed ^ 1, n, 2.0);
            let mut out = vec![0.0; n];
            swiglu(&g, &u, &mut out);
            for i in 0..n {
                let x = f64::from(g[i]);
                let want = x / (1.0 + (-x).exp()) * f64::from(u[i]);
                prop_assert!((f64::from(out[i]) - want).abs() < 1e-5 * (1.0 + want.abs()));
            }
            geglu(&g, &u, &mut out, GeluMode::Exact);
            for i in 0..n {
                let want = gelu_f64(f64::from(g[i])) * f64::from(u[i]);
                prop_assert!((f64::from(out[i]) - want).abs() < 1e-5 * (1.0 + want.abs()));
            }
            // The f16 table: input and output each rounded to f16 (relative 2^-11 each).
            geglu(&g, &u, &mut out, GeluMode::F16Table);
            for i in 0..n {
                let want = gelu_f64(f64::from(g[i])) * f64::from(u[i]);
                let slope = 1.2 * f64::from(g[i]).abs() * 2f64.powi(-11);
                prop_assert!((f64::from(out[i]) - want).abs()
                    < (slope + 2f64.powi(-10) * want.abs() + 1e-6) * f64::from(u[i]).abs().max(1.0));
            }
        }
    }

    #[test]
    fn table_reproduces_ggml_rounding() {
        // 0.3 rounds to f16 0.2999267578125; gelu of that, rounded to f16.
        let x = 0.3f32;
        let want = f16::from_f32(gelu(f16::from_f32(x).to_f32())).to_f32();
        let mut v = [x, -11.0, 11.0];
        gelu_inplace(&mut v, GeluMode::F16Table);
        assert_eq!(v, [want, 0.0, 11.0]);
        assert_ne!(want, gelu(x));
    }
}
