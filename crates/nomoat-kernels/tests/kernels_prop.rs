//! Property tests: every SIMD kernel in the detected table equals the scalar reference on random
//! data at awkward sizes (1 row, odd counts, K = one block, odd token counts and strides), the
//! integer parts exactly and the float sums within a tight bound relative to Σ|w·a|.

mod common;

use common::{random_acts, random_matrix, random_row, Rng, TYPES};
use nomoat_kernels::dispatch::{ActFormat, Kernels, MAX_COLS};
use nomoat_kernels::matmul::matmul_with;
use nomoat_kernels::quant::{cast_blocks, BlockQ8K};
use nomoat_kernels::{dequantize_row, GgmlType, Matrix, ThreadPool};
use proptest::prelude::*;

fn dequant_act(act: ActFormat, bytes: &[u8], k: usize) -> Vec<f32> {
    let mut out = vec![0f32; k];
    match act {
        ActFormat::F32 => dequantize_row(GgmlType::F32, bytes, &mut out),
        ActFormat::Q8_0 => dequantize_row(GgmlType::Q8_0, bytes, &mut out),
        ActFormat::Q8_1 => dequantize_row(GgmlType::Q8_1, bytes, &mut out),
        ActFormat::Q8K => {
            for (b, o) in cast_blocks::<BlockQ8K>(bytes)
                .iter()
                .zip(out.chunks_exact_mut(256))
            {
                b.dequantize(o);
            }
        }
    }
    out
}

