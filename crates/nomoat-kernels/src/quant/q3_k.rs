//! Q3_K: 256 elements in 16 sub-blocks of 16, `x = d·sc_k·q`, q ∈ [−4, 3] (2 low bits in `qs`, the
//! high bit inverted in `hmask`), 6-bit signed scales packed in 12 bytes (performance.md §1.3).

use super::{f16_le, BlockQ8K, RawBlock, WeightBlock, QK_K};

/// `u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d` (110 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ3K {
    const QK: usize = QK_K;
    fn zeroed() -> Self {
        Self {
            hmask: [0; 32],
            qs: [0; 64],
            scales: [0; 12],
            d: [0; 2],
        }
    }
}

impl BlockQ3K {
    /// The 16 signed sub-block scales, in [−32, 31].
    pub fn scales(&self) -> [i8; 16] {
        let s = &self.scales;
        let mut out = [0i8; 16];
        for (k, o) in out.iter_mut().enumerate() {
            let low4 = if k < 8 { s[k] & 0xF } else { s[k - 8] >> 4 };
            let hi2 = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
            *o = (low4 | (hi2 << 4)) as i8 - 32;
        }
        out
    }

    /// The 256 signed quants in element order, in [−4, 3].
    pub fn quants(&self) -> [i8; QK_K] {
        let mut q = [0i8; QK_K];
        for n in 0..2 {
            for j in 0..4 {
                for l in 0..32 {
                    let q2 = ((self.qs[32 * n + l] >> (2 * j)) & 3) as i8;
                    let high = (self.hmask[l] >> (4 * n + j)) & 1;
                    q[128 * n + 32 * j + l] = q2 - if high != 0 { 0 } else { 4 };
                }
            }
        }
        q
    }
}

impl WeightBlock for BlockQ3K {
    type Act = BlockQ8K;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        let (q, sc) = (self.quants(), self.scales());
        for (i, o) in out[..QK_K].iter_mut().enumerate() {
            *o = d * sc[i / 16] as f32 * q[i] as f32;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let (q, sc) = (x.quants(), x.scales());
            let mut sumi = 0i32;
            for k in 0..16 {
                let dot: i32 = (16 * k..16 * k + 16).map(|i| q[i] as i32 * y.q(i)).sum();
                sumi += sc[k] as i32 * dot;
            }
            sum += y.d() * f16_le(x.d) * sumi as f32;
        }
        sum
    }
}
