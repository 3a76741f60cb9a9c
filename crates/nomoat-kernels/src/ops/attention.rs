//! Attention for grouped-query heads over a paged KV cache, with causal and sliding-window masks.
//!
//! Layout of one layer's K (and V) storage, a pool of fixed-size blocks:
//! `[n_blocks][n_kv_head][block_size][head_dim]` (a head's keys of one block are contiguous).
//! A sequence's cache position `j` lives in block `table[j / block_size]` at slot `j % block_size`.
//!
//! Each (query token, head) pair streams over its visible keys block by block with an online
//! softmax (running max and sum, output rescaled when the max grows), so no score matrix is ever
//! materialised: memory per pair is one head's output row plus a 64-score stack buffer. Work is
//! split over (token, head) pairs with the thread pool; each pair writes its own output row.

use std::cell::RefCell;

use half::f16;

use super::simd;
use crate::pool::ThreadPool;
use crate::shared::SharedMut;

/// Largest head dimension the attention kernel accepts (stack buffers are this long).
pub const MAX_HEAD_DIM: usize = 512;

/// Scores computed per step of the online softmax.
const SCORE_CHUNK: usize = 64;

/// Element type of the KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvDtype {
    /// Half precision (the default, as llama.cpp).
    #[default]
    F16,
    F32,
}

/// One layer's K or V storage (see the module docs for the layout).
#[derive(Clone, Copy, Debug)]
pub enum KvPool<'a> {
    F16(&'a [f16]),
    F32(&'a [f32]),
}

/// K and V of one layer.
#[derive(Clone, Copy, Debug)]
pub struct KvBlocks<'a> {
    pub k: KvPool<'a>,
    pub v: KvPool<'a>,
    /// Tokens per block.
    pub block_size: usize,
}

/// Where each query token's keys are: its position (= number of earlier tokens of its sequence in
/// the cache) and its sequence's block table, as a `(start, len)` range into `table`.
#[derive(Clone, Copy, Debug)]
pub struct SeqTables<'a> {
    /// Per query token: its position; keys `0..=pos` (within the window) are visible.
    pub pos: &'a [u32],
    /// Per query token: `(start, len)` of its block table in `table`.
    pub ranges: &'a [(u32, u32)],
    /// Block ids of all sequences in the batch, concatenated.
    pub table: &'a [u32],
}

/// Shape and masking of one attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnParams {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Multiplies `q·k` (usually `1/sqrt(head_dim_k)`).
    pub scale: f32,
    /// Sliding window: a query at position p sees keys `p-window+1 ..= p`; 0 = no window.
    pub window: u32,
    /// Attention logit soft-capping `c·tanh(s/c)`; 0 = off.
    pub softcap: f32,
    /// With an f16 cache, reproduce llama.cpp's CPU flash-attention vector kernel (the one it
    /// uses for fewer than 64 query tokens): Q rounded to f16, a per-key online softmax, and the
    /// output accumulated in f16 (rounded after every key). Off: Q and the accumulator stay f32
    /// (more accurate; llama.cpp's tiled kernel for larger batches does the same).
    pub f16_vec_path: bool,
}

impl AttnParams {
    fn check(&self, n_tokens: usize, q: &[f32], out: &[f32]) {
        assert!(self.n_kv_head > 0 && self.n_head.is_multiple_of(self.n_kv_head));
        assert!(self.head_dim_k <= MAX_HEAD_DIM && self.head_dim_v <= MAX_HEAD_DIM);
        assert_eq!(q.len(), n_tokens * self.n_head * self.head_dim_k);
        assert_eq!(out.len(), n_tokens * self.n_head * self.head_dim_v);
    }
}

#[inline]
fn dot(pool: &KvPool<'_>, start: usize, len: usize, q: &[f32]) -> f32 {
    match pool {
        KvPool::F16(d) => simd::dot_f16_f32(&d[start..start + len], q),
        KvPool::F32(d) => simd::dot_f32(&d[start..start + len], q),
    }
}

#[inline]
fn axpy(out: &mut [f32], w: f32, pool: &KvPool<'_>, start: usize) {
    let len = out.len();
    match pool {
        KvPool::F16(d) => simd::axpy_f16(out, w, &d[start..start + len]),
        KvPool::F32(d) => simd::axpy_f32(out, w, &d[start..start + len]),
    }
}

