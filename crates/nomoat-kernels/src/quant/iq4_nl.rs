//! IQ4_NL: 32 elements, `f16 d; u8 qs[16]`, non-linear 4-bit codebook: `y = d·KVALUES[nibble]`.

use super::{f16_le, BlockQ8_0, RawBlock, WeightBlock};

/// ggml's `kvalues_iq4nl`.
pub const KVALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// `f16 d; u8 qs[16]` (18 bytes); element j uses `qs[j]&0xF`, element j+16 uses `qs[j]>>4`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockIq4Nl {
    pub d: [u8; 2],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockIq4Nl>() == 18);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockIq4Nl {
    const QK: usize = 32;
    fn zeroed() -> Self {
        Self {
            d: [0; 2],
            qs: [0; 16],
        }
    }
}

impl BlockIq4Nl {
    /// The 32 codebook values in element order.
    pub fn quants(&self) -> [i8; 32] {
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = KVALUES[(self.qs[j] & 0xF) as usize];
            q[j + 16] = KVALUES[(self.qs[j] >> 4) as usize];
        }
        q
    }
}

impl WeightBlock for BlockIq4Nl {
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
