//! AVX2 kernels for the load-time row-interleaved layouts (`crate::packed`): one group of 8 rows
//! against up to 4 Q8_0 activation rows. Per 4-element step one 32-byte vector holds all 8 rows'
//! quants and the 4 activations are broadcast to every lane. Q8_0x8 multiplies
//! `|w|·(y·sign w)` (|w| ≤ 128, |y| ≤ 127: a `maddubs` pair sums to at most 32 512, exact);
//! Q4_0x8/Q5_0x8 multiply the unsigned `u ≤ 31` directly (two steps' pairs still fit i16:
//! 2·2·31·127 = 15 748) and subtract `offset·Σy` per block.

use std::arch::x86_64::*;

use super::common::{load128, load256, load_f16};
use crate::layout::{Layout, ROWS, U8_BLOCK_BYTES};

const Q8_0_BYTES: usize = 34;

/// Checks a kernel call's buffers; returns the token count.
fn check(
    layout: Layout,
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    ysum: &[i32],
    nt: usize,
) {
    assert!((1..=4).contains(&nt), "1..=4 activation rows");
    assert!(
        group.len() >= nb * layout.block_bytes(),
        "group holds nb blocks"
    );
    let row = layout.act_format().row_bytes(nb * layout.block_elems());
    assert!(
        a.len() >= (nt - 1) * stride + row && (nt == 1 || stride >= row),
        "activation buffer too short for {nt} rows"
    );
    assert!(
        layout.offset() == 0 || ysum.len() >= nt * nb,
        "block sums missing"
    );
}

/// The 32-element group kernels: `SRC` selects the layout (0 = Q8_0x8, 1 = Q4_0x8, 2 = Q5_0x8)
/// and `EXACT` the summation order (block sums, or llama.cpp's, see [`run_group`]).
macro_rules! group_kernel {
    ($(#[$doc:meta])* $name:ident, $layout:expr, $src:expr, $exact:expr) => {
        $(#[$doc])*
        pub(crate) fn $name(
            nb: usize,
            group: &[u8],
            a: &[u8],
            stride: usize,
            ysum: &[i32],
            out: &mut [[f32; ROWS]],
        ) {
            let nt = out.len();
            check($layout, nb, group, a, stride, ysum, nt);
            let (g, a, ys) = (group.as_ptr(), a.as_ptr(), ysum.as_ptr());
            // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
            unsafe {
                match nt {
                    1 => run_group::<1, $src, $exact>(nb, g, a, stride, ys, 0, out),
                    2 => run_group::<2, $src, $exact>(nb, g, a, stride, ys, 0, out),
                    3 => run_group::<3, $src, $exact>(nb, g, a, stride, ys, 0, out),
                    _ => run_group::<4, $src, $exact>(nb, g, a, stride, ys, 0, out),
                }
            }
        }
    };
}
group_kernel!(
    /// `out[t][r]` = row r of the group · activation row t (`out.len()` 1..=4).
    q8_0x8, Layout::Q8_0x8, 0, false
);
group_kernel!(
    /// `out[t][r]` = row r of the group · activation row t (`out.len()` 1..=4).
    q4_0x8, Layout::Q4_0x8, 1, false
);
group_kernel!(
    /// `out[t][r]` = row r of the group · activation row t (`out.len()` 1..=4).
    q5_0x8, Layout::Q5_0x8, 2, false
);
group_kernel!(
    /// Like [`q8_0x8`], but summed as llama.cpp's AVX2 `ggml_vec_dot_q8_0_q8_0` sums (see
    /// `crate::packed`): bit-identical results to it.
    q8_0x8_exact, Layout::Q8_0x8, 0, true
);
group_kernel!(
    /// Like [`q5_0x8`], but summed as llama.cpp's AVX2 `ggml_vec_dot_q5_0_q8_0` sums (see
    /// `crate::packed`): bit-identical results to it.
    q5_0x8_exact, Layout::Q5_0x8, 2, true
);

/// Expands `nb` blocks of a Q4_0x8 / Q5_0x8 group into the unpacked form (`dst`: `nb ×`
/// [`U8_BLOCK_BYTES`]), so a prompt's many token tiles do not each unpack nibbles again.
pub(crate) fn unpack_u8(layout: Layout, nb: usize, group: &[u8], dst: &mut [u8]) {
    let bb = layout.block_bytes();
    assert!(
        layout.offset() != 0,
        "only the 4/5-bit layouts are unpacked"
    );
    assert!(group.len() >= nb * bb && dst.len() >= nb * U8_BLOCK_BYTES);
    for b in 0..nb {
        let (blk, out) = (&group[b * bb..], &mut dst[b * U8_BLOCK_BYTES..]);
        out[..16].copy_from_slice(&blk[..16]);
        for p in 0..4 {
            // SAFETY: one whole group block at `blk`, 64 bytes at 16 + 64p of `out` (checked);
            // installed only when AVX2+FMA+F16C are present.
            unsafe {
                let (ue, uo) = if layout == Layout::Q5_0x8 {
                    unsigned_pair::<2>(blk.as_ptr(), p)
                } else {
                    unsigned_pair::<1>(blk.as_ptr(), p)
                };
                _mm256_storeu_si256(out.as_mut_ptr().add(16 + 64 * p).cast(), ue);
                _mm256_storeu_si256(out.as_mut_ptr().add(48 + 64 * p).cast(), uo);
            }
        }
    }
}

/// The unpacked form (from [`unpack_u8`]) against up to 4 tokens; `off` = the source layout's.
pub(crate) fn u8x8(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    ysum: &[i32],
    off: i32,
    out: &mut [[f32; ROWS]],
) {
    let nt = out.len();
    assert!(group.len() >= nb * U8_BLOCK_BYTES, "group holds nb blocks");
    // The Q4_0x8 checks: a group at least that long (it is), the activations and the sums.
    check(Layout::Q4_0x8, nb, group, a, stride, ysum, nt);
    let (g, a, ys) = (group.as_ptr(), a.as_ptr(), ysum.as_ptr());
    // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
    unsafe {
        match nt {
            1 => run_group::<1, 3, false>(nb, g, a, stride, ys, off, out),
            2 => run_group::<2, 3, false>(nb, g, a, stride, ys, off, out),
            3 => run_group::<3, 3, false>(nb, g, a, stride, ys, off, out),
            _ => run_group::<4, 3, false>(nb, g, a, stride, ys, off, out),
        }
    }
}

/// Unsigned quants `u` of steps `2p`, `2p + 1` of a Q4_0x8 (`SRC` 1) or Q5_0x8 (`SRC` 2) block.
///
/// # Safety
/// `blk` points at one whole group block of the layout.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unsigned_pair<const SRC: u8>(blk: *const u8, p: usize) -> (__m256i, __m256i) {
    let low = _mm256_set1_epi8(0x0F);
    // SAFETY: offsets inside one group block (caller's contract).
    unsafe {
        let x = load256(blk.add(if SRC == 2 { 48 } else { 16 } + 32 * p));
        let mut ue = _mm256_and_si256(x, low);
        let mut uo = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low);
        if SRC == 2 {
            let qh = load256(blk.add(16));
            ue = _mm256_or_si256(ue, high_bit(qh, 2 * p));
            uo = _mm256_or_si256(uo, high_bit(qh, 2 * p + 1));
        }
        (ue, uo)
    }
}