/// Computes one (token, head) pair into `out` (`head_dim_v` values).
fn attend_one(
    p: &AttnParams,
    q_row: &[f32],
    kv: &KvBlocks<'_>,
    pos: u32,
    table: &[u32],
    head: usize,
    out: &mut [f32],
) {
    let (hdk, hdv, bs) = (p.head_dim_k, p.head_dim_v, kv.block_size);
    let kvh = head / (p.n_head / p.n_kv_head);
    let mut qbuf = [0.0f32; MAX_HEAD_DIM];
    let q = &mut qbuf[..hdk];
    q.copy_from_slice(q_row);

    let hi = pos as usize + 1;
    let lo = if p.window > 0 {
        hi.saturating_sub(p.window as usize)
    } else {
        0
    };
    assert!(
        hi <= table.len() * bs,
        "query position {pos} beyond its block table"
    );

    if let (true, KvPool::F16(kd), KvPool::F16(vd)) = (p.f16_vec_path, &kv.k, &kv.v) {
        q.iter_mut().for_each(|v| *v = f16::from_f32(*v).to_f32());
        let mut acc = [f16::ZERO; MAX_HEAD_DIM];
        let acc = &mut acc[..hdv];
        let (mut m, mut sum) = (f32::NEG_INFINITY, 0.0f32);
        for j in lo..hi {
            let row = (table[j / bs] as usize * p.n_kv_head + kvh) * bs + j % bs;
            let mut s = simd::dot_f16_f32(&kd[row * hdk..(row + 1) * hdk], q) * p.scale;
            if p.softcap > 0.0 {
                s = p.softcap * (s / p.softcap).tanh();
            }
            let (mut ms, mut vs) = (1.0f32, 1.0f32);
            if s > m {
                ms = (m - s).exp();
                m = s;
                simd::scale_f16(acc, ms);
            } else {
                vs = (s - m).exp();
            }
            simd::axpy_f16_acc(acc, vs, &vd[row * hdv..(row + 1) * hdv]);
            sum = sum * ms + vs;
        }
        let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
        for (o, a) in out.iter_mut().zip(acc.iter()) {
            *o = a.to_f32() * inv;
        }
        return;
    }

    out.iter_mut().for_each(|v| *v = 0.0);
    let mut m = f32::NEG_INFINITY;
    let mut sum = 0.0f32;
    let mut scores = [0.0f32; SCORE_CHUNK];
    let mut j = lo;
    while j < hi {
        let (blk, slot) = (table[j / bs] as usize, j % bs);
        let run = (bs - slot).min(hi - j).min(SCORE_CHUNK);
        let row0 = (blk * p.n_kv_head + kvh) * bs + slot;
        let mut cmax = f32::NEG_INFINITY;
        for (r, s) in scores[..run].iter_mut().enumerate() {
            let mut v = dot(&kv.k, (row0 + r) * hdk, hdk, q) * p.scale;
            if p.softcap > 0.0 {
                v = p.softcap * (v / p.softcap).tanh();
            }
            *s = v;
            cmax = cmax.max(v);
        }
        if cmax > m {
            // exp(-inf) = 0 clears the (empty) accumulator on the first chunk.
            let ms = (m - cmax).exp();
            sum *= ms;
            out.iter_mut().for_each(|v| *v *= ms);
            m = cmax;
        }
        for (r, &s) in scores[..run].iter().enumerate() {
            let w = (s - m).exp();
            sum += w;
            axpy(out, w, &kv.v, (row0 + r) * hdv);
        }
        j += run;
    }
    let inv = if sum > 0.0 { 1.0 / sum } else { 0.0 };
    out.iter_mut().for_each(|v| *v *= inv);
}

/// Attention for the (token, head) pairs `first_item ..` covered by `out` (whole rows of
/// `head_dim_v`; item `i` = token `i / n_head`, head `i % n_head`). `q`: n_tokens × n_head ×
/// head_dim_k (already rotated), the cache already holds every visible key including the token's
/// own. Used directly by tests and by the threaded [`attention`].
pub fn attention_items(
    p: &AttnParams,
    q: &[f32],
    kv: &KvBlocks<'_>,
    tabs: &SeqTables<'_>,
    first_item: usize,
    out: &mut [f32],
) {
    for (k, orow) in out.chunks_exact_mut(p.head_dim_v).enumerate() {
        let item = first_item + k;
        let (t, h) = (item / p.n_head, item % p.n_head);
        let (start, len) = tabs.ranges[t];
        let table = &tabs.table[start as usize..(start + len) as usize];
        let q_row = &q[(t * p.n_head + h) * p.head_dim_k..][..p.head_dim_k];
        attend_one(p, q_row, kv, tabs.pos[t], table, h, orow);
    }
}

