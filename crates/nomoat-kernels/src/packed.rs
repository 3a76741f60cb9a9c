//! Weights repacked once at load into a row-interleaved layout (performance.md §7, "interleaved
//! rows for generation"), as llama.cpp's and ik_llama.cpp's CPU repacking do.
//!
//! Layout `Q8_0x8` (from Q8_0 matrices with a multiple of 8 rows): rows are taken 8 at a time
//! ("groups"); a group stores, for each 32-element block `b` of the row length,
//! `f16 d[8]` (the 8 rows' scales) then `i8 q[8 steps][8 rows][4]` (step `s` holds elements
//! `4s..4s+4` of each row), 272 bytes — the same 34 bytes per row and block as Q8_0, so decode
//! reads exactly as many bytes as before. One kernel step multiplies 4 elements of 8 rows by the
//! same 4 activations broadcast to every lane, so the 8 lanes are the 8 rows' sums: no horizontal
//! sums, no per-row scale gathers, one contiguous stream per thread.
//!
//! Results equal the Q8_0 dot kernels' up to float summation order (the integer block sums are
//! exact; `d_w·d_y·Σ` is accumulated per block in the same order).

use crate::dispatch::{kernels, Kernels, Level, MAX_COLS};
use crate::pool::ThreadPool;
use crate::quant::{f16_le, BlockQ8_0, RawBlock};
use crate::shared::SharedMut;
use crate::{GgmlType, Matrix};

/// Rows per group.
pub const ROWS: usize = 8;
/// Bytes of one block of a group (8 f16 scales + 8 × 32 quants).
pub const BLOCK_BYTES: usize = 16 + ROWS * 32;
const Q8_0_BYTES: usize = BlockQ8_0::BYTES;

/// Micro-kernel: one group (`nb` blocks) against 1..=[`MAX_COLS`] Q8_0 activation rows `a`,
/// `stride` bytes apart; `out[t][r]` = row r · token t.
pub type GroupKernel =
    fn(nb: usize, group: &[u8], a: &[u8], stride: usize, out: &mut [[f32; ROWS]]);

/// A weight matrix repacked at load (owned, `n_rows × n_cols`).
pub struct PackedMatrix {
    ty: GgmlType,
    n_rows: usize,
    n_cols: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedMatrix")
            .field("layout", &"q8_0x8")
            .field("n_rows", &self.n_rows)
            .field("n_cols", &self.n_cols)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl PackedMatrix {
    /// Whether [`PackedMatrix::pack`] accepts `m` (Q8_0 with a multiple of 8 rows).
    pub fn can_pack(m: &Matrix<'_>) -> bool {
        m.ty() == GgmlType::Q8_0 && m.n_rows() > 0 && m.n_rows().is_multiple_of(ROWS)
    }

    /// Repack `m` (in parallel on `pool`); `None` if the layout does not apply to it.
    /// `done(rows)` is called after each finished slice of rows (in row order, from the calling
    /// thread) so the caller can release the source pages it no longer needs.
    pub fn pack(
        m: &Matrix<'_>,
        pool: &ThreadPool,
        mut done: impl FnMut(std::ops::Range<usize>),
    ) -> Option<PackedMatrix> {
        if !Self::can_pack(m) {
            return None;
        }
        let nb = m.n_cols() / 32;
        let group_bytes = nb * BLOCK_BYTES;
        let n_groups = m.n_rows() / ROWS;
        let mut data = vec![0u8; n_groups * group_bytes];
        // Slices of 4096 groups (≈ 32 k rows) so released source pages trail the work closely.
        const SLICE: usize = 4096;
        let mut g0 = 0;
        while g0 < n_groups {
            let g1 = (g0 + SLICE).min(n_groups);
            let out = SharedMut::new(&mut data[g0 * group_bytes..g1 * group_bytes]);
            pool.parallel_for(g1 - g0, 64, |groups| {
                for gi in groups {
                    // SAFETY: group `gi` of this slice belongs to this range only.
                    let dst = unsafe { out.slice_mut(gi * group_bytes..(gi + 1) * group_bytes) };
                    let r0 = (g0 + gi) * ROWS;
                    pack_group(std::array::from_fn(|r| m.row(r0 + r)), nb, dst);
                }
            });
            done(g0 * ROWS..g1 * ROWS);
            g0 = g1;
        }
        Some(PackedMatrix {
            ty: m.ty(),
            n_rows: m.n_rows(),
            n_cols: m.n_cols(),
            data,
        })
    }

    /// The source type (Q8_0).
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// Bytes owned by the repacked copy.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn group(&self, g: usize) -> &[u8] {
        let gb = self.n_cols / 32 * BLOCK_BYTES;
        &self.data[g * gb..(g + 1) * gb]
    }