/// Bit `s` of every byte of `qh` moved to bit 4 (the fifth bit of `u`), other bits cleared.
/// 16-bit shifts leak bits across bytes only into positions the mask clears.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn high_bit(qh: __m256i, s: usize) -> __m256i {
    let v = match s {
        0 => _mm256_slli_epi16::<4>(qh),
        1 => _mm256_slli_epi16::<3>(qh),
        2 => _mm256_slli_epi16::<2>(qh),
        3 => _mm256_slli_epi16::<1>(qh),
        4 => qh,
        5 => _mm256_srli_epi16::<1>(qh),
        6 => _mm256_srli_epi16::<2>(qh),
        _ => _mm256_srli_epi16::<3>(qh),
    };
    _mm256_and_si256(v, _mm256_set1_epi8(0x10))
}

/// Signed quants of steps `2p` and `2p + 1` of a group block (`L`: 0 = Q8_0x8, 1 = Q4_0x8,
/// 2 = Q5_0x8): the unsigned `u` less the layout's offset.
///
/// # Safety
/// `blk` points at one whole group block of the layout.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn step_pair<const L: u8>(blk: *const u8, p: usize) -> (__m256i, __m256i) {
    // SAFETY: all offsets are inside one group block of the layout (caller's contract).
    unsafe {
        if L == 0 {
            return (load256(blk.add(16 + 64 * p)), load256(blk.add(48 + 64 * p)));
        }
        let (ue, uo) = unsigned_pair::<L>(blk, p);
        let off = _mm256_set1_epi8(if L == 2 { 16 } else { 8 });
        (_mm256_sub_epi8(ue, off), _mm256_sub_epi8(uo, off))
    }
}