/// Attention over all tokens of a batch, threaded with `pool`. `q`: n_tokens × n_head ×
/// head_dim_k, `out`: n_tokens × n_head × head_dim_v. The llama.cpp f16 vector path runs per
/// (token, head) pair ([`attention_items`]); otherwise tiles of tokens × the heads sharing one KV
/// head run together (`attention_tiled`): same results, each K/V row converted once per tile.
pub fn attention(
    pool: &ThreadPool,
    p: &AttnParams,
    q: &[f32],
    kv: &KvBlocks<'_>,
    tabs: &SeqTables<'_>,
    out: &mut [f32],
) {
    let n_tokens = tabs.pos.len();
    p.check(n_tokens, q, out);
    assert_eq!(tabs.ranges.len(), n_tokens);
    if uses_tiles(p, kv) {
        let tt = tile_tokens(p);
        let n_items = n_tokens.div_ceil(tt) * p.n_kv_head;
        let shared = SharedMut::new(out);
        // One tile per hand-out: a tile's cost grows with its position.
        pool.parallel_for(n_items, 1, |items| {
            for it in items {
                let (tile, kvh) = (it / p.n_kv_head, it % p.n_kv_head);
                let toks = tile * tt..((tile + 1) * tt).min(n_tokens);
                attention_tiled(p, q, kv, tabs, toks, kvh, &shared);
            }
        });
        return;
    }
    let n_items = n_tokens * p.n_head;
    let hdv = p.head_dim_v;
    let shared = SharedMut::new(out);
    // Small chunks: the cost of a pair grows with its position, so hand them out dynamically.
    let chunk = (n_items / (pool.n_threads() * 8)).clamp(1, 16);
    pool.parallel_for(n_items, chunk, |items| {
        // SAFETY: the item ranges handed out by `parallel_for` are disjoint, so are their rows.
        let rows = unsafe { shared.slice_mut(items.start * hdv..items.end * hdv) };
        attention_items(p, q, kv, tabs, items.start, rows);
    });
}

/// [`attention`] on the calling thread only.
pub fn attention_serial(
    p: &AttnParams,
    q: &[f32],
    kv: &KvBlocks<'_>,
    tabs: &SeqTables<'_>,
    out: &mut [f32],
) {
    let n_tokens = tabs.pos.len();
    p.check(n_tokens, q, out);
    assert_eq!(tabs.ranges.len(), n_tokens);
    if uses_tiles(p, kv) {
        let shared = SharedMut::new(out);
        for kvh in 0..p.n_kv_head {
            attention_tiled(p, q, kv, tabs, 0..n_tokens, kvh, &shared);
        }
        return;
    }
    attention_items(p, q, kv, tabs, 0, out);
}

/// Whether [`attention`] takes the tiled path (everything but llama.cpp's f16 vector path).
fn uses_tiles(p: &AttnParams, kv: &KvBlocks<'_>) -> bool {
    !(p.f16_vec_path && matches!((kv.k, kv.v), (KvPool::F16(_), KvPool::F16(_))))
}

/// Query tokens per tile: about 32 queries (tokens × heads sharing a KV head) per tile, so each
/// converted K/V row serves many queries while the accumulators (32 × head_dim) stay in L1/L2.
fn tile_tokens(p: &AttnParams) -> usize {
    (32 / (p.n_head / p.n_kv_head)).clamp(1, 8)
}

/// Queries per tile at most (so the stack arrays below suffice).
const MAX_TILE_QUERIES: usize = 64;

