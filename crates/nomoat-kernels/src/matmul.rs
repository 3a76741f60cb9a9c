//! `y = x · Wᵀ` for a weight matrix in GGUF layout (`n_rows` rows of `n_cols` elements in whole
//! blocks), multi-threaded over output rows with dynamic chunking. The driver behind
//! [`crate::WeightMatrix::matmul`] for matrices that were not repacked; [`Matrix`], [`matmul`] and
//! [`matmul_with`] stay public as the lower-level API for tests and benchmarks. Every kernel comes
//! from the [`Kernels`] table.
//!
//! Activations (`m × K` f32) are first converted once per call to the weight type's activation
//! format (Q8_0 / Q8_1 / Q8_K, or f32 for float weights), into a per-thread scratch buffer that
//! is reused across calls (no allocation in the token loop once warm). Then:
//! - `m == 1` (decode, GEMV): each thread takes chunks of rows and calls the dot kernel per row;
//! - `m > 1` (prompt, GEMM): each thread takes chunks of rows and, for each tile of
//!   [`MAX_COLS`] tokens, runs every row of the chunk against the tile, so each unpacked weight
//!   block is reused across the tile's tokens while the chunk's rows stay in L1.

use std::cell::RefCell;

pub use crate::dispatch::R8_MIN_TOKENS;
use crate::dispatch::{kernels, ActFormat, Kernels, MAX_COLS};
use crate::pool::ThreadPool;
use crate::repack;
use crate::shared::SharedMut;
use crate::{GgmlType, KernelError};

/// A weight matrix borrowed in place (e.g. from the mmapped file): `n_rows` output features, each
/// a row of `n_cols` input features (GGUF `ne[0] = n_cols`, `ne[1] = n_rows`).
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    ty: GgmlType,
    n_rows: usize,
    n_cols: usize,
    row_bytes: usize,
    data: &'a [u8],
}

impl<'a> Matrix<'a> {
    /// Check the type is supported, `n_cols` is whole blocks and `data` is exactly the matrix.
    pub fn new(
        ty: GgmlType,
        n_rows: usize,
        n_cols: usize,
        data: &'a [u8],
    ) -> Result<Self, KernelError> {
        if !crate::supported(ty) {
            return Err(KernelError::UnsupportedMatrixType(ty));
        }
        let block = ty.block_size() as usize;
        if !n_cols.is_multiple_of(block) {
            return Err(KernelError::BadColumns { ty, n_cols, block });
        }
        let row_bytes = (n_cols / block)
            .checked_mul(ty.type_size() as usize)
            .ok_or(KernelError::Overflow { ty, n_rows, n_cols })?;
        let expected =
            row_bytes
                .checked_mul(n_rows)
                .ok_or(KernelError::Overflow { ty, n_rows, n_cols })?;
        if data.len() != expected {
            return Err(KernelError::BadDataLength {
                ty,
                n_rows,
                n_cols,
                expected,
                got: data.len(),
            });
        }
        Ok(Self {
            ty,
            n_rows,
            n_cols,
            row_bytes,
            data,
        })
    }
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// Output features (N).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Input features (K).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &'a [u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }
}

