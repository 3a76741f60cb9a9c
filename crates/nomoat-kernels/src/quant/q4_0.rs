//! Q4_0: 32 elements, `f16 d; u8 qs[16]`; `y[j] = d·((qs[j]&0xF)−8)`, `y[j+16] = d·((qs[j]>>4)−8)`.

use super::{f16_le, BlockQ8_0, RawBlock, WeightBlock};

/// `f16 d; u8 qs[16]` (18 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_0 {
    pub d: [u8; 2],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ4_0 {
    const QK: usize = 32;
    fn zeroed() -> Self {
        Self {
            d: [0; 2],
            qs: [0; 16],
        }
    }
}

impl BlockQ4_0 {
    /// The 32 signed quants in element order, in [−8, 7].
    pub fn quants(&self) -> [i8; 32] {
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = (self.qs[j] & 0xF) as i8 - 8;
            q[j + 16] = (self.qs[j] >> 4) as i8 - 8;
        }
        q
    }
}

impl WeightBlock for BlockQ4_0 {
    type Act = BlockQ8_0;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        for (o, q) in out[..32].iter_mut().zip(self.quants()) {
            *o = d * q as f32;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8_0]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let sumi: i32 = x
                .quants()
                .iter()
                .zip(&y.qs)
                .map(|(&p, &q)| p as i32 * (q as i8 as i32))
                .sum();
            sum += sumi as f32 * (f16_le(x.d) * f16_le(y.d));
        }
        sum
    }
}
