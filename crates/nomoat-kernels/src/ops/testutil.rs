//! Deterministic random data for the ops' tests (no RNG crate needed).

/// `n` values uniform in `[-amp, amp)` from a splitmix64 stream seeded by `seed`.
pub fn rand_vec(seed: u64, n: usize, amp: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 40) as f32 / (1u64 << 24) as f32;
            (u * 2.0 - 1.0) * amp
        })
        .collect()
}
