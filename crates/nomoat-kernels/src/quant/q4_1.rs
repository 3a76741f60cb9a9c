//! Q4_1: 32 elements, `f16 d, m; u8 qs[16]`; `y[j] = d·(qs[j]&0xF) + m`, `y[j+16] = d·(qs[j]>>4) + m`.

use super::{f16_le, BlockQ8_1, RawBlock, WeightBlock};

/// `f16 d; f16 m; u8 qs[16]` (20 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ4_1 {
    const QK: usize = 32;
    fn zeroed() -> Self {
        Self {
            d: [0; 2],
            m: [0; 2],
            qs: [0; 16],
        }
    }
}

impl BlockQ4_1 {
    /// The 32 unsigned quants in element order, in [0, 15].
    pub fn quants(&self) -> [u8; 32] {
        let mut q = [0u8; 32];
        for j in 0..16 {
            q[j] = self.qs[j] & 0xF;
            q[j + 16] = self.qs[j] >> 4;
        }
        q
    }
}

impl WeightBlock for BlockQ4_1 {
    type Act = BlockQ8_1;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (f16_le(self.d), f16_le(self.m));
        for (o, q) in out[..32].iter_mut().zip(self.quants()) {
            *o = d * q as f32 + m;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8_1]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let sumi: i32 = x
                .quants()
                .iter()
                .zip(&y.qs)
                .map(|(&p, &q)| p as i32 * (q as i8 as i32))
                .sum();
            sum += sumi as f32 * (f16_le(x.d) * f16_le(y.d)) + f16_le(x.m) * f16_le(y.s);
        }
        sum
    }
}
