//! GGML tensor types: id, llama.cpp name, elements per block and bytes per block.
//!
//! The table follows `enum ggml_type` in llama.cpp's `ggml/include/ggml.h` (ids 0..=42 as of
//! late 2026) and the block structs of `ggml/src/ggml-common.h`. Ids 4, 5 (old Q4_2/Q4_3),
//! 31..=33 (Q4_0_4_4/4_8/8_8) and 36..=38 (IQ4_NL_4_4/4_8/8_8) were removed from GGUF files
//! upstream and are rejected here. Every known type is described, even those nomoat cannot run,
//! so `nomoat show` can describe any file.

use std::fmt;

/// A GGML tensor element type (GGUF tensor-info type id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
    Q2_0,
}

/// `(type, id, name, block size in elements, block size in bytes)`.
const TABLE: &[(GgmlType, u32, &str, u64, u64)] = &[
    (GgmlType::F32, 0, "f32", 1, 4),
    (GgmlType::F16, 1, "f16", 1, 2),
    // ggml_half d; u8 qs[16]
    (GgmlType::Q4_0, 2, "q4_0", 32, 18),
    // ggml_half d, m; u8 qs[16]
    (GgmlType::Q4_1, 3, "q4_1", 32, 20),
    // ggml_half d; u8 qh[4]; u8 qs[16]
    (GgmlType::Q5_0, 6, "q5_0", 32, 22),
    // ggml_half d, m; u8 qh[4]; u8 qs[16]
    (GgmlType::Q5_1, 7, "q5_1", 32, 24),
    // ggml_half d; i8 qs[32]
    (GgmlType::Q8_0, 8, "q8_0", 32, 34),
    // ggml_half d, s; i8 qs[32]
    (GgmlType::Q8_1, 9, "q8_1", 32, 36),
    // u8 scales[16]; u8 qs[64]; ggml_half d, dmin
    (GgmlType::Q2_K, 10, "q2_K", 256, 84),
    // u8 hmask[32]; u8 qs[64]; u8 scales[12]; ggml_half d
    (GgmlType::Q3_K, 11, "q3_K", 256, 110),
    // ggml_half d, dmin; u8 scales[12]; u8 qs[128]
    (GgmlType::Q4_K, 12, "q4_K", 256, 144),
    // ggml_half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
    (GgmlType::Q5_K, 13, "q5_K", 256, 176),
    // u8 ql[128]; u8 qh[64]; i8 scales[16]; ggml_half d
    (GgmlType::Q6_K, 14, "q6_K", 256, 210),
    // f32 d; i8 qs[256]; i16 bsums[16]
    (GgmlType::Q8_K, 15, "q8_K", 256, 292),
    // ggml_half d; u16 qs[32]
    (GgmlType::IQ2_XXS, 16, "iq2_xxs", 256, 66),
    // ggml_half d; u16 qs[32]; u8 scales[8]
    (GgmlType::IQ2_XS, 17, "iq2_xs", 256, 74),
    // ggml_half d; u8 qs[96]
    (GgmlType::IQ3_XXS, 18, "iq3_xxs", 256, 98),
    // ggml_half d; u8 qs[32]; u16 qh[8]
    (GgmlType::IQ1_S, 19, "iq1_s", 256, 50),
    // ggml_half d; u8 qs[16]
    (GgmlType::IQ4_NL, 20, "iq4_nl", 32, 18),
    // ggml_half d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]
    (GgmlType::IQ3_S, 21, "iq3_s", 256, 110),
    // ggml_half d; u8 qs[64]; u8 qh[8]; u8 scales[8]
    (GgmlType::IQ2_S, 22, "iq2_s", 256, 82),
    // ggml_half d; u16 scales_h; u8 scales_l[4]; u8 qs[128]
    (GgmlType::IQ4_XS, 23, "iq4_xs", 256, 136),
    (GgmlType::I8, 24, "i8", 1, 1),
    (GgmlType::I16, 25, "i16", 1, 2),
    (GgmlType::I32, 26, "i32", 1, 4),
    (GgmlType::I64, 27, "i64", 1, 8),
    (GgmlType::F64, 28, "f64", 1, 8),
    // u8 qs[32]; u8 qh[16]; u8 scales[8]
    (GgmlType::IQ1_M, 29, "iq1_m", 256, 56),
    (GgmlType::BF16, 30, "bf16", 1, 2),
    // u8 qs[48]; u8 qh[4]; ggml_half d
    (GgmlType::TQ1_0, 34, "tq1_0", 256, 54),
    // u8 qs[64]; ggml_half d
    (GgmlType::TQ2_0, 35, "tq2_0", 256, 66),
    // u8 e (E8M0); u8 qs[16]
    (GgmlType::MXFP4, 39, "mxfp4", 32, 17),
    // u8 d[4] (UE4M3, one per 16 elements); u8 qs[32]
    (GgmlType::NVFP4, 40, "nvfp4", 64, 36),
    // ggml_half d; u8 qs[16]
    (GgmlType::Q1_0, 41, "q1_0", 128, 18),
    // ggml_half d; u8 qs[16]
    (GgmlType::Q2_0, 42, "q2_0", 64, 18),
];

