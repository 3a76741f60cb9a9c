//! Q6_K: 256 elements in 16 sub-blocks of 16, symmetric, `x = d·sc_k·q`, q ∈ [−32, 31]; low 4 bits
//! in `ql`, high 2 bits in `qh` (performance.md §1.3).

use super::{f16_le, BlockQ8K, RawBlock, WeightBlock, QK_K};

/// `u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d` (210 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [u8; 16],
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ6K {
    const QK: usize = QK_K;
    fn zeroed() -> Self {
        Self {
            ql: [0; 128],
            qh: [0; 64],
            scales: [0; 16],
            d: [0; 2],
        }
    }
}

impl BlockQ6K {
    /// The 256 signed quants in element order, in [−32, 31].
    pub fn quants(&self) -> [i8; QK_K] {
        let mut q = [0i8; QK_K];
        for h in 0..2 {
            let (l_, h_) = (&self.ql[64 * h..], &self.qh[32 * h..]);
            for l in 0..32 {
                let hb = h_[l];
                q[128 * h + l] = ((l_[l] & 0xF) | ((hb & 3) << 4)) as i8 - 32;
                q[128 * h + 32 + l] = ((l_[l + 32] & 0xF) | (((hb >> 2) & 3) << 4)) as i8 - 32;
                q[128 * h + 64 + l] = ((l_[l] >> 4) | (((hb >> 4) & 3) << 4)) as i8 - 32;
                q[128 * h + 96 + l] = ((l_[l + 32] >> 4) | (((hb >> 6) & 3) << 4)) as i8 - 32;
            }
        }
        q
    }
}

impl WeightBlock for BlockQ6K {
    type Act = BlockQ8K;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        let q = self.quants();
        for (i, o) in out[..QK_K].iter_mut().enumerate() {
            *o = d * (self.scales[i / 16] as i8 as f32) * q[i] as f32;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let q = x.quants();
            let mut sumi = 0i32;
            for k in 0..16 {
                let dot: i32 = (16 * k..16 * k + 16).map(|i| q[i] as i32 * y.q(i)).sum();
                sumi += (x.scales[k] as i8 as i32) * dot;
            }
            sum += y.d() * f16_le(x.d) * sumi as f32;
        }
        sum
    }
}
