//! AVX2 kernel for the load-time `Q8_0x8` layout (`crate::packed`): one group of 8 rows against
//! up to 4 Q8_0 activation rows. Per 4-element step: one 32-byte load serves all 8 rows, the 4
//! activations are broadcast to every lane, and `|w|·(y·sign w)` keeps `maddubs` exact
//! (|w| ≤ 128, |y| ≤ 127: a pair sums to at most 32 512).

use std::arch::x86_64::*;

use super::common::{load128, load256, load_f16};
use crate::packed::{BLOCK_BYTES, ROWS};

const Q8_0_BYTES: usize = 34;

/// `out[t][r]` = row r of the group · activation row t (`out.len()` 1..=4).
pub(crate) fn q8_0x8(nb: usize, group: &[u8], a: &[u8], stride: usize, out: &mut [[f32; ROWS]]) {
    let nt = out.len();
    assert!((1..=4).contains(&nt), "1..=4 activation rows");
    assert!(group.len() >= nb * BLOCK_BYTES, "group holds nb blocks");
    assert!(
        a.len() >= (nt - 1) * stride + nb * Q8_0_BYTES && (nt == 1 || stride >= nb * Q8_0_BYTES),
        "activation buffer too short for {nt} rows"
    );
    let (g, a) = (group.as_ptr(), a.as_ptr());
    // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
    unsafe {
        match nt {
            1 => run::<1>(nb, g, a, stride, out),
            2 => run::<2>(nb, g, a, stride, out),
            3 => run::<3>(nb, g, a, stride, out),
            _ => run::<4>(nb, g, a, stride, out),
        }
    }
}

/// # Safety
/// `g` holds `nb` group blocks; `a` holds `NT` rows of `nb` Q8_0 blocks, `stride` bytes apart;
/// `out.len() == NT`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run<const NT: usize>(
    nb: usize,
    g: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [[f32; ROWS]],
) {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); NT];
    for b in 0..nb {
        // SAFETY: block `b` is inside the group and every activation row (caller's contract).
        unsafe {
            let blk = g.add(b * BLOCK_BYTES);
            let dw = _mm256_cvtph_ps(load128(blk));
            let mut isum = [_mm256_setzero_si256(); NT];
            for s in 0..8 {
                let w = load256(blk.add(16 + 32 * s));
                let aw = _mm256_sign_epi8(w, w);
                for t in 0..NT {
                    let yp = a.add(t * stride + b * Q8_0_BYTES + 2 + 4 * s);
                    let y = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                    let p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(y, w));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, ones));
                }
            }
            for t in 0..NT {
                let dy = _mm256_set1_ps(load_f16(a.add(t * stride + b * Q8_0_BYTES)));
                acc[t] =
                    _mm256_fmadd_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[t]), acc[t]);
            }
        }
    }
    for t in 0..NT {
        // SAFETY: `out[t]` is 8 floats.
        unsafe { _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t]) };
    }
}
