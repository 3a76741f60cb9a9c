//! Qwen 3 (dense): the LLaMA block with per-head RMSNorm of Q and K (`attn_q_norm`,
//! `attn_k_norm`, [head_dim]) applied before NeoX RoPE, no biases; the head dim is explicit
//! (`attention.key_length`) and may differ from n_embd / n_head.
//! Reference: llama.cpp `src/models/qwen3.cpp`, Hugging Face `modeling_qwen3.py`.

use nomoat_kernels::ops::{add_assign, rms_norm};
use nomoat_kernels::ThreadPool;

use crate::kv::KvCache;
use crate::layers;
use crate::model::{Model, Scratch, Step};

/// Runs every layer on the chunk; leaves the final residual stream in `s.x` (n × n_embd).
pub(crate) fn forward(
    m: &Model,
    pool: &ThreadPool,
    st: &Step<'_>,
    kv: &mut KvCache,
    s: &mut Scratch,
) {
    let (n, eps) = (st.len(), m.cfg.norm_eps);
    layers::embed(m, st, s);
    for (il, w) in m.layers.iter().enumerate() {
        rms_norm(&s.x, &w.attn_norm, eps, &mut s.h);
        layers::qkv(m, pool, w, n, s); // q: n × n_head·hd (may be wider than n_embd)
        layers::qk_norm(m, w, s); // RMSNorm over each head of Q and of K
        layers::rope_qk(m, n, false, s);
        layers::attention(m, pool, il, m.cfg.attn_scale, st, kv, s);
        layers::linear(m, pool, &w.wo, &s.attn, n, &mut s.h); // n_head·hd → n_embd
        add_assign(&mut s.x, &s.h);
        rms_norm(&s.x, &w.ffn_norm, eps, &mut s.h);
        layers::ffn_swiglu(m, pool, w, n, s);
        add_assign(&mut s.x, &s.h);
    }
}
