//! The run-time kernel table: every kernel the drivers and the ops call is looked up here, in one
//! [`Kernels`] value chosen once from the CPU's features ([`kernels`]):
//! - per weight type, the activation format and the dot kernel (1 row × up to 4 tokens), and for
//!   the legacy formats a GEMV kernel of 4 rows × 1 token ([`crate::matmul`](mod@crate::matmul));
//! - the activation quantizers (f32 → Q8_0 / Q8_1 / Q8_K);
//! - the R8 prompt-GEMM tile kernel ([`crate::repack`]);
//! - the 8-row group kernels of the load-time layouts, block-sum and llama.cpp-order, and the
//!   unpacked form of the 4/5-bit ones ([`crate::packed`]);
//! - the f32/f16 vector helpers of norms and attention ([`VecKernels`], `crate::ops::simd`).
//!
//! Set `NOMOAT_KERNELS=scalar` to force the portable scalar reference kernels (for testing and
//! for comparing results; CI runs the kernel tests both ways), or `NOMOAT_KERNELS=avx2` to stop
//! at the AVX2 level on an AVX-512 CPU (to compare the two there). Any other value, or none,
//! selects the best kernels the CPU supports: on x86-64 AVX2+FMA+F16C, then, where the CPU also
//! has AVX-512 F+BW+VL+VNNI, the AVX-512 kernels over the formats that have one (the others keep
//! their AVX2 kernels); scalar elsewhere for now. The choice is the table's `level`; nothing
//! else in the crate tests CPU features or the environment.

use std::sync::OnceLock;

use half::f16;

use crate::layout::Layout;
pub use crate::layout::{
    ActFormat, DotFn, GroupKernel, QuantizeFn, Rows4Fn, TileDotFn, UnpackFn, UnpackedKernel,
    MAX_COLS,
};
use crate::scalar;
#[cfg(target_arch = "x86_64")]
use crate::x86;
use crate::GgmlType;

/// Token count from which types with an R8 layout use the repacking GEMM ([`crate::matmul`](mod@crate::matmul)).
pub const R8_MIN_TOKENS: usize = 32;

/// A dot kernel and its name (for `describe`).
#[derive(Clone, Copy, Debug)]
pub struct DotKernel {
    pub act: ActFormat,
    pub f: DotFn,
    pub name: &'static str,
}

/// The f32/f16 vector helpers of the ops (norms, attention). Slices passed together must have
/// equal lengths (the SIMD versions assert it; `crate::ops::simd` checks before calling).
#[derive(Clone, Copy, Debug)]
pub struct VecKernels {
    /// `Σ a[i]·b[i]`.
    pub dot_f32: fn(a: &[f32], b: &[f32]) -> f32,
    /// `Σ a[i]·b[i]` with `a` in f16.
    pub dot_f16_f32: fn(a: &[f16], b: &[f32]) -> f32,
    /// Four [`VecKernels::dot_f32`] sharing `k`, bit-identical to four calls.
    pub dot4_f32: fn(k: &[f32], q: [&[f32]; 4]) -> [f32; 4],
    /// `y[i] += a·x[i]`.
    pub axpy_f32: fn(y: &mut [f32], a: f32, x: &[f32]),
    /// Four [`VecKernels::axpy_f32`] in order, bit-identical to four calls.
    pub axpy4_f32: fn(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]),
    /// `y[i] += a·x[i]` with `x` in f16.
    pub axpy_f16: fn(y: &mut [f32], a: f32, x: &[f16]),
    /// `y[i] = f16(y[i] + a·x[i])` on an f16 accumulator (`ggml_vec_mad_f16`).
    pub axpy_f16_acc: fn(y: &mut [f16], a: f32, x: &[f16]),
    pub name: &'static str,
}

