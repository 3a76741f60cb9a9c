//! F16: one little-endian IEEE binary16 per element. Multiplied with F32 activations.

use super::{f16_le, BlockF32, RawBlock, WeightBlock};

/// One binary16 element, stored little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockF16 {
    pub v: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockF16>() == 2);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockF16 {
    const QK: usize = 1;
    fn zeroed() -> Self {
        Self::default()
    }
}

impl WeightBlock for BlockF16 {
    type Act = BlockF32;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = f16_le(self.v);
    }
    fn dot(w: &[Self], a: &[BlockF32]) -> f32 {
        assert_eq!(w.len(), a.len());
        w.iter().zip(a).map(|(w, a)| f16_le(w.v) * a.get()).sum()
    }
}
