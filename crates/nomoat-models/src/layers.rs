//! The layer library: the blocks architectures are assembled from (self-attention with its
//! projections, gated FFN, the output head), their weights loaded by GGUF name, and [`Ctx`], the
//! view of one step an architecture's forward pass writes against.
//!
//! Shapes: `n` = tokens in the step; every activation slot holds one row per token. The standard
//! slots ([`slot`]) are sized from the config by [`standard_slots`].

use nomoat_backend::{
    Act, Activation, Attention, Backend, KvStore, MatrixId, RopeId, RopeParams, VectorId, Workspace,
};

use crate::config::{ModelConfig, RopeScaling};
use crate::loader::Loader;
use crate::ModelError;

/// The standard activation slots.
pub(crate) mod slot {
    use nomoat_backend::Act;
    /// Residual stream, n × n_embd.
    pub const X: Act = Act(0);
    /// Normed input / block output, n × n_embd.
    pub const H: Act = Act(1);
    /// n × (n_head · head_dim_k).
    pub const Q: Act = Act(2);
    /// n × (n_kv_head · head_dim_k).
    pub const K: Act = Act(3);
    /// n × (n_kv_head · head_dim_v).
    pub const V: Act = Act(4);
    /// Attention output, n × (n_head · head_dim_v).
    pub const ATTN: Act = Act(5);
    /// n × n_ff.
    pub const GATE: Act = Act(6);
    /// n × n_ff.
    pub const UP: Act = Act(7);
    /// Rows selected for logits, n_out × n_embd.
    pub const OUT: Act = Act(8);
}

/// Widths of the standard slots, in [`slot`] order.
pub(crate) fn standard_slots(cfg: &ModelConfig) -> Vec<usize> {
    let e = cfg.n_embd;
    vec![
        e,
        e,
        cfg.q_dim(),
        cfg.k_dim(),
        cfg.v_dim(),
        cfg.attn_out_dim(),
        cfg.n_ff,
        cfg.n_ff,
        e,
    ]
}

/// One step as an architecture sees it: the backend, the step's workspace and KV storage, the
/// config and the token count. Every op works on the step's `n` rows.
pub(crate) struct Ctx<'a> {
    pub(crate) be: &'a dyn Backend,
    pub(crate) ws: &'a mut Workspace,
    pub(crate) kv: &'a mut dyn KvStore,
    pub(crate) cfg: &'a ModelConfig,
    pub(crate) n: usize,
}

impl Ctx<'_> {
    /// `X = table[tokens]`.
    pub(crate) fn embed(&mut self, table: MatrixId) {
        self.be.embed(self.ws, table, slot::X);
    }

    /// RMSNorm with the model's epsilon over groups of `len(w)` values; `out` may be `x`.
    pub(crate) fn norm(&mut self, x: Act, w: VectorId, out: Act) {
        let eps = self.cfg.norm_eps;
        self.be.rms_norm(self.ws, x, w, eps, out, self.n);
    }

    /// `y = x · Wᵀ`.
    pub(crate) fn matmul(&mut self, w: MatrixId, x: Act, y: Act) {
        self.be.matmul(self.ws, w, x, y, self.n);
    }

    /// `x += y` (the residual connections).
    pub(crate) fn add(&mut self, x: Act, y: Act) {
        self.be.add(self.ws, x, y, self.n);
    }

    /// `x *= s`.
    pub(crate) fn scale(&mut self, x: Act, s: f32) {
        self.be.scale(self.ws, x, s, self.n);
    }

    fn bias(&mut self, x: Act, b: Option<VectorId>) {
        if let Some(b) = b {
            self.be.add_bias(self.ws, x, b, self.n);
        }
    }
}

/// How attention scores are scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum AttnScale {
    /// Inside the attention op: `softmax(q·k · s)` (llama.cpp's `kq_scale`).
    Kernel(f32),
    /// On Q before the op, which then uses 1 (Gemma, as llama.cpp computes it).
    Query(f32),
}

/// Self-attention projections of one layer: `[n_embd] → Q, K, V → [n_embd]`, optional biases
/// and per-head Q/K RMSNorm.
#[derive(Debug)]
pub(crate) struct AttnWeights {
    pub wq: MatrixId,
    pub wk: MatrixId,
    pub wv: MatrixId,
    pub wo: MatrixId,
    pub bq: Option<VectorId>,
    pub bk: Option<VectorId>,
    pub bv: Option<VectorId>,
    pub q_norm: Option<VectorId>,
    pub k_norm: Option<VectorId>,
}