/// The group kernels of the load-time 8-row layouts, by [`Layout::index`].
#[derive(Clone, Copy, Debug)]
struct GroupKernels {
    block_sum: [GroupKernel; 4],
    exact: [GroupKernel; 4],
    unpacked: Option<(UnpackFn, UnpackedKernel)>,
    name: &'static str,
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
    tile_dot: (TileDotFn, &'static str),
    rows4: Vec<Option<Rows4Fn>>,
    groups: GroupKernels,
    vec: VecKernels,
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

fn scalar_dot(ty: GgmlType) -> Option<DotKernel> {
    use crate::quant::*;
    let (act, f, name): (ActFormat, DotFn, &'static str) = match ty {
        GgmlType::F32 => (ActFormat::F32, scalar::dot::<BlockF32>, "f32·f32 scalar"),
        GgmlType::F16 => (ActFormat::F32, scalar::dot::<BlockF16>, "f16·f32 scalar"),
        GgmlType::BF16 => (ActFormat::F32, scalar::dot::<BlockBf16>, "bf16·f32 scalar"),
        GgmlType::Q4_0 => (
            ActFormat::Q8_0,
            scalar::dot::<BlockQ4_0>,
            "q4_0·q8_0 scalar",
        ),
        GgmlType::Q4_1 => (
            ActFormat::Q8_1,
            scalar::dot::<BlockQ4_1>,
            "q4_1·q8_1 scalar",
        ),
        GgmlType::Q5_0 => (
            ActFormat::Q8_0,
            scalar::dot::<BlockQ5_0>,
            "q5_0·q8_0 scalar",
        ),
        GgmlType::Q5_1 => (
            ActFormat::Q8_1,
            scalar::dot::<BlockQ5_1>,
            "q5_1·q8_1 scalar",
        ),
        GgmlType::Q8_0 => (
            ActFormat::Q8_0,
            scalar::dot::<BlockQ8_0>,
            "q8_0·q8_0 scalar",
        ),
        GgmlType::Q8_1 => (
            ActFormat::Q8_1,
            scalar::dot::<BlockQ8_1>,
            "q8_1·q8_1 scalar",
        ),
        GgmlType::Q2_K => (ActFormat::Q8K, scalar::dot::<BlockQ2K>, "q2_K·q8_K scalar"),
        GgmlType::Q3_K => (ActFormat::Q8K, scalar::dot::<BlockQ3K>, "q3_K·q8_K scalar"),
        GgmlType::Q4_K => (ActFormat::Q8K, scalar::dot::<BlockQ4K>, "q4_K·q8_K scalar"),
        GgmlType::Q5_K => (ActFormat::Q8K, scalar::dot::<BlockQ5K>, "q5_K·q8_K scalar"),
        GgmlType::Q6_K => (ActFormat::Q8K, scalar::dot::<BlockQ6K>, "q6_K·q8_K scalar"),
        GgmlType::IQ4_NL => (
            ActFormat::Q8_0,
            scalar::dot::<BlockIq4Nl>,
            "iq4_nl·q8_0 scalar",
        ),
        GgmlType::IQ4_XS => (
            ActFormat::Q8K,
            scalar::dot::<BlockIq4Xs>,
            "iq4_xs·q8_K scalar",
        ),
        GgmlType::Q8_K => (ActFormat::Q8K, scalar::dot_q8k, "q8_K·q8_K scalar"),
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
                (scalar::quantize_f32, "f32 copy"),
                (scalar::quantize_q8_0, "q8_0 scalar"),
                (scalar::quantize_q8_1, "q8_1 scalar"),
                (scalar::quantize_q8k, "q8_K scalar"),
            ],
            tile_dot: (scalar::tile::tile_dot, "scalar"),
            rows4: vec![None; N_TYPES],
            groups: GroupKernels {
                block_sum: scalar::packed::BLOCK_SUM,
                exact: scalar::packed::EXACT,
                unpacked: None,
                name: "scalar",
            },
            vec: VecKernels {
                dot_f32: scalar::vec::dot_f32,
                dot_f16_f32: scalar::vec::dot_f16_f32,
                dot4_f32: scalar::vec::dot4_f32,
                axpy_f32: scalar::vec::axpy_f32,
                axpy4_f32: scalar::vec::axpy4_f32,
                axpy_f16: scalar::vec::axpy_f16,
                axpy_f16_acc: scalar::vec::axpy_f16_acc,
                name: "scalar",
            },
        }
    }

    /// The fastest table for this CPU (ignores `NOMOAT_KERNELS`).
    pub fn detect() -> Self {
        Self::detect_up_to(Level::Avx512)
    }

