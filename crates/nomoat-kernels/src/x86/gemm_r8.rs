//! AVX2 micro-kernel of the R8 prompt GEMM (layout in `crate::repack`): 8 repacked weight rows ×
//! up to 4 tokens. Each 32-byte weight load holds 4 quants of each of the 8 rows; a token's 4
//! matching activation bytes are broadcast, so `maddubs` + `madd` leave one int32 partial sum per
//! row in each lane: the result needs no horizontal reduction.

use std::arch::x86_64::*;

use super::common::*;
use crate::layout::{CHUNK_BYTES, GROUP_HEADER, R};

/// # Safety
/// `tile` is a whole repacked tile for `k`/`g`; `act` holds NT rows of `act_row_bytes(k, g)`
/// bytes `stride` apart; AVX2+FMA+F16C available.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
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
    let mut acc = [_mm256_setzero_ps(); NT];
    let mut tp = tile;
    for gi in 0..k / g {
        // SAFETY: every offset below stays inside the tile (group header + cpg chunks) and
        // inside each activation row (quants, bsum pairs and scales of this group).
        unsafe {
            let d8 = _mm256_loadu_ps(tp.cast());
            let dm8 = _mm256_loadu_ps(tp.add(32).cast());
            let chunks = tp.add(GROUP_HEADER);
            let mut sumi = [_mm256_setzero_si256(); NT];
            for c in 0..cpg {
                let cp = chunks.add(c * CHUNK_BYTES);
                let ci = gi * cpg + c;
                let sc0 = load256(cp);
                let sc1 = load256(cp.add(32));
                let q = cp.add(96);
                for pair in 0..4 {
                    let w0 = load256(q.add(64 * pair));
                    let w1 = load256(q.add(64 * pair + 32));
                    let sc = if pair < 2 { sc0 } else { sc1 };
                    if SIGNED {
                        // |w| ≤ 128 times |y| ≤ 127: one maddubs pair fits in i16, two may
                        // not, so each is widened on its own.
                        let (a0, a1) = (_mm256_abs_epi8(w0), _mm256_abs_epi8(w1));
                        for (t, s) in sumi.iter_mut().enumerate() {
                            let yp = act.add(t * stride + 32 * ci + 8 * pair);
                            let y0 = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                            let y1 = _mm256_set1_epi32(yp.add(4).cast::<i32>().read_unaligned());
                            let p0 = _mm256_maddubs_epi16(a0, _mm256_sign_epi8(y0, w0));
                            let p1 = _mm256_maddubs_epi16(a1, _mm256_sign_epi8(y1, w1));
                            let p = _mm256_add_epi32(
                                _mm256_madd_epi16(p0, sc),
                                _mm256_madd_epi16(p1, sc),
                            );
                            *s = _mm256_add_epi32(*s, p);
                        }
                        continue;
                    }
                    for (t, s) in sumi.iter_mut().enumerate() {
                        let yp = act.add(t * stride + 32 * ci + 8 * pair);
                        let y0 = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                        let y1 = _mm256_set1_epi32(yp.add(4).cast::<i32>().read_unaligned());
                        let p = _mm256_add_epi16(
                            _mm256_maddubs_epi16(w0, y0),
                            _mm256_maddubs_epi16(w1, y1),
                        );
                        *s = _mm256_add_epi32(*s, _mm256_madd_epi16(p, sc));
                    }
                }
            }
            for t in 0..NT {
                let ap = act.add(t * stride);
                let dy = _mm256_set1_ps(load_f32(ap.add(d_off + 4 * gi)));
                acc[t] =
                    _mm256_fmadd_ps(_mm256_mul_ps(d8, dy), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
                if SIGNED {
                    continue;
                }
                let mut summ = _mm256_setzero_si256();
                for c in 0..cpg {
                    let mn = load256(chunks.add(c * CHUNK_BYTES + 64));
                    let b = _mm256_set1_epi32(
                        ap.add(bs_off + 4 * (gi * cpg + c))
                            .cast::<i32>()
                            .read_unaligned(),
                    );
                    summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mn, b));
                }
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dm8, dy), _mm256_cvtepi32_ps(summ), acc[t]);
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
    assert_eq!(tile.len(), crate::layout::tile_bytes(k, g));
    let row = crate::layout::act_row_bytes(k, g);
    assert!(act.len() >= (nt - 1) * stride + row && (nt == 1 || stride >= row));
    let (tp, ap) = (tile.as_ptr(), act.as_ptr());
    // SAFETY: sizes checked above; only called when the AVX2 level was detected.
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
