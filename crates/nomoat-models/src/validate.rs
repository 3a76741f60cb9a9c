//! Load-time validation of a model file: hyperparameters ([`ModelConfig::from_gguf`]), tokenizer
//! arrays, and every tensor the architecture needs (present, expected shape, a type the backend
//! runs, whole blocks per row; the architecture's own loader run in check mode, see
//! `loader.rs`). All problems are collected, so `nomoat show` can list them at once.

use nomoat_gguf::{Gguf, GgufFile};

use crate::config::ModelConfig;
use crate::loader::Loader;
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
        let mut ld = Loader::checking(g, &mut errs);
        // Check mode records problems instead of failing.
        let _ = (cfg.arch.def().load)(&mut ld, cfg);
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