thread_local! {
    /// Per-thread tile buffers (queries, accumulators, converted K/V rows, scores).
    static TILE_BUF: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The tiled path for KV head `kvh` and query tokens `toks`, writing rows `(t, h)` of `out` for
/// `t ∈ toks` and the heads `h` of `kvh`'s group (no other call writes them). Tokens are split
/// into runs of [`tile_tokens`] with the same block table; per run, every visible K and V row is
/// converted to f32 once and used by all of the run's queries (4 at a time), with the same
/// per-query arithmetic as [`attention_items`]' f32 path (online softmax over chunks of ≤ 64
/// keys inside one cache block), so the results are the same.
fn attention_tiled(
    p: &AttnParams,
    q: &[f32],
    kv: &KvBlocks<'_>,
    tabs: &SeqTables<'_>,
    toks: std::ops::Range<usize>,
    kvh: usize,
    out: &SharedMut<'_, f32>,
) {
    let tt = tile_tokens(p);
    let mut s = toks.start;
    while s < toks.end {
        let mut e = s + 1;
        while e < toks.end && e - s < tt && tabs.ranges[e] == tabs.ranges[s] {
            e += 1;
        }
        TILE_BUF.with(|cell| tile(p, q, kv, tabs, s..e, kvh, out, &mut cell.borrow_mut()));
        s = e;
    }
}

/// One tile: tokens `toks` (same block table, at most [`MAX_TILE_QUERIES`] / group queries).
#[allow(clippy::too_many_arguments)]
fn tile(
    p: &AttnParams,
    q: &[f32],
    kv: &KvBlocks<'_>,
    tabs: &SeqTables<'_>,
    toks: std::ops::Range<usize>,
    kvh: usize,
    out: &SharedMut<'_, f32>,
    buf: &mut Vec<f32>,
) {
    let (hdk, hdv, bs) = (p.head_dim_k, p.head_dim_v, kv.block_size);
    let g = p.n_head / p.n_kv_head;
    let nq = toks.len() * g;
    assert!(nq <= MAX_TILE_QUERIES, "tile of {nq} queries");
    let (start, len) = tabs.ranges[toks.start];
    let table = &tabs.table[start as usize..(start + len) as usize];
    // Visible keys of each token: lo..hi.
    let bounds = |t: usize| {
        let hi = tabs.pos[t] as usize + 1;
        let lo = if p.window > 0 {
            hi.saturating_sub(p.window as usize)
        } else {
            0
        };
        (lo, hi)
    };
    let lo = toks.clone().map(|t| bounds(t).0).min().unwrap_or(0);
    let hi = toks.clone().map(|t| bounds(t).1).max().unwrap_or(0);
    assert!(
        hi <= table.len() * bs,
        "query position {} beyond its block table",
        hi - 1
    );

    let need = nq * (hdk + hdv + SCORE_CHUNK) + SCORE_CHUNK * (hdk + hdv);
    if buf.len() < need {
        buf.resize(need, 0.0);
    }
    let (qbuf, rest) = buf.split_at_mut(nq * hdk);
    let (acc, rest) = rest.split_at_mut(nq * hdv);
    let (scores, rest) = rest.split_at_mut(nq * SCORE_CHUNK);
    let (kbuf, rest) = rest.split_at_mut(SCORE_CHUNK * hdk);
    let vbuf = &mut rest[..SCORE_CHUNK * hdv];
    // Query i = token toks.start + i / g, head kvh·g + i % g.
    for (i, qr) in qbuf.chunks_exact_mut(hdk).enumerate() {
        let (t, h) = (toks.start + i / g, kvh * g + i % g);
        qr.copy_from_slice(&q[(t * p.n_head + h) * hdk..][..hdk]);
    }
    acc.fill(0.0);
    let mut m = [f32::NEG_INFINITY; MAX_TILE_QUERIES];
    let mut sum = [0.0f32; MAX_TILE_QUERIES];

    let mut j = lo;
    while j < hi {
        let (blk, slot) = (table[j / bs] as usize, j % bs);
        let run = (bs - slot).min(hi - j).min(SCORE_CHUNK);
        let row0 = (blk * p.n_kv_head + kvh) * bs + slot;
        rows_f32(&kv.k, row0 * hdk, run * hdk, kbuf);
        // Scores: four queries per pass over each key row; keys a query cannot see get -inf.
        let mut i = 0;
        while i < nq {
            let n4 = (nq - i).min(4);
            for r in 0..run {
                let krow = &kbuf[r * hdk..(r + 1) * hdk];
                let d = if n4 == 4 {
                    simd::dot4_f32(
                        krow,
                        std::array::from_fn(|a| &qbuf[(i + a) * hdk..(i + a + 1) * hdk]),
                    )
                } else {
                    std::array::from_fn(|a| {
                        if a < n4 {
                            simd::dot_f32(krow, &qbuf[(i + a) * hdk..(i + a + 1) * hdk])
                        } else {
                            0.0
                        }
                    })
                };
                for (a, &dv) in d[..n4].iter().enumerate() {
                    let (qlo, qhi) = bounds(toks.start + (i + a) / g);
                    let mut v = dv * p.scale;
                    if p.softcap > 0.0 {
                        v = p.softcap * (v / p.softcap).tanh();
                    }
                    scores[(i + a) * SCORE_CHUNK + r] = if (qlo..qhi).contains(&(j + r)) {
                        v
                    } else {
                        f32::NEG_INFINITY
                    };
                }
            }
            i += n4;
        }
        rows_f32(&kv.v, row0 * hdv, run * hdv, vbuf);
        for i in 0..nq {
            let sc = &mut scores[i * SCORE_CHUNK..i * SCORE_CHUNK + run];
            let cmax = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if cmax == f32::NEG_INFINITY {
                continue; // no visible key for this query in this chunk
            }
            let a = &mut acc[i * hdv..(i + 1) * hdv];
            if cmax > m[i] {
                // exp(-inf) = 0 clears the (empty) accumulator on the first visible chunk.
                let ms = (m[i] - cmax).exp();
                sum[i] *= ms;
                a.iter_mut().for_each(|v| *v *= ms);
                m[i] = cmax;
            }
            for w in sc.iter_mut() {
                *w = (*w - m[i]).exp();
                sum[i] += *w;
            }
            let mut r = 0;
            while r + 4 <= run {
                simd::axpy4_f32(
                    a,
                    [sc[r], sc[r + 1], sc[r + 2], sc[r + 3]],
                    std::array::from_fn(|b| &vbuf[(r + b) * hdv..(r + b + 1) * hdv]),
                );
                r += 4;
            }
            for r in r..run {
                simd::axpy_f32(a, sc[r], &vbuf[r * hdv..(r + 1) * hdv]);
            }
        }
        j += run;
    }
    for i in 0..nq {
        let (t, h) = (toks.start + i / g, kvh * g + i % g);
        let inv = if sum[i] > 0.0 { 1.0 / sum[i] } else { 0.0 };
        // SAFETY: row (t, h) belongs to this tile's (tokens, KV head) item only.
        let o = unsafe { out.slice_mut((t * p.n_head + h) * hdv..(t * p.n_head + h + 1) * hdv) };
        for (o, &a) in o.iter_mut().zip(&acc[i * hdv..(i + 1) * hdv]) {
            *o = a * inv;
        }
    }
}

/// `dst[..len]` = `len` cache values from `start`, as f32.
fn rows_f32(pool: &KvPool<'_>, start: usize, len: usize, dst: &mut [f32]) {
    match pool {
        KvPool::F16(d) => simd::f16_to_f32_slice(&d[start..start + len], &mut dst[..len]),
        KvPool::F32(d) => dst[..len].copy_from_slice(&d[start..start + len]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::rand_vec;
    use proptest::prelude::*;

    /// Naive reference: gather the visible keys, full softmax in f64, weighted sum of V.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        p: &AttnParams,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        bs: usize,
        pos: &[u32],
        tables: &[Vec<u32>],
        seq_of: &[usize],
    ) -> Vec<f64> {
        let mut out = vec![0.0f64; pos.len() * p.n_head * p.head_dim_v];
        for t in 0..pos.len() {
            let table = &tables[seq_of[t]];
            for h in 0..p.n_head {
                let kvh = h / (p.n_head / p.n_kv_head);
                let qr = &q[(t * p.n_head + h) * p.head_dim_k..][..p.head_dim_k];
                let hi = pos[t] as usize + 1;
                let lo = if p.window > 0 {
                    hi.saturating_sub(p.window as usize)
                } else {
                    0
                };
                let rows: Vec<usize> = (lo..hi)
                    .map(|j| (table[j / bs] as usize * p.n_kv_head + kvh) * bs + j % bs)
                    .collect();
                let s: Vec<f64> = rows
                    .iter()
                    .map(|&r| {
                        let d: f64 = (0..p.head_dim_k)
                            .map(|i| f64::from(qr[i]) * f64::from(k[r * p.head_dim_k + i]))
                            .sum();
                        let d = d * f64::from(p.scale);
                        if p.softcap > 0.0 {
                            f64::from(p.softcap) * (d / f64::from(p.softcap)).tanh()
                        } else {
                            d
                        }
                    })
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                let o = &mut out[(t * p.n_head + h) * p.head_dim_v..][..p.head_dim_v];
                for (&r, &sc) in rows.iter().zip(&s) {
                    let w = (sc - m).exp() / z;
                    for i in 0..p.head_dim_v {
                        o[i] += w * f64::from(v[r * p.head_dim_v + i]);
                    }
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_naive(n_kv in 1usize..3, group in 1usize..4, hdk in 1usize..40, bs in 1usize..9,
                         len0 in 1usize..40, len1 in 1usize..30, window in 0u32..12,
                         use_f16 in any::<bool>(), softcap in any::<bool>(), seed in any::<u64>()) {
            let n_head = n_kv * group;
            let hdv = hdk + (seed % 3) as usize;
            let p = AttnParams { n_head, n_kv_head: n_kv, head_dim_k: hdk, head_dim_v: hdv,
                scale: 1.0 / (hdk as f32).sqrt(), window, softcap: if softcap { 5.0 } else { 0.0 }, f16_vec_path: use_f16 && seed & 8 != 0 };
            // The f16 accumulator rounds to 2^-11 relative after every key.
            let tol = if p.f16_vec_path { 4e-3 } else { 1e-5 };
            // Two sequences with shuffled block tables into one pool.
            let nb0 = len0.div_ceil(bs);
            let nb1 = len1.div_ceil(bs);
            let n_blocks = nb0 + nb1 + 1;
            let mut ids: Vec<u32> = (0..n_blocks as u32).collect();
            ids.reverse();
            ids.rotate_left((seed % n_blocks as u64) as usize);
            let tables = vec![ids[..nb0].to_vec(), ids[nb0..nb0 + nb1].to_vec()];
            let mut k = rand_vec(seed, n_blocks * n_kv * bs * hdk, 2.0);
            let mut v = rand_vec(seed ^ 3, n_blocks * n_kv * bs * hdv, 1.0);
            if use_f16 {
                k.iter_mut().for_each(|x| *x = f16::from_f32(*x).to_f32());
                v.iter_mut().for_each(|x| *x = f16::from_f32(*x).to_f32());
            }
            let kh: Vec<f16> = k.iter().map(|&x| f16::from_f32(x)).collect();
            let vh: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            // Queries: the last 3 tokens of sequence 0 and the last 2 of sequence 1.
            let mut pos = vec![];
            let mut seq_of = vec![];
            for t in len0.saturating_sub(3)..len0 { pos.push(t as u32); seq_of.push(0); }
            for t in len1.saturating_sub(2)..len1 { pos.push(t as u32); seq_of.push(1); }
            let table: Vec<u32> = tables.concat();
            let ranges: Vec<(u32, u32)> = seq_of.iter().map(|&s| if s == 0 { (0, nb0 as u32) } else { (nb0 as u32, nb1 as u32) }).collect();
            let q = rand_vec(seed ^ 5, pos.len() * n_head * hdk, 2.0);
            let want = naive(&p, &q, &k, &v, bs, &pos, &tables, &seq_of);
            let tabs = SeqTables { pos: &pos, ranges: &ranges, table: &table };
            let mut out = vec![0.0f32; want.len()];
            let kvb = if use_f16 { KvBlocks { k: KvPool::F16(&kh), v: KvPool::F16(&vh), block_size: bs } }
                      else { KvBlocks { k: KvPool::F32(&k), v: KvPool::F32(&v), block_size: bs } };
            attention_serial(&p, &q, &kvb, &tabs, &mut out);
            if !p.f16_vec_path {
                // The tiled path does the per-pair path's arithmetic: without a window (same
                // chunking) the results are bit-identical; with one, equal to rounding.
                let mut per_pair = vec![0.0f32; want.len()];
                attention_items(&p, &q, &kvb, &tabs, 0, &mut per_pair);
                for (a, b) in out.iter().zip(&per_pair) {
                    if window == 0 {
                        prop_assert_eq!(a.to_bits(), b.to_bits());
                    } else {
                        prop_assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
                    }
                }
            }
            let mut out2 = vec![0.0f32; want.len()];
            attention(&ThreadPool::new(3), &p, &q, &kvb, &tabs, &mut out2);
            prop_assert_eq!(&out, &out2);
            for (a, b) in out.iter().zip(&want) {
                prop_assert!((f64::from(*a) - b).abs() < tol, "{a} vs {b}");
            }
        }
    }
}
