//! Q8_K: 256 elements, `f32 d; i8 qs[256]; i16 bsums[16]` (activations only, never stored in GGUF).
//! `bsums[k]` is the sum of quants `16k..16k+16`, used for the K-quants' min/offset terms.

use super::{nearest_int, RawBlock, QK_K};

/// `f32 d; i8 qs[256]; i16 bsums[16]` (292 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8K {
    pub d: [u8; 4],
    pub qs: [u8; 256],
    pub bsums: [u8; 32],
}
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

// SAFETY: repr(C), byte-array fields only.
unsafe impl RawBlock for BlockQ8K {
    const QK: usize = QK_K;
    fn zeroed() -> Self {
        Self {
            d: [0; 4],
            qs: [0; 256],
            bsums: [0; 32],
        }
    }
}

impl BlockQ8K {
    #[inline]
    pub fn d(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }
    #[inline]
    pub fn q(&self, i: usize) -> i32 {
        self.qs[i] as i8 as i32
    }
    #[inline]
    pub fn bsum(&self, k: usize) -> i32 {
        i16::from_le_bytes([self.bsums[2 * k], self.bsums[2 * k + 1]]) as i32
    }

    /// ggml's `quantize_row_q8_K_ref`: `max` = the value of largest magnitude, `iscale = −127/max`,
    /// `q = min(127, round(iscale·x))`, `d = 1/iscale`; all zeros if the block is zero.
    pub fn quantize(x: &[f32]) -> Self {
        let x = &x[..QK_K];
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let mut b = Self::zeroed();
        if amax == 0.0 {
            return b;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8 as u8;
        }
        for k in 0..16 {
            let s: i32 = (0..16).map(|i| b.q(16 * k + i)).sum();
            b.bsums[2 * k..2 * k + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
        b.d = (1.0 / iscale).to_le_bytes();
        b
    }

    /// Dequantize (for tests): `y = d·q`.
    pub fn dequantize(&self, out: &mut [f32]) {
        let d = self.d();
        for (i, o) in out[..QK_K].iter_mut().enumerate() {
            *o = d * self.q(i) as f32;
        }
    }
}

/// Quantize a row (`x.len() == 256·out.len()`) to Q8_K.
pub fn quantize(x: &[f32], out: &mut [BlockQ8K]) {
    assert_eq!(x.len(), out.len() * QK_K);
    for (o, c) in out.iter_mut().zip(x.chunks_exact(QK_K)) {
        *o = BlockQ8K::quantize(c);
    }
}
