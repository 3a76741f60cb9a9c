//! Qwen 2 / 2.5: the LLaMA block with biases on Q, K and V, NeoX RoPE (element i with
//! i + head_dim/2), untied LM head (tied when `output.weight` is absent).
//! Reference: llama.cpp `src/models/qwen2.cpp`, Hugging Face `modeling_qwen2.py`.

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
    layers::embed(m, st, s); // x: n × n_embd
    for (il, w) in m.layers.iter().enumerate() {
        rms_norm(&s.x, &w.attn_norm, eps, &mut s.h);
        layers::qkv(m, pool, w, n, s); // with the bq, bk, bv biases
        layers::rope_qk(m, n, false, s); // NeoX ordering (cfg.rope.mode)
        layers::attention(m, pool, il, m.cfg.attn_scale, st, kv, s);
        layers::linear(m, pool, &w.wo, &s.attn, n, &mut s.h);
        add_assign(&mut s.x, &s.h);
        rms_norm(&s.x, &w.ffn_norm, eps, &mut s.h);
        layers::ffn_swiglu(m, pool, w, n, s);
        add_assign(&mut s.x, &s.h);
    }
}
