//! LLaMA 1/2/3, Mistral, TinyLlama, SmolLM, CodeLlama: pre-norm blocks with RMSNorm, GQA attention
//! with RoPE over adjacent pairs (Llama-3 frequency scaling via `rope_freqs` or metadata), SwiGLU
//! FFN, LM head tied to the embeddings when the file has no `output.weight`. Q/K/V biases are
//! applied when the file has them.
//!
//! The same block, with its variants chosen by [`Flavor`], is Qwen 2 (`qwen2.rs`) and Qwen 3
//! (`qwen3.rs`).
//! Reference: llama.cpp `src/models/llama.cpp`, Hugging Face `modeling_llama.py`.

use nomoat_backend::{Activation, MatrixId, RopeId, RopeMode, VectorId};

use crate::config::ModelConfig;
use crate::layers::{self, slot::*, AttnParts, AttnScale, AttnWeights, Ctx, FfnWeights, Head};
use crate::loader::Loader;
use crate::registry::{no_quirks, ArchDef, Forward};
use crate::ModelError;

pub(crate) static LLAMA: ArchDef = ArchDef {
    name: "llama",
    rope_mode: RopeMode::Norm,
    hparams: no_quirks,
    load: |ld, cfg| load(ld, cfg, Flavor::default()),
};

/// The variants of the LLaMA block other architectures use.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Flavor {
    /// Q/K/V biases required (Qwen 2).
    pub biases: bool,
    /// Per-head RMSNorm of Q and K before RoPE (Qwen 3).
    pub qk_norm: bool,
}

#[derive(Debug)]
struct Block {
    attn_norm: VectorId,
    attn: AttnWeights,
    ffn_norm: VectorId,
    ffn: FfnWeights,
}

#[derive(Debug)]
struct Llama {
    embd: MatrixId,
    rope: RopeId,
    blocks: Vec<Block>,
    head: Head,
}

/// Loads a LLaMA-block model of the given flavor.
pub(crate) fn load(
    ld: &mut Loader<'_>,
    cfg: &ModelConfig,
    flavor: Flavor,
) -> Result<Box<dyn Forward>, ModelError> {
    let embd = layers::load_embeddings(ld, cfg)?;
    let head = layers::Head::load(ld, cfg, embd, false)?;
    let rope = layers::rope_params(ld, cfg)?;
    let rope = ld.rope(rope);
    let parts = AttnParts {
        biases: flavor.biases,
        qk_norm: flavor.qk_norm,
    };
    let e = cfg.n_embd;
    let blocks = (0..cfg.n_layer)
        .map(|il| {
            Ok(Block {
                attn_norm: ld.vector(&format!("blk.{il}.attn_norm.weight"), e)?,
                attn: AttnWeights::load(ld, cfg, il, parts)?,
                ffn_norm: ld.vector(&format!("blk.{il}.ffn_norm.weight"), e)?,
                ffn: FfnWeights::load(ld, cfg, il)?,
            })
        })
        .collect::<Result<_, ModelError>>()?;
    Ok(Box::new(Llama {
        embd,
        rope,
        blocks,
        head,
    }))
}

impl Forward for Llama {
    fn layers(&self, cx: &mut Ctx<'_>) {
        let scale = AttnScale::Kernel(cx.cfg.attn_scale);
        cx.embed(self.embd); // X: n × n_embd
        for (il, b) in self.blocks.iter().enumerate() {
            cx.norm(X, b.attn_norm, H);
            layers::self_attention(cx, &b.attn, il, self.rope, scale, 0);
            cx.add(X, H); // residual
            cx.norm(X, b.ffn_norm, H);
            layers::gated_ffn(cx, &b.ffn, Activation::Silu); // H = down(silu(gate·H) ⊙ up·H)
            cx.add(X, H); // residual
        }
    }

    fn head(&self) -> &Head {
        &self.head
    }
}