/// Which optional parts of [`AttnWeights`] an architecture has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttnParts {
    /// Q/K/V biases required (else applied when present).
    pub biases: bool,
    /// Per-head Q/K RMSNorm (`attn_q_norm`, `attn_k_norm`), required.
    pub qk_norm: bool,
}

impl AttnWeights {
    pub(crate) fn load(
        ld: &mut Loader<'_>,
        cfg: &ModelConfig,
        il: usize,
        parts: AttnParts,
    ) -> Result<AttnWeights, ModelError> {
        let p = |n: &str| format!("blk.{il}.{n}");
        let (e, q, k, v, o) = (
            cfg.n_embd,
            cfg.q_dim(),
            cfg.k_dim(),
            cfg.v_dim(),
            cfg.attn_out_dim(),
        );
        let hd = cfg.head_dim_k;
        Ok(AttnWeights {
            wq: ld.matrix(&p("attn_q.weight"), [e, q])?,
            wk: ld.matrix(&p("attn_k.weight"), [e, k])?,
            wv: ld.matrix(&p("attn_v.weight"), [e, v])?,
            wo: ld.matrix(&p("attn_output.weight"), [o, e])?,
            bq: ld.vector_if(&p("attn_q.bias"), q, parts.biases)?,
            bk: ld.vector_if(&p("attn_k.bias"), k, parts.biases)?,
            bv: ld.vector_if(&p("attn_v.bias"), v, parts.biases)?,
            q_norm: match parts.qk_norm {
                true => Some(ld.vector(&p("attn_q_norm.weight"), hd)?),
                false => None,
            },
            k_norm: match parts.qk_norm {
                true => Some(ld.vector(&p("attn_k_norm.weight"), hd)?),
                false => None,
            },
        })
    }
}

/// Self-attention of layer `il` from the normed input `H` back into `H`: Q/K/V projections
/// (+biases), per-head Q/K norms, RoPE, the cache append and attention over each token's
/// sequence (windowed when `window > 0`), the output projection.
pub(crate) fn self_attention(
    cx: &mut Ctx<'_>,
    w: &AttnWeights,
    il: usize,
    rope: RopeId,
    scale: AttnScale,
    window: u32,
) {
    use slot::*;
    cx.matmul(w.wq, H, Q); // n × n_head·hd
    cx.matmul(w.wk, H, K); // n × n_kv·hd
    cx.matmul(w.wv, H, V);
    cx.bias(Q, w.bq);
    cx.bias(K, w.bk);
    cx.bias(V, w.bv);
    if let Some(qn) = w.q_norm {
        cx.norm(Q, qn, Q); // RMSNorm over each head
    }
    if let Some(kn) = w.k_norm {
        cx.norm(K, kn, K);
    }
    let (cfg, n) = (cx.cfg, cx.n);
    cx.be.rope(cx.ws, Q, cfg.head_dim_k, rope, n);
    cx.be.rope(cx.ws, K, cfg.head_dim_k, rope, n);
    let kernel_scale = match scale {
        AttnScale::Kernel(s) => s,
        AttnScale::Query(s) => {
            cx.scale(Q, s);
            1.0
        }
    };
    let a = Attention {
        n_head: cfg.n_head,
        n_kv_head: cfg.n_head_kv,
        head_dim_k: cfg.head_dim_k,
        head_dim_v: cfg.head_dim_v,
        scale: kernel_scale,
        window,
        softcap: cfg.attn_logit_softcap.unwrap_or(0.0),
    };
    cx.be.attention(cx.ws, cx.kv, il, [Q, K, V], ATTN, &a, n);
    cx.matmul(w.wo, ATTN, H); // n_head·hd_v → n_embd
}

/// A gated feed-forward network: `h = down(f(gate·h) ⊙ up·h)`.
#[derive(Debug)]
pub(crate) struct FfnWeights {
    pub gate: MatrixId,
    pub up: MatrixId,
    pub down: MatrixId,
}

impl FfnWeights {
    pub(crate) fn load(
        ld: &mut Loader<'_>,
        cfg: &ModelConfig,
        il: usize,
    ) -> Result<FfnWeights, ModelError> {
        let p = |n: &str| format!("blk.{il}.{n}");
        let (e, ff) = (cfg.n_embd, cfg.n_ff);
        Ok(FfnWeights {
            gate: ld.matrix(&p("ffn_gate.weight"), [e, ff])?,
            up: ld.matrix(&p("ffn_up.weight"), [e, ff])?,
            down: ld.matrix(&p("ffn_down.weight"), [ff, e])?,
        })
    }
}

