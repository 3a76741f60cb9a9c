//! BF16: the top 16 bits of an f32, little-endian. Multiplied with F32 activations.

use super::{BlockF32, RawBlock, WeightBlock};

/// One bfloat16 element, stored little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockBf16 {
    pub v: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockBf16>() == 2);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockBf16 {
    const QK: usize = 1;
    fn zeroed() -> Self {
        Self::default()
    }
}

impl BlockBf16 {
    #[inline]
    pub fn get(&self) -> f32 {
        f32::from_bits((u16::from_le_bytes(self.v) as u32) << 16)
    }
}

impl WeightBlock for BlockBf16 {
    type Act = BlockF32;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = self.get();
    }
    fn dot(w: &[Self], a: &[BlockF32]) -> f32 {
        assert_eq!(w.len(), a.len());
        w.iter().zip(a).map(|(w, a)| w.get() * a.get()).sum()
    }
}