thread_local! {
    /// Converted activations of the current call, reused across calls on the same thread.
    static ACT_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// R8-layout activations of the current call (prompt GEMM).
    static ACT_R8: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// This thread's repacked weight tile (prompt GEMM); pool workers keep theirs across calls.
    static TILE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `y = x · Wᵀ`: `x` is `m × K` row-major, `y` is `m × N` row-major. Uses the process-wide
/// kernel table ([`kernels`]).
pub fn matmul(pool: &ThreadPool, w: &Matrix<'_>, x: &[f32], m: usize, y: &mut [f32]) {
    matmul_with(kernels(), pool, w, x, m, y)
}

/// [`matmul`] with an explicit kernel table (tests compare tables).
pub fn matmul_with(
    k: &Kernels,
    pool: &ThreadPool,
    w: &Matrix<'_>,
    x: &[f32],
    m: usize,
    y: &mut [f32],
) {
    let (n, kk) = (w.n_rows, w.n_cols);
    assert_eq!(x.len(), m * kk, "x must be m × K = {m} × {kk}");
    assert_eq!(y.len(), m * n, "y must be m × N = {m} × {n}");
    if m == 0 || n == 0 {
        return;
    }
    let dot = *k
        .dot(w.ty)
        .expect("Matrix::new only accepts supported types");
    let act_row = dot.act.row_bytes(kk);
    ACT_SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        let need = act_row * m;
        if buf.len() < need {
            buf.resize(need, 0);
        }
        let act = &mut buf[..need];
        quantize_rows(k, pool, dot.act, x, kk, m, act_row, act);
        let act: &[u8] = act;
        if m >= R8_MIN_TOKENS && n >= repack::R {
            if let Some(g) = repack::group_size(w.ty) {
                gemm_r8(k, pool, w, g, act, act_row, m, y);
                return;
            }
        }
        let out = SharedMut::new(y);
        if m == 1 {
            let chunk = (n / (pool.n_threads() * 16)).clamp(8, 256);
            if let Some(rows4) = k.rows4(w.ty) {
                // Chunks are multiples of 4 rows; the last chunk may end with 1-3 single rows.
                let chunk = chunk.next_multiple_of(4);
                pool.parallel_for(n, chunk, |rows| {
                    let mut r = rows.start;
                    let mut o4 = [0f32; 4];
                    while r + 4 <= rows.end {
                        rows4(
                            [w.row(r), w.row(r + 1), w.row(r + 2), w.row(r + 3)],
                            act,
                            &mut o4,
                        );
                        for (i, &v) in o4.iter().enumerate() {
                            // SAFETY: rows r..r+4 belong to this range only.
                            unsafe { out.write(r + i, v) };
                        }
                        r += 4;
                    }
                    let mut o = [0f32; 1];
                    for r in r..rows.end {
                        (dot.f)(w.row(r), act, act_row, &mut o);
                        // SAFETY: row `r` belongs to this range only.
                        unsafe { out.write(r, o[0]) };
                    }
                });
                return;
            }
            pool.parallel_for(n, chunk, |rows| {
                let mut o = [0f32; 1];
                for r in rows {
                    (dot.f)(w.row(r), act, act_row, &mut o);
                    // SAFETY: row `r` belongs to this range only, and ranges are disjoint.
                    unsafe { out.write(r, o[0]) };
                }
            });
        } else {
            let chunk = (n / (pool.n_threads() * 8)).clamp(4, 16);
            pool.parallel_for(n, chunk, |rows| {
                let mut o = [0f32; MAX_COLS];
                let mut t0 = 0;
                while t0 < m {
                    let nt = (m - t0).min(MAX_COLS);
                    let a = &act[t0 * act_row..];
                    for r in rows.clone() {
                        (dot.f)(w.row(r), a, act_row, &mut o[..nt]);
                        for (t, &v) in o[..nt].iter().enumerate() {
                            // SAFETY: column `r` of every token row belongs to this range only.
                            unsafe { out.write((t0 + t) * n + r, v) };
                        }
                    }
                    t0 += nt;
                }
            });
        }
    });
}

