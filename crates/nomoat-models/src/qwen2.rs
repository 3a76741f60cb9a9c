//! Qwen 2 / 2.5: the LLaMA block ([`crate::llama`]) with biases on Q, K and V, NeoX RoPE (element
//! i with i + head_dim/2), untied LM head (tied when `output.weight` is absent).
//! Reference: llama.cpp `src/models/qwen2.cpp`, Hugging Face `modeling_qwen2.py`.

use nomoat_backend::RopeMode;

use crate::llama::{self, Flavor};
use crate::registry::{no_quirks, ArchDef};

pub(crate) static QWEN2: ArchDef = ArchDef {
    name: "qwen2",
    rope_mode: RopeMode::Neox,
    hparams: no_quirks,
    load: |ld, cfg| {
        let flavor = Flavor {
            biases: true,
            qk_norm: false,
        };
        llama::load(ld, cfg, flavor)
    },
};
