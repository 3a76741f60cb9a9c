//! The portable scalar reference kernels: the contents of `Kernels::scalar()`, what every SIMD
//! kernel is tested against, and the fallback where no SIMD kernel exists. Like the SIMD kernels
//! they import only `quant` and `layout`; the dispatch table picks them.
// Block formats are specified by index arithmetic; index loops read closest to the spec.
#![allow(clippy::needless_range_loop)]

pub(crate) mod packed;
pub(crate) mod tile;
pub(crate) mod vec;

use crate::quant::{self, cast_blocks, cast_blocks_mut, RawBlock, WeightBlock};

/// One weight row of `W` against `out.len()` activation rows (the [`crate::layout::DotFn`]
/// contract): the format's reference dot product per row.
pub(crate) fn dot<W: WeightBlock>(w: &[u8], a: &[u8], a_stride: usize, out: &mut [f32]) {
    const { assert!(W::QK == <W::Act as RawBlock>::QK) };
    let wb = cast_blocks::<W>(w);
    let abytes = wb.len() * <W::Act as RawBlock>::BYTES;
    for (t, o) in out.iter_mut().enumerate() {
        let ab = cast_blocks::<W::Act>(&a[t * a_stride..t * a_stride + abytes]);
        *o = W::dot(wb, ab);
    }
}

/// Q8_K as a stored "weight" (never in real files, but a valid type): dot via dequantization.
pub(crate) fn dot_q8k(w: &[u8], a: &[u8], a_stride: usize, out: &mut [f32]) {
    let wb = cast_blocks::<quant::BlockQ8K>(w);
    let abytes = wb.len() * quant::BlockQ8K::BYTES;
    for (t, o) in out.iter_mut().enumerate() {
        let ab = cast_blocks::<quant::BlockQ8K>(&a[t * a_stride..t * a_stride + abytes]);
        let mut s = 0.0f32;
        for (x, y) in wb.iter().zip(ab) {
            let sumi: i32 = (0..quant::QK_K).map(|i| x.q(i) * y.q(i)).sum();
            s += x.d() * y.d() * sumi as f32;
        }
        *o = s;
    }
}

/// Activation conversions ([`crate::layout::QuantizeFn`]).
pub(crate) fn quantize_f32(x: &[f32], out: &mut [u8]) {
    quant::fp32::quantize(x, cast_blocks_mut(out));
}
pub(crate) fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    quant::q8_0::quantize(x, cast_blocks_mut(out));
}
pub(crate) fn quantize_q8_1(x: &[f32], out: &mut [u8]) {
    quant::q8_1::quantize(x, cast_blocks_mut(out));
}
pub(crate) fn quantize_q8k(x: &[f32], out: &mut [u8]) {
    quant::q8_k::quantize(x, cast_blocks_mut(out));
}