    /// The default table: [`Kernels::detect`], except that AVX-512 CPUs keep the AVX2 dot
    /// kernels and only take the AVX-512 VNNI prompt tile. Why: the AVX2 dot kernels sum in the
    /// lanes of llama.cpp's `ggml_vec_dot_*` (which has no AVX-512 variant for these formats), so
    /// decoding reproduces llama.cpp's logits to the last bits and greedy continuations match it
    /// at near-ties; the AVX-512 dots sum 16 lanes and drift there (default model: 2 of 8
    /// greedy continuations instead of 4). The VNNI tile is bit-identical to the AVX2 one and
    /// about 2.5× faster, and decode is bound by memory bandwidth, not by the dot kernels.
    /// `NOMOAT_KERNELS=avx512` selects every AVX-512 kernel.
    pub fn detect_llama_cpp_order() -> Self {
        #[allow(unused_mut)]
        let mut k = Self::detect_up_to(Level::Avx2);
        #[cfg(target_arch = "x86_64")]
        if k.level == Level::Avx2 && x86::avx512_available() {
            k.tile_dot = (x86::avx512_gemm::tile_dot, "avx512-vnni");
        }
        k
    }

    /// The best table for this CPU using no level above `max` (ignores `NOMOAT_KERNELS`).
    pub fn detect_up_to(max: Level) -> Self {
        #[allow(unused_mut)]
        let mut k = Self::scalar();
        #[cfg(target_arch = "x86_64")]
        if max != Level::Scalar && x86::avx2_available() {
            k.install_avx2();
            if max == Level::Avx512 && x86::avx512_available() {
                k.install_avx512();
            }
        }
        k
    }