/// One group of a 32-element layout against `NT` Q8_0 tokens. `SRC`: 0 = Q8_0x8, 1 = Q4_0x8
/// (offset 8), 2 = Q5_0x8 (offset 16), 3 = the unpacked form (offset `off_u8`; block sums only).
///
/// Per block, `d = d_w·d_y` (8 rows' scales in the lanes). `EXACT == false`: one accumulator per
/// token `+= d·Σ(block)`, the block's integer sum formed from signed steps (Q8_0x8) or from the
/// unsigned `u` less `offset·Σy` (the others). `EXACT`: llama.cpp's 8 lanes of partial sums, one
/// float accumulator per 4-element step `+= d·Σ(step)` of the signed quants, reduced at the end
/// in `hsum`'s order.
///
/// # Safety
/// `g` holds `nb` group blocks of the layout; `a` holds `NT` rows of `nb` Q8_0 blocks, `stride`
/// bytes apart; `ys` holds `NT·nb` block sums when `SRC != 0 && !EXACT`; `out.len() == NT`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run_group<const NT: usize, const SRC: u8, const EXACT: bool>(
    nb: usize,
    g: *const u8,
    a: *const u8,
    stride: usize,
    ys: *const i32,
    off_u8: i32,
    out: &mut [[f32; ROWS]],
) {
    let (bb, off) = match SRC {
        0 => (Layout::Q8_0x8.block_bytes(), 0),
        1 => (Layout::Q4_0x8.block_bytes(), 8),
        2 => (Layout::Q5_0x8.block_bytes(), 16),
        _ => (U8_BLOCK_BYTES, off_u8),
    };
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); 8]; NT];
    for b in 0..nb {
        // SAFETY: block `b` is inside the group and every activation row; `ys` holds NT·nb sums
        // where it is read (caller's contract).
        unsafe {
            let blk = g.add(b * bb);
            let dw = _mm256_cvtph_ps(load128(blk));
            let dy = |t: usize| _mm256_set1_ps(load_f16(a.add(t * stride + b * Q8_0_BYTES)));
            // The exact order needs the block's scales up front, block sums only at the end.
            let d: [__m256; NT] = if EXACT {
                std::array::from_fn(|t| _mm256_mul_ps(dw, dy(t)))
            } else {
                [_mm256_setzero_ps(); NT]
            };
            let mut isum = [_mm256_setzero_si256(); NT];
            if SRC == 0 && !EXACT {
                // Q8_0x8 block sums: one signed step at a time.
                for s in 0..8 {
                    let w = load256(blk.add(16 + 32 * s));
                    let aw = _mm256_sign_epi8(w, w);
                    for t in 0..NT {
                        let yp = a.add(t * stride + b * Q8_0_BYTES + 2 + 4 * s);
                        let y = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                        let p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(y, w));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, ones));
                    }
                }
            } else if EXACT {
                // Signed steps in pairs, one float accumulator per step.
                for p in 0..4 {
                    let (we, wo) = step_pair::<SRC>(blk, p);
                    for (s, w) in [(2 * p, we), (2 * p + 1, wo)] {
                        let aw = _mm256_sign_epi8(w, w);
                        for t in 0..NT {
                            let yp = a.add(t * stride + b * Q8_0_BYTES + 2 + 4 * s);
                            let y = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                            let q = _mm256_madd_epi16(
                                _mm256_maddubs_epi16(aw, _mm256_sign_epi8(y, w)),
                                ones,
                            );
                            acc[t][s] = _mm256_fmadd_ps(d[t], _mm256_cvtepi32_ps(q), acc[t][s]);
                        }
                    }
                }
            } else {
                // Unsigned `u` in step pairs (two steps' products still fit i16).
                for p in 0..4 {
                    let (ue, uo) = match SRC {
                        1 => unsigned_pair::<1>(blk, p),
                        2 => unsigned_pair::<2>(blk, p),
                        _ => (load256(blk.add(16 + 64 * p)), load256(blk.add(48 + 64 * p))),
                    };
                    for t in 0..NT {
                        let yp = a.add(t * stride + b * Q8_0_BYTES + 2 + 8 * p);
                        let ye = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                        let yo = _mm256_set1_epi32(yp.add(4).cast::<i32>().read_unaligned());
                        let p16 = _mm256_add_epi16(
                            _mm256_maddubs_epi16(ue, ye),
                            _mm256_maddubs_epi16(uo, yo),
                        );
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p16, ones));
                    }
                }
            }
            if !EXACT {
                for t in 0..NT {
                    let q = if SRC == 0 {
                        isum[t]
                    } else {
                        _mm256_sub_epi32(isum[t], _mm256_set1_epi32(off * *ys.add(t * nb + b)))
                    };
                    let d = _mm256_mul_ps(dw, dy(t));
                    acc[t][0] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc[t][0]);
                }
            }
        }
    }
    for t in 0..NT {
        let x = &acc[t];
        let r = if EXACT {
            _mm256_add_ps(
                _mm256_add_ps(_mm256_add_ps(x[0], x[4]), _mm256_add_ps(x[2], x[6])),
                _mm256_add_ps(_mm256_add_ps(x[1], x[5]), _mm256_add_ps(x[3], x[7])),
            )
        } else {
            x[0]
        };
        // SAFETY: `out[t]` is 8 floats.
        unsafe { _mm256_storeu_ps(out[t].as_mut_ptr(), r) };
    }
}

