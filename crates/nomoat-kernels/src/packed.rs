//! Weights repacked once at load into a row-interleaved layout (performance.md §7, "interleaved
//! rows for generation"), as llama.cpp's and ik_llama.cpp's CPU repacking do. The driver behind
//! [`crate::WeightMatrix`] once it was packed; [`PackedMatrix`] and [`matmul_packed`] stay public
//! as the lower-level API for tests and benchmarks. The layout type itself ([`Layout`]) lives in
//! [`crate::layout`], the group kernels in the [`Kernels`] table.
//!
//! Rows are taken 8 at a time ("groups", so matrices need a multiple of 8 rows). For each
//! 32-element block `b` of the row length a group stores `f16 d[8]` (the 8 rows' scales) and the
//! 8 rows' quants in "steps": step `s` (0..8) holds elements `4s..4s+4` of every row, value
//! `i = 4r + e` being row r's element `4s + e`. Layouts (bytes per group block = 8 × the source
//! block, so decode reads exactly as many bytes as before):
//! - `Q8_0x8` (from Q8_0): `d[8]`, then `i8 q[8 steps][32]` — 272 bytes;
//! - `Q4_0x8` (from Q4_0): `d[8]`, then 4 step pairs of 32 bytes: byte `i` of pair `p` holds
//!   `u = q + 8` of value `i` of step `2p` (low nibble) and of step `2p+1` (high nibble) — 144;
//! - `Q5_0x8` (from Q5_0): `d[8]`, `qh[32]` (bit `s` of byte `i` = bit 4 of `u = q + 16` of value
//!   `i` in step `s`), then the low nibbles as in `Q4_0x8` — 176.
//!
//! - `Q4_Kx8` (from Q4_K, 256-element blocks): `d[8]`, `dmin[8]`, the 6-bit scales as bytes
//!   `sc[8 sub-blocks][8 rows]`, the mins as bytes paired by sub-block, `m[4 pairs][8 rows][2]`,
//!   then per sub-block the nibbles as in `Q4_0x8` (4 × 32 bytes) — 1184 bytes (8 × 148: the
//!   unpacked scales cost 3 % more bytes than Q4_K's 144 and save the 6-bit decoding per token).
//!
//! One kernel step multiplies 4 elements of 8 rows by the same 4 activations broadcast to every
//! lane, so the 8 lanes are the 8 rows' sums: no horizontal sums, no per-row scale gathers, one
//! contiguous stream per thread. The 4/5-bit layouts multiply the unsigned `u` and subtract
//! `offset · Σy` per block (exact integers). Results equal the source type's dot kernels up to
//! float summation order (`d_w·d_y·Σ` accumulated per block).

use crate::dispatch::{kernels, Kernels, MAX_COLS};
use crate::layout::{nibble, Q4K_MN, Q4K_QS, Q4K_SC, U8_BLOCK_BYTES};
pub use crate::layout::{GroupKernel, Layout, ROWS};
use crate::pool::ThreadPool;
use crate::quant::{f16_le, BlockQ8_0, RawBlock};
use crate::shared::SharedMut;
use crate::{GgmlType, Matrix};

const Q8_0_BYTES: usize = BlockQ8_0::BYTES;

/// Row `r` of a Q4Kx8 group block dequantized (256 values).
fn q4k_dequant(blk: &[u8], r: usize, out: &mut [f32]) {
    let d = f16_le([blk[2 * r], blk[2 * r + 1]]);
    let dmin = f16_le([blk[16 + 2 * r], blk[17 + 2 * r]]);
    for j in 0..8 {
        let sc = blk[Q4K_SC + 8 * j + r] as f32;
        let m = blk[Q4K_MN + 16 * (j / 2) + 2 * r + j % 2] as f32;
        let qs = &blk[Q4K_QS + 128 * j..Q4K_QS + 128 * (j + 1)];
        for s in 0..8 {
            for e in 0..4 {
                let u = nibble(qs, s, 4 * r + e) as f32;
                out[32 * j + 4 * s + e] = d * sc * u - dmin * m;
            }
        }
    }
}

/// A weight matrix repacked at load (owned, `n_rows × n_cols`).
pub struct PackedMatrix {
    ty: GgmlType,
    layout: Layout,
    n_rows: usize,
    n_cols: usize,
    data: Buffer,
}

/// The packed bytes: an anonymous mapping advised to use transparent huge pages (decode streams
/// the whole matrix every token; 2 MiB pages cut the TLB misses of a 4 KiB-page walk), or a
/// plain vector where mapping fails.
enum Buffer {
    Map(memmap2::MmapMut),
    Vec(Vec<u8>),
}