/// The prompt GEMM for types with an R8 layout: activations converted once to the R8 layout;
/// each thread repacks 8 weight rows at a time into its own tile and sweeps all tokens over it.
/// Rows beyond the last whole tile use the dot kernels.
#[allow(clippy::too_many_arguments)]
fn gemm_r8(
    kern: &Kernels,
    pool: &ThreadPool,
    w: &Matrix<'_>,
    g: usize,
    act: &[u8],
    act_row: usize,
    m: usize,
    y: &mut [f32],
) {
    let (n, kk) = (w.n_rows, w.n_cols);
    let r8_row = repack::act_row_bytes(kk, g);
    ACT_R8.with(|cell| {
        let mut buf = cell.borrow_mut();
        let need = r8_row * m;
        if buf.len() < need {
            buf.resize(need, 0);
        }
        let r8 = &mut buf[..need];
        {
            let shared = SharedMut::new(r8);
            pool.parallel_for(m, 16, |toks| {
                for t in toks {
                    // SAFETY: token row `t` belongs to this range only.
                    let dst = unsafe { shared.slice_mut(t * r8_row..(t + 1) * r8_row) };
                    repack::convert_act(g, &act[t * act_row..(t + 1) * act_row], kk, dst);
                }
            });
        }
        let r8: &[u8] = r8;
        let out = SharedMut::new(y);
        let n_tiles = n / repack::R;
        let tb = repack::tile_bytes(kk, g);
        let tile_dot = kern.tile_dot_kernel().0;
        let signed = repack::is_signed(w.ty);
        // Work item: TILES_PER_ITEM tiles (32 rows), repacked once; then token blocks of
        // TOKEN_BLOCK tokens sweep all of them, so the activations being read stay in L2.
        const TILES_PER_ITEM: usize = 4;
        const TOKEN_BLOCK: usize = 64;
        pool.parallel_for(n_tiles, TILES_PER_ITEM, |tiles| {
            TILE.with(|tcell| {
                let mut buf = tcell.borrow_mut();
                let need = tb * TILES_PER_ITEM;
                if buf.len() < need {
                    buf.resize(need, 0);
                }
                for (j, ti) in tiles.clone().enumerate() {
                    let r0 = ti * repack::R;
                    let rows = std::array::from_fn(|r| w.row(r0 + r));
                    repack::repack_tile(w.ty, rows, kk, &mut buf[j * tb..(j + 1) * tb]);
                }
                let mut o = [[0f32; repack::R]; 4];
                let mut b0 = 0;
                while b0 < m {
                    let b1 = (b0 + TOKEN_BLOCK).min(m);
                    for (j, ti) in tiles.clone().enumerate() {
                        let r0 = ti * repack::R;
                        let tile = &buf[j * tb..(j + 1) * tb];
                        let mut t0 = b0;
                        while t0 < b1 {
                            let nt = (b1 - t0).min(4);
                            tile_dot(
                                kk,
                                g,
                                signed,
                                tile,
                                &r8[t0 * r8_row..],
                                r8_row,
                                &mut o[..nt],
                            );
                            for (t, vals) in o[..nt].iter().enumerate() {
                                let at = (t0 + t) * n + r0;
                                // SAFETY: rows r0..r0+8 belong to this work item only.
                                unsafe { out.slice_mut(at..at + repack::R) }.copy_from_slice(vals);
                            }
                            t0 += nt;
                        }
                    }
                    b0 = b1;
                }
            });
        });
        let dot = *kern.dot(w.ty).expect("supported type");
        let rest = n_tiles * repack::R..n;
        let mut o = [0f32; MAX_COLS];
        for r in rest {
            let mut t0 = 0;
            while t0 < m {
                let nt = (m - t0).min(MAX_COLS);
                (dot.f)(w.row(r), &act[t0 * act_row..], act_row, &mut o[..nt]);
                for (t, &v) in o[..nt].iter().enumerate() {
                    // SAFETY: no pool job is running; this is the only writer.
                    unsafe { out.write((t0 + t) * n + r, v) };
                }
                t0 += nt;
            }
        }
    });
}

/// Convert `m` rows of `k` activations into `act` (`m × act_row` bytes), in parallel for large m.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantize_rows(
    kern: &Kernels,
    pool: &ThreadPool,
    fmt: ActFormat,
    x: &[f32],
    k: usize,
    m: usize,
    act_row: usize,
    act: &mut [u8],
) {
    if m < 4 || pool.n_threads() == 1 {
        for (xr, ar) in x.chunks_exact(k).zip(act.chunks_exact_mut(act_row)) {
            kern.quantize(fmt, xr, ar);
        }
        return;
    }
    let shared = SharedMut::new(act);
    pool.parallel_for(m, 4, |rows| {
        for t in rows {
            // SAFETY: token row `t` belongs to this range only.
            let ar = unsafe { shared.slice_mut(t * act_row..(t + 1) * act_row) };
            kern.quantize(fmt, &x[t * k..(t + 1) * k], ar);
        }
    });
}
