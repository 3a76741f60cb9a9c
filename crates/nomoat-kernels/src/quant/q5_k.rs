//! Q5_K: Q4_K plus a fifth bit per element: `hb = (qh[l] >> s) & 1` for position l of sub-block s,
//! `q = nibble + 16·hb` ∈ [0, 31], `y = d·sc_s·q − dmin·m_s`.

use super::q4_k::scale_min_k4;
use super::{f16_le, BlockQ8K, RawBlock, WeightBlock, QK_K};

/// `f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]` (176 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ5K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ5K {
    const QK: usize = QK_K;
    fn zeroed() -> Self {
        Self {
            d: [0; 2],
            dmin: [0; 2],
            scales: [0; 12],
            qh: [0; 32],
            qs: [0; 128],
        }
    }
}

impl BlockQ5K {
    /// The 256 unsigned quants in element order, in [0, 31].
    pub fn quants(&self) -> [u8; QK_K] {
        let mut q = [0u8; QK_K];
        for c in 0..4 {
            for l in 0..32 {
                let (s0, s1) = (2 * c, 2 * c + 1);
                q[64 * c + l] = (self.qs[32 * c + l] & 0xF) | (((self.qh[l] >> s0) & 1) << 4);
                q[64 * c + 32 + l] = (self.qs[32 * c + l] >> 4) | (((self.qh[l] >> s1) & 1) << 4);
            }
        }
        q
    }
}

impl WeightBlock for BlockQ5K {
    type Act = BlockQ8K;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (f16_le(self.d), f16_le(self.dmin));
        let q = self.quants();
        for s in 0..8 {
            let (sc, m) = scale_min_k4(s, &self.scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for i in 32 * s..32 * s + 32 {
                out[i] = d1 * q[i] as f32 - m1;
            }
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let q = x.quants();
            let (mut sumi, mut summ) = (0i32, 0i32);
            for s in 0..8 {
                let (sc, m) = scale_min_k4(s, &x.scales);
                let dot: i32 = (32 * s..32 * s + 32).map(|i| q[i] as i32 * y.q(i)).sum();
                sumi += sc as i32 * dot;
                summ += m as i32 * (y.bsum(2 * s) + y.bsum(2 * s + 1));
            }
            sum += y.d() * (f16_le(x.d) * sumi as f32 - f16_le(x.dmin) * summ as f32);
        }
        sum
    }
}
