//! The AVX-512 (F+BW+VL+VNNI) kernels against the scalar reference (dot kernels) and the AVX2
//! kernel (R8 tile kernel, which must match it bit for bit: same integer sums, same float steps).
//!
//! On a CPU without AVX-512 every test prints that it was skipped and returns. So that they
//! cannot pass silently on the machine meant to run them, `NOMOAT_REQUIRE_AVX512=1` turns the
//! skip into a failure, and the tests also fail when the CPU reports the features but the
//! detected table is not at the AVX-512 level.
#![cfg(target_arch = "x86_64")]

mod common;

use common::{random_acts, random_row, Rng};
use nomoat_kernels::dispatch::{ActFormat, Kernels, Level, MAX_COLS};
use nomoat_kernels::quant::{self, cast_blocks, BlockQ8K};
use nomoat_kernels::repack::{self, R};
use nomoat_kernels::{dequantize_row, GgmlType};
use proptest::prelude::*;

/// Weight types with an AVX-512 dot kernel.
const DOT_TYPES: [GgmlType; 13] = [
    GgmlType::Q4_0,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::IQ4_NL,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::IQ4_XS,
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
];

/// Weight types of the R8 prompt GEMM.
const TILE_TYPES: [GgmlType; 10] = [
    GgmlType::Q4_0,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::IQ4_NL,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_XS,
];

fn cpu_has_avx512() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// The detected table when it is at the AVX-512 level; `None` (after printing why) when the CPU
/// lacks it, unless `NOMOAT_REQUIRE_AVX512=1`, which makes that a failure.
fn avx512_table(test: &str) -> Option<Kernels> {
    let k = Kernels::detect();
    let cpu = cpu_has_avx512();
    assert_eq!(
        k.level == Level::Avx512,
        cpu,
        "the CPU {} AVX-512 F+BW+VL+VNNI but the detected level is {:?}",
        if cpu { "has" } else { "lacks" },
        k.level
    );
    if cpu {
        return Some(k);
    }
    let required = std::env::var("NOMOAT_REQUIRE_AVX512").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "NOMOAT_REQUIRE_AVX512=1 but this CPU lacks AVX-512 F+BW+VL+VNNI"
    );
    // Once per test, not once per property case.
    static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|t| t == test) {
        seen.push(test.to_string());
        println!("{test}: skipped, this CPU lacks AVX-512 F+BW+VL+VNNI");
    }
    None
}

fn dequant_act(act: ActFormat, bytes: &[u8], k: usize) -> Vec<f32> {
    let mut out = vec![0f32; k];
    match act {
        ActFormat::F32 => dequantize_row(GgmlType::F32, bytes, &mut out),
        ActFormat::Q8_0 => dequantize_row(GgmlType::Q8_0, bytes, &mut out),
        ActFormat::Q8K => {
            for (b, o) in cast_blocks::<BlockQ8K>(bytes)
                .iter()
                .zip(out.chunks_exact_mut(256))
            {
                b.dequantize(o);
            }
        }
        other => unreachable!("no AVX-512 kernel takes {other:?}"),
    }
    out
}

/// Random data: the AVX-512 kernel of `ty` against the scalar one, within 2e-6·Σ|w·a|. For the
/// float types a "block" is one element.
fn check_dot(k512: &Kernels, ty: GgmlType, seed: u64, nblocks: usize, ntok: usize, pad: usize) {
    let s = Kernels::scalar();
    let (ks, kd) = (s.dot(ty).unwrap(), k512.dot(ty).unwrap());
    assert!(kd.name.contains("avx512"), "{ty}: {}", kd.name);
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
        assert!(
            (os[t] - od[t]).abs() <= 2e-6 * mag + 1e-30,
            "{ty}: K={k} token {t}/{ntok}: scalar {} vs avx512 {} (Σ|wa| {mag})",
            os[t],
            od[t]
        );
    }
}

/// Byte offsets of the f16 scale fields of one block.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 | GgmlType::IQ4_NL | GgmlType::IQ4_XS => {
            &[0]
        }
        GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        other => unreachable!("{other}"),
    }
}

/// Activation quants for the exact tests: every 16th in [−127, 127], the others in [−3, 3],
/// so Σ|w·y| stays below 2²⁴ for one K-quant block or 20 legacy blocks and every partial
/// float sum of these integers is exact.
fn exact_quants(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n)
        .map(|i| {
            let r = rng.next_u64();
            if i % 16 == 3 {
                ((r % 255) as i32 - 127) as i8
            } else {
                ((r % 7) as i32 - 3) as i8
            }
        })
        .collect()
}

