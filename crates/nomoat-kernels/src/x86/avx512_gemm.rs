//! AVX-512 (F + BW + VL + VNNI) micro-kernel of the R8 prompt GEMM (layout in `crate::repack`):
//! 8 repacked rows × up to 4 tokens, two 4-element steps per 64-byte register.
//!
//! A tile's step pair (2p, 2p+1) is 64 bytes: rows 0..8 of step 2p in i32 lanes 0..8, of step
//! 2p+1 in lanes 8..16. One `vpermd` per pair (shared by all tokens) interleaves them, so lane
//! 2r holds row r's step 2p and lane 2r+1 its step 2p+1; then the token's 8 activation bytes of
//! the pair, broadcast as one 64-bit value, line up with every lane and `vpdpbusd` forms the
//! four-product sums directly. Lanes 2r and 2r+1 are added at the end of each group.
//!
//! Unsigned tiles (u ≤ 63): a single `vpdpbusd` sum is ≤ 4·63·128 < 2¹⁵, so `vpdpwssd` against
//! the zero-extended per-row scale multiplies and accumulates it in one step. Signed tiles
//! (|w| ≤ 128): |w| × (y with w's sign) can reach 65 024 per lane, so the pairs of each half
//! chunk are summed in i32 and multiplied by the sign-extended scale with `vpmulld`.

use std::arch::x86_64::*;

use super::common::*;
use crate::layout::{CHUNK_BYTES, GROUP_HEADER, R};

/// # Safety
/// `tile` is a whole repacked tile for `k`/`g`; `act` holds NT rows of `act_row_bytes(k, g)`
/// bytes `stride` apart; the AVX-512 level is available.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn kernel<const SIGNED: bool, const NT: usize>(
    k: usize,
    g: usize,
    tile: *const u8,
    act: *const u8,
    stride: usize,
    out: &mut [[f32; R]],
) {
    let cpg = g / 32;
    let bs_off = k;
    let d_off = k + k / 32 * 4;
    let zero = _mm512_setzero_si512();
    let interleave = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    let mut acc = [_mm256_setzero_ps(); NT];
    let mut tp = tile;
    for gi in 0..k / g {
        // SAFETY: every offset below stays inside the tile (group header + cpg chunks) and
        // inside each activation row (quants, bsum pairs and scales of this group).
        unsafe {
            let d8 = _mm256_loadu_ps(tp.cast());
            let dm8 = _mm256_loadu_ps(tp.add(32).cast());
            let chunks = tp.add(GROUP_HEADER);
            // Lanes 2r, 2r+1: row r's partial sums (see the module docs).
            let mut sumi = [zero; NT];
            let mut summ = [_mm256_setzero_si256(); NT];
            for c in 0..cpg {
                let cp = chunks.add(c * CHUNK_BYTES);
                let ci = gi * cpg + c;
                let q = cp.add(96);
                let mut w = [zero; 4];
                for (p, w) in w.iter_mut().enumerate() {
                    *w = _mm512_permutexvar_epi32(interleave, load512(q.add(64 * p)));
                }
                if SIGNED {
                    // Lane j = row j/2's scale, sign-extended.
                    let sc = [
                        _mm512_cvtepi16_epi32(load256(cp)),
                        _mm512_cvtepi16_epi32(load256(cp.add(32))),
                    ];
                    let mut aw = [zero; 4];
                    let mut neg = [0 as __mmask64; 4];
                    for p in 0..4 {
                        aw[p] = _mm512_abs_epi8(w[p]);
                        neg[p] = _mm512_movepi8_mask(w[p]);
                    }
                    for (t, s) in sumi.iter_mut().enumerate() {
                        let yp = act.add(t * stride + 32 * ci);
                        let mut half = [zero; 2];
                        for p in 0..4 {
                            let y = _mm512_set1_epi64(yp.add(8 * p).cast::<i64>().read_unaligned());
                            let ys = _mm512_mask_sub_epi8(y, neg[p], zero, y);
                            half[p / 2] = _mm512_dpbusd_epi32(half[p / 2], aw[p], ys);
                        }
                        let prod = _mm512_add_epi32(
                            _mm512_mullo_epi32(half[0], sc[0]),
                            _mm512_mullo_epi32(half[1], sc[1]),
                        );
                        *s = _mm512_add_epi32(*s, prod);
                    }
                    continue;
                }
                // Lane j = row j/2's scale in the low i16, zero high i16.
                let sc = [
                    _mm512_cvtepu16_epi32(load256(cp)),
                    _mm512_cvtepu16_epi32(load256(cp.add(32))),
                ];
                let mn = load256(cp.add(64));
                for t in 0..NT {
                    let ap = act.add(t * stride);
                    let yp = ap.add(32 * ci);
                    for p in 0..4 {
                        let y = _mm512_set1_epi64(yp.add(8 * p).cast::<i64>().read_unaligned());
                        let part = _mm512_dpbusd_epi32(zero, w[p], y);
                        sumi[t] = _mm512_dpwssd_epi32(sumi[t], part, sc[p / 2]);
                    }
                    // Lane r: mn(r, first 16)·bsum0 + mn(r, second 16)·bsum1.
                    let b =
                        _mm256_set1_epi32(ap.add(bs_off + 4 * ci).cast::<i32>().read_unaligned());
                    summ[t] = _mm256_dpwssd_epi32(summ[t], mn, b);
                }
            }
            for t in 0..NT {
                let ap = act.add(t * stride);
                let dy = _mm256_set1_ps(load_f32(ap.add(d_off + 4 * gi)));
                // Lane pairs (2r, 2r+1) → lane r: add the odd lane into the even one, then keep
                // the low 32 bits of every 64-bit lane.
                let v = sumi[t];
                let rows = _mm512_cvtepi64_epi32(_mm512_add_epi32(v, _mm512_srli_epi64::<32>(v)));
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d8, dy), _mm256_cvtepi32_ps(rows), acc[t]);
                if !SIGNED {
                    acc[t] = _mm256_fmadd_ps(
                        _mm256_mul_ps(dm8, dy),
                        _mm256_cvtepi32_ps(summ[t]),
                        acc[t],
                    );
                }
            }
            tp = chunks.add(cpg * CHUNK_BYTES);
        }
    }
    for t in 0..NT {
        // SAFETY: out[t] is 8 f32.
        unsafe { _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t]) };
    }
}

