//! The contract between the kernels and their callers: the byte layouts the kernels read
//! (activation formats, the R8 prompt tiles, the load-time 8-row groups) and the signatures of the
//! kernel functions the dispatch table holds.
//!
//! A leaf module (it imports only `quant`), so the SIMD kernels (`x86`), the scalar references
//! (`scalar`), the table ([`crate::dispatch`]) and the drivers ([`crate::matmul`](mod@crate::matmul),
//! [`crate::packed`], [`crate::repack`]) all share these definitions without importing each
//! other.

use crate::quant::{self, RawBlock};
use crate::GgmlType;

/// Largest number of activation rows (tokens) one dot-kernel call handles; the GEMM path tiles
/// tokens by this so every unpacked weight block is reused this many times.
pub const MAX_COLS: usize = 4;

/// The format activations are converted to before a matmul (ggml's `vec_dot_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActFormat {
    /// Plain little-endian f32 (for F32/F16/BF16 weights).
    F32,
    Q8_0,
    Q8_1,
    Q8K,
}

impl ActFormat {
    /// Elements per block.
    pub fn block_size(self) -> usize {
        match self {
            ActFormat::F32 => 1,
            ActFormat::Q8_0 | ActFormat::Q8_1 => 32,
            ActFormat::Q8K => quant::QK_K,
        }
    }
    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            ActFormat::F32 => quant::BlockF32::BYTES,
            ActFormat::Q8_0 => quant::BlockQ8_0::BYTES,
            ActFormat::Q8_1 => quant::BlockQ8_1::BYTES,
            ActFormat::Q8K => quant::BlockQ8K::BYTES,
        }
    }
    /// Bytes of one converted row of `k` elements (`k` a multiple of the block size).
    pub fn row_bytes(self, k: usize) -> usize {
        k / self.block_size() * self.block_bytes()
    }
    /// Index 0..4 (table slots).
    pub(crate) fn index(self) -> usize {
        match self {
            ActFormat::F32 => 0,
            ActFormat::Q8_0 => 1,
            ActFormat::Q8_1 => 2,
            ActFormat::Q8K => 3,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel signatures (what the dispatch table stores).

/// `dot(w, a, a_stride, out)`: one weight row `w` (whole blocks) against `out.len()` (1..=
/// [`MAX_COLS`]) activation rows starting at `a`, `a_stride` bytes apart; `out[t] = w · a_t`.
pub type DotFn = fn(w: &[u8], a: &[u8], a_stride: usize, out: &mut [f32]);
/// Convert a row of f32 activations into an activation format (`out` = whole blocks).
pub type QuantizeFn = fn(x: &[f32], out: &mut [u8]);
/// GEMV kernel for 4 weight rows against one activation row: `out[r] = w[r] · a`.
pub type Rows4Fn = fn(w: [&[u8]; 4], a: &[u8], out: &mut [f32; 4]);
/// The R8 prompt-GEMM micro-kernel: `out[t][r]` = repacked row r · activation row t (tile and
/// activation layouts in [`crate::repack`]); arguments `(k, group, signed, tile, act,
/// act_stride, out)`.
pub type TileDotFn = fn(usize, usize, bool, &[u8], &[u8], usize, &mut [[f32; R]]);
/// Group micro-kernel: one group of 8 repacked rows (`nb` blocks of a [`Layout`]) against
/// 1..=[`MAX_COLS`] activation rows `a` (Q8_0, or Q8_K for Q4Kx8), `stride` bytes apart;
/// `ysum[t·nb + b]` = Σ of token t's block-b quants (used by the offset layouts); `out[t][r]` =
/// row r · token t.
pub type GroupKernel =
    fn(nb: usize, group: &[u8], a: &[u8], stride: usize, ysum: &[i32], out: &mut [[f32; ROWS]]);
/// Expands `nb` blocks of a Q4_0x8 / Q5_0x8 group into the unpacked byte form (`dst`: `nb ×`
/// [`U8_BLOCK_BYTES`]).
pub type UnpackFn = fn(layout: Layout, nb: usize, group: &[u8], dst: &mut [u8]);
/// The unpacked byte form against 1..=[`MAX_COLS`] tokens, as [`GroupKernel`]; `off` is the
/// source layout's [`Layout::offset`].
pub type UnpackedKernel = fn(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    ysum: &[i32],
    off: i32,
    out: &mut [[f32; ROWS]],
);

// ---------------------------------------------------------------------------------------------
// R8 prompt tiles (built per call by `crate::repack`, read by the tile kernels).

/// Rows per tile.
pub const R: usize = 8;
/// Bytes of one 32-element chunk of a tile.
pub const CHUNK_BYTES: usize = 3 * 32 + 256;
/// Bytes of one group header.
pub const GROUP_HEADER: usize = 64;

/// Bytes of a repacked tile of 8 rows of `k` elements in groups of `g`.
pub fn tile_bytes(k: usize, g: usize) -> usize {
    k / g * GROUP_HEADER + k / 32 * CHUNK_BYTES
}

/// Bytes of one converted activation row of `k` elements in groups of `g`.
pub fn act_row_bytes(k: usize, g: usize) -> usize {
    k + k / 32 * 4 + k / g * 4
}

// ---------------------------------------------------------------------------------------------
// Load-time 8-row groups (built by `crate::packed`, read by the group kernels).

/// Rows per group.
pub const ROWS: usize = 8;

/// A row-interleaved layout (described in the [`crate::packed`] module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Q8_0x8,
    Q4_0x8,
    Q5_0x8,
    Q4Kx8,
}

/// Q4Kx8 offsets inside a group block: 6-bit scales, mins, nibbles.
pub(crate) const Q4K_SC: usize = 32;
pub(crate) const Q4K_MN: usize = 96;
pub(crate) const Q4K_QS: usize = 160;

/// Bytes of one block of the unpacked form of Q4_0x8 / Q5_0x8 (`f16 d[8]`, then per step pair
/// `u` of the even step (32 bytes) and of the odd step (32 bytes)).
pub const U8_BLOCK_BYTES: usize = 16 + 256;

impl Layout {
    /// Every layout, in table order ([`Layout::index`]).
    pub const ALL: [Layout; 4] = [
        Layout::Q8_0x8,
        Layout::Q4_0x8,
        Layout::Q5_0x8,
        Layout::Q4Kx8,
    ];

    /// Position in [`Layout::ALL`] (table slots).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The layout for a source type, if there is one.
    pub fn for_type(ty: GgmlType) -> Option<Layout> {
        match ty {
            GgmlType::Q8_0 => Some(Layout::Q8_0x8),
            GgmlType::Q4_0 => Some(Layout::Q4_0x8),
            GgmlType::Q5_0 => Some(Layout::Q5_0x8),
            GgmlType::Q4_K => Some(Layout::Q4Kx8),
            _ => None,
        }
    }
    /// Bytes of one group block (8 rows × [`Layout::block_elems`] elements).
    pub const fn block_bytes(self) -> usize {
        match self {
            Layout::Q8_0x8 => 16 + 256,
            Layout::Q4_0x8 => 16 + 128,
            Layout::Q5_0x8 => 16 + 32 + 128,
            Layout::Q4Kx8 => Q4K_QS + 1024,
        }
    }
    /// Elements of a row per block.
    pub const fn block_elems(self) -> usize {
        match self {
            Layout::Q4Kx8 => 256,
            _ => 32,
        }
    }
    /// The activation format the kernels read.
    pub fn act_format(self) -> ActFormat {
        match self {
            Layout::Q4Kx8 => ActFormat::Q8K,
            _ => ActFormat::Q8_0,
        }
    }
    /// `q = u − offset` for the unsigned 32-element layouts; 0 for Q8_0x8 (signed quants) and
    /// Q4Kx8 (mins instead).
    pub const fn offset(self) -> i32 {
        match self {
            Layout::Q8_0x8 | Layout::Q4Kx8 => 0,
            Layout::Q4_0x8 => 8,
            Layout::Q5_0x8 => 16,
        }
    }
    /// Short name (`q8_0x8`, …).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Q8_0x8 => "q8_0x8",
            Layout::Q4_0x8 => "q4_0x8",
            Layout::Q5_0x8 => "q5_0x8",
            Layout::Q4Kx8 => "q4_Kx8",
        }
    }

    /// Signed quant of value `i` (= 4·row + element) of step `s` of a group block (32-element
    /// layouts).
    #[inline]
    pub fn quant(self, blk: &[u8], s: usize, i: usize) -> i8 {
        match self {
            Layout::Q4Kx8 => unreachable!("q4_Kx8 has sub-block scales; see q4k_dequant"),
            Layout::Q8_0x8 => blk[16 + 32 * s + i] as i8,
            Layout::Q4_0x8 => (nibble(&blk[16..], s, i) as i32 - 8) as i8,
            Layout::Q5_0x8 => {
                let hi = (blk[16 + i] >> s) & 1;
                ((nibble(&blk[48..], s, i) | (hi << 4)) as i32 - 16) as i8
            }
        }
    }
}

/// Low 4 bits of `u` for value `i` of step `s` in the paired-nibble area `qs`.
#[inline]
pub(crate) fn nibble(qs: &[u8], s: usize, i: usize) -> u8 {
    let b = qs[32 * (s / 2) + i];
    if s.is_multiple_of(2) {
        b & 0x0F
    } else {
        b >> 4
    }
}