impl GgmlType {
    /// Every known type, in id order.
    pub const ALL: [GgmlType; 35] = [
        GgmlType::F32,
        GgmlType::F16,
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
        GgmlType::Q8_K,
        GgmlType::IQ2_XXS,
        GgmlType::IQ2_XS,
        GgmlType::IQ3_XXS,
        GgmlType::IQ1_S,
        GgmlType::IQ4_NL,
        GgmlType::IQ3_S,
        GgmlType::IQ2_S,
        GgmlType::IQ4_XS,
        GgmlType::I8,
        GgmlType::I16,
        GgmlType::I32,
        GgmlType::I64,
        GgmlType::F64,
        GgmlType::IQ1_M,
        GgmlType::BF16,
        GgmlType::TQ1_0,
        GgmlType::TQ2_0,
        GgmlType::MXFP4,
        GgmlType::NVFP4,
        GgmlType::Q1_0,
        GgmlType::Q2_0,
    ];

    fn entry(self) -> &'static (GgmlType, u32, &'static str, u64, u64) {
        // TABLE is in the same order as the enum declaration.
        &TABLE[self as usize]
    }

    /// The type with GGUF id `id`, or `None` for an unknown or removed id.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|e| e.1 == id).map(|e| e.0)
    }

    /// The type with llama.cpp name `name` (case-insensitive: "Q4_K" and "q4_k" both match).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|e| e.2.eq_ignore_ascii_case(name))
            .map(|e| e.0)
    }

    /// The GGUF type id.
    pub fn id(self) -> u32 {
        self.entry().1
    }

    /// llama.cpp's spelling (`ggml_type_name`), e.g. "q4_K", "f32", "iq2_xxs".
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// Elements per block (1 for plain types, 32 for Q8_0, 256 for the K-quants).
    pub fn block_size(self) -> u64 {
        self.entry().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.entry().4
    }

    /// Whether this is a block-quantized type (block size > 1 or not a plain number type).
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            GgmlType::F32
                | GgmlType::F16
                | GgmlType::BF16
                | GgmlType::F64
                | GgmlType::I8
                | GgmlType::I16
                | GgmlType::I32
                | GgmlType::I64
        )
    }

    /// Bytes taken by `n_elements` consecutive elements: `None` if `n_elements` is not a
    /// multiple of the block size or the result overflows `u64`.
    pub fn row_bytes(self, n_elements: u64) -> Option<u64> {
        let bs = self.block_size();
        if !n_elements.is_multiple_of(bs) {
            return None;
        }
        (n_elements / bs).checked_mul(self.type_size())
    }

    /// Average bits per weight (e.g. 4.5 for q4_K).
    pub fn bits_per_weight(self) -> f64 {
        self.type_size() as f64 * 8.0 / self.block_size() as f64
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_enum_order_and_all() {
        assert_eq!(TABLE.len(), GgmlType::ALL.len());
        for (i, t) in GgmlType::ALL.iter().enumerate() {
            assert_eq!(TABLE[i].0, *t, "TABLE row {i} out of order");
            assert_eq!(*t as usize, i);
            assert_eq!(GgmlType::from_id(t.id()), Some(*t));
            assert_eq!(GgmlType::from_name(t.name()), Some(*t));
        }
    }

    #[test]
    fn removed_and_unknown_ids_are_rejected() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 43, 100, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), None, "id {id}");
        }
        let known: Vec<u32> = (0..=42)
            .filter(|i| ![4, 5, 31, 32, 33, 36, 37, 38].contains(i))
            .collect();
        for id in known {
            assert!(GgmlType::from_id(id).is_some(), "id {id} must be known");
        }
    }

    #[test]
    fn block_geometry_of_common_types() {
        // Bits per weight as llama.cpp documents them.
        assert_eq!(GgmlType::Q4_K.bits_per_weight(), 4.5);
        assert_eq!(GgmlType::Q6_K.bits_per_weight(), 6.5625);
        assert_eq!(GgmlType::Q8_0.bits_per_weight(), 8.5);
        assert_eq!(GgmlType::Q5_0.bits_per_weight(), 5.5);
        assert_eq!(GgmlType::IQ4_XS.bits_per_weight(), 4.25);
        assert_eq!(GgmlType::IQ2_XXS.bits_per_weight(), 2.0625);
        assert_eq!(GgmlType::TQ1_0.bits_per_weight(), 1.6875);
        assert_eq!(GgmlType::Q4_K.name(), "q4_K");
        assert_eq!(GgmlType::F32.to_string(), "f32");
    }

    #[test]
    fn row_bytes_checks_blocks_and_overflow() {
        assert_eq!(GgmlType::F32.row_bytes(640), Some(2560));
        assert_eq!(GgmlType::Q8_0.row_bytes(640), Some(20 * 34));
        assert_eq!(GgmlType::Q4_K.row_bytes(640), None);
        assert_eq!(GgmlType::Q4_K.row_bytes(2048), Some(8 * 144));
        assert_eq!(GgmlType::F64.row_bytes(u64::MAX / 4), None);
        assert_eq!(GgmlType::F32.row_bytes(0), Some(0));
    }
}
