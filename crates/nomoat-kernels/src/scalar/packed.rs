//! Scalar references of the 8-row group kernels (layouts in `crate::packed`): the block-sum
//! kernels (prompts) and the kernels that sum in llama.cpp's decode order ("exact").

use crate::layout::{nibble, GroupKernel, Layout, Q4K_MN, Q4K_QS, Q4K_SC, ROWS};
use crate::quant::{cast_blocks, f16_le, BlockQ8K, BlockQ8_0, RawBlock};

const Q8_0_BYTES: usize = BlockQ8_0::BYTES;

/// Q8_0x8, Q4_0x8 and Q5_0x8 (`L` = [`Layout::index`]) against Q8_0 tokens. Per row and block
/// `d = d_w·d_y`; `EXACT == false`: one accumulator `+= d·Σ(block)`; `EXACT`: llama.cpp's order,
/// 8 accumulators (one per 4-element step) `+= d·Σ(step)`, reduced as
/// `((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))`. Integer sums are exact either way.
fn group_32<const L: usize, const EXACT: bool>(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    _ysum: &[i32],
    out: &mut [[f32; ROWS]],
) {
    let layout = Layout::ALL[L];
    let bb = layout.block_bytes();
    assert!(group.len() >= nb * bb, "group too short");
    for (t, o) in out.iter_mut().enumerate() {
        let at = &a[t * stride..t * stride + nb * Q8_0_BYTES];
        for (r, res) in o.iter_mut().enumerate() {
            let mut acc = [0f32; 8];
            for b in 0..nb {
                let blk = &group[b * bb..(b + 1) * bb];
                let ab = &at[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
                let d = f16_le([blk[2 * r], blk[2 * r + 1]]) * f16_le([ab[0], ab[1]]);
                let step = |s: usize| -> i32 {
                    (0..4)
                        .map(|e| {
                            layout.quant(blk, s, 4 * r + e) as i32
                                * (ab[2 + 4 * s + e] as i8 as i32)
                        })
                        .sum()
                };
                if EXACT {
                    for (s, acc) in acc.iter_mut().enumerate() {
                        *acc = d.mul_add(step(s) as f32, *acc);
                    }
                } else {
                    let isum: i32 = (0..8).map(step).sum();
                    acc[0] = d.mul_add(isum as f32, acc[0]);
                }
            }
            *res = if EXACT {
                ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
            } else {
                acc[0]
            };
        }
    }
}

/// Q4Kx8 against Q8_K tokens, per row and block:
/// `d·dy·Σ_j sc_j·Σ(u·y) − dmin·dy·Σ_j m_j·Σy_j` (integer sums exact), accumulated per block.
fn q4_kx8(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    _ysum: &[i32],
    out: &mut [[f32; ROWS]],
) {
    let bb = Layout::Q4Kx8.block_bytes();
    assert!(group.len() >= nb * bb, "group too short");
    for (t, o) in out.iter_mut().enumerate() {
        let ys = cast_blocks::<BlockQ8K>(&a[t * stride..t * stride + nb * BlockQ8K::BYTES]);
        for (r, acc) in o.iter_mut().enumerate() {
            let (mut sum, mut mins) = (0f32, 0f32);
            for (b, y) in ys.iter().enumerate() {
                let blk = &group[b * bb..(b + 1) * bb];
                let (mut isum, mut msum) = (0i32, 0i32);
                for j in 0..8 {
                    let qs = &blk[Q4K_QS + 128 * j..Q4K_QS + 128 * (j + 1)];
                    let mut sub = 0i32;
                    for s in 0..8 {
                        for e in 0..4 {
                            sub += nibble(qs, s, 4 * r + e) as i32 * y.q(32 * j + 4 * s + e);
                        }
                    }
                    isum += blk[Q4K_SC + 8 * j + r] as i32 * sub;
                    let m = blk[Q4K_MN + 16 * (j / 2) + 2 * r + j % 2] as i32;
                    msum += m * (y.bsum(2 * j) + y.bsum(2 * j + 1));
                }
                let d = f16_le([blk[2 * r], blk[2 * r + 1]]) * y.d();
                let dm = f16_le([blk[16 + 2 * r], blk[17 + 2 * r]]) * y.d();
                sum = d.mul_add(isum as f32, sum);
                mins = dm.mul_add(msum as f32, mins);
            }
            *acc = sum - mins;
        }
    }
}

/// Q4Kx8 in llama.cpp's order (see `x86::packed::q4_kx8_exact`).
fn q4_kx8_exact(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    _ysum: &[i32],
    out: &mut [[f32; ROWS]],
) {
    let bb = Layout::Q4Kx8.block_bytes();
    assert!(group.len() >= nb * bb, "group too short");
    for (t, o) in out.iter_mut().enumerate() {
        let ys = cast_blocks::<BlockQ8K>(&a[t * stride..t * stride + nb * BlockQ8K::BYTES]);
        for (r, res) in o.iter_mut().enumerate() {
            let mut acc = [0f32; 8];
            for (b, y) in ys.iter().enumerate() {
                let blk = &group[b * bb..(b + 1) * bb];
                let mut isum = [0i32; 8];
                for j in 0..8 {
                    let qs = &blk[Q4K_QS + 128 * j..Q4K_QS + 128 * (j + 1)];
                    let sc = blk[Q4K_SC + 8 * j + r] as i32;
                    for (s, is) in isum.iter_mut().enumerate() {
                        let part: i32 = (0..4)
                            .map(|e| nibble(qs, s, 4 * r + e) as i32 * y.q(32 * j + 4 * s + e))
                            .sum();
                        *is += sc * part;
                    }
                }
                let d = y.d() * f16_le([blk[2 * r], blk[2 * r + 1]]);
                let dm = -y.d() * f16_le([blk[16 + 2 * r], blk[17 + 2 * r]]);
                for s in 0..8 {
                    acc[s] = d.mul_add(isum[s] as f32, acc[s]);
                }
                for (i, am) in acc[..4].iter_mut().enumerate() {
                    let m = |j: usize| blk[Q4K_MN + 16 * (j / 2) + 2 * r + j % 2] as i32;
                    let ysub = |j: usize| y.bsum(2 * j) + y.bsum(2 * j + 1);
                    let prod = m(2 * i) * ysub(2 * i) + m(2 * i + 1) * ysub(2 * i + 1);
                    *am = dm.mul_add(prod as f32, *am);
                }
            }
            let sum =
                ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
            *res = sum;
        }
    }
}

/// The block-sum kernels, by [`Layout::index`].
pub(crate) const BLOCK_SUM: [GroupKernel; 4] = [
    group_32::<{ Layout::Q8_0x8.index() }, false>,
    group_32::<{ Layout::Q4_0x8.index() }, false>,
    group_32::<{ Layout::Q5_0x8.index() }, false>,
    q4_kx8,
];

/// The llama.cpp-order kernels, by [`Layout::index`]. llama.cpp decodes Q4_0 through its own
/// repacked 8-row kernel, not `ggml_vec_dot_q4_0_q8_0`, so there is no order to follow: Q4_0x8
/// uses the block-sum kernel.
pub(crate) const EXACT: [GroupKernel; 4] = [
    group_32::<{ Layout::Q8_0x8.index() }, true>,
    group_32::<{ Layout::Q4_0x8.index() }, false>,
    group_32::<{ Layout::Q5_0x8.index() }, true>,
    q4_kx8_exact,
];
