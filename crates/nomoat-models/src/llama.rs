//! LLaMA 1/2/3, Mistral, TinyLlama, SmolLM, CodeLlama: pre-norm blocks with RMSNorm, GQA attention
//! with RoPE over adjacent pairs (Llama-3 frequency scaling via `rope_freqs` or metadata), SwiGLU
//! FFN, LM head tied to the embeddings when the file has no `output.weight`.
//! Reference: llama.cpp `src/models/llama.cpp`, Hugging Face `modeling_llama.py`.

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
        rms_norm(&s.x, &w.attn_norm, eps, &mut s.h); // h: n × n_embd
        layers::qkv(m, pool, w, n, s); // q: n × n_head·hd, k/v: n × n_kv·hd (optional biases)
        layers::rope_qk(m, n, false, s);
        layers::attention(m, pool, il, m.cfg.attn_scale, st, kv, s); // attn: n × n_head·hd
        layers::linear(m, pool, &w.wo, &s.attn, n, &mut s.h);
        add_assign(&mut s.x, &s.h); // residual
        rms_norm(&s.x, &w.ffn_norm, eps, &mut s.h);
        layers::ffn_swiglu(m, pool, w, n, s); // h = down(silu(gate·h) ⊙ up·h)
        add_assign(&mut s.x, &s.h); // residual
    }
}
