//! Matmul throughput: GEMV weight bandwidth (GB/s of weight bytes read) at the default model's
//! and a TinyLlama-shaped layer's sizes, GEMM GFLOP/s at 512 tokens, with 1 and 2 threads, and a
//! plain memory-copy bandwidth figure to compare against. The `packed_*` groups measure the
//! load-time row-interleaved layouts (`nomoat_kernels::packed`, what models use for Q8_0, Q4_0,
//! Q5_0 and Q4_K) at the same shapes.
//!
//! `cargo bench -p nomoat-kernels --bench matmul -- <filter>`; set `NOMOAT_KERNELS=scalar` to
//! measure the reference kernels.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nomoat_kernels::{matmul, matmul_packed, GgmlType, Matrix, PackedMatrix, ThreadPool};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{random_acts, random_matrix, Rng};

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(10)
}

/// `(label, type, K, N)`: the default model's projections and a TinyLlama-shaped layer.
const GEMV_SHAPES: &[(&str, GgmlType, usize, usize)] = &[
    ("gemma.ffn_up 640→2048", GgmlType::Q5_0, 640, 2048),
    ("gemma.attn_q 640→1024", GgmlType::Q5_0, 640, 1024),
    ("gemma.ffn_down 2048→640", GgmlType::Q4_K, 2048, 640),
    ("gemma.ffn_down 2048→640", GgmlType::Q6_K, 2048, 640),
    ("gemma.output 640→262144", GgmlType::Q8_0, 640, 262144),
    ("tinyllama.ffn_up 2048→5632", GgmlType::Q4_K, 2048, 5632),
    ("tinyllama.ffn_down 5632→2048", GgmlType::Q4_K, 5632, 2048),
    ("tinyllama.ffn_down 5632→2048", GgmlType::Q6_K, 5632, 2048),
    ("tinyllama.attn_q 2048→2048", GgmlType::Q4_K, 2048, 2048),
];

/// Every format at the TinyLlama FFN shape.
const ALL_TYPES: &[GgmlType] = &[
    GgmlType::Q4_K,
    GgmlType::Q6_K,
    GgmlType::Q8_0,
    GgmlType::Q5_0,
    GgmlType::Q4_0,
    GgmlType::Q5_K,
    GgmlType::Q4_1,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::F32,
];

fn gemv_case(c: &mut Criterion, group: &str, label: &str, ty: GgmlType, k: usize, n: usize) {
    let mut rng = Rng(42);
    let w = random_matrix(&mut rng, ty, n, k);
    let x = random_acts(&mut rng, k);
    let mat = Matrix::new(ty, n, k, &w).unwrap();
    let mut y = vec![0f32; n];
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(w.len() as u64));
    for threads in [1, 2] {
        let pool = ThreadPool::new(threads);
        g.bench_function(
            BenchmarkId::new(format!("{} {label}", ty.name()), format!("{threads}t")),
            |b| b.iter(|| matmul(&pool, &mat, black_box(&x), 1, &mut y)),
        );
    }
    g.finish();
}

fn gemv(c: &mut Criterion) {
    for &(label, ty, k, n) in GEMV_SHAPES {
        gemv_case(c, "gemv", label, ty, k, n);
    }
    for &ty in ALL_TYPES {
        gemv_case(c, "gemv_formats", "2048→5632", ty, 2048, 5632);
    }
}

fn gemm_case(c: &mut Criterion, label: &str, ty: GgmlType, k: usize, n: usize, m: usize) {
    gemm_case_in(c, "gemm512", label, ty, k, n, m)
}

#[allow(clippy::too_many_arguments)]
fn gemm_case_in(
    c: &mut Criterion,
    group: &str,
    label: &str,
    ty: GgmlType,
    k: usize,
    n: usize,
    m: usize,
) {
    let mut rng = Rng(43);
    let w = random_matrix(&mut rng, ty, n, k);
    let x = random_acts(&mut rng, m * k);
    let mat = Matrix::new(ty, n, k, &w).unwrap();
    let mut y = vec![0f32; m * n];
    let mut g = c.benchmark_group(group);
    // Throughput in "elements" = flops (2·m·n·k); criterion prints it as Gelem/s = GFLOP/s.
    g.throughput(Throughput::Elements((2 * m * n * k) as u64));
    for threads in [1, 2] {
        let pool = ThreadPool::new(threads);
        g.bench_function(
            BenchmarkId::new(format!("{} {label}", ty.name()), format!("{threads}t")),
            |b| b.iter(|| matmul(&pool, &mat, black_box(&x), m, &mut y)),
        );
    }
    g.finish();
}

