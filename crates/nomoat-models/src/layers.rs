//! Pieces shared by the architectures' layer loops. Shapes: `n` = tokens in the chunk; every
//! activation buffer of [`Scratch`] is row-major with one row per token.

use nomoat_kernels::ops::{self, AttnParams, GeluMode, SeqTables};
use nomoat_kernels::{matmul, ThreadPool};

use crate::kv::KvCache;
use crate::model::{Model, Scratch, Step};
use crate::weights::{LayerWeights, MatrixRef};

/// Per-chunk bookkeeping before the layer loop: RoPE cos/sin for every token (global and
/// sliding-window bases) and the block tables of the chunk's sequences for the attention op.
pub(crate) fn prepare_step(m: &Model, st: &Step<'_>, kv: &KvCache, s: &mut Scratch) {
    let n_rot = m.cfg.rope.n_rot;
    let has_swa = m.cfg.swa_layers.iter().any(|&b| b);
    for (t, &p) in st.pos.iter().enumerate() {
        ops::rope_cache(&m.rope_global, p, &mut s.rope_g[t * n_rot..(t + 1) * n_rot]);
        if has_swa {
            ops::rope_cache(&m.rope_swa, p, &mut s.rope_l[t * n_rot..(t + 1) * n_rot]);
        }
    }
    s.ranges.clear();
    s.table.clear();
    s.seen.clear();
    for &seq in st.seqs {
        let range = match s.seen.iter().find(|e| e.0 == seq) {
            Some(&(_, start, len)) => (start, len),
            None => {
                let t = kv.block_table(seq).expect("sequence checked by forward");
                let start = s.table.len() as u32;
                s.table.extend_from_slice(t);
                s.seen.push((seq, start, t.len() as u32));
                (start, t.len() as u32)
            }
        };
        s.ranges.push(range);
    }
}

/// `y = x · Wᵀ` for `n` rows.
#[inline]
pub(crate) fn linear(
    m: &Model,
    pool: &ThreadPool,
    w: &MatrixRef,
    x: &[f32],
    n: usize,
    y: &mut [f32],
) {
    match &w.packed {
        Some(p) => nomoat_kernels::matmul_packed(pool, p, x, n, y),
        None => matmul(pool, &w.matrix(&m.file), x, n, y),
    }
}

/// `x[t] = embedding(token t)` (n × n_embd).
pub(crate) fn embed(m: &Model, st: &Step<'_>, s: &mut Scratch) {
    let e = &m.token_embd;
    match &e.packed {
        Some(p) => p.get_rows(st.tokens, &mut s.x),
        None => ops::get_rows(e.ty, e.bytes(&m.file), e.n_cols, st.tokens, &mut s.x),
    }
}

/// Adds `bias` to every row of `x`.
fn add_bias(x: &mut [f32], bias: Option<&Vec<f32>>) {
    if let Some(b) = bias {
        for row in x.chunks_exact_mut(b.len()) {
            ops::add_assign(row, b);
        }
    }
}

/// `q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)` from the normed input `s.h`.
pub(crate) fn qkv(m: &Model, pool: &ThreadPool, w: &LayerWeights, n: usize, s: &mut Scratch) {
    linear(m, pool, &w.wq, &s.h, n, &mut s.q);
    linear(m, pool, &w.wk, &s.h, n, &mut s.k);
    linear(m, pool, &w.wv, &s.h, n, &mut s.v);
    add_bias(&mut s.q, w.bq.as_ref());
    add_bias(&mut s.k, w.bk.as_ref());
    add_bias(&mut s.v, w.bv.as_ref());
}

/// Per-head RMSNorm of Q and K (Qwen 3, Gemma 3), before RoPE.
pub(crate) fn qk_norm(m: &Model, w: &LayerWeights, s: &mut Scratch) {
    let eps = m.cfg.norm_eps;
    if let Some(qn) = &w.q_norm {
        ops::rms_norm_inplace(&mut s.q, qn, eps);
    }
    if let Some(kn) = &w.k_norm {
        ops::rms_norm_inplace(&mut s.k, kn, eps);
    }
}

