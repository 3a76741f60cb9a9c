//! matmul against a plain f32 reference on dequantized weights, and GEMM == GEMV row by row.

mod common;

use common::{random_acts, random_matrix, Rng, TYPES};
use nomoat_kernels::dispatch::Kernels;
use nomoat_kernels::matmul::matmul_with;
use nomoat_kernels::{dequantize_row, matmul, GgmlType, Matrix, ThreadPool};

fn reference(ty: GgmlType, w: &[u8], n: usize, k: usize, x: &[f32], m: usize) -> Vec<f32> {
    let mut wf = vec![0f32; n * k];
    dequantize_row(ty, w, &mut wf);
    let mut y = vec![0f32; m * n];
    for t in 0..m {
        for r in 0..n {
            y[t * n + r] = (0..k)
                .map(|i| wf[r * k + i] as f64 * x[t * k + i] as f64)
                .sum::<f64>() as f32;
        }
    }
    y
}

/// Relative error bound of activation quantization: 8-bit activations (|err| ≤ amax/254 per
/// element) against weights of magnitude ≤ max|w|: allow a few percent of Σ|w||x|.
#[allow(clippy::too_many_arguments)]
fn check_close(
    ty: GgmlType,
    got: &[f32],
    want: &[f32],
    w: &[u8],
    n: usize,
    k: usize,
    x: &[f32],
    m: usize,
) {
    let mut wf = vec![0f32; n * k];
    dequantize_row(ty, w, &mut wf);
    for t in 0..m {
        for r in 0..n {
            let mag: f32 = (0..k).map(|i| (wf[r * k + i] * x[t * k + i]).abs()).sum();
            let (g, e) = (got[t * n + r], want[t * n + r]);
            let tol = if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
                1e-5
            } else {
                2e-2
            };
            assert!(
                (g - e).abs() <= tol * mag + 1e-6,
                "{ty} t={t} r={r}: got {g}, want {e} (Σ|wx| = {mag})"
            );
        }
    }
}

#[test]
fn matmul_matches_f32_reference_for_every_type() {
    let pool = ThreadPool::new(2);
    let mut rng = Rng(1);
    for ty in TYPES {
        for (n, k, m) in [
            (1, 256, 1),
            (5, 512, 1),
            (7, 256, 3),
            (9, 768, 6),
            (19, 512, 17),
            (8, 256, 33),
            (41, 256, 70),
        ] {
            let w = random_matrix(&mut rng, ty, n, k);
            let x = random_acts(&mut rng, m * k);
            let mat = Matrix::new(ty, n, k, &w).unwrap();
            let mut y = vec![0f32; m * n];
            matmul(&pool, &mat, &x, m, &mut y);
            let want = reference(ty, &w, n, k, &x, m);
            check_close(ty, &y, &want, &w, n, k, &x, m);
        }
    }
}

#[test]
fn gemm_equals_gemv_row_by_row() {
    let pool = ThreadPool::new(3);
    let mut rng = Rng(2);
    let kern = nomoat_kernels::kernels();
    for ty in TYPES {
        // Below the R8 threshold the GEMM runs the same dot kernels as the GEMV: equal bits.
        let (n, k, m) = (13, 512, 9);
        let w = random_matrix(&mut rng, ty, n, k);
        let x = random_acts(&mut rng, m * k);
        let mat = Matrix::new(ty, n, k, &w).unwrap();
        let mut y = vec![0f32; m * n];
        matmul_with(kern, &pool, &mat, &x, m, &mut y);
        for t in 0..m {
            let mut yt = vec![0f32; n];
            matmul_with(kern, &pool, &mat, &x[t * k..(t + 1) * k], 1, &mut yt);
            assert_eq!(&y[t * n..(t + 1) * n], &yt[..], "{ty}: token {t}");
        }
    }
}

#[test]
fn r8_gemm_equals_gemv_row_by_row() {
    // From R8_MIN_TOKENS tokens, types with an R8 layout use the repacking GEMM: same quantized
    // activations, different summation order, so equal within float rounding.
    let pool = ThreadPool::new(2);
    let mut rng = Rng(5);
    let kern = nomoat_kernels::kernels();
    for ty in TYPES {
        let (n, k, m) = (21, 512, nomoat_kernels::matmul::R8_MIN_TOKENS + 3);
        let w = random_matrix(&mut rng, ty, n, k);
        let x = random_acts(&mut rng, m * k);
        let mat = Matrix::new(ty, n, k, &w).unwrap();
        let mut wf = vec![0f32; n * k];
        dequantize_row(ty, &w, &mut wf);
        let mut y = vec![0f32; m * n];
        matmul_with(kern, &pool, &mat, &x, m, &mut y);
        for t in 0..m {
            let mut yt = vec![0f32; n];
            matmul_with(kern, &pool, &mat, &x[t * k..(t + 1) * k], 1, &mut yt);
            for r in 0..n {
                let mag: f32 = (0..k).map(|i| (wf[r * k + i] * x[t * k + i]).abs()).sum();
                let (a, b) = (y[t * n + r], yt[r]);
                assert!(
                    (a - b).abs() <= 1e-5 * mag + 1e-30,
                    "{ty} t={t} r={r}: gemm {a} vs gemv {b}"
                );
            }
        }
    }
}

#[test]
fn scalar_and_detected_tables_agree_on_matmul() {
    let pool = ThreadPool::new(2);
    let mut rng = Rng(3);
    let (s, d) = (Kernels::scalar(), Kernels::detect());
    for ty in TYPES {
        let (n, k, m) = (11, 768, 21);
        let w = random_matrix(&mut rng, ty, n, k);
        let x = random_acts(&mut rng, m * k);
        let mat = Matrix::new(ty, n, k, &w).unwrap();
        let (mut ys, mut yd) = (vec![0f32; m * n], vec![0f32; m * n]);
        matmul_with(&s, &pool, &mat, &x, m, &mut ys);
        matmul_with(&d, &pool, &mat, &x, m, &mut yd);
        for i in 0..m * n {
            assert!(
                (ys[i] - yd[i]).abs() <= 1e-4 * ys[i].abs().max(1.0),
                "{ty} [{i}]: {} vs {}",
                ys[i],
                yd[i]
            );
        }
    }
}

#[test]
fn matrix_new_checks_sizes_and_types() {
    let data = vec![0u8; 144 * 2];
    assert!(Matrix::new(GgmlType::Q4_K, 2, 256, &data).is_ok());
    assert!(Matrix::new(GgmlType::Q4_K, 3, 256, &data).is_err());
    assert!(Matrix::new(GgmlType::Q4_K, 1, 640, &data).is_err());
    assert!(Matrix::new(GgmlType::IQ2_XXS, 1, 256, &data).is_err());
    assert!(Matrix::new(GgmlType::F32, usize::MAX, 2, &data).is_err());
    let e = nomoat_kernels::check_supported(GgmlType::IQ2_XXS, "blk.0.attn_q.weight").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsupported tensor type iq2_xxs in tensor blk.0.attn_q.weight"
    );
}