    /// Dequantize rows `ids` into `out` (`ids.len() × n_cols`), as `get_rows` does on the source.
    pub fn get_rows(&self, ids: &[u32], out: &mut [f32]) {
        let k = self.n_cols;
        assert_eq!(out.len(), ids.len() * k, "get_rows: output is ids × n_cols");
        for (&id, o) in ids.iter().zip(out.chunks_exact_mut(k)) {
            let id = id as usize;
            assert!(id < self.n_rows, "get_rows: row {id} of {}", self.n_rows);
            let (g, r) = (self.group(id / ROWS), id % ROWS);
            for (blk, ob) in g.chunks_exact(BLOCK_BYTES).zip(o.chunks_exact_mut(32)) {
                let d = f16_le([blk[2 * r], blk[2 * r + 1]]);
                for s in 0..8 {
                    let q = &blk[16 + 32 * s + 4 * r..16 + 32 * s + 4 * r + 4];
                    for j in 0..4 {
                        ob[4 * s + j] = d * (q[j] as i8 as f32);
                    }
                }
            }
        }
    }
}

/// Interleave 8 Q8_0 rows of `nb` blocks into `dst` (`nb × 272` bytes).
fn pack_group(rows: [&[u8]; ROWS], nb: usize, dst: &mut [u8]) {
    for b in 0..nb {
        let o = &mut dst[b * BLOCK_BYTES..(b + 1) * BLOCK_BYTES];
        for (r, row) in rows.iter().enumerate() {
            let src = &row[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
            o[2 * r..2 * r + 2].copy_from_slice(&src[..2]);
            for s in 0..8 {
                o[16 + 32 * s + 4 * r..16 + 32 * s + 4 * r + 4]
                    .copy_from_slice(&src[2 + 4 * s..2 + 4 * s + 4]);
            }
        }
    }
}

/// Scalar reference of [`GroupKernel`].
pub fn group_dot_scalar(nb: usize, group: &[u8], a: &[u8], stride: usize, out: &mut [[f32; ROWS]]) {
    assert!(group.len() >= nb * BLOCK_BYTES, "group too short");
    for (t, o) in out.iter_mut().enumerate() {
        let at = &a[t * stride..t * stride + nb * Q8_0_BYTES];
        *o = [0.0; ROWS];
        for b in 0..nb {
            let blk = &group[b * BLOCK_BYTES..(b + 1) * BLOCK_BYTES];
            let ab = &at[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
            let dy = f16_le([ab[0], ab[1]]);
            for (r, acc) in o.iter_mut().enumerate() {
                let mut isum = 0i32;
                for s in 0..8 {
                    for j in 0..4 {
                        let w = blk[16 + 32 * s + 4 * r + j] as i8 as i32;
                        isum += w * (ab[2 + 4 * s + j] as i8 as i32);
                    }
                }
                let dw = f16_le([blk[2 * r], blk[2 * r + 1]]);
                *acc = (dw * dy).mul_add(isum as f32, *acc);
            }
        }
    }
}

/// The group kernel of table `k` (AVX2 where the table is SIMD).
pub fn group_kernel(k: &Kernels) -> GroupKernel {
    match k.level {
        Level::Scalar => group_dot_scalar,
        #[cfg(target_arch = "x86_64")]
        _ => crate::x86::packed::q8_0x8,
        #[cfg(not(target_arch = "x86_64"))]
        _ => group_dot_scalar,
    }
}

/// `y = x · Wᵀ` for a repacked matrix (`x`: m × K, `y`: m × N), process-wide kernel table.
pub fn matmul_packed(pool: &ThreadPool, w: &PackedMatrix, x: &[f32], m: usize, y: &mut [f32]) {
    matmul_packed_with(kernels(), pool, w, x, m, y)
}

/// [`matmul_packed`] with an explicit kernel table.
pub fn matmul_packed_with(
    k: &Kernels,
    pool: &ThreadPool,
    w: &PackedMatrix,
    x: &[f32],
    m: usize,
    y: &mut [f32],
) {
    let (n, kk) = (w.n_rows, w.n_cols);
    assert_eq!(x.len(), m * kk, "x must be m × K = {m} × {kk}");
    assert_eq!(y.len(), m * n, "y must be m × N = {m} × {n}");
    if m == 0 {
        return;
    }
    let act_fmt = crate::ActFormat::Q8_0;
    let act_row = act_fmt.row_bytes(kk);
    ACT.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < act_row * m {
            buf.resize(act_row * m, 0);
        }
        let act = &mut buf[..act_row * m];
        crate::matmul::quantize_rows(k, pool, act_fmt, x, kk, m, act_row, act);
        sweep(k, pool, w, act, act_row, m, y);
    });
}

