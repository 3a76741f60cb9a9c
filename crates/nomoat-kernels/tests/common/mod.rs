//! Random test data in every block format: random bytes with the scale fields set to small finite
//! values, so every quant bit pattern is exercised but results stay finite.
#![allow(dead_code)]

use nomoat_kernels::GgmlType;

/// A tiny deterministic PRNG (SplitMix64), so failures reproduce from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    /// A small scale with a random sign: ±[0.002, 0.05).
    pub fn scale(&mut self) -> f32 {
        let s = 0.002 + 0.048 * (self.f32() * 0.5 + 0.5);
        if self.next_u64() & 1 == 0 {
            s
        } else {
            -s
        }
    }
}

fn put_f16(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
}

/// `(f16 field offsets, block bytes)` of each quantized type's scale fields.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 | GgmlType::IQ4_NL | GgmlType::IQ4_XS => {
            &[0]
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q8_1 | GgmlType::Q4_K | GgmlType::Q5_K => {
            &[0, 2]
        }
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        GgmlType::Q6_K => &[208],
        _ => &[],
    }
}

/// One random row of `k` elements of type `ty`.
pub fn random_row(rng: &mut Rng, ty: GgmlType, k: usize) -> Vec<u8> {
    match ty {
        GgmlType::F32 => (0..k).flat_map(|_| rng.f32().to_le_bytes()).collect(),
        GgmlType::F16 => (0..k)
            .flat_map(|_| half::f16::from_f32(rng.f32()).to_bits().to_le_bytes())
            .collect(),
        GgmlType::BF16 => (0..k)
            .flat_map(|_| half::bf16::from_f32(rng.f32()).to_bits().to_le_bytes())
            .collect(),
        GgmlType::Q8_K => {
            let mut out = Vec::new();
            for _ in 0..k / 256 {
                let x: Vec<f32> = (0..256).map(|_| rng.f32()).collect();
                let b = nomoat_kernels::quant::BlockQ8K::quantize(&x);
                out.extend_from_slice(nomoat_kernels::quant::block_bytes(&[b]));
            }
            out
        }
        _ => {
            let bs = ty.block_size() as usize;
            let tb = ty.type_size() as usize;
            let mut out = rng.bytes(k / bs * tb);
            for blk in out.chunks_exact_mut(tb) {
                for &at in f16_fields(ty) {
                    let s = rng.scale();
                    put_f16(blk, at, s);
                }
            }
            out
        }
    }
}

/// `n_rows` random rows.
pub fn random_matrix(rng: &mut Rng, ty: GgmlType, n_rows: usize, k: usize) -> Vec<u8> {
    (0..n_rows).flat_map(|_| random_row(rng, ty, k)).collect()
}

/// Random activations in [-1, 1) with a few larger outliers.
pub fn random_acts(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let v = rng.f32();
            if i % 37 == 5 {
                v * 8.0
            } else {
                v
            }
        })
        .collect()
}

/// All weight types the kernels support.
pub const TYPES: [GgmlType; 17] = [
    GgmlType::Q4_K,
    GgmlType::Q6_K,
    GgmlType::Q8_0,
    GgmlType::Q5_0,
    GgmlType::Q4_0,
    GgmlType::Q5_K,
    GgmlType::Q4_1,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::Q8_1,
    GgmlType::Q8_K,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::F32,
];