impl Buffer {
    /// `len` zeroed bytes.
    fn zeroed(len: usize) -> Buffer {
        match memmap2::MmapMut::map_anon(len) {
            Ok(m) => {
                // Advice only: without THP support the mapping works the same with small pages.
                let _ = m.advise(memmap2::Advice::HugePage);
                Buffer::Map(m)
            }
            Err(_) => Buffer::Vec(vec![0; len]),
        }
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buffer::Map(m) => m,
            Buffer::Vec(v) => v,
        }
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Buffer::Map(m) => m,
            Buffer::Vec(v) => v,
        }
    }
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedMatrix")
            .field("layout", &self.layout.name())
            .field("n_rows", &self.n_rows)
            .field("n_cols", &self.n_cols)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl PackedMatrix {
    /// Whether [`PackedMatrix::pack`] accepts `m` (Q8_0, Q4_0 or Q5_0 with a multiple of 8 rows).
    pub fn can_pack(m: &Matrix<'_>) -> bool {
        Layout::for_type(m.ty()).is_some() && m.n_rows() > 0 && m.n_rows().is_multiple_of(ROWS)
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
        let layout = Layout::for_type(m.ty())?;
        let nb = m.n_cols() / layout.block_elems();
        let group_bytes = nb * layout.block_bytes();
        let n_groups = m.n_rows() / ROWS;
        let mut data = Buffer::zeroed(n_groups * group_bytes);
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
                    let rows = std::array::from_fn(|r| m.row(r0 + r));
                    pack_group(layout, rows, nb, dst);
                }
            });
            done(g0 * ROWS..g1 * ROWS);
            g0 = g1;
        }
        Some(PackedMatrix {
            ty: m.ty(),
            layout,
            n_rows: m.n_rows(),
            n_cols: m.n_cols(),
            data,
        })
    }

    /// The source type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    pub fn layout(&self) -> Layout {
        self.layout
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
        let gb = self.n_cols / self.layout.block_elems() * self.layout.block_bytes();
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
            let bb = self.layout.block_bytes();
            if self.layout == Layout::Q4Kx8 {
                for (blk, ob) in g.chunks_exact(bb).zip(o.chunks_exact_mut(256)) {
                    q4k_dequant(blk, r, ob);
                }
                continue;
            }
            for (blk, ob) in g.chunks_exact(bb).zip(o.chunks_exact_mut(32)) {
                let d = f16_le([blk[2 * r], blk[2 * r + 1]]);
                for s in 0..8 {
                    for e in 0..4 {
                        ob[4 * s + e] = d * self.layout.quant(blk, s, 4 * r + e) as f32;
                    }
                }
            }
        }
    }
}