thread_local! {
    /// Q8_0 activations of the current call, reused across calls (no allocation once warm).
    static ACT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Every group against every token of `act` (Q8_0 rows, `act_row` bytes each).
fn sweep(
    k: &Kernels,
    pool: &ThreadPool,
    w: &PackedMatrix,
    act: &[u8],
    act_row: usize,
    m: usize,
    y: &mut [f32],
) {
    let (n, kk) = (w.n_rows, w.n_cols);
    let kernel = group_kernel(k);
    let nb = kk / 32;
    let n_groups = n / ROWS;
    let out = SharedMut::new(y);
    // Decode: small chunks for balance. Many tokens: a chunk of groups stays in L1/L2 while every
    // token sweeps it, so the weights are read from memory once per call.
    let chunk = if m <= MAX_COLS {
        (n_groups / (pool.n_threads() * 16)).clamp(1, 64)
    } else {
        4
    };
    pool.parallel_for(n_groups, chunk, |groups| {
        let mut o = [[0f32; ROWS]; MAX_COLS];
        let mut t0 = 0;
        while t0 < m {
            let nt = (m - t0).min(MAX_COLS);
            for g in groups.clone() {
                kernel(nb, w.group(g), &act[t0 * act_row..], act_row, &mut o[..nt]);
                for (t, vals) in o[..nt].iter().enumerate() {
                    for (r, &v) in vals.iter().enumerate() {
                        // SAFETY: rows of group `g` belong to this range only.
                        unsafe { out.write((t0 + t) * n + g * ROWS + r, v) };
                    }
                }
            }
            t0 += nt;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Random Q8_0 rows with scales of varied magnitude and the full quant range, −128 included.
    fn random_q8_0(seed: u64, n_rows: usize, k: usize) -> Vec<u8> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut out = Vec::with_capacity(n_rows * k / 32 * Q8_0_BYTES);
        for _ in 0..n_rows * k / 32 {
            let d = half::f16::from_f32(((next() % 1000) as f32 + 1.0) * 1e-4);
            out.extend_from_slice(&d.to_le_bytes());
            out.extend((0..32).map(|_| next() as u8));
        }
        out
    }

    fn acts(seed: u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u64 * 2654435761 + seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn only_q8_0_with_whole_groups_is_packed() {
        let pool = ThreadPool::new(1);
        let w = random_q8_0(1, 12, 64);
        let m = Matrix::new(GgmlType::Q8_0, 12, 64, &w).unwrap();
        assert!(PackedMatrix::pack(&m, &pool, |_| {}).is_none());
        let z = vec![0u8; 8 * 2 * 18];
        let m = Matrix::new(GgmlType::Q4_0, 8, 64, &z).unwrap();
        assert!(PackedMatrix::pack(&m, &pool, |_| {}).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn packed_get_rows_equals_source(seed in any::<u64>(), groups in 1usize..5, nb in 1usize..7) {
            let (n, k) = (groups * ROWS, nb * 32);
            let w = random_q8_0(seed, n, k);
            let m = Matrix::new(GgmlType::Q8_0, n, k, &w).unwrap();
            let mut released = Vec::new();
            let p = PackedMatrix::pack(&m, &ThreadPool::new(2), |r| released.push(r)).unwrap();
            prop_assert_eq!(released, vec![0..n]);
            let ids: Vec<u32> = (0..n as u32).rev().collect();
            let (mut a, mut b) = (vec![0f32; n * k], vec![0f32; n * k]);
            p.get_rows(&ids, &mut a);
            crate::ops::get_rows(GgmlType::Q8_0, &w, k, &ids, &mut b);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn simd_group_kernel_equals_scalar(seed in any::<u64>(), nb in 1usize..12, nt in 1usize..=4, pad in 0usize..40) {
            let w = random_q8_0(seed, ROWS, nb * 32);
            let m = Matrix::new(GgmlType::Q8_0, ROWS, nb * 32, &w).unwrap();
            let p = PackedMatrix::pack(&m, &ThreadPool::new(1), |_| {}).unwrap();
            let row = nb * Q8_0_BYTES;
            let stride = row + pad;
            let mut a = vec![0u8; stride * nt];
            for t in 0..nt {
                let x = acts(seed.wrapping_add(t as u64), nb * 32);
                Kernels::scalar().quantize(crate::ActFormat::Q8_0, &x, &mut a[t * stride..t * stride + row]);
            }
            let (mut os, mut od) = ([[0f32; ROWS]; 4], [[1f32; ROWS]; 4]);
            group_dot_scalar(nb, p.group(0), &a, stride, &mut os[..nt]);
            group_kernel(&Kernels::detect())(nb, p.group(0), &a, stride, &mut od[..nt]);
            // Same operations in the same order: bit-identical.
            prop_assert_eq!(&os[..nt], &od[..nt]);
        }

        #[test]
        fn packed_matmul_matches_plain_matmul(
            seed in any::<u64>(),
            groups in 1usize..6,
            nb in 1usize..5,
            m in prop_oneof![1usize..6, 30usize..40],
            threads in 1usize..4,
        ) {
            let (n, k) = (groups * ROWS, nb * 32);
            let w = random_q8_0(seed, n, k);
            let mat = Matrix::new(GgmlType::Q8_0, n, k, &w).unwrap();
            let pool = ThreadPool::new(threads);
            let p = PackedMatrix::pack(&mat, &pool, |_| {}).unwrap();
            let x = acts(seed, m * k);
            let (mut yp, mut y) = (vec![0f32; m * n], vec![0f32; m * n]);
            matmul_packed(&pool, &p, &x, m, &mut yp);
            crate::matmul(&pool, &mat, &x, m, &mut y);
            let mut wf = vec![0f32; n * k];
            crate::dequantize_row(GgmlType::Q8_0, &w, &mut wf);
            for t in 0..m {
                for r in 0..n {
                    let mag: f32 = (0..k).map(|i| (wf[r * k + i] * x[t * k + i]).abs()).sum();
                    let (a, b) = (yp[t * n + r], y[t * n + r]);
                    prop_assert!((a - b).abs() <= 2e-6 * mag + 1e-30, "t={} r={}: {} vs {}", t, r, a, b);
                }
            }
        }
    }
}