/// One activation row in `act` format with unit scale and the given quants.
fn unit_act_row(act: ActFormat, q: &[i8]) -> Vec<u8> {
    let mut out = Vec::new();
    match act {
        ActFormat::Q8_0 => {
            for c in q.chunks_exact(32) {
                out.extend_from_slice(&quant::f16_to_le(1.0));
                out.extend(c.iter().map(|&v| v as u8));
            }
        }
        ActFormat::Q8K => {
            for c in q.chunks_exact(256) {
                out.extend_from_slice(&1.0f32.to_le_bytes());
                out.extend(c.iter().map(|&v| v as u8));
                for s in c.chunks_exact(16) {
                    let sum: i32 = s.iter().map(|&v| v as i32).sum();
                    out.extend_from_slice(&(sum as i16).to_le_bytes());
                }
            }
        }
        other => unreachable!("{other:?}"),
    }
    out
}

/// Unit scales (d = dmin = 1, activation d = 1): both kernels compute the same integer, which
/// every float step here represents exactly, so the results must be equal.
fn check_dot_exact(k512: &Kernels, ty: GgmlType, seed: u64, nblocks: usize, ntok: usize) {
    let s = Kernels::scalar();
    let (ks, kd) = (s.dot(ty).unwrap(), k512.dot(ty).unwrap());
    let mut rng = Rng(seed);
    let k = nblocks * ty.block_size() as usize;
    let mut w = random_row(&mut rng, ty, k);
    let tb = ty.type_size() as usize;
    for blk in w.chunks_exact_mut(tb) {
        for &at in f16_fields(ty) {
            blk[at..at + 2].copy_from_slice(&quant::f16_to_le(1.0));
        }
    }
    let mut wf = vec![0f32; k];
    dequantize_row(ty, &w, &mut wf);
    let row = ks.act.row_bytes(k);
    let mut a = Vec::new();
    let mut qs = Vec::new();
    for _ in 0..ntok {
        let q = exact_quants(&mut rng, k);
        let bytes = unit_act_row(ks.act, &q);
        assert_eq!(bytes.len(), row);
        a.extend_from_slice(&bytes);
        qs.push(q);
    }
    let (mut os, mut od) = (vec![0f32; ntok], vec![0f32; ntok]);
    (ks.f)(&w, &a, row, &mut os);
    (kd.f)(&w, &a, row, &mut od);
    for t in 0..ntok {
        let mag: f64 = wf
            .iter()
            .zip(&qs[t])
            .map(|(&p, &q)| (p as f64 * q as f64).abs())
            .sum();
        assert!(
            mag < (1 << 24) as f64,
            "test data too large for exact sums: {mag}"
        );
        assert_eq!(os[t], od[t], "{ty}: K={k} token {t}/{ntok} ({})", kd.name);
    }
}