/// Rotates Q and K of every token; `swa` selects the sliding-window layers' RoPE base.
pub(crate) fn rope_qk(m: &Model, n: usize, swa: bool, s: &mut Scratch) {
    let cfg = &m.cfg;
    let n_rot = cfg.rope.n_rot;
    let cache = if swa { &s.rope_l } else { &s.rope_g };
    let (qd, kd) = (cfg.q_dim(), cfg.k_dim());
    for t in 0..n {
        let c = &cache[t * n_rot..(t + 1) * n_rot];
        ops::rope_apply(
            &mut s.q[t * qd..(t + 1) * qd],
            cfg.head_dim_k,
            c,
            cfg.rope.mode,
        );
        ops::rope_apply(
            &mut s.k[t * kd..(t + 1) * kd],
            cfg.head_dim_k,
            c,
            cfg.rope.mode,
        );
    }
}

/// Appends the chunk's K and V of layer `il` to the cache, then attends: `s.attn` = softmax(QKᵀ ·
/// scale + mask) V per head, n × (n_head · head_dim_v). Sliding-window layers see the last
/// `sliding_window` positions only.
pub(crate) fn attention(
    m: &Model,
    pool: &ThreadPool,
    il: usize,
    scale: f32,
    st: &Step<'_>,
    kv: &mut KvCache,
    s: &mut Scratch,
) {
    let cfg = &m.cfg;
    let (kd, vd) = (cfg.k_dim(), cfg.v_dim());
    for t in 0..st.len() {
        kv.write(
            il,
            st.seqs[t],
            st.pos[t] as usize,
            &s.k[t * kd..(t + 1) * kd],
            &s.v[t * vd..(t + 1) * vd],
        );
    }
    let p = AttnParams {
        n_head: cfg.n_head,
        n_kv_head: cfg.n_head_kv,
        head_dim_k: cfg.head_dim_k,
        head_dim_v: cfg.head_dim_v,
        scale,
        window: if cfg.swa_layers[il] {
            cfg.sliding_window
        } else {
            0
        },
        softcap: cfg.attn_logit_softcap.unwrap_or(0.0),
        f16_vec_path: m.opts.llama_cpp_attention && st.len() < 64,
    };
    let tabs = SeqTables {
        pos: st.pos,
        ranges: &s.ranges,
        table: &s.table,
    };
    ops::attention(pool, &p, &s.q, &kv.layer(il), &tabs, &mut s.attn);
}

/// SwiGLU feed-forward of the normed input `s.h`, result in `s.h`:
/// `h = (silu(h·Wgᵀ) ⊙ h·Wuᵀ) · Wdᵀ`.
pub(crate) fn ffn_swiglu(
    m: &Model,
    pool: &ThreadPool,
    w: &LayerWeights,
    n: usize,
    s: &mut Scratch,
) {
    linear(m, pool, &w.gate, &s.h, n, &mut s.gate);
    linear(m, pool, &w.up, &s.h, n, &mut s.up);
    // gate ← silu(gate) ⊙ up, in place (swiglu reads both before writing each element).
    for (g, &u) in s.gate.iter_mut().zip(&s.up) {
        *g = ops::silu(*g) * u;
    }
    linear(m, pool, &w.down, &s.gate, n, &mut s.h);
}

/// GEGLU feed-forward (GELU, tanh approximation), result in `s.h`.
pub(crate) fn ffn_geglu(
    m: &Model,
    pool: &ThreadPool,
    w: &LayerWeights,
    n: usize,
    mode: GeluMode,
    s: &mut Scratch,
) {
    linear(m, pool, &w.gate, &s.h, n, &mut s.gate);
    linear(m, pool, &w.up, &s.h, n, &mut s.up);
    ops::gelu_inplace(&mut s.gate, mode);
    ops::mul_assign(&mut s.gate, &s.up);
    linear(m, pool, &w.down, &s.gate, n, &mut s.h);
}

/// Final norm and LM head for the rows that want logits: `rows` is n_out × n_vocab.
pub(crate) fn output_logits(
    m: &Model,
    pool: &ThreadPool,
    st: &Step<'_>,
    s: &mut Scratch,
    rows: &mut [f32],
) {
    let e = m.cfg.n_embd;
    s.out_x.clear();
    for (t, _) in st.want.iter().enumerate().filter(|(_, &w)| w) {
        s.out_x.extend_from_slice(&s.x[t * e..(t + 1) * e]);
    }
    let n_out = s.out_x.len() / e;
    if n_out == 0 {
        return;
    }
    ops::rms_norm_inplace(&mut s.out_x, &m.output_norm, m.cfg.norm_eps);
    linear(m, pool, &m.output, &s.out_x, n_out, rows);
    if let Some(c) = m.cfg.final_logit_softcap {
        rows.iter_mut().for_each(|v| *v = c * (*v / c).tanh());
    }
}
