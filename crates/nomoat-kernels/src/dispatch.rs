//! The run-time kernel table: for every supported weight type, the activation format it is
//! multiplied with and the dot-product kernel chosen from the CPU's features, built once.
//!
//! Set `NOMOAT_KERNELS=scalar` to force the portable scalar reference kernels (for testing and
//! for comparing results; CI runs the kernel tests both ways), or `NOMOAT_KERNELS=avx2` to stop
//! at the AVX2 level on an AVX-512 CPU (to compare the two there). Any other value, or none,
//! selects the best kernels the CPU supports: on x86-64 AVX2+FMA+F16C, then, where the CPU also
//! has AVX-512 F+BW+VL+VNNI, the AVX-512 kernels over the formats that have one (the others keep
//! their AVX2 kernels); scalar elsewhere for now.

use std::sync::OnceLock;

use crate::quant::{self, cast_blocks, cast_blocks_mut, RawBlock, WeightBlock};
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
}

/// `dot(w, a, a_stride, out)`: one weight row `w` (whole blocks) against `out.len()` (1..=
/// [`MAX_COLS`]) activation rows starting at `a`, `a_stride` bytes apart; `out[t] = w · a_t`.
pub type DotFn = fn(w: &[u8], a: &[u8], a_stride: usize, out: &mut [f32]);
/// Convert a row of f32 activations into an activation format (`out` = whole blocks).
pub type QuantizeFn = fn(x: &[f32], out: &mut [u8]);

/// The R8 prompt-GEMM micro-kernel: `out[t][r]` = repacked row r · activation row t
/// (see `crate::repack`); arguments `(k, group, signed, tile, act, act_stride, out)`.
pub type TileDotFn = fn(usize, usize, bool, &[u8], &[u8], usize, &mut [[f32; crate::repack::R]]);

/// GEMV kernel for 4 weight rows against one activation row: `out[r] = w[r] · a`.
pub type Rows4Fn = fn(w: [&[u8]; 4], a: &[u8], out: &mut [f32; 4]);

/// A dot kernel and its name (for `describe`).
#[derive(Clone, Copy, Debug)]
pub struct DotKernel {
    pub act: ActFormat,
    pub f: DotFn,
    pub name: &'static str,
}

/// The instruction-set level a table was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Scalar,
    Avx2,
    /// AVX-512 F+BW+VL+VNNI kernels where written, AVX2 ones for the other formats.
    Avx512,
}

