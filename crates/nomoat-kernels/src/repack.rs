//! On-the-fly repacking for the prompt GEMM (performance.md §2.3, §7 item 4): each thread turns
//! 8 weight rows of a k-quant or legacy type into an int8 row-interleaved tile ("R8") in its own
//! scratch buffer, then one micro-kernel sweeps every token against it. The tile is decoded once
//! per matmul and reused by all `m` tokens, and the kernel's output lanes are the 8 rows, so no
//! horizontal sums are needed.
//!
//! Every supported format is expressed exactly as unsigned quants `u` (≤ 63) with integer
//! sub-block scales `sc` and mins `mn` (per 16 elements) and two floats per group:
//! `w = d·sc·u + dm·mn` per element, so `w·y = d·dy·Σ sc·Σ u·y + dm·dy·Σ mn·Σ y`.
//!
//! Tile layout (8 rows, little-endian), for each group of `G` elements (32 or 256):
//! `f32 d[8]; f32 dm[8];` then for each 32-element chunk: `i16 sc0[16]` (row r's scale of the
//! chunk's first 16 elements in lanes 2r and 2r+1), `i16 sc1[16]` (second 16), `i16 mn[16]`
//! (lane 2r: min of the first 16, lane 2r+1: of the second 16), `u8 q[8][32]` (step s = elements
//! 4s..4s+4: row r's 4 quants at bytes 4r..4r+4).
//!
//! Activation layout per token (`act_stride` bytes): `i8 q[K]`, `i16 bsum[K/16]` (pairs per
//! 32-element chunk), `f32 d[K/G]`. It is built from the standard Q8_0 / Q8_K rows, so the
//! quantized values (and thus results, up to float summation order) equal the GEMV path's.

// Layouts are specified by index arithmetic; index loops read closest to the spec.
#![allow(clippy::needless_range_loop)]

pub use crate::layout::{act_row_bytes, tile_bytes, CHUNK_BYTES, GROUP_HEADER, R};
use crate::quant::{self, cast_blocks, QK_K};
use crate::GgmlType;

/// Group size (elements per `d`) for a type the R8 path handles.
pub fn group_size(ty: GgmlType) -> Option<usize> {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 | GgmlType::IQ4_NL => Some(32),
        GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::IQ4_XS => Some(QK_K),
        _ => None,
    }
}

/// Whether the tile holds signed quants (full int8 range: Q8_0, IQ4_NL, IQ4_XS; no mins). The
/// kernel then multiplies `|w|` by `y` with `w`'s sign (`|w| ≤ 128`, so `maddubs` cannot
/// saturate); otherwise quants are unsigned `u ≤ 63`.
pub fn is_signed(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q8_0 | GgmlType::IQ4_NL | GgmlType::IQ4_XS)
}

/// One decoded group of one row.
struct Group {
    u: [u8; QK_K],
    sc: [i16; 16],
    mn: [i16; 16],
    d: f32,
    dm: f32,
}

fn decode(ty: GgmlType, row: &[u8], gi: usize, out: &mut Group) {
    use quant::*;
    let g = group_size(ty).unwrap_or(32);
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 => {
            let (q, d, off): ([i8; 32], f32, i8) = if ty == GgmlType::Q4_0 {
                let b = &cast_blocks::<BlockQ4_0>(row)[gi];
                (b.quants(), f16_le(b.d), 8)
            } else {
                let b = &cast_blocks::<BlockQ5_0>(row)[gi];
                (b.quants(), f16_le(b.d), 16)
            };
            for i in 0..32 {
                out.u[i] = (q[i] + off) as u8;
            }
            out.sc[..2].fill(1);
            out.mn[..2].fill(1);
            out.d = d;
            out.dm = -(off as f32) * d;
        }
        GgmlType::Q8_0 | GgmlType::IQ4_NL => {
            let (q, d) = if ty == GgmlType::Q8_0 {
                let b = &cast_blocks::<BlockQ8_0>(row)[gi];
                (b.qs, f16_le(b.d))
            } else {
                let b = &cast_blocks::<BlockIq4Nl>(row)[gi];
                (b.quants().map(|v| v as u8), f16_le(b.d))
            };
            out.u[..32].copy_from_slice(&q);
            out.sc[..2].fill(1);
            out.mn[..2].fill(0);
            out.d = d;
            out.dm = 0.0;
        }
        GgmlType::IQ4_XS => {
            let b = &cast_blocks::<BlockIq4Xs>(row)[gi];
            out.u = b.quants().map(|v| v as u8);
            let sc = b.scales();
            for k in 0..16 {
                out.sc[k] = sc[k / 2] as i16;
                out.mn[k] = 0;
            }
            out.d = f16_le(b.d);
            out.dm = 0.0;
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let (u, scales, d, dmin) = if ty == GgmlType::Q4_K {
                let b = &cast_blocks::<BlockQ4K>(row)[gi];
                (b.quants(), b.scales, b.d, b.dmin)
            } else {
                let b = &cast_blocks::<BlockQ5K>(row)[gi];
                (b.quants(), b.scales, b.d, b.dmin)
            };
            out.u = u;
            for s in 0..8 {
                let (sc, m) = q4_k::scale_min_k4(s, &scales);
                out.sc[2 * s] = sc as i16;
                out.sc[2 * s + 1] = sc as i16;
                out.mn[2 * s] = m as i16;
                out.mn[2 * s + 1] = m as i16;
            }
            out.d = f16_le(d);
            out.dm = -f16_le(dmin);
        }
        GgmlType::Q6_K => {
            let b = &cast_blocks::<BlockQ6K>(row)[gi];
            let q = b.quants();
            for i in 0..QK_K {
                out.u[i] = (q[i] + 32) as u8;
            }
            for k in 0..16 {
                out.sc[k] = b.scales[k] as i8 as i16;
                out.mn[k] = out.sc[k];
            }
            out.d = f16_le(b.d);
            out.dm = -32.0 * out.d;
        }
        GgmlType::Q2_K => {
            let b = &cast_blocks::<BlockQ2K>(row)[gi];
            out.u = b.quants();
            for k in 0..16 {
                out.sc[k] = (b.scales[k] & 0xF) as i16;
                out.mn[k] = (b.scales[k] >> 4) as i16;
            }
            out.d = f16_le(b.d);
            out.dm = -f16_le(b.dmin);
        }
        GgmlType::Q3_K => {
            let b = &cast_blocks::<BlockQ3K>(row)[gi];
            let q = b.quants();
            let sc = b.scales();
            for i in 0..QK_K {
                out.u[i] = (q[i] + 4) as u8;
            }
            for k in 0..16 {
                out.sc[k] = sc[k] as i16;
                out.mn[k] = sc[k] as i16;
            }
            out.d = f16_le(b.d);
            out.dm = -4.0 * out.d;
        }
        other => unreachable!("repack: unsupported type {other}"),
    }
    debug_assert!(g == 32 || g == QK_K);
}