/// Bytes of one Q8_K block (f32 d, 256 × i8, 16 × i16 sums).
const Q8K_BYTES: usize = 4 + 256 + 32;

/// Q4Kx8 group against up to 4 Q8_K activation rows: per sub-block, `Σ u·y` of the 8 rows in
/// i16 (four step pairs: at most 4 · 2 · 2 · 15 · 127 = 30 480), times the rows' 6-bit scales in
/// i32; the mins term `Σ_j m_j·Σy_j` from the activations' 16-element sums.
pub(crate) fn q4_kx8(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    ysum: &[i32],
    out: &mut [[f32; ROWS]],
) {
    let nt = out.len();
    check(Layout::Q4Kx8, nb, group, a, stride, ysum, nt);
    let (g, a) = (group.as_ptr(), a.as_ptr());
    // SAFETY: sizes checked above; installed only when AVX2+FMA+F16C are present.
    unsafe {
        match nt {
            1 => run_q4k::<1>(nb, g, a, stride, out),
            2 => run_q4k::<2>(nb, g, a, stride, out),
            3 => run_q4k::<3>(nb, g, a, stride, out),
            _ => run_q4k::<4>(nb, g, a, stride, out),
        }
    }
}

/// # Safety
/// `g` holds `nb` Q4Kx8 group blocks; `a` holds `NT` rows of `nb` Q8_K blocks, `stride` bytes
/// apart; `out.len() == NT`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run_q4k<const NT: usize>(
    nb: usize,
    g: *const u8,
    a: *const u8,
    stride: usize,
    out: &mut [[f32; ROWS]],
) {
    let bb = Layout::Q4Kx8.block_bytes();
    let ones = _mm256_set1_epi16(1);
    let low = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); NT];
    let mut accm = [_mm256_setzero_ps(); NT];
    for b in 0..nb {
        // SAFETY: block `b` is inside the group and every activation row (caller's contract).
        unsafe {
            let blk = g.add(b * bb);
            let dw = _mm256_cvtph_ps(load128(blk));
            let dm = _mm256_cvtph_ps(load128(blk.add(16)));
            let y0: [*const u8; NT] = std::array::from_fn(|t| a.add(t * stride + b * Q8K_BYTES));
            let mut isum = [_mm256_setzero_si256(); NT];
            for j in 0..8 {
                let qs = blk.add(160 + 128 * j);
                let mut sub = [_mm256_setzero_si256(); NT];
                for p in 0..4 {
                    let x = load256(qs.add(32 * p));
                    let ue = _mm256_and_si256(x, low);
                    let uo = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low);
                    for t in 0..NT {
                        let yp = y0[t].add(4 + 32 * j + 8 * p);
                        let ye = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                        let yo = _mm256_set1_epi32(yp.add(4).cast::<i32>().read_unaligned());
                        let p16 = _mm256_add_epi16(
                            _mm256_maddubs_epi16(ue, ye),
                            _mm256_maddubs_epi16(uo, yo),
                        );
                        sub[t] = _mm256_add_epi16(sub[t], p16);
                    }
                }
                let sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(32 + 8 * j).cast()));
                for t in 0..NT {
                    let s32 = _mm256_madd_epi16(sub[t], ones);
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(s32, sc));
                }
            }
            for t in 0..NT {
                let bs = y0[t].add(4 + 256).cast::<i16>();
                let mut msum = _mm256_setzero_si256();
                for i in 0..4 {
                    let mins = _mm256_cvtepu8_epi16(load128(blk.add(96 + 16 * i)));
                    let sa = bs.add(4 * i).read_unaligned() as i32
                        + bs.add(4 * i + 1).read_unaligned() as i32;
                    let sb = bs.add(4 * i + 2).read_unaligned() as i32
                        + bs.add(4 * i + 3).read_unaligned() as i32;
                    let yy =
                        _mm256_set1_epi32((sa as u16 as u32 | ((sb as u16 as u32) << 16)) as i32);
                    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mins, yy));
                }
                let dy = _mm256_set1_ps(y0[t].cast::<f32>().read_unaligned());
                acc[t] =
                    _mm256_fmadd_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[t]), acc[t]);
                accm[t] = _mm256_fmadd_ps(_mm256_mul_ps(dm, dy), _mm256_cvtepi32_ps(msum), accm[t]);
            }
        }
    }
    for t in 0..NT {
        // SAFETY: `out[t]` is 8 floats.
        unsafe { _mm256_storeu_ps(out[t].as_mut_ptr(), _mm256_sub_ps(acc[t], accm[t])) };
    }
}