/// `out[t][r]` = tile row r · activation row t for `out.len()` (1..=4) tokens.
pub(crate) fn tile_dot(
    k: usize,
    g: usize,
    signed: bool,
    tile: &[u8],
    act: &[u8],
    stride: usize,
    out: &mut [[f32; R]],
) {
    let nt = out.len();
    assert!((1..=4).contains(&nt));
    assert!(g == 32 || g == crate::quant::QK_K);
    assert_eq!(k % g, 0);
    assert_eq!(tile.len(), crate::layout::tile_bytes(k, g));
    let row = crate::layout::act_row_bytes(k, g);
    assert!(act.len() >= (nt - 1) * stride + row && (nt == 1 || stride >= row));
    let (tp, ap) = (tile.as_ptr(), act.as_ptr());
    // SAFETY: sizes checked above; installed only when `avx512_available()`.
    unsafe {
        match (signed, nt) {
            (false, 1) => kernel::<false, 1>(k, g, tp, ap, stride, out),
            (false, 2) => kernel::<false, 2>(k, g, tp, ap, stride, out),
            (false, 3) => kernel::<false, 3>(k, g, tp, ap, stride, out),
            (false, _) => kernel::<false, 4>(k, g, tp, ap, stride, out),
            (true, 1) => kernel::<true, 1>(k, g, tp, ap, stride, out),
            (true, 2) => kernel::<true, 2>(k, g, tp, ap, stride, out),
            (true, 3) => kernel::<true, 3>(k, g, tp, ap, stride, out),
            (true, _) => kernel::<true, 4>(k, g, tp, ap, stride, out),
        }
    }
}
