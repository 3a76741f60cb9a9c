//! Building a [`Served`] model from a GGUF path: weights, tokenizer, template, engine thread.

use std::path::Path;
use std::sync::Arc;

use nomoat_engine::generate::LoadedModel;
use nomoat_engine::scheduler::{Engine, ModelBackend, SchedulerConfig, TokenizerVocab};

use crate::model::Served;
use crate::text::TokenizerText;

/// What `nomoat serve` decides about the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub n_threads: usize,
    /// KV cache size in tokens, shared by all sequences.
    pub kv_tokens: usize,
    /// Longest sequence (prompt + completion) one request may use.
    pub n_ctx: usize,
    pub sched: SchedulerConfig,
}

/// A loaded model, its name and a one-line description of what was set up.
pub fn load_served(
    path: &Path,
    id: &str,
    opts: &EngineOptions,
) -> Result<(Served, String), String> {
    let lm = Arc::new(LoadedModel::load(path, opts.n_threads).map_err(|e| e.to_string())?);
    let text = TokenizerText::new(lm.clone())?;
    let backend = ModelBackend::new(
        lm.clone(),
        opts.kv_tokens,
        opts.n_ctx,
        opts.sched.step_tokens,
    )
    .map_err(|e| e.to_string())?;
    let kv_mib = backend.kv_bytes() as f64 / (1 << 20) as f64;
    let mut sched = opts.sched.clone();
    sched.max_logit_rows = sched.max_logit_rows.max(sched.max_running);
    let engine = Engine::spawn(backend, Arc::new(TokenizerVocab { lm: lm.clone() }), sched)
        .map_err(|e| format!("cannot start the engine thread: {e}"))?;
    let about = format!(
        "{} threads, {} parallel sequences, context {} tokens per request, KV cache {} tokens ({kv_mib:.0} MiB), {}",
        lm.pool.n_threads(),
        opts.sched.max_running,
        engine.n_ctx(),
        opts.kv_tokens,
        text.template_origin
    );
    let served = Served {
        id: id.to_string(),
        created: crate::gen::unix_now(),
        engine,
        text: Arc::new(text),
    };
    Ok((served, about))
}