/// [`q4_kx8`] summed as our unpacked AVX2 `dot_q4_k` sums (llama.cpp's lane structure): per
/// row, 8 float accumulators (one per 4-element step, over all sub-blocks) take `d·Σ sc·Σu·y`
/// each block, then the first 4 also take the mins of one sub-block pair each; `hsum` at the end.
pub(crate) fn q4_kx8_exact(
    nb: usize,
    group: &[u8],
    a: &[u8],
    stride: usize,
    ysum: &[i32],
    out: &mut [[f32; ROWS]],
) {
    let nt = out.len();
    check(Layout::Q4Kx8, nb, group, a, stride, ysum, nt);
    let (g, a) = (group.as_ptr(), a.as_ptr());
    for (t, o) in out.iter_mut().enumerate() {
        // SAFETY: sizes checked above (row t at t·stride); AVX2+FMA+F16C present.
        unsafe { run_q4k_exact(nb, g, a.add(t * stride), o) };
    }
}

/// # Safety
/// `g` holds `nb` Q4Kx8 group blocks; `a` one row of `nb` Q8_K blocks.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run_q4k_exact(nb: usize, g: *const u8, a: *const u8, out: &mut [f32; ROWS]) {
    let bb = Layout::Q4Kx8.block_bytes();
    let ones = _mm256_set1_epi16(1);
    let low = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); 8];
    for b in 0..nb {
        // SAFETY: block `b` is inside the group and the activation row (caller's contract).
        unsafe {
            let blk = g.add(b * bb);
            let y = a.add(b * Q8K_BYTES);
            let dy = y.cast::<f32>().read_unaligned();
            let mut isum = [_mm256_setzero_si256(); 8];
            for j in 0..8 {
                let qs = blk.add(160 + 128 * j);
                let sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(32 + 8 * j).cast()));
                for p in 0..4 {
                    let x = load256(qs.add(32 * p));
                    let us = [
                        _mm256_and_si256(x, low),
                        _mm256_and_si256(_mm256_srli_epi16::<4>(x), low),
                    ];
                    for (h, u) in us.into_iter().enumerate() {
                        let s = 2 * p + h;
                        let yp = y.add(4 + 32 * j + 4 * s);
                        let yv = _mm256_set1_epi32(yp.cast::<i32>().read_unaligned());
                        let part = _mm256_madd_epi16(_mm256_maddubs_epi16(u, yv), ones);
                        isum[s] = _mm256_add_epi32(isum[s], _mm256_mullo_epi32(part, sc));
                    }
                }
            }
            // d = dy·d_w (llama.cpp: y.d · x.d), dmin = −dy·dmin_w.
            let d = _mm256_mul_ps(_mm256_set1_ps(dy), _mm256_cvtph_ps(load128(blk)));
            let dm = _mm256_mul_ps(_mm256_set1_ps(-dy), _mm256_cvtph_ps(load128(blk.add(16))));
            for s in 0..8 {
                acc[s] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum[s]), acc[s]);
            }
            let bs = y.add(4 + 256).cast::<i16>();
            for i in 0..4 {
                let mins = _mm256_cvtepu8_epi16(load128(blk.add(96 + 16 * i)));
                let sa = bs.add(4 * i).read_unaligned() as i32
                    + bs.add(4 * i + 1).read_unaligned() as i32;
                let sb = bs.add(4 * i + 2).read_unaligned() as i32
                    + bs.add(4 * i + 3).read_unaligned() as i32;
                let yy = _mm256_set1_epi32((sa as u16 as u32 | ((sb as u16 as u32) << 16)) as i32);
                let prod = _mm256_madd_epi16(mins, yy);
                acc[i] = _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(prod), acc[i]);
            }
        }
    }
    let sum = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6])),
        _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7])),
    );
    // SAFETY: `out` is 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
}
