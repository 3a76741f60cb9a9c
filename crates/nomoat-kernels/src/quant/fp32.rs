//! F32: one little-endian `f32` per element. Also the activation format of the float weight types.

use super::{RawBlock, WeightBlock};

/// One `f32` element, stored little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockF32 {
    pub v: [u8; 4],
}
const _: () = assert!(std::mem::size_of::<BlockF32>() == 4);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockF32 {
    const QK: usize = 1;
    fn zeroed() -> Self {
        Self::default()
    }
}

impl BlockF32 {
    #[inline]
    pub fn get(&self) -> f32 {
        f32::from_le_bytes(self.v)
    }
    #[inline]
    pub fn new(x: f32) -> Self {
        Self { v: x.to_le_bytes() }
    }
}

/// Write `x` as F32 activation blocks (a plain little-endian copy).
pub fn quantize(x: &[f32], out: &mut [BlockF32]) {
    assert_eq!(x.len(), out.len());
    for (o, &v) in out.iter_mut().zip(x) {
        *o = BlockF32::new(v);
    }
}

impl WeightBlock for BlockF32 {
    type Act = BlockF32;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = self.get();
    }
    fn dot(w: &[Self], a: &[BlockF32]) -> f32 {
        assert_eq!(w.len(), a.len());
        w.iter().zip(a).map(|(w, a)| w.get() * a.get()).sum()
    }
}
