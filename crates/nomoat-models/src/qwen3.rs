//! Qwen 3 (dense): the LLaMA block ([`crate::llama`]) with per-head RMSNorm of Q and K
//! (`attn_q_norm`, `attn_k_norm`, [head_dim]) applied before NeoX RoPE, no biases; the head dim is
//! explicit (`attention.key_length`) and may differ from n_embd / n_head.
//! Reference: llama.cpp `src/models/qwen3.cpp`, Hugging Face `modeling_qwen3.py`.

use nomoat_backend::RopeMode;

use crate::llama::{self, Flavor};
use crate::registry::{no_quirks, ArchDef};

pub(crate) static QWEN3: ArchDef = ArchDef {
    name: "qwen3",
    rope_mode: RopeMode::Neox,
    hparams: no_quirks,
    load: |ld, cfg| {
        let flavor = Flavor {
            biases: false,
            qk_norm: true,
        };
        llama::load(ld, cfg, flavor)
    },
};
