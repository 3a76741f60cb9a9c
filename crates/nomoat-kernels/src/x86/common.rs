//! Helpers shared by the x86 kernels: AVX2 loads, nibble/bit unpacking, byte dot products and the
//! horizontal sum, the AVX-512 ones of the same kind, and the buffer check of a dot-kernel call.

use std::arch::x86_64::*;

/// f16 bits → f32 through F16C (two instructions, no table).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// Read a little-endian f16 at `p`.
///
/// # Safety
/// `p..p+2` must be readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load_f16(p: *const u8) -> f32 {
    // SAFETY: caller guarantees two readable bytes.
    f16_to_f32(u16::from_le_bytes(unsafe { [*p, *p.add(1)] }))
}

/// Read a little-endian f32 at `p`.
///
/// # Safety
/// `p..p+4` must be readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load_f32(p: *const u8) -> f32 {
    // SAFETY: caller guarantees four readable bytes; unaligned read.
    unsafe { p.cast::<f32>().read_unaligned() }
}

/// 32 unaligned bytes at `p`.
///
/// # Safety
/// `p..p+32` must be readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load256(p: *const u8) -> __m256i {
    // SAFETY: caller guarantees 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(p.cast()) }
}

/// 16 unaligned bytes at `p`.
///
/// # Safety
/// `p..p+16` must be readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load128(p: *const u8) -> __m128i {
    // SAFETY: caller guarantees 16 readable bytes; unaligned load.
    unsafe { _mm_loadu_si128(p.cast()) }
}

/// 16 packed nibbles → 32 bytes: low nibbles in bytes 0..16, high nibbles in bytes 16..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn nibbles_32(tmp: __m128i) -> __m256i {
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(tmp), tmp);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// 32 bits → 32 bytes, 0xFF where the bit is set (bit i → byte i).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn bytes_from_bits_32(bits: u32) -> __m256i {
    let shuf = _mm256_set_epi64x(
        0x0303030303030303,
        0x0202020202020202,
        0x0101010101010101,
        0,
    );
    let v = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuf);
    let mask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(v, mask), _mm256_set1_epi64x(-1))
}

/// Signed×signed byte dot, summed in pairs to 8×i32: Σ x·y with x, y ∈ [−127, 127].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_i8(x_abs: __m256i, x: __m256i, y: __m256i) -> __m256i {
    let sy = _mm256_sign_epi8(y, x);
    _mm256_madd_epi16(_mm256_maddubs_epi16(x_abs, sy), _mm256_set1_epi16(1))
}

/// Unsigned×signed byte dot (x ∈ [0, 127]), summed to 8×i32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_u8_i8(x: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1))
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Check that a kernel call stays inside its buffers: `w` holds `nb` blocks of `wb` bytes and
/// `a` holds `n` activation rows of `nb` blocks of `ab` bytes, `stride` bytes apart.
#[inline]
pub(crate) fn check(w: &[u8], wb: usize, a: &[u8], ab: usize, stride: usize, n: usize) -> usize {
    assert_eq!(w.len() % wb, 0, "weight row is not whole blocks");
    let nb = w.len() / wb;
    assert!(
        (1..=crate::layout::MAX_COLS).contains(&n),
        "1..=MAX_COLS activation rows"
    );
    assert!(
        a.len() >= (n - 1) * stride + nb * ab && (n == 1 || stride >= nb * ab),
        "activation buffer too short for {n} rows"
    );
    nb
}

// AVX-512 (F + BW + VL + VNNI) helpers.

/// 64 unaligned bytes at `p`.
///
/// # Safety
/// `p..p+64` must be readable; AVX-512F available.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn load512(p: *const u8) -> __m512i {
    // SAFETY: caller guarantees 64 readable bytes; unaligned load.
    unsafe { _mm512_loadu_si512(p.cast()) }
}

/// `lo` in bytes 0..32, `hi` in bytes 32..64.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) fn join256(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// Σ x·y over each group of 4 bytes (16 × i32) for signed x ∈ [−128, 127], y ∈ [−127, 127]:
/// `vpdpbusd` takes |x| as the unsigned operand and y with x's sign as the signed one.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) fn dot_i8x4(x_abs: __m512i, x_neg: __mmask64, y: __m512i) -> __m512i {
    let z = _mm512_setzero_si512();
    let ys = _mm512_mask_sub_epi8(y, x_neg, z, y);
    _mm512_dpbusd_epi32(z, x_abs, ys)
}

/// 16 packed nibbles at each of `p` and (when `two`) `p + step` → 64 bytes: low nibbles of the
/// first block, its high nibbles, then the same for the second (zero when `!two`).
///
/// # Safety
/// `p..p+16` and, when `two`, `p+step..p+step+16` readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn nibbles_64(p: *const u8, step: usize, two: bool) -> __m512i {
    // SAFETY: reads as the caller guarantees.
    unsafe {
        let lo = _mm256_broadcastsi128_si256(load128(p));
        let hi = if two {
            _mm256_broadcastsi128_si256(load128(p.add(step)))
        } else {
            _mm256_setzero_si256()
        };
        // Copies in 128-bit lanes 0,1 (block 1) and 2,3 (block 2); lanes 1 and 3 (16-bit
        // elements 8..16 and 24..32) are shifted right by 4 to bring the high nibbles down.
        let both = join256(lo, hi);
        let shifted = _mm512_mask_srli_epi16::<4>(both, 0xFF00_FF00, both);
        _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
    }
}
