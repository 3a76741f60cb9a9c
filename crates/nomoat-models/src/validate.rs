//! Load-time validation of a model file: hyperparameters ([`ModelConfig::from_gguf`]), tokenizer
//! arrays, and every tensor the architecture needs (present, expected shape, a type the kernels
//! run, whole blocks per row). All problems are collected, so `nomoat show` can list them at once.

use nomoat_gguf::{GgmlType, Gguf, GgufFile, TensorInfo};

use crate::config::{Arch, ModelConfig};
use crate::ModelError;

/// Validates `file` for running: `Ok(config)` or every problem found.
pub fn validate(file: &GgufFile) -> Result<ModelConfig, Vec<ModelError>> {
    validate_gguf(file.gguf())
}

/// [`validate`] on parsed metadata.
pub fn validate_gguf(g: &Gguf) -> Result<ModelConfig, Vec<ModelError>> {
    let (cfg, mut errs) = ModelConfig::read(g);
    check_tokenizer_arrays(g, &mut errs);
    if let Some(cfg) = &cfg {
        for spec in expected_tensors(cfg) {
            check_tensor(g, &spec, &mut errs);
        }
        check_unsupported_features(g, &mut errs);
    }
    match cfg {
        Some(cfg) if errs.is_empty() => Ok(cfg),
        _ => Err(errs),
    }
}

fn check_tokenizer_arrays(g: &Gguf, errs: &mut Vec<ModelError>) {
    let Some(n) = g
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.as_array())
        .map(<[_]>::len)
    else {
        return;
    };
    for key in ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"] {
        match g.get(key) {
            None => {}
            Some(v) => match v.as_array() {
                Some(a) if a.len() != n => errs.push(ModelError::TokenizerArrayLength {
                    key: key.into(),
                    len: a.len(),
                    expected: n,
                }),
                Some(_) => {}
                None => errs.push(ModelError::WrongType {
                    key: key.into(),
                    expected: "array".into(),
                    found: v.describe_type(),
                }),
            },
        }
    }
}

/// Whether a tensor holds weights for matmul / lookup (any runnable type) or a small f32 vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Matrix,
    F32Vector,
}

/// One tensor the architecture needs.
#[derive(Clone, Debug)]
struct TensorSpec {
    name: String,
    dims: Vec<u64>,
    kind: Kind,
    required: bool,
}

fn spec(name: impl Into<String>, dims: &[usize], kind: Kind, required: bool) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dims: dims.iter().map(|&d| d as u64).collect(),
        kind,
        required,
    }
}

/// Every tensor `cfg`'s architecture reads, with its ggml-order shape.
fn expected_tensors(cfg: &ModelConfig) -> Vec<TensorSpec> {
    use Kind::*;
    let (e, v, ff) = (cfg.n_embd, cfg.n_vocab, cfg.n_ff);
    let (q, k, vd, o) = (cfg.q_dim(), cfg.k_dim(), cfg.v_dim(), cfg.attn_out_dim());
    let hd = cfg.head_dim_k;
    let mut s = vec![
        spec("token_embd.weight", &[e, v], Matrix, true),
        spec("output_norm.weight", &[e], F32Vector, true),
        spec("output.weight", &[e, v], Matrix, false),
        spec("rope_freqs.weight", &[cfg.rope.n_rot / 2], F32Vector, false),
    ];
    let qwen2 = cfg.arch == Arch::Qwen2;
    let qk_norm = matches!(cfg.arch, Arch::Qwen3 | Arch::Gemma3);
    for il in 0..cfg.n_layer {
        let p = |n: &str| format!("blk.{il}.{n}");
        s.extend([
            spec(p("attn_norm.weight"), &[e], F32Vector, true),
            spec(p("attn_q.weight"), &[e, q], Matrix, true),
            spec(p("attn_k.weight"), &[e, k], Matrix, true),
            spec(p("attn_v.weight"), &[e, vd], Matrix, true),
            spec(p("attn_output.weight"), &[o, e], Matrix, true),
            spec(p("attn_q.bias"), &[q], F32Vector, qwen2),
            spec(p("attn_k.bias"), &[k], F32Vector, qwen2),
            spec(p("attn_v.bias"), &[vd], F32Vector, qwen2),
            spec(p("ffn_norm.weight"), &[e], F32Vector, true),
            spec(p("ffn_gate.weight"), &[e, ff], Matrix, true),
            spec(p("ffn_up.weight"), &[e, ff], Matrix, true),
            spec(p("ffn_down.weight"), &[ff, e], Matrix, true),
        ]);
        if qk_norm {
            s.push(spec(p("attn_q_norm.weight"), &[hd], F32Vector, true));
            s.push(spec(p("attn_k_norm.weight"), &[hd], F32Vector, true));
        }
        if cfg.arch == Arch::Gemma3 {
            s.push(spec(p("post_attention_norm.weight"), &[e], F32Vector, true));
            s.push(spec(p("post_ffw_norm.weight"), &[e], F32Vector, true));
        }
    }
    if cfg.arch == Arch::Gemma3 {
        // Gemma's LM head is always the embedding matrix; an `output.weight` would be ignored.
        s.retain(|t| t.name != "output.weight");
    }
    s
}

fn check_tensor(g: &Gguf, spec: &TensorSpec, errs: &mut Vec<ModelError>) {
    let Some(t) = g.tensor(&spec.name) else {
        if spec.required {
            errs.push(ModelError::MissingTensor {
                name: spec.name.clone(),
            });
        }
        return;
    };
    // Trailing 1s are how some writers store vectors ([n, 1]); compare without them.
    let trimmed = trim_ones(&t.dims);
    if trimmed != trim_ones(&spec.dims) {
        errs.push(ModelError::TensorShape {
            name: spec.name.clone(),
            expected: spec.dims.clone(),
            found: t.dims.clone(),
        });
        return;
    }
    check_type(t, spec.kind, errs);
}

fn trim_ones(d: &[u64]) -> &[u64] {
    let mut n = d.len();
    while n > 1 && d[n - 1] == 1 {
        n -= 1;
    }
    &d[..n]
}

fn check_type(t: &TensorInfo, kind: Kind, errs: &mut Vec<ModelError>) {
    if kind == Kind::F32Vector {
        if t.ty != GgmlType::F32 {
            errs.push(ModelError::UnsupportedTensorType {
                name: t.name.clone(),
                ty: t.ty,
                hint: " (norm weights and biases must be F32)",
            });
        }
        return;
    }
    if nomoat_kernels::check_supported(t.ty, &t.name).is_err() {
        errs.push(ModelError::UnsupportedTensorType {
            name: t.name.clone(),
            ty: t.ty,
            hint: "",
        });
        return;
    }
    let block = t.ty.block_size();
    if block == 0 || !t.row_len().is_multiple_of(block) {
        errs.push(ModelError::BadRowSize {
            name: t.name.clone(),
            ty: t.ty,
            row_len: t.row_len(),
            block,
        });
    }
}

/// Tensors of features nomoat does not implement: refuse rather than run a wrong graph.
fn check_unsupported_features(g: &Gguf, errs: &mut Vec<ModelError>) {
    if g.tensors()
        .iter()
        .any(|t| t.name.ends_with("ffn_gate_inp.weight"))
    {
        errs.push(ModelError::Unsupported(
            "mixture-of-experts layers (ffn_gate_inp)".into(),
        ));
    }
}