/// The gated FFN on the normed input `H`, result in `H`.
pub(crate) fn gated_ffn(cx: &mut Ctx<'_>, w: &FfnWeights, f: Activation) {
    use slot::*;
    cx.matmul(w.gate, H, GATE);
    cx.matmul(w.up, H, UP);
    cx.be.glu(cx.ws, GATE, UP, f, cx.n);
    cx.matmul(w.down, GATE, H);
}

/// The final norm and LM head.
#[derive(Debug)]
pub(crate) struct Head {
    pub norm: VectorId,
    pub output: MatrixId,
}

impl Head {
    /// `output_norm.weight` and `output.weight`, or the embedding table `embd` when the file
    /// has no `output.weight` (or the architecture always ties, `tied`).
    pub(crate) fn load(
        ld: &mut Loader<'_>,
        cfg: &ModelConfig,
        embd: MatrixId,
        tied: bool,
    ) -> Result<Head, ModelError> {
        let (e, v) = (cfg.n_embd, cfg.n_vocab);
        let norm = ld.vector("output_norm.weight", e)?;
        let output = match tied {
            true => embd,
            false => ld.opt_matrix("output.weight", [e, v])?.unwrap_or(embd),
        };
        Ok(Head { norm, output })
    }
}

/// Final norm and LM head for the rows that want logits: `out` is n_out × n_vocab.
pub(crate) fn logits(cx: &mut Ctx<'_>, head: &Head, want: &[bool], out: &mut [f32]) {
    let n_out = cx.be.select_rows(cx.ws, slot::X, slot::OUT, want);
    if n_out == 0 {
        return;
    }
    let eps = cx.cfg.norm_eps;
    cx.be
        .rms_norm(cx.ws, slot::OUT, head.norm, eps, slot::OUT, n_out);
    let softcap = cx.cfg.final_logit_softcap;
    cx.be
        .logits(cx.ws, head.output, slot::OUT, n_out, softcap, out);
}

/// Final norm only, for the rows that want output: `out` is n_out × n_embd, the hidden state the
/// LM head would multiply (llama.cpp's `result_norm`, what its embeddings read).
pub(crate) fn hidden(cx: &mut Ctx<'_>, head: &Head, want: &[bool], out: &mut [f32]) {
    let n_out = cx.be.select_rows(cx.ws, slot::X, slot::OUT, want);
    if n_out == 0 {
        return;
    }
    let eps = cx.cfg.norm_eps;
    cx.be
        .rms_norm(cx.ws, slot::OUT, head.norm, eps, slot::OUT, n_out);
    cx.be.read(cx.ws, slot::OUT, n_out, out);
}

/// The embedding table `token_embd.weight` ([n_embd, n_vocab]).
pub(crate) fn load_embeddings(
    ld: &mut Loader<'_>,
    cfg: &ModelConfig,
) -> Result<MatrixId, ModelError> {
    ld.matrix("token_embd.weight", [cfg.n_embd, cfg.n_vocab])
}

/// The model's RoPE settings: position scaling from the config, frequency factors from
/// `rope_freqs.weight` or (Llama 3) computed. `freq_base` overrides the config's base (Gemma's
/// sliding-window layers use their own base and no position scaling).
pub(crate) fn rope_params(
    ld: &mut Loader<'_>,
    cfg: &ModelConfig,
) -> Result<RopeParams, ModelError> {
    let r = &cfg.rope;
    let rope_freqs = ld.host_vector("rope_freqs.weight", r.n_rot / 2)?;
    let (freq_scale, freq_factors) = match &r.scaling {
        RopeScaling::None => (1.0, rope_freqs),
        RopeScaling::Linear { factor } => (1.0 / factor, rope_freqs),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_ctx,
        } => (
            1.0,
            rope_freqs.or_else(|| {
                Some(nomoat_backend::llama3_freq_factors(
                    r.n_rot,
                    r.freq_base,
                    *factor,
                    *low_freq_factor,
                    *high_freq_factor,
                    *original_ctx as f32,
                ))
            }),
        ),
    };
    Ok(RopeParams {
        n_rot: r.n_rot,
        mode: r.mode,
        freq_base: r.freq_base,
        freq_scale,
        freq_factors,
    })
}