/// Interleave 8 rows of `nb` source blocks into `dst` (`nb` group blocks).
fn pack_group(layout: Layout, rows: [&[u8]; ROWS], nb: usize, dst: &mut [u8]) {
    use crate::quant::{cast_blocks, BlockQ4_0, BlockQ5_0};
    let bb = layout.block_bytes();
    if layout == Layout::Q4Kx8 {
        return pack_group_q4k(rows, nb, dst);
    }
    for b in 0..nb {
        let o = &mut dst[b * bb..(b + 1) * bb];
        o[16..].fill(0);
        for (r, row) in rows.iter().enumerate() {
            // Row r's scale and its 32 signed quants in element order.
            let (d, q): ([u8; 2], [i8; 32]) = match layout {
                Layout::Q8_0x8 => {
                    let src = &row[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
                    ([src[0], src[1]], std::array::from_fn(|i| src[2 + i] as i8))
                }
                Layout::Q4_0x8 => {
                    let blk = &cast_blocks::<BlockQ4_0>(row)[b];
                    (blk.d, blk.quants())
                }
                Layout::Q5_0x8 => {
                    let blk = &cast_blocks::<BlockQ5_0>(row)[b];
                    (blk.d, blk.quants())
                }
                Layout::Q4Kx8 => unreachable!("handled by pack_group_q4k"),
            };
            o[2 * r..2 * r + 2].copy_from_slice(&d);
            for s in 0..8 {
                for e in 0..4 {
                    let (i, v) = (4 * r + e, q[4 * s + e]);
                    let u = (v as i32 + layout.offset()) as u8;
                    match layout {
                        Layout::Q8_0x8 => o[16 + 32 * s + i] = v as u8,
                        Layout::Q4Kx8 => unreachable!("handled by pack_group_q4k"),
                        Layout::Q4_0x8 | Layout::Q5_0x8 => {
                            let qs = if layout == Layout::Q5_0x8 { 48 } else { 16 };
                            o[qs + 32 * (s / 2) + i] |= (u & 0x0F) << (4 * (s % 2));
                            if layout == Layout::Q5_0x8 {
                                o[16 + i] |= ((u >> 4) & 1) << s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Interleave 8 Q4_K rows of `nb` blocks (see the module docs for the layout).
fn pack_group_q4k(rows: [&[u8]; ROWS], nb: usize, dst: &mut [u8]) {
    use crate::quant::{cast_blocks, q4_k::scale_min_k4, BlockQ4K};
    let bb = Layout::Q4Kx8.block_bytes();
    for b in 0..nb {
        let o = &mut dst[b * bb..(b + 1) * bb];
        o[Q4K_QS..].fill(0);
        for (r, row) in rows.iter().enumerate() {
            let blk = &cast_blocks::<BlockQ4K>(row)[b];
            o[2 * r..2 * r + 2].copy_from_slice(&blk.d);
            o[16 + 2 * r..18 + 2 * r].copy_from_slice(&blk.dmin);
            let u = blk.quants();
            for j in 0..8 {
                let (sc, m) = scale_min_k4(j, &blk.scales);
                o[Q4K_SC + 8 * j + r] = sc;
                o[Q4K_MN + 16 * (j / 2) + 2 * r + j % 2] = m;
                for s in 0..8 {
                    for e in 0..4 {
                        let i = 4 * r + e;
                        let v = u[32 * j + 4 * s + e];
                        o[Q4K_QS + 128 * j + 32 * (s / 2) + i] |= v << (4 * (s % 2));
                    }
                }
            }
        }
    }
}

/// `ysum[t·nb + b]` = Σ of the quants of block b of activation row t (Q8_0 rows, `stride` apart).
pub fn block_sums(a: &[u8], stride: usize, nt: usize, nb: usize, ysum: &mut [i32]) {
    for t in 0..nt {
        for b in 0..nb {
            let q = &a[t * stride + b * Q8_0_BYTES + 2..t * stride + (b + 1) * Q8_0_BYTES];
            ysum[t * nb + b] = q.iter().map(|&v| v as i8 as i32).sum();
        }
    }
}

/// Below this many tokens a matmul uses the kernels that sum in llama.cpp's order (its decode
/// path, `ggml_vec_dot_*`): on a quantized model, a last-bit difference in one layer can flip
/// the rounding of a later activation quantization and so move log-probs visibly; decoding is
/// memory-bound, so the extra float work costs nothing there. Prompts use the block-sum kernels
/// (fewer float operations; llama.cpp's batched path sums in yet another order).
pub const EXACT_BELOW_TOKENS: usize = 32;

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
    let act_fmt = w.layout.act_format();
    let act_row = act_fmt.row_bytes(kk);
    ACT.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < act_row * m {
            buf.resize(act_row * m, 0);
        }
        let act = &mut buf[..act_row * m];
        crate::matmul::quantize_rows(k, pool, act_fmt, x, kk, m, act_row, act);
        YSUM.with(|ys| {
            let mut ys = ys.borrow_mut();
            let nb = kk / w.layout.block_elems();
            let n_sums = if w.layout.offset() != 0 { m * nb } else { 0 };
            if ys.len() < n_sums {
                ys.resize(n_sums, 0);
            }
            block_sums(act, act_row, n_sums / nb.max(1), nb, &mut ys[..n_sums]);
            sweep(k, pool, w, act, act_row, &ys[..n_sums], m, y);
        });
    });
}

thread_local! {
    /// Q8_0 activations of the current call, reused across calls (no allocation once warm).
    static ACT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Per-block activation sums of the current call (offset layouts).
    static YSUM: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Every group against every token of `act` (Q8_0 rows, `act_row` bytes each; `ysum`: their
/// block sums for the offset layouts, else empty).
#[allow(clippy::too_many_arguments)]
fn sweep(
    k: &Kernels,
    pool: &ThreadPool,
    w: &PackedMatrix,
    act: &[u8],
    act_row: usize,
    ysum: &[i32],
    m: usize,
    y: &mut [f32],
) {
    let (n, kk) = (w.n_rows, w.n_cols);
    let kernel = if m < EXACT_BELOW_TOKENS {
        k.group_kernel_exact(w.layout)
    } else {
        k.group_kernel(w.layout)
    };
    let nb = kk / w.layout.block_elems();
    let n_groups = n / ROWS;
    let out = SharedMut::new(y);
    // Decode: small chunks for balance. Many tokens: a chunk of groups stays in L1/L2 while every
    // token sweeps it, so the weights are read from memory once per call; 4/5-bit groups are
    // first expanded to bytes once per chunk rather than once per 4-token tile.
    let chunk = if m <= MAX_COLS {
        (n_groups / (pool.n_threads() * 16)).clamp(1, 64)
    } else {
        4
    };
    // The 4/5-bit layouts' unpacked form, where the table has one (SIMD levels).
    let unpacked = k
        .unpacked_group_kernel()
        .filter(|_| m >= EXACT_BELOW_TOKENS && w.layout.offset() != 0);
    pool.parallel_for(n_groups, chunk, |groups| {
        UNPACKED.with(|cell| {
            let mut ubuf = cell.borrow_mut();
            if let Some((unpack_u8, _)) = unpacked {
                let need = groups.len() * nb * U8_BLOCK_BYTES;
                if ubuf.len() < need {
                    ubuf.resize(need, 0);
                }
                for (j, g) in groups.clone().enumerate() {
                    let dst = &mut ubuf[j * nb * U8_BLOCK_BYTES..(j + 1) * nb * U8_BLOCK_BYTES];
                    unpack_u8(w.layout, nb, w.group(g), dst);
                }
            }
            let mut o = [[0f32; ROWS]; MAX_COLS];
            let mut t0 = 0;
            while t0 < m {
                let nt = (m - t0).min(MAX_COLS);
                let (a, ys) = (
                    &act[t0 * act_row..],
                    if ysum.is_empty() {
                        ysum
                    } else {
                        &ysum[t0 * nb..]
                    },
                );
                for (j, g) in groups.clone().enumerate() {
                    if let Some((_, u8x8)) = unpacked {
                        let ug = &ubuf[j * nb * U8_BLOCK_BYTES..(j + 1) * nb * U8_BLOCK_BYTES];
                        u8x8(nb, ug, a, act_row, ys, w.layout.offset(), &mut o[..nt]);
                    } else {
                        kernel(nb, w.group(g), a, act_row, ys, &mut o[..nt]);
                    }
                    for (t, vals) in o[..nt].iter().enumerate() {
                        let at = (t0 + t) * n + g * ROWS;
                        // SAFETY: rows of group `g` belong to this range only.
                        unsafe { out.slice_mut(at..at + ROWS) }.copy_from_slice(vals);
                    }
                }
                t0 += nt;
            }
        });
    });
}

thread_local! {
    /// This thread's expanded 4/5-bit groups (prompt sweeps).
    static UNPACKED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::Level;
    use proptest::prelude::*;

    /// Random rows of `ty` (Q8_0/Q4_0/Q5_0): scales of varied magnitude, every other byte
    /// random (so Q8_0 quants cover the full range, −128 included).
    fn random_rows(ty: GgmlType, seed: u64, n_rows: usize, k: usize) -> Vec<u8> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (tb, bs) = (ty.type_size() as usize, ty.block_size() as usize);
        // Q4_K has two f16 scales (d, dmin) in front, the legacy types one.
        let n_f16 = if ty == GgmlType::Q4_K { 2 } else { 1 };
        let mut out = Vec::with_capacity(n_rows * k / bs * tb);
        for _ in 0..n_rows * k / bs {
            for _ in 0..n_f16 {
                let d = half::f16::from_f32(((next() % 1000) as f32 + 1.0) * 1e-4);
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend((0..tb - 2 * n_f16).map(|_| next() as u8));
        }
        out
    }

    fn random_q8_0(seed: u64, n_rows: usize, k: usize) -> Vec<u8> {
        random_rows(GgmlType::Q8_0, seed, n_rows, k)
    }

    const TYS: [GgmlType; 4] = [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
    ];

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
        let z = vec![0u8; 8 * 210];
        let m = Matrix::new(GgmlType::Q6_K, 8, 256, &z).unwrap();
        assert!(PackedMatrix::pack(&m, &pool, |_| {}).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn packed_get_rows_equals_source(ti in 0..4usize, seed in any::<u64>(), groups in 1usize..5, nb in 1usize..7) {
            let ty = TYS[ti];
            let (n, k) = (groups * ROWS, nb * ty.block_size() as usize);
            let w = random_rows(ty, seed, n, k);
            let m = Matrix::new(ty, n, k, &w).unwrap();
            let mut released = Vec::new();
            let p = PackedMatrix::pack(&m, &ThreadPool::new(2), |r| released.push(r)).unwrap();
            prop_assert_eq!(released, vec![0..n]);
            let ids: Vec<u32> = (0..n as u32).rev().collect();
            let (mut a, mut b) = (vec![0f32; n * k], vec![0f32; n * k]);
            p.get_rows(&ids, &mut a);
            crate::ops::get_rows(ty, &w, k, &ids, &mut b);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn simd_group_kernel_equals_scalar(ti in 0..4usize, seed in any::<u64>(), nb in 1usize..12, nt in 1usize..=4, pad in 0usize..40) {
            let ty = TYS[ti];
            let nb = if ty == GgmlType::Q4_K { nb.div_ceil(4) } else { nb };
            let k = nb * ty.block_size() as usize;
            let w = random_rows(ty, seed, ROWS, k);
            let m = Matrix::new(ty, ROWS, k, &w).unwrap();
            let p = PackedMatrix::pack(&m, &ThreadPool::new(1), |_| {}).unwrap();
            let act = p.layout().act_format();
            let row = act.row_bytes(k);
            let stride = row + pad;
            let mut a = vec![0u8; stride * nt];
            for t in 0..nt {
                let x = acts(seed.wrapping_add(t as u64), k);
                Kernels::scalar().quantize(act, &x, &mut a[t * stride..t * stride + row]);
            }
            let mut ys = vec![0i32; nt * nb];
            if p.layout().offset() != 0 {
                block_sums(&a, stride, nt, nb, &mut ys);
            }
            let (mut os, mut od) = ([[0f32; ROWS]; 4], [[1f32; ROWS]; 4]);
            Kernels::scalar().group_kernel(p.layout())(nb, p.group(0), &a, stride, &ys, &mut os[..nt]);
            Kernels::detect().group_kernel(p.layout())(nb, p.group(0), &a, stride, &ys, &mut od[..nt]);
            // Same operations in the same order: bit-identical.
            prop_assert_eq!(&os[..nt], &od[..nt]);
            if let Some((unpack_u8, u8x8)) = Kernels::detect().unpacked_group_kernel().filter(|_| p.layout().offset() != 0) {
                let mut ug = vec![0u8; nb * U8_BLOCK_BYTES];
                unpack_u8(p.layout(), nb, p.group(0), &mut ug);
                let mut ou = [[2f32; ROWS]; 4];
                u8x8(nb, &ug, &a, stride, &ys, p.layout().offset(), &mut ou[..nt]);
                prop_assert_eq!(&ou[..nt], &od[..nt]);
            }
            let (mut es, mut ed) = ([[0f32; ROWS]; 4], [[1f32; ROWS]; 4]);
            Kernels::scalar().group_kernel_exact(p.layout())(nb, p.group(0), &a, stride, &ys, &mut es[..nt]);
            Kernels::detect().group_kernel_exact(p.layout())(nb, p.group(0), &a, stride, &ys, &mut ed[..nt]);
            prop_assert_eq!(&es[..nt], &ed[..nt]);
            // And equal to the unpacked AVX2 (or scalar) dot kernels, which follow llama.cpp's
            // lane order (the AVX-512 ones sum two blocks per register, in another order); Q4_0
            // decodes with the block-sum kernel (llama.cpp has its own repacked kernel there).
            let dot = Kernels::detect_up_to(Level::Avx2).dot(ty).unwrap().f;
            for t in (0..nt).filter(|_| ty != GgmlType::Q4_0) {
                for (r, &v) in ed[t].iter().enumerate() {
                    let mut o = [0f32; 1];
                    dot(m.row(r), &a[t * stride..], stride, &mut o);
                    prop_assert_eq!(o[0].to_bits(), v.to_bits(), "t {} r {}", t, r);
                }
            }
        }

        #[test]
        fn packed_matmul_matches_plain_matmul(
            ti in 0..4usize,
            seed in any::<u64>(),
            groups in 1usize..6,
            nb in 1usize..5,
            m in prop_oneof![1usize..6, 30usize..40],
            threads in 1usize..4,
        ) {
            let ty = TYS[ti];
            let (n, k) = (groups * ROWS, nb * ty.block_size() as usize);
            let w = random_rows(ty, seed, n, k);
            let mat = Matrix::new(ty, n, k, &w).unwrap();
            let pool = ThreadPool::new(threads);
            let p = PackedMatrix::pack(&mat, &pool, |_| {}).unwrap();
            let x = acts(seed, m * k);
            let (mut yp, mut y) = (vec![0f32; m * n], vec![0f32; m * n]);
            matmul_packed(&pool, &p, &x, m, &mut yp);
            crate::matmul(&pool, &mat, &x, m, &mut y);
            let mut wf = vec![0f32; n * k];
            crate::dequantize_row(ty, &w, &mut wf);
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
