//! Gemma 3 (text): embeddings scaled by sqrt(n_embd); each block has pre- and post-norms around
//! attention and around the FFN; per-head Q/K RMSNorm before NeoX RoPE; Q scaled by
//! `attn_scale` (1/sqrt(head_dim)) before attention; GEGLU FFN with tanh GELU; sliding-window
//! layers (5 of every 6 by default) use a local window and their own RoPE base (10000), the others
//! attend globally with `rope.freq_base`; LM head tied to the embeddings.
//! Norm weights are stored as the full multiplier (the converter already added Hugging Face's +1).
//! Reference: llama.cpp `src/models/gemma3.cpp`, Hugging Face `modeling_gemma3.py`.

use nomoat_kernels::ops::{add_assign, rms_norm, rms_norm_inplace, scale};
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
    let (cfg, n, eps) = (&m.cfg, st.len(), m.cfg.norm_eps);
    layers::embed(m, st, s);
    scale(&mut s.x, (cfg.n_embd as f32).sqrt()); // x: n × n_embd
    for (il, w) in m.layers.iter().enumerate() {
        let swa = cfg.swa_layers[il];
        let (post_attn, post_ffw) = (w.post_attn_norm.as_deref(), w.post_ffw_norm.as_deref());
        rms_norm(&s.x, &w.attn_norm, eps, &mut s.h);
        layers::qkv(m, pool, w, n, s);
        layers::qk_norm(m, w, s);
        layers::rope_qk(m, n, swa, s); // base 10000 on sliding-window layers
        scale(&mut s.q, cfg.attn_scale); // the scale goes on Q; attention then uses 1.0
        layers::attention(m, pool, il, 1.0, st, kv, s); // window masked when `swa`
        layers::linear(m, pool, &w.wo, &s.attn, n, &mut s.h);
        rms_norm_inplace(&mut s.h, post_attn.expect("validated"), eps);
        add_assign(&mut s.x, &s.h);
        rms_norm(&s.x, &w.ffn_norm, eps, &mut s.h);
        layers::ffn_geglu(m, pool, w, n, m.opts.gelu, s); // h = down(gelu(gate·h) ⊙ up·h)
        rms_norm_inplace(&mut s.h, post_ffw.expect("validated"), eps);
        add_assign(&mut s.x, &s.h);
    }
}