    /// Replace the scalar entries with the AVX2 kernels (the caller checked
    /// `x86::avx2_available()`).
    #[cfg(target_arch = "x86_64")]
    fn install_avx2(&mut self) {
        self.level = Level::Avx2;
        self.tile_dot = (x86::gemm_r8::tile_dot, "avx2");
        let table: [(GgmlType, ActFormat, DotFn, &'static str); 15] = [
            (
                GgmlType::Q4_K,
                ActFormat::Q8K,
                x86::kquants::dot_q4_k,
                "q4_K·q8_K avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q5_K,
                ActFormat::Q8K,
                x86::kquants::dot_q5_k,
                "q5_K·q8_K avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q6_K,
                ActFormat::Q8K,
                x86::kquants::dot_q6_k,
                "q6_K·q8_K avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q2_K,
                ActFormat::Q8K,
                x86::kquants::dot_q2_k,
                "q2_K·q8_K avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q3_K,
                ActFormat::Q8K,
                x86::kquants::dot_q3_k,
                "q3_K·q8_K avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::IQ4_XS,
                ActFormat::Q8K,
                x86::kquants::dot_iq4_xs,
                "iq4_xs·q8_K avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q4_0,
                ActFormat::Q8_0,
                x86::legacy::dot_q4_0,
                "q4_0·q8_0 avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q5_0,
                ActFormat::Q8_0,
                x86::legacy::dot_q5_0,
                "q5_0·q8_0 avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q8_0,
                ActFormat::Q8_0,
                x86::legacy::dot_q8_0,
                "q8_0·q8_0 avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::IQ4_NL,
                ActFormat::Q8_0,
                x86::legacy::dot_iq4_nl,
                "iq4_nl·q8_0 avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q4_1,
                ActFormat::Q8_1,
                x86::legacy::dot_q4_1,
                "q4_1·q8_1 avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q5_1,
                ActFormat::Q8_1,
                x86::legacy::dot_q5_1,
                "q5_1·q8_1 avx2 (1 row × 4 tokens)",
            ),
            (
                GgmlType::F32,
                ActFormat::F32,
                x86::float::dot_f32,
                "f32·f32 avx2+fma (1 row × 4 tokens)",
            ),
            (
                GgmlType::F16,
                ActFormat::F32,
                x86::float::dot_f16,
                "f16·f32 f16c+fma (1 row × 4 tokens)",
            ),
            (
                GgmlType::BF16,
                ActFormat::F32,
                x86::float::dot_bf16,
                "bf16·f32 avx2+fma (1 row × 4 tokens)",
            ),
        ];
        for (ty, act, f, name) in table {
            self.dots[ty as usize] = Some(DotKernel { act, f, name });
        }
        use x86::legacy;
        self.rows4[GgmlType::Q4_0 as usize] = Some(legacy::rows4_q4_0);
        self.rows4[GgmlType::Q5_0 as usize] = Some(legacy::rows4_q5_0);
        self.rows4[GgmlType::Q8_0 as usize] = Some(legacy::rows4_q8_0);
        self.rows4[GgmlType::IQ4_NL as usize] = Some(legacy::rows4_iq4_nl);
        self.quant[ActFormat::Q8_0.index()] = (x86::quantize::quantize_q8_0, "q8_0 avx2");
        self.quant[ActFormat::Q8K.index()] = (x86::quantize::quantize_q8k, "q8_K avx2");
        use x86::packed as p;
        self.groups = GroupKernels {
            block_sum: [p::q8_0x8, p::q4_0x8, p::q5_0x8, p::q4_kx8],
            // llama.cpp decodes Q4_0 through its own repacked 8-row kernel, not
            // `ggml_vec_dot_q4_0_q8_0`, so there is no order to follow: use the fast one.
            exact: [p::q8_0x8_exact, p::q4_0x8, p::q5_0x8_exact, p::q4_kx8_exact],
            unpacked: Some((p::unpack_u8, p::u8x8)),
            name: "avx2",
        };
        use x86::vec as v;
        self.vec = VecKernels {
            dot_f32: v::dot_f32,
            dot_f16_f32: v::dot_f16_f32,
            dot4_f32: v::dot4_f32,
            axpy_f32: v::axpy_f32,
            axpy4_f32: v::axpy4_f32,
            axpy_f16: v::axpy_f16,
            axpy_f16_acc: v::axpy_f16_acc,
            name: "avx2+fma+f16c",
        };
    }

    /// Put the AVX-512 kernels over the AVX2 ones (which `install_avx2` put in; the caller
    /// checked `x86::avx512_available()`): dot kernels, the 4-rows GEMV of the same legacy
    /// formats and the R8 tile kernel. Everything else keeps its AVX2 kernel, which runs
    /// unchanged on AVX-512 CPUs.
    #[cfg(target_arch = "x86_64")]
    fn install_avx512(&mut self) {
        self.level = Level::Avx512;
        self.tile_dot = (x86::avx512_gemm::tile_dot, "avx512-vnni");
        let table: [(GgmlType, ActFormat, DotFn, &'static str); 13] = [
            (
                GgmlType::F32,
                ActFormat::F32,
                x86::avx512_float::dot_f32,
                "f32·f32 avx512 (1 row × 4 tokens)",
            ),
            (
                GgmlType::F16,
                ActFormat::F32,
                x86::avx512_float::dot_f16,
                "f16·f32 avx512 (1 row × 4 tokens)",
            ),
            (
                GgmlType::BF16,
                ActFormat::F32,
                x86::avx512_float::dot_bf16,
                "bf16·f32 avx512 (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q2_K,
                ActFormat::Q8K,
                x86::avx512_kquants::dot_q2_k,
                "q2_K·q8_K avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q3_K,
                ActFormat::Q8K,
                x86::avx512_kquants::dot_q3_k,
                "q3_K·q8_K avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::IQ4_XS,
                ActFormat::Q8K,
                x86::avx512_kquants::dot_iq4_xs,
                "iq4_xs·q8_K avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q4_K,
                ActFormat::Q8K,
                x86::avx512_kquants::dot_q4_k,
                "q4_K·q8_K avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q5_K,
                ActFormat::Q8K,
                x86::avx512_kquants::dot_q5_k,
                "q5_K·q8_K avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q6_K,
                ActFormat::Q8K,
                x86::avx512_kquants::dot_q6_k,
                "q6_K·q8_K avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q4_0,
                ActFormat::Q8_0,
                x86::avx512::dot_q4_0,
                "q4_0·q8_0 avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q5_0,
                ActFormat::Q8_0,
                x86::avx512::dot_q5_0,
                "q5_0·q8_0 avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::Q8_0,
                ActFormat::Q8_0,
                x86::avx512::dot_q8_0,
                "q8_0·q8_0 avx512-vnni (1 row × 4 tokens)",
            ),
            (
                GgmlType::IQ4_NL,
                ActFormat::Q8_0,
                x86::avx512::dot_iq4_nl,
                "iq4_nl·q8_0 avx512-vnni (1 row × 4 tokens)",
            ),
        ];
        for (ty, act, f, name) in table {
            self.dots[ty as usize] = Some(DotKernel { act, f, name });
        }
        use x86::avx512;
        self.rows4[GgmlType::Q4_0 as usize] = Some(avx512::rows4_q4_0);
        self.rows4[GgmlType::Q5_0 as usize] = Some(avx512::rows4_q5_0);
        self.rows4[GgmlType::Q8_0 as usize] = Some(avx512::rows4_q8_0);
        self.rows4[GgmlType::IQ4_NL as usize] = Some(avx512::rows4_iq4_nl);
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

    /// Convert a row of activations to `act` (`out.len() == act.row_bytes(x.len())`).
    pub fn quantize(&self, act: ActFormat, x: &[f32], out: &mut [u8]) {
        (self.quant[act.index()].0)(x, out)
    }

    /// The block-sum group kernel for `layout` (prompts).
    pub fn group_kernel(&self, layout: Layout) -> GroupKernel {
        self.groups.block_sum[layout.index()]
    }

    /// The group kernel for `layout` that sums in llama.cpp's decode order (used below
    /// `crate::packed::EXACT_BELOW_TOKENS` tokens: decoding and short prompts).
    pub fn group_kernel_exact(&self, layout: Layout) -> GroupKernel {
        self.groups.exact[layout.index()]
    }

    /// The unpacked form of the 4/5-bit group layouts (expand once per chunk of groups, then
    /// sweep many tokens), where the table has SIMD group kernels.
    pub fn unpacked_group_kernel(&self) -> Option<(UnpackFn, UnpackedKernel)> {
        self.groups.unpacked
    }

    /// The vector helpers of the ops.
    pub fn vec(&self) -> &VecKernels {
        &self.vec
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
            R8_MIN_TOKENS,
            self.tile_dot.1
        ));
        let layouts: Vec<&str> = Layout::ALL.iter().map(|l| l.name()).collect();
        s.push_str(&format!(
            "  repacked weights ({}): 8 rows × 4 tokens, {}\n",
            layouts.join(" "),
            self.groups.name
        ));
        s.push_str(&format!(
            "  vector helpers (norms, attention): {}\n",
            self.vec.name
        ));
        s
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

/// Whether `NOMOAT_KERNELS=avx512` is set.
pub fn forced_avx512() -> bool {
    std::env::var("NOMOAT_KERNELS").is_ok_and(|v| v.eq_ignore_ascii_case("avx512"))
}

/// The process-wide table: [`Kernels::detect_llama_cpp_order`]; [`Kernels::scalar`] under
/// `NOMOAT_KERNELS=scalar`, at most the AVX2 level (prompt tile included) under
/// `NOMOAT_KERNELS=avx2`, every AVX-512 kernel ([`Kernels::detect`]) under
/// `NOMOAT_KERNELS=avx512`.
pub fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        if forced_scalar() {
            Kernels::scalar()
        } else if forced_avx2() {
            Kernels::detect_up_to(Level::Avx2)
        } else if forced_avx512() {
            Kernels::detect()
        } else {
            Kernels::detect_llama_cpp_order()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every selection follows the table's level: the vector helpers of the ops and the packed
    /// group kernels change with the dot kernels (an AVX-512 table keeps the AVX2 ones).
    #[test]
    fn one_level_for_every_selection() {
        let s = Kernels::scalar();
        assert_eq!(
            (s.level, s.vec().name, s.groups.name),
            (Level::Scalar, "scalar", "scalar")
        );
        assert!(s.unpacked_group_kernel().is_none());
        assert_eq!(s.tile_dot_kernel().1, "scalar");
        for d in [Kernels::detect(), Kernels::detect_up_to(Level::Avx2)] {
            if d.level == Level::Scalar {
                continue;
            }
            assert_eq!(d.vec().name, "avx2+fma+f16c");
            assert_eq!(d.groups.name, "avx2");
            assert!(d.unpacked_group_kernel().is_some());
            assert!(d
                .describe()
                .contains("vector helpers (norms, attention): avx2"));
        }
        let k = kernels();
        if forced_scalar() {
            assert_eq!((k.level, k.vec().name), (Level::Scalar, "scalar"));
        }
        if forced_avx2() {
            assert_ne!(k.level, Level::Avx512);
        }
    }
}
