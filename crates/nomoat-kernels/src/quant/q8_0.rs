//! Q8_0: 32 elements, `f16 d; i8 qs[32]`, `y = d·q`. Weight format and the activation format of
//! Q4_0, Q5_0, Q8_0 and IQ4_NL.

use super::{f16_le, f16_to_le, nearest_int, RawBlock, WeightBlock};

/// `f16 d; i8 qs[32]` (34 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0 {
    pub d: [u8; 2],
    pub qs: [u8; 32],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ8_0 {
    const QK: usize = 32;
    fn zeroed() -> Self {
        Self {
            d: [0; 2],
            qs: [0; 32],
        }
    }
}

impl BlockQ8_0 {
    /// Quantize 32 values: `d = amax/127`, `q = round_half_even(x·127/amax)`, so `q ∈ [−127, 127]`.
    pub fn quantize(x: &[f32]) -> Self {
        let x = &x[..32];
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut qs = [0u8; 32];
        for (q, &v) in qs.iter_mut().zip(x) {
            *q = nearest_int(v * id) as i8 as u8;
        }
        Self {
            d: f16_to_le(d),
            qs,
        }
    }
}

/// Quantize a row (`x.len() == 32·out.len()`) to Q8_0.
pub fn quantize(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), out.len() * 32);
    for (o, c) in out.iter_mut().zip(x.chunks_exact(32)) {
        *o = BlockQ8_0::quantize(c);
    }
}

impl WeightBlock for BlockQ8_0 {
    type Act = BlockQ8_0;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        for (o, &q) in out[..32].iter_mut().zip(&self.qs) {
            *o = d * (q as i8) as f32;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8_0]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let sumi: i32 =
                x.qs.iter()
                    .zip(&y.qs)
                    .map(|(&p, &q)| (p as i8 as i32) * (q as i8 as i32))
                    .sum();
            sum += sumi as f32 * (f16_le(x.d) * f16_le(y.d));
        }
        sum
    }
}
