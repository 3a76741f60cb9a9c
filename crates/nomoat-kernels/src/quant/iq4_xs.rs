//! IQ4_XS: 256 elements in 8 sub-blocks of 32, IQ4_NL's codebook with 6-bit sub-block scales:
//! `ls = low4 | hi2<<4`, `y = d·(ls−32)·KVALUES[nibble]`.

use super::iq4_nl::KVALUES;
use super::{f16_le, BlockQ8K, RawBlock, WeightBlock, QK_K};

/// `f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]` (136 bytes). Sub-block `ib` uses
/// `qs[16ib..16ib+16]`: element j its low nibble, element j+16 its high nibble.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockIq4Xs {
    pub d: [u8; 2],
    pub scales_h: [u8; 2],
    pub scales_l: [u8; 4],
    pub qs: [u8; 128],
}
const _: () = assert!(std::mem::size_of::<BlockIq4Xs>() == 136);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockIq4Xs {
    const QK: usize = QK_K;
    fn zeroed() -> Self {
        Self {
            d: [0; 2],
            scales_h: [0; 2],
            scales_l: [0; 4],
            qs: [0; 128],
        }
    }
}

impl BlockIq4Xs {
    /// The 8 signed sub-block scales `ls − 32`, in [−32, 31].
    pub fn scales(&self) -> [i8; 8] {
        let h = u16::from_le_bytes(self.scales_h);
        let mut out = [0i8; 8];
        for (ib, o) in out.iter_mut().enumerate() {
            let low = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
            let hi = ((h >> (2 * ib)) & 3) as u8;
            *o = (low | (hi << 4)) as i8 - 32;
        }
        out
    }

    /// The 256 codebook values in element order.
    pub fn quants(&self) -> [i8; QK_K] {
        let mut q = [0i8; QK_K];
        for ib in 0..8 {
            for j in 0..16 {
                let b = self.qs[16 * ib + j];
                q[32 * ib + j] = KVALUES[(b & 0xF) as usize];
                q[32 * ib + 16 + j] = KVALUES[(b >> 4) as usize];
            }
        }
        q
    }
}

impl WeightBlock for BlockIq4Xs {
    type Act = BlockQ8K;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        let (q, sc) = (self.quants(), self.scales());
        for (i, o) in out[..QK_K].iter_mut().enumerate() {
            *o = d * sc[i / 32] as f32 * q[i] as f32;
        }
    }
    fn dot(w: &[Self], a: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), a.len());
        let mut sum = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let (q, sc) = (x.quants(), x.scales());
            let mut sumi = 0i32;
            for ib in 0..8 {
                let dot: i32 = (32 * ib..32 * ib + 32).map(|i| q[i] as i32 * y.q(i)).sum();
                sumi += sc[ib] as i32 * dot;
            }
            sum += y.d() * f16_le(x.d) * sumi as f32;
        }
        sum
    }
}
