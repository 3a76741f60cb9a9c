//! Q2_K: 256 elements in 16 sub-blocks of 16, `x = d·(sb&0xF)·q − dmin·(sb>>4)`, q ∈ [0, 3]
//! (performance.md §1.3).

use super::{f16_le, BlockQ8K, RawBlock, WeightBlock, QK_K};

/// `u8 scales[16]; u8 qs[64]; f16 d; f16 dmin` (84 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ2K {
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: [u8; 2],
    pub dmin: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ2K {
    const QK: usize = QK_K;
    fn zeroed() -> Self {
        Self {
            scales: [0; 16],
            qs: [0; 64],
            d: [0; 2],
            dmin: [0; 2],
        }
    }
}

impl BlockQ2K {
    /// The 256 unsigned quants in element order, in [0, 3].
    pub fn quants(&self) -> [u8; QK_K] {
        let mut q = [0u8; QK_K];
        for n in 0..2 {
            for j in 0..4 {
                for l in 0..32 {
                    q[128 * n + 32 * j + l] = (self.qs[32 * n + l] >> (2 * j)) & 3;
                }
            }
        }
        q
    }
}

impl WeightBlock for BlockQ2K {
    type Act = BlockQ8K;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (f16_le(self.d), f16_le(self.dmin));
        let q = self.quants();
        for (i, o) in out[..QK_K].iter_mut().enumerate() {
            let sb = self.scales[i / 16];
            *o = d * (sb & 0xF) as f32 * q[i] as f32 - dmin * (sb >> 4) as f32;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let q = x.quants();
            let (mut sumi, mut summ) = (0i32, 0i32);
            for k in 0..16 {
                let dot: i32 = (16 * k..16 * k + 16).map(|i| q[i] as i32 * y.q(i)).sum();
                sumi += (x.scales[k] & 0xF) as i32 * dot;
                summ += (x.scales[k] >> 4) as i32 * y.bsum(k);
            }
            sum += y.d() * (f16_le(x.d) * sumi as f32 - f16_le(x.dmin) * summ as f32);
        }
        sum
    }
}