/// Repack 8 rows (`rows[r]` = one row's bytes, `k` elements) into `out` (`tile_bytes` long).
pub fn repack_tile(ty: GgmlType, rows: [&[u8]; R], k: usize, out: &mut [u8]) {
    let g = group_size(ty).expect("repack_tile: type without an R8 layout");
    assert_eq!(out.len(), tile_bytes(k, g));
    // On the stack (8 × 328 bytes): no allocation per tile.
    let mut groups: [Group; R] = std::array::from_fn(|_| Group {
        u: [0; QK_K],
        sc: [0; 16],
        mn: [0; 16],
        d: 0.0,
        dm: 0.0,
    });
    let mut o = 0;
    for gi in 0..k / g {
        for (r, grp) in groups.iter_mut().enumerate() {
            decode(ty, rows[r], gi, grp);
        }
        for (r, grp) in groups.iter().enumerate() {
            out[o + 4 * r..o + 4 * r + 4].copy_from_slice(&grp.d.to_le_bytes());
            out[o + 32 + 4 * r..o + 32 + 4 * r + 4].copy_from_slice(&grp.dm.to_le_bytes());
        }
        o += GROUP_HEADER;
        for c in 0..g / 32 {
            let put16 = |out: &mut [u8], at: usize, lane: usize, v: i16| {
                out[at + 2 * lane..at + 2 * lane + 2].copy_from_slice(&v.to_le_bytes());
            };
            for (r, grp) in groups.iter().enumerate() {
                let (s0, s1) = (grp.sc[2 * c], grp.sc[2 * c + 1]);
                let (m0, m1) = (grp.mn[2 * c], grp.mn[2 * c + 1]);
                put16(out, o, 2 * r, s0);
                put16(out, o, 2 * r + 1, s0);
                put16(out, o + 32, 2 * r, s1);
                put16(out, o + 32, 2 * r + 1, s1);
                put16(out, o + 64, 2 * r, m0);
                put16(out, o + 64, 2 * r + 1, m1);
                for s in 0..8 {
                    let at = o + 96 + 32 * s + 4 * r;
                    out[at..at + 4].copy_from_slice(&grp.u[32 * c + 4 * s..32 * c + 4 * s + 4]);
                }
            }
            o += CHUNK_BYTES;
        }
    }
}

/// Convert one standard activation row (Q8_0 blocks for G = 32, Q8_K for G = 256) of `k`
/// elements into the R8 activation layout.
pub fn convert_act(g: usize, src: &[u8], k: usize, out: &mut [u8]) {
    assert_eq!(out.len(), act_row_bytes(k, g));
    let (qs, rest) = out.split_at_mut(k);
    let (bs, ds) = rest.split_at_mut(k / 32 * 4);
    if g == 32 {
        for (i, b) in cast_blocks::<quant::BlockQ8_0>(src).iter().enumerate() {
            qs[32 * i..32 * i + 32].copy_from_slice(&b.qs);
            let lo: i32 = b.qs[..16].iter().map(|&q| q as i8 as i32).sum();
            let hi: i32 = b.qs[16..].iter().map(|&q| q as i8 as i32).sum();
            bs[4 * i..4 * i + 2].copy_from_slice(&(lo as i16).to_le_bytes());
            bs[4 * i + 2..4 * i + 4].copy_from_slice(&(hi as i16).to_le_bytes());
            ds[4 * i..4 * i + 4].copy_from_slice(&quant::f16_le(b.d).to_le_bytes());
        }
    } else {
        for (i, b) in cast_blocks::<quant::BlockQ8K>(src).iter().enumerate() {
            qs[QK_K * i..QK_K * i + QK_K].copy_from_slice(&b.qs);
            bs[32 * i..32 * i + 32].copy_from_slice(&b.bsums);
            ds[4 * i..4 * i + 4].copy_from_slice(&b.d);
        }
    }
}