/// A complete kernel table.
#[derive(Debug)]
pub struct Kernels {
    pub level: Level,
    dots: Vec<Option<DotKernel>>,
    quant: [(QuantizeFn, &'static str); 4],
    pub(crate) tile_dot: (TileDotFn, &'static str),
    rows4: Vec<Option<Rows4Fn>>,
}

const N_TYPES: usize = GgmlType::ALL.len();

/// Weight types with a dequantizer and a dot kernel.
pub const SUPPORTED: [GgmlType; 17] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::Q8_K,
];

fn dot_scalar<W: WeightBlock>(w: &[u8], a: &[u8], a_stride: usize, out: &mut [f32]) {
    const { assert!(W::QK == <W::Act as RawBlock>::QK) };
    let wb = cast_blocks::<W>(w);
    let abytes = wb.len() * <W::Act as RawBlock>::BYTES;
    for (t, o) in out.iter_mut().enumerate() {
        let ab = cast_blocks::<W::Act>(&a[t * a_stride..t * a_stride + abytes]);
        *o = W::dot(wb, ab);
    }
}

/// Q8_K as a stored "weight" (never in real files, but a valid type): dot via dequantization.
fn dot_q8k_scalar(w: &[u8], a: &[u8], a_stride: usize, out: &mut [f32]) {
    let wb = cast_blocks::<quant::BlockQ8K>(w);
    let abytes = wb.len() * quant::BlockQ8K::BYTES;
    for (t, o) in out.iter_mut().enumerate() {
        let ab = cast_blocks::<quant::BlockQ8K>(&a[t * a_stride..t * a_stride + abytes]);
        let mut s = 0.0f32;
        for (x, y) in wb.iter().zip(ab) {
            let sumi: i32 = (0..quant::QK_K).map(|i| x.q(i) * y.q(i)).sum();
            s += x.d() * y.d() * sumi as f32;
        }
        *o = s;
    }
}

fn q_f32(x: &[f32], out: &mut [u8]) {
    quant::fp32::quantize(x, cast_blocks_mut(out));
}
fn q_q8_0(x: &[f32], out: &mut [u8]) {
    quant::q8_0::quantize(x, cast_blocks_mut(out));
}
fn q_q8_1(x: &[f32], out: &mut [u8]) {
    quant::q8_1::quantize(x, cast_blocks_mut(out));
}
fn q_q8k(x: &[f32], out: &mut [u8]) {
    quant::q8_k::quantize(x, cast_blocks_mut(out));
}

fn scalar_dot(ty: GgmlType) -> Option<DotKernel> {
    use quant::*;
    let (act, f, name): (ActFormat, DotFn, &'static str) = match ty {
        GgmlType::F32 => (ActFormat::F32, dot_scalar::<BlockF32>, "f32·f32 scalar"),
        GgmlType::F16 => (ActFormat::F32, dot_scalar::<BlockF16>, "f16·f32 scalar"),
        GgmlType::BF16 => (ActFormat::F32, dot_scalar::<BlockBf16>, "bf16·f32 scalar"),
        GgmlType::Q4_0 => (ActFormat::Q8_0, dot_scalar::<BlockQ4_0>, "q4_0·q8_0 scalar"),
        GgmlType::Q4_1 => (ActFormat::Q8_1, dot_scalar::<BlockQ4_1>, "q4_1·q8_1 scalar"),
        GgmlType::Q5_0 => (ActFormat::Q8_0, dot_scalar::<BlockQ5_0>, "q5_0·q8_0 scalar"),
        GgmlType::Q5_1 => (ActFormat::Q8_1, dot_scalar::<BlockQ5_1>, "q5_1·q8_1 scalar"),
        GgmlType::Q8_0 => (ActFormat::Q8_0, dot_scalar::<BlockQ8_0>, "q8_0·q8_0 scalar"),
        GgmlType::Q8_1 => (ActFormat::Q8_1, dot_scalar::<BlockQ8_1>, "q8_1·q8_1 scalar"),
        GgmlType::Q2_K => (ActFormat::Q8K, dot_scalar::<BlockQ2K>, "q2_K·q8_K scalar"),
        GgmlType::Q3_K => (ActFormat::Q8K, dot_scalar::<BlockQ3K>, "q3_K·q8_K scalar"),
        GgmlType::Q4_K => (ActFormat::Q8K, dot_scalar::<BlockQ4K>, "q4_K·q8_K scalar"),
        GgmlType::Q5_K => (ActFormat::Q8K, dot_scalar::<BlockQ5K>, "q5_K·q8_K scalar"),
        GgmlType::Q6_K => (ActFormat::Q8K, dot_scalar::<BlockQ6K>, "q6_K·q8_K scalar"),
        GgmlType::IQ4_NL => (
            ActFormat::Q8_0,
            dot_scalar::<BlockIq4Nl>,
            "iq4_nl·q8_0 scalar",
        ),
        GgmlType::IQ4_XS => (
            ActFormat::Q8K,
            dot_scalar::<BlockIq4Xs>,
            "iq4_xs·q8_K scalar",
        ),
        GgmlType::Q8_K => (ActFormat::Q8K, dot_q8k_scalar, "q8_K·q8_K scalar"),
        _ => return None,
    };
    Some(DotKernel { act, f, name })
}

impl Kernels {
    /// The portable scalar reference table.
    pub fn scalar() -> Self {
        let mut dots = vec![None; N_TYPES];
        for ty in SUPPORTED {
            dots[ty as usize] = scalar_dot(ty);
        }
        Kernels {
            level: Level::Scalar,
            dots,
            quant: [
                (q_f32, "f32 copy"),
                (q_q8_0, "q8_0 scalar"),
                (q_q8_1, "q8_1 scalar"),
                (q_q8k, "q8_K scalar"),
            ],
            tile_dot: (crate::repack::tile_dot_scalar, "scalar"),
            rows4: vec![None; N_TYPES],
        }
    }

    /// The best table for this CPU (ignores `NOMOAT_KERNELS`).
    pub fn detect() -> Self {
        Self::detect_up_to(Level::Avx512)
    }

    /// The best table for this CPU using no level above `max` (ignores `NOMOAT_KERNELS`).
    pub fn detect_up_to(max: Level) -> Self {
        #[allow(unused_mut)]
        let mut k = Self::scalar();
        #[cfg(target_arch = "x86_64")]
        if max != Level::Scalar && crate::x86::avx2_available() {
            crate::x86::install_avx2(&mut k);
            if max == Level::Avx512 && crate::x86::avx512_available() {
                crate::x86::install_avx512(&mut k);
            }
        }
        k
    }

    /// The R8 prompt-GEMM micro-kernel and its name.
    pub fn tile_dot_kernel(&self) -> (TileDotFn, &'static str) {
        self.tile_dot
    }

    /// The dot kernel for weight type `ty`, if supported.
    pub fn dot(&self, ty: GgmlType) -> Option<&DotKernel> {
        self.dots.get(ty as usize).and_then(|d| d.as_ref())
    }

    /// The 4-rows GEMV kernel for `ty`, where one exists (decode of the legacy formats).
    pub fn rows4(&self, ty: GgmlType) -> Option<Rows4Fn> {
        self.rows4.get(ty as usize).copied().flatten()
    }

    #[allow(dead_code)] // only x86 installs one today
    pub(crate) fn set_rows4(&mut self, ty: GgmlType, f: Rows4Fn) {
        self.rows4[ty as usize] = Some(f);
    }

    pub(crate) fn set_dot(&mut self, ty: GgmlType, k: DotKernel) {
        self.dots[ty as usize] = Some(k);
    }

    #[allow(dead_code)] // only x86 installs one today
    pub(crate) fn set_quantize(&mut self, act: ActFormat, f: QuantizeFn, name: &'static str) {
        self.quant[act_index(act)] = (f, name);
    }

    /// Convert a row of activations to `act` (`out.len() == act.row_bytes(x.len())`).
    pub fn quantize(&self, act: ActFormat, x: &[f32], out: &mut [u8]) {
        (self.quant[act_index(act)].0)(x, out)
    }

    /// One line per supported type naming the chosen kernels.
    pub fn describe(&self) -> String {
        let mut s = format!("kernels: {:?}\n", self.level);
        for ty in SUPPORTED {
            if let Some(d) = self.dot(ty) {
                let r4 = if self.rows4(ty).is_some() {
                    "; GEMV 4 rows × 1 token"
                } else {
                    ""
                };
                s.push_str(&format!("  {:<7} {}{r4}\n", ty.name(), d.name));
            }
        }
        for (act, (_, name)) in ["f32", "q8_0", "q8_1", "q8_K"].iter().zip(&self.quant) {
            s.push_str(&format!("  quantize→{act:<5} {name}\n"));
        }
        if self.level == Level::Avx512 {
            s.push_str(
                "  (kernels named avx2 above are the AVX2 ones: AVX-512 CPUs run them too)\n",
            );
        }
        s.push_str(&format!(
            "  prompt GEMM (≥{} tokens; q4_0 q5_0 q8_0 iq4_nl q2_K..q6_K iq4_xs): per-thread R8 repack, 8 rows × 4 tokens, {}\n",
            crate::matmul::R8_MIN_TOKENS,
            self.tile_dot.1
        ));
        s
    }
}

fn act_index(act: ActFormat) -> usize {
    match act {
        ActFormat::F32 => 0,
        ActFormat::Q8_0 => 1,
        ActFormat::Q8_1 => 2,
        ActFormat::Q8K => 3,
    }
}

/// Whether `NOMOAT_KERNELS=scalar` is set.
pub fn forced_scalar() -> bool {
    std::env::var("NOMOAT_KERNELS").is_ok_and(|v| v.eq_ignore_ascii_case("scalar"))
}

/// Whether `NOMOAT_KERNELS=avx2` is set.
pub fn forced_avx2() -> bool {
    std::env::var("NOMOAT_KERNELS").is_ok_and(|v| v.eq_ignore_ascii_case("avx2"))
}

/// The process-wide table: [`Kernels::detect`], [`Kernels::scalar`] under `NOMOAT_KERNELS=scalar`,
/// or at most the AVX2 level under `NOMOAT_KERNELS=avx2`.
pub fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        if forced_scalar() {
            Kernels::scalar()
        } else if forced_avx2() {
            Kernels::detect_up_to(Level::Avx2)
        } else {
            Kernels::detect()
        }
    })
}
