//! Scalar reference of the R8 prompt-GEMM micro-kernel (tile and activation layouts in
//! `crate::repack`).

use crate::layout::{CHUNK_BYTES, GROUP_HEADER, R};

/// Scalar reference of the R8 micro-kernel: `out[t][r]` = row r of the tile · token t; quants
/// are read as i8 when `signed` (see `crate::repack::is_signed`).
pub(crate) fn tile_dot(
    k: usize,
    g: usize,
    signed: bool,
    tile: &[u8],
    act: &[u8],
    stride: usize,
    out: &mut [[f32; R]],
) {
    let wq = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
    let rd_f32 = |b: &[u8], at: usize| f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let rd_i16 = |b: &[u8], at: usize| i16::from_le_bytes([b[at], b[at + 1]]) as i32;
    for (t, o) in out.iter_mut().enumerate() {
        let a = &act[t * stride..];
        *o = [0.0; R];
        let mut tp = 0;
        for gi in 0..k / g {
            let dy = rd_f32(a, k + k / 32 * 4 + 4 * gi);
            let head = tp;
            tp += GROUP_HEADER;
            let (mut sumi, mut summ) = ([0i32; R], [0i32; R]);
            for c in 0..g / 32 {
                let ci = gi * g / 32 + c;
                for r in 0..R {
                    for s in 0..8 {
                        let sc = rd_i16(tile, tp + if s < 4 { 0 } else { 32 } + 4 * r);
                        let dot: i32 = (0..4)
                            .map(|j| {
                                wq(tile[tp + 96 + 32 * s + 4 * r + j])
                                    * a[32 * ci + 4 * s + j] as i8 as i32
                            })
                            .sum();
                        sumi[r] += sc * dot;
                    }
                    let (b0, b1) = (rd_i16(a, k + 4 * ci), rd_i16(a, k + 4 * ci + 2));
                    summ[r] +=
                        rd_i16(tile, tp + 64 + 4 * r) * b0 + rd_i16(tile, tp + 64 + 4 * r + 2) * b1;
                }
                tp += CHUNK_BYTES;
            }
            for r in 0..R {
                let (d, dm) = (rd_f32(tile, head + 4 * r), rd_f32(tile, head + 32 + 4 * r));
                o[r] += d * dy * sumi[r] as f32 + dm * dy * summ[r] as f32;
            }
        }
    }
}
