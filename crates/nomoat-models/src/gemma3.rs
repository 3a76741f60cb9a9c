//! Gemma 3 (text): embeddings scaled by sqrt(n_embd); each block has pre- and post-norms around
//! attention and around the FFN; per-head Q/K RMSNorm before NeoX RoPE; Q scaled by
//! `attn_scale` (1/sqrt(head_dim)) before attention; GEGLU FFN with tanh GELU; sliding-window
//! layers (5 of every 6 by default) use a local window and their own RoPE base (10000), the others
//! attend globally with `rope.freq_base`; LM head tied to the embeddings.
//! Norm weights are stored as the full multiplier (the converter already added Hugging Face's +1).
//! Reference: llama.cpp `src/models/gemma3.cpp`, Hugging Face `modeling_gemma3.py`.

use nomoat_backend::{Activation, MatrixId, RopeId, RopeMode, RopeParams, VectorId};

use crate::config::{ModelConfig, Reader, MAX_CTX_TRAIN};
use crate::layers::{self, slot::*, AttnParts, AttnScale, AttnWeights, Ctx, FfnWeights, Head};
use crate::loader::Loader;
use crate::registry::{ArchDef, Forward};
use crate::ModelError;

pub(crate) static GEMMA3: ArchDef = ArchDef {
    name: "gemma3",
    rope_mode: RopeMode::Neox,
    hparams,
    load,
};

/// `attention.sliding_window` and which layers use it; the 27B model's attention scale.
fn hparams(r: &mut Reader<'_>, cfg: &mut ModelConfig) {
    cfg.sliding_window = r
        .opt_int(&r.key("attention.sliding_window"), MAX_CTX_TRAIN)
        .unwrap_or(0) as u32;
    if cfg.sliding_window > 0 {
        let key = r.key("attention.sliding_window_pattern");
        r.swa_pattern(&key, &mut cfg.swa_layers);
    }
    // llama.cpp: Gemma 3 27B (62 layers) scales by 1/sqrt(n_embd / n_head), the others by
    // 1/sqrt(head_dim).
    if cfg.n_layer == 62 {
        cfg.attn_scale = 1.0 / ((cfg.n_embd / cfg.n_head) as f32).sqrt();
    }
}

#[derive(Debug)]
struct Block {
    attn_norm: VectorId,
    attn: AttnWeights,
    post_attn_norm: VectorId,
    ffn_norm: VectorId,
    ffn: FfnWeights,
    post_ffw_norm: VectorId,
}

#[derive(Debug)]
struct Gemma3 {
    embd: MatrixId,
    /// Global layers' RoPE and the sliding-window layers' (base `rope.freq_base_swa`).
    rope_global: RopeId,
    rope_swa: RopeId,
    blocks: Vec<Block>,
    head: Head,
}

fn load(ld: &mut Loader<'_>, cfg: &ModelConfig) -> Result<Box<dyn Forward>, ModelError> {
    let embd = layers::load_embeddings(ld, cfg)?;
    // The LM head is always the embedding matrix; an `output.weight` would be ignored.
    let head = Head::load(ld, cfg, embd, true)?;
    let global = layers::rope_params(ld, cfg)?;
    // llama.cpp: sliding-window layers use their own base and no position scaling.
    let swa = RopeParams {
        freq_base: cfg.rope.freq_base_swa,
        freq_scale: 1.0,
        ..global.clone()
    };
    let (rope_global, rope_swa) = (ld.rope(global), ld.rope(swa));
    let parts = AttnParts {
        biases: false,
        qk_norm: true,
    };
    let e = cfg.n_embd;
    let blocks = (0..cfg.n_layer)
        .map(|il| {
            let p = |n: &str| format!("blk.{il}.{n}");
            Ok(Block {
                attn_norm: ld.vector(&p("attn_norm.weight"), e)?,
                attn: AttnWeights::load(ld, cfg, il, parts)?,
                post_attn_norm: ld.vector(&p("post_attention_norm.weight"), e)?,
                ffn_norm: ld.vector(&p("ffn_norm.weight"), e)?,
                ffn: FfnWeights::load(ld, cfg, il)?,
                post_ffw_norm: ld.vector(&p("post_ffw_norm.weight"), e)?,
            })
        })
        .collect::<Result<_, ModelError>>()?;
    Ok(Box::new(Gemma3 {
        embd,
        rope_global,
        rope_swa,
        blocks,
        head,
    }))
}

impl Forward for Gemma3 {
    fn layers(&self, cx: &mut Ctx<'_>) {
        let cfg = cx.cfg;
        cx.embed(self.embd);
        cx.scale(X, (cfg.n_embd as f32).sqrt()); // X: n × n_embd
        for (il, b) in self.blocks.iter().enumerate() {
            let (rope, window) = match cfg.swa_layers[il] {
                true => (self.rope_swa, cfg.sliding_window),
                false => (self.rope_global, 0),
            };
            cx.norm(X, b.attn_norm, H);
            // The scale goes on Q; attention then uses 1.0.
            let scale = AttnScale::Query(cfg.attn_scale);
            layers::self_attention(cx, &b.attn, il, rope, scale, window);
            cx.norm(H, b.post_attn_norm, H);
            cx.add(X, H);
            cx.norm(X, b.ffn_norm, H);
            layers::gated_ffn(cx, &b.ffn, Activation::Gelu); // H = down(gelu(gate·H) ⊙ up·H)
            cx.norm(H, b.post_ffw_norm, H);
            cx.add(X, H);
        }
    }

    fn head(&self) -> &Head {
        &self.head
    }
}