fn gemm(c: &mut Criterion) {
    for &(label, ty, k, n) in GEMV_SHAPES.iter().filter(|s| s.3 < 100_000) {
        gemm_case(c, label, ty, k, n, 512);
    }
    for &ty in ALL_TYPES {
        gemm_case(c, "2048→2048", ty, 2048, 2048, 512);
    }
    // Just below / at the R8 threshold: the per-row dot path (15 tokens) against the repacking
    // GEMM (16 tokens), in GFLOP/s.
    let r8 = nomoat_kernels::matmul::R8_MIN_TOKENS;
    for ty in [GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q6_K] {
        gemm_case_in(
            c,
            "gemm_threshold",
            &format!("{} tokens", r8 - 1),
            ty,
            2048,
            2048,
            r8 - 1,
        );
        gemm_case_in(
            c,
            "gemm_threshold",
            &format!("{r8} tokens"),
            ty,
            2048,
            2048,
            r8,
        );
    }
}

fn memcpy(c: &mut Criterion) {
    let n = 256 << 20;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let mut g = c.benchmark_group("memcpy");
    // Bytes read (one pass over the source), comparable with the GEMV weight bytes.
    g.throughput(Throughput::Bytes(n as u64));
    g.bench_function("copy 256 MiB (1 thread)", |b| {
        b.iter(|| dst.copy_from_slice(black_box(&src)))
    });
    let pool = ThreadPool::new(2);
    g.bench_function("read-sum 256 MiB (2 threads)", |b| {
        b.iter(|| {
            let chunks: Vec<&[u8]> = src.chunks(n / 2).collect();
            let sums: Vec<std::sync::atomic::AtomicU64> =
                (0..2).map(|_| Default::default()).collect();
            pool.run(&|id, _| {
                let s: u64 = chunks[id]
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                    .fold(0u64, |a, v| a.wrapping_add(v));
                sums[id].store(s, std::sync::atomic::Ordering::Relaxed);
            });
            black_box(sums);
        })
    });
    g.finish();
}

/// The packed layouts: GEMV (weight bytes read per second) and 512-token GEMM (GFLOP/s).
fn packed(c: &mut Criterion) {
    let shapes = GEMV_SHAPES.iter().copied().chain([
        ("2048→5632", GgmlType::Q8_0, 2048, 5632),
        ("2048→5632", GgmlType::Q4_0, 2048, 5632),
        ("2048→5632", GgmlType::Q5_0, 2048, 5632),
        ("2048→5632", GgmlType::Q4_K, 2048, 5632),
    ]);
    for (label, ty, k, n) in shapes {
        let mut rng = Rng(44);
        let w = random_matrix(&mut rng, ty, n, k);
        let mat = Matrix::new(ty, n, k, &w).unwrap();
        let Some(p) = PackedMatrix::pack(&mat, &ThreadPool::new(2), |_| {}) else {
            continue;
        };
        for (group, m) in [("packed_gemv", 1), ("packed_gemm512", 512)] {
            if m > 1 && n > 100_000 {
                continue;
            }
            let x = random_acts(&mut rng, m * k);
            let mut y = vec![0f32; m * n];
            let mut g = c.benchmark_group(group);
            if m == 1 {
                g.throughput(Throughput::Bytes(p.bytes() as u64));
            } else {
                g.throughput(Throughput::Elements((2 * m * n * k) as u64));
            }
            for threads in [1, 2] {
                let pool = ThreadPool::new(threads);
                g.bench_function(
                    BenchmarkId::new(format!("{} {label}", ty.name()), format!("{threads}t")),
                    |b| b.iter(|| matmul_packed(&pool, &p, black_box(&x), m, &mut y)),
                );
            }
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = memcpy, gemv, gemm, packed
}
criterion_main!(benches);