/// The AVX-512 tile kernel against the AVX2 one (bit for bit) and the scalar one (within
/// 1e-5·Σ|w·a|) on a random 8-row tile of `ngroups` groups.
fn check_tile(k512: &Kernels, ty: GgmlType, seed: u64, ngroups: usize, nt: usize, pad: usize) {
    let (f512, name) = k512.tile_dot_kernel();
    assert_eq!(name, "avx512-vnni");
    let (f2, name2) = Kernels::detect_up_to(Level::Avx2).tile_dot_kernel();
    assert_eq!(name2, "avx2");
    let g = repack::group_size(ty).unwrap();
    let signed = repack::is_signed(ty);
    let k = ngroups * g;
    let mut rng = Rng(seed);
    let rows: Vec<Vec<u8>> = (0..R).map(|_| random_row(&mut rng, ty, k)).collect();
    let mut tile = vec![0u8; repack::tile_bytes(k, g)];
    repack::repack_tile(ty, std::array::from_fn(|r| &rows[r][..]), k, &mut tile);
    let act = if g == 32 {
        ActFormat::Q8_0
    } else {
        ActFormat::Q8K
    };
    let s = Kernels::scalar();
    let row = repack::act_row_bytes(k, g);
    let stride = row + pad;
    let mut a = vec![0u8; stride * nt];
    let mut xs = Vec::new();
    for t in 0..nt {
        let x = random_acts(&mut rng, k);
        let mut q = vec![0u8; act.row_bytes(k)];
        s.quantize(act, &x, &mut q);
        xs.push(dequant_act(act, &q, k));
        repack::convert_act(g, &q, k, &mut a[t * stride..t * stride + row]);
    }
    let mut o512 = vec![[f32::NAN; R]; nt];
    let mut o2 = vec![[f32::NAN; R]; nt];
    let mut os = vec![[f32::NAN; R]; nt];
    f512(k, g, signed, &tile, &a, stride, &mut o512);
    f2(k, g, signed, &tile, &a, stride, &mut o2);
    (s.tile_dot_kernel().0)(k, g, signed, &tile, &a, stride, &mut os);
    for t in 0..nt {
        for r in 0..R {
            assert_eq!(
                o512[t][r].to_bits(),
                o2[t][r].to_bits(),
                "{ty}: K={k} token {t}/{nt} row {r}: avx512 {} vs avx2 {}",
                o512[t][r],
                o2[t][r]
            );
            let mut wf = vec![0f32; k];
            dequantize_row(ty, &rows[r], &mut wf);
            let mag: f32 = wf.iter().zip(&xs[t]).map(|(p, q)| (p * q).abs()).sum();
            assert!(
                (o512[t][r] - os[t][r]).abs() <= 1e-5 * mag + 1e-30,
                "{ty}: K={k} token {t}/{nt} row {r}: avx512 {} vs scalar {} (Σ|wa| {mag})",
                o512[t][r],
                os[t][r]
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn avx512_dot_equals_scalar(
        ti in 0..DOT_TYPES.len(),
        seed in any::<u64>(),
        nblocks in prop_oneof![Just(1usize), 2usize..20],
        ntok in 1..=MAX_COLS,
        pad in prop_oneof![Just(0usize), 1usize..40],
    ) {
        let Some(k) = avx512_table("avx512_dot_equals_scalar") else { return Ok(()) };
        let ty = DOT_TYPES[ti];
        // Float types: element counts around the 16- and 32-lane steps.
        let nblocks = if ty.block_size() == 1 { nblocks * 5 + seed as usize % 16 + 1 } else { nblocks };
        check_dot(&k, ty, seed, nblocks, ntok, pad);
    }

    #[test]
    fn avx512_dot_integer_sums_exact(
        ti in 0..DOT_TYPES.len(),
        seed in any::<u64>(),
        nblocks in 1usize..20,
        ntok in 1..=MAX_COLS,
    ) {
        let Some(k) = avx512_table("avx512_dot_integer_sums_exact") else { return Ok(()) };
        let ty = DOT_TYPES[ti];
        if ty.block_size() == 1 {
            return Ok(());
        }
        // One super-block for the K-quants keeps Σ|w·y| < 2²⁴ (see `exact_quants`).
        let nblocks = if ty.block_size() == 256 { 1 } else { nblocks };
        check_dot_exact(&k, ty, seed, nblocks, ntok);
    }

    #[test]
    fn avx512_rows4_equals_dot_and_scalar(ti in 0..4usize, seed in any::<u64>(), nblocks in 1usize..40) {
        let Some(k) = avx512_table("avx512_rows4_equals_dot_and_scalar") else { return Ok(()) };
        check_rows4(&k, DOT_TYPES[ti], seed, nblocks);
    }

    #[test]
    fn avx512_tile_equals_avx2_and_scalar(
        ti in 0..TILE_TYPES.len(),
        seed in any::<u64>(),
        ngroups in prop_oneof![Just(1usize), 2usize..5],
        nt in 1usize..=4,
        pad in prop_oneof![Just(0usize), 1usize..40],
    ) {
        let Some(k) = avx512_table("avx512_tile_equals_avx2_and_scalar") else { return Ok(()) };
        check_tile(&k, TILE_TYPES[ti], seed, ngroups, nt, pad);
    }
}

/// The 4-rows GEMV of a legacy format: equal bits to its 1-row dot kernel, and within
/// 2e-6·Σ|w·a| of the scalar one.
fn check_rows4(k512: &Kernels, ty: GgmlType, seed: u64, nblocks: usize) {
    let rows4 = k512.rows4(ty).unwrap();
    let kd = k512.dot(ty).unwrap();
    let ks = Kernels::scalar();
    let ks = ks.dot(ty).unwrap();
    let mut rng = Rng(seed);
    let k = nblocks * 32;
    let rows: Vec<Vec<u8>> = (0..4).map(|_| random_row(&mut rng, ty, k)).collect();
    let x = random_acts(&mut rng, k);
    let mut a = vec![0u8; ActFormat::Q8_0.row_bytes(k)];
    Kernels::scalar().quantize(ActFormat::Q8_0, &x, &mut a);
    let xa = dequant_act(ActFormat::Q8_0, &a, k);
    let mut o4 = [f32::NAN; 4];
    rows4([&rows[0], &rows[1], &rows[2], &rows[3]], &a, &mut o4);
    for r in 0..4 {
        let (mut od, mut os) = ([f32::NAN], [f32::NAN]);
        (kd.f)(&rows[r], &a, 0, &mut od);
        (ks.f)(&rows[r], &a, 0, &mut os);
        assert_eq!(
            o4[r].to_bits(),
            od[0].to_bits(),
            "{ty} K={k} row {r}: rows4 {} vs dot {}",
            o4[r],
            od[0]
        );
        let mut wf = vec![0f32; k];
        dequantize_row(ty, &rows[r], &mut wf);
        let mag: f32 = wf.iter().zip(&xa).map(|(p, q)| (p * q).abs()).sum();
        assert!(
            (o4[r] - os[0]).abs() <= 2e-6 * mag + 1e-30,
            "{ty} K={k} row {r}: rows4 {} vs scalar {} (Σ|wa| {mag})",
            o4[r],
            os[0]
        );
    }
}

/// Every format at awkward sizes, deterministically: one block, a pair plus one, a full group
/// of 8 blocks plus a tail; each token count.
#[test]
fn avx512_dot_awkward_sizes() {
    let Some(k) = avx512_table("avx512_dot_awkward_sizes") else {
        return;
    };
    for ty in DOT_TYPES {
        if ty.block_size() == 1 {
            for k_elems in [1, 15, 16, 17, 31, 32, 33, 47, 48, 100, 640] {
                for ntok in 1..=MAX_COLS {
                    check_dot(&k, ty, 5000 + k_elems as u64, k_elems, ntok, 4 * ntok);
                }
            }
            continue;
        }
        for nblocks in [1, 2, 3, 7, 8, 9, 17] {
            for ntok in 1..=MAX_COLS {
                check_dot(&k, ty, 1000 + nblocks as u64, nblocks, ntok, 3 * ntok);
                check_dot_exact(&k, ty, 2000 + nblocks as u64, nblocks.min(2), ntok);
            }
        }
    }
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
        GgmlType::IQ4_NL,
    ] {
        for nblocks in [1, 2, 3, 8, 9, 20, 31] {
            check_rows4(&k, ty, 4000 + nblocks as u64, nblocks);
        }
    }
    for ty in TILE_TYPES {
        for nt in 1..=4 {
            check_tile(&k, ty, 3000 + nt as u64, 1, nt, 0);
        }
    }
}

/// The table names its AVX-512 kernels, keeps AVX2 ones for the other formats, and
/// `detect_up_to(Avx2)` (what `NOMOAT_KERNELS=avx2` selects) holds no AVX-512 kernel.
#[test]
fn avx512_table_names_and_avx2_fallback() {
    let avx2 = Kernels::detect_up_to(Level::Avx2);
    if avx2.level == Level::Avx2 {
        for ty in nomoat_kernels::dispatch::SUPPORTED {
            let name = avx2.dot(ty).unwrap().name;
            assert!(!name.contains("avx512"), "{ty}: {name}");
        }
        assert_eq!(avx2.tile_dot_kernel().1, "avx2");
    }
    let Some(k) = avx512_table("avx512_table_names_and_avx2_fallback") else {
        return;
    };
    for ty in nomoat_kernels::dispatch::SUPPORTED {
        let name = k.dot(ty).unwrap().name;
        assert_eq!(
            name.contains("avx512"),
            DOT_TYPES.contains(&ty),
            "{ty}: {name}"
        );
    }
    let d = k.describe();
    assert!(d.starts_with("kernels: Avx512\n"), "{d}");
    assert!(
        d.contains("avx512-vnni") && d.contains("are the AVX2 ones"),
        "{d}"
    );
}
