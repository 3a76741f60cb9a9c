//! GGUF block formats: `#[repr(C)]` structs laid out byte for byte as ggml's `ggml-common.h`
//! (see `../shared/design/performance.md` §1.3), each with a scalar `dequantize` reference, the
//! scalar reference dot product against its activation format, and `quantize` for the activation
//! formats (Q8_0, Q8_1, Q8_K).
//!
//! Every block struct is made of byte arrays only (alignment 1, every bit pattern valid), so a
//! `&[u8]` borrowed from the mmapped file can be viewed as `&[Block]` without copying
//! ([`cast_blocks`]). Multi-byte fields are little-endian and decoded on use.
// Block formats are specified by index arithmetic; index loops read closest to the spec.
#![allow(clippy::needless_range_loop)]

pub mod bf16;
pub mod fp16;
pub mod fp32;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;

pub use bf16::BlockBf16;
pub use fp16::BlockF16;
pub use fp32::BlockF32;
pub use iq4_nl::BlockIq4Nl;
pub use iq4_xs::BlockIq4Xs;
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q5_k::BlockQ5K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
pub use q8_k::BlockQ8K;

/// Elements in a K-quant super-block.
pub const QK_K: usize = 256;

/// A block struct that can be viewed in place inside a byte buffer.
///
/// # Safety
/// Implementors must be `#[repr(C)]` and contain only `u8` / `[u8; N]` fields, so that their
/// alignment is 1, they have no padding, and every bit pattern is a valid value.
pub unsafe trait RawBlock: Copy + Send + Sync + 'static {
    /// Elements per block.
    const QK: usize;
    /// Bytes per block (`size_of::<Self>()`, asserted at compile time in each module).
    const BYTES: usize = std::mem::size_of::<Self>();
    /// A block of zero bytes (used to size scratch buffers).
    fn zeroed() -> Self;
}

/// A stored weight format: dequantization and the reference dot product with its activation format.
pub trait WeightBlock: RawBlock {
    /// The activation block this format is multiplied with (ggml's `vec_dot_type`).
    type Act: RawBlock;
    /// Scalar reference dequantization of one block into `out[..Self::QK]`.
    fn dequantize(&self, out: &mut [f32]);
    /// Scalar reference dot product of a row of weight blocks with a row of activation blocks.
    /// Integer parts are exact; the float combination is per block, in order.
    fn dot(w: &[Self], a: &[Self::Act]) -> f32;
}

/// View `bytes` as a slice of blocks. Panics if the length is not a multiple of the block size.
pub fn cast_blocks<B: RawBlock>(bytes: &[u8]) -> &[B] {
    const { assert!(std::mem::align_of::<B>() == 1) };
    assert_eq!(
        bytes.len() % B::BYTES,
        0,
        "byte length {} is not a multiple of the block size {}",
        bytes.len(),
        B::BYTES
    );
    // SAFETY: `RawBlock` guarantees alignment 1, no padding and validity of every bit pattern;
    // the length is a whole number of blocks, checked above, so the view stays inside `bytes`.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / B::BYTES) }
}

/// Mutable view of `bytes` as blocks (see [`cast_blocks`]).
pub fn cast_blocks_mut<B: RawBlock>(bytes: &mut [u8]) -> &mut [B] {
    const { assert!(std::mem::align_of::<B>() == 1) };
    assert_eq!(
        bytes.len() % B::BYTES,
        0,
        "byte length is not a multiple of the block size"
    );
    // SAFETY: as in `cast_blocks`; the exclusive borrow of `bytes` is carried over to the result.
    unsafe {
        std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<B>(), bytes.len() / B::BYTES)
    }
}

/// The bytes of a slice of blocks.
pub fn block_bytes<B: RawBlock>(blocks: &[B]) -> &[u8] {
    // SAFETY: `RawBlock` types are plain bytes with no padding; the length covers exactly the slice.
    unsafe {
        std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), std::mem::size_of_val(blocks))
    }
}

/// Decode a little-endian IEEE binary16.
#[inline]
pub fn f16_le(b: [u8; 2]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes(b)).to_f32()
}

/// Encode an f32 as little-endian IEEE binary16 (round to nearest even).
#[inline]
pub fn f16_to_le(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

/// Round half to even, as ggml's `nearest_int` (the 1.5·2²³ trick) does for the range used here.
#[inline]
pub fn nearest_int(x: f32) -> i32 {
    x.round_ties_even() as i32
}

/// Scalar reference dequantization of a whole row of blocks.
pub fn dequantize_blocks<B: WeightBlock>(blocks: &[B], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * B::QK,
        "output length must be blocks × block size"
    );
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(B::QK)) {
        b.dequantize(o);
    }
}