fn check_kernel(ty: GgmlType, seed: u64, nblocks: usize, ntok: usize, pad: usize) {
    let (s, d) = (Kernels::scalar(), Kernels::detect());
    let (ks, kd) = (s.dot(ty).unwrap(), d.dot(ty).unwrap());
    assert_eq!(ks.act, kd.act);
    let mut rng = Rng(seed);
    let k = nblocks * ty.block_size() as usize;
    let w = random_row(&mut rng, ty, k);
    let row = ks.act.row_bytes(k);
    let stride = row + pad;
    let mut a = vec![0u8; stride * ntok];
    let mut xs = Vec::new();
    for t in 0..ntok {
        let x = random_acts(&mut rng, k);
        s.quantize(ks.act, &x, &mut a[t * stride..t * stride + row]);
        xs.push(dequant_act(ks.act, &a[t * stride..t * stride + row], k));
    }
    let mut wf = vec![0f32; k];
    dequantize_row(ty, &w, &mut wf);
    let (mut os, mut od) = (vec![0f32; ntok], vec![0f32; ntok]);
    (ks.f)(&w, &a, stride, &mut os);
    (kd.f)(&w, &a, stride, &mut od);
    for t in 0..ntok {
        let mag: f32 = wf.iter().zip(&xs[t]).map(|(p, q)| (p * q).abs()).sum();
        let tol = 2e-6 * mag + 1e-30;
        assert!(
            (os[t] - od[t]).abs() <= tol,
            "{ty} ({}): K={k} token {t}/{ntok}: scalar {} vs simd {} (Σ|wa| {mag})",
            kd.name,
            os[t],
            od[t]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn simd_dot_equals_scalar(
        ti in 0..TYPES.len(),
        seed in any::<u64>(),
        nblocks in prop_oneof![Just(1usize), 2usize..12],
        ntok in 1..=MAX_COLS,
        pad in prop_oneof![Just(0usize), 1usize..40],
    ) {
        let ty = TYPES[ti];
        // Float types: blocks of one element; use an odd element count around the 8-lane tile.
        let nblocks = if ty.block_size() == 1 { nblocks * 8 + seed as usize % 8 } else { nblocks };
        check_kernel(ty, seed, nblocks, ntok, pad);
    }

    #[test]
    fn simd_matmul_equals_scalar(
        ti in 0..TYPES.len(),
        seed in any::<u64>(),
        n in 1usize..14,
        nblocks in 1usize..4,
        m in prop_oneof![1usize..10, 14usize..40],
        threads in 1usize..4,
    ) {
        let ty = TYPES[ti];
        let k = nblocks * 256;
        let mut rng = Rng(seed);
        let w = random_matrix(&mut rng, ty, n, k);
        let x = random_acts(&mut rng, m * k);
        let mat = Matrix::new(ty, n, k, &w).unwrap();
        let pool = ThreadPool::new(threads);
        let (mut ys, mut yd) = (vec![0f32; m * n], vec![0f32; m * n]);
        matmul_with(&Kernels::scalar(), &pool, &mat, &x, m, &mut ys);
        matmul_with(&Kernels::detect(), &pool, &mat, &x, m, &mut yd);
        let mut wf = vec![0f32; n * k];
        dequantize_row(ty, &w, &mut wf);
        for t in 0..m {
            for r in 0..n {
                let mag: f32 = (0..k).map(|i| (wf[r * k + i] * x[t * k + i]).abs()).sum();
                let (a, b) = (ys[t * n + r], yd[t * n + r]);
                prop_assert!((a - b).abs() <= 1e-5 * mag + 1e-30, "{} t={} r={}: {} vs {}", ty, t, r, a, b);
            }
        }
    }

    #[test]
    fn rows4_gemv_equals_scalar(ti in 0..4usize, seed in any::<u64>(), nblocks in 1usize..30) {
        let ty = [GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::IQ4_NL][ti];
        let (s, d) = (Kernels::scalar(), Kernels::detect());
        let Some(rows4) = d.rows4(ty) else { return Ok(()) };
        let mut rng = Rng(seed);
        let k = nblocks * 32;
        let rows: Vec<Vec<u8>> = (0..4).map(|_| random_row(&mut rng, ty, k)).collect();
        let x = random_acts(&mut rng, k);
        let mut a = vec![0u8; ActFormat::Q8_0.row_bytes(k)];
        s.quantize(ActFormat::Q8_0, &x, &mut a);
        let xa = dequant_act(ActFormat::Q8_0, &a, k);
        let mut o4 = [0f32; 4];
        rows4([&rows[0], &rows[1], &rows[2], &rows[3]], &a, &mut o4);
        for r in 0..4 {
            let mut o = [0f32; 1];
            (s.dot(ty).unwrap().f)(&rows[r], &a, 0, &mut o);
            let mut wf = vec![0f32; k];
            dequantize_row(ty, &rows[r], &mut wf);
            let mag: f32 = wf.iter().zip(&xa).map(|(p, q)| (p * q).abs()).sum();
            prop_assert!((o[0] - o4[r]).abs() <= 2e-6 * mag + 1e-30, "{} row {}: {} vs {}", ty, r, o[0], o4[r]);
        }
    }

    #[test]
    fn q8_0_roundtrip_error_within_half_step(seed in any::<u64>(), nb in 1usize..6) {
        let mut rng = Rng(seed);
        let x = random_acts(&mut rng, nb * 32);
        let k = Kernels::detect();
        let mut q = vec![0u8; ActFormat::Q8_0.row_bytes(x.len())];
        k.quantize(ActFormat::Q8_0, &x, &mut q);
        let back = dequant_act(ActFormat::Q8_0, &q, x.len());
        for (c, (xc, bc)) in x.chunks(32).zip(back.chunks(32)).enumerate() {
            let amax = xc.iter().fold(0f32, |m, v| m.max(v.abs()));
            // Step d = amax/127 (rounded to f16, relative error ≤ 2⁻¹¹): error ≤ d/2 + |q|·d·2⁻¹¹.
            let bound = amax / 127.0 * 0.5 + amax * 2f32.powi(-10) + 1e-7;
            for (a, b) in xc.iter().zip(bc) {
                prop_assert!((a - b).abs() <= bound, "block {}: {} vs {} (bound {})", c, a, b, bound);
            }
        }
    }

    #[test]
    fn q8_k_roundtrip_error_within_half_step(seed in any::<u64>(), nb in 1usize..4) {
        let mut rng = Rng(seed);
        let x = random_acts(&mut rng, nb * 256);
        let k = Kernels::detect();
        let mut q = vec![0u8; ActFormat::Q8K.row_bytes(x.len())];
        k.quantize(ActFormat::Q8K, &x, &mut q);
        let blocks = cast_blocks::<BlockQ8K>(&q);
        let back = dequant_act(ActFormat::Q8K, &q, x.len());
        for (bi, (xc, bc)) in x.chunks(256).zip(back.chunks(256)).enumerate() {
            let amax = xc.iter().fold(0f32, |m, v| m.max(v.abs()));
            let bound = amax / 127.0 * 0.5 * (1.0 + 1e-5) + 1e-7;
            for (a, b) in xc.iter().zip(bc) {
                prop_assert!((a - b).abs() <= bound, "block {}: {} vs {}", bi, a, b);
            }
            for s in 0..16 {
                let sum: i32 = (0..16).map(|i| blocks[bi].q(16 * s + i)).sum();
                prop_assert_eq!(sum, blocks[bi].bsum(s));
            }
        }
    }

    #[test]
    fn simd_quantize_equals_scalar_bytes(
        fmt in 0..2usize,
        seed in any::<u64>(),
        nb in 1usize..4,
        zero_block in any::<bool>(),
        ties in any::<bool>(),
    ) {
        let act = [ActFormat::Q8_0, ActFormat::Q8K][fmt];
        let bs = act.block_size();
        let mut rng = Rng(seed);
        let mut x = random_acts(&mut rng, nb * bs);
        if ties {
            // Values on half steps (x·127/amax = n + 0.5) exercise round-half-to-even.
            for (i, v) in x.iter_mut().enumerate() {
                *v = (i % 9) as f32 * 0.5 - 2.0;
            }
            x[bs - 1] = 127.0 / 2.0 * if seed % 2 == 0 { 1.0 } else { -1.0 };
        }
        if zero_block {
            x[..bs].fill(0.0);
        }
        let (s, d) = (Kernels::scalar(), Kernels::detect());
        let mut qs = vec![0u8; act.row_bytes(x.len())];
        let mut qd = vec![0xAAu8; act.row_bytes(x.len())];
        s.quantize(act, &x, &mut qs);
        d.quantize(act, &x, &mut qd);
        prop_assert_eq!(qs, qd);
    }

    #[test]
    fn parallel_for_covers_each_index_once(threads in 1usize..5, n in 0usize..3000, chunk in 1usize..300) {
        use std::sync::atomic::{AtomicU8, Ordering};
        let pool = ThreadPool::new(threads);
        for _ in 0..4 {
            let hits: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
            pool.parallel_for(n, chunk, |r| {
                assert!(r.end - r.start <= chunk);
                for i in r {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            prop_assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }
}

#[test]
fn every_supported_type_has_a_simd_kernel_where_available() {
    let d = Kernels::detect();
    if d.level == nomoat_kernels::dispatch::Level::Scalar {
        return;
    }
    for ty in TYPES {
        let name = d.dot(ty).unwrap().name;
        let expect_scalar = matches!(ty, GgmlType::Q8_1 | GgmlType::Q8_K);
        assert_eq!(name.contains("scalar"), expect_scalar, "{ty}: {name}");
    }
}
