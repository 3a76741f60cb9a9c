//! Building a [`Served`] model from a GGUF path: weights, tokenizer, template, engine thread.

use std::path::Path;
use std::sync::Arc;

use nomoat_chat::{ChatError, TemplateChoice};
use nomoat_engine::generate::{GenerateError, LoadedModel};
use nomoat_engine::scheduler::{
    Engine, ModelRunner, PagedRunner, Pooling, SchedulerConfig, TokenizerVocab,
};

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
    /// The chat template to use instead of the model's (`--chat-template`).
    pub chat_template: Option<TemplateChoice>,
    /// How embeddings are pooled instead of the file's choice (`--pooling`).
    pub pooling: Option<Pooling>,
}

/// Why a model could not be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Model(#[from] GenerateError),
    #[error("chat template: {0}")]
    Template(#[from] ChatError),
    #[error("cannot start the engine thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A model ready to serve, with what it costs and a line saying how it was set up.
pub struct LoadedServed {
    pub served: Served,
    /// Weights (the file's size: it is mapped, and packing copies at most that much) plus the KV
    /// cache, for `--memory-budget`.
    pub bytes: u64,
    /// One line for the startup message.
    pub about: String,
}

/// Loads the model at `path` to serve as `id`.
pub fn load_served(path: &Path, id: &str, opts: &EngineOptions) -> Result<LoadedServed, LoadError> {
    let lm = Arc::new(LoadedModel::load(path, opts.n_threads)?);
    let text = TokenizerText::new(lm.clone(), opts.chat_template.as_ref())?;
    // One request may use at most the model's training context.
    let train = (lm.model.config().n_ctx_train as usize).max(1);
    let mut runner = PagedRunner::new(
        lm.clone(),
        opts.kv_tokens,
        opts.n_ctx.min(train),
        opts.sched.step_tokens,
    )
    .map_err(GenerateError::from)?;
    if let Some(p) = opts.pooling {
        runner.set_pooling(p);
    }
    let pooling = match runner.embedding() {
        Ok(e) => format!("embeddings {} pooling", e.pooling),
        Err(e) => format!("no embeddings ({e})"),
    };
    let runner_kv_bytes = runner.kv_bytes() as u64;
    let kv_mib = runner_kv_bytes as f64 / (1 << 20) as f64;
    let mut sched = opts.sched.clone();
    sched.max_logit_rows = sched.max_logit_rows.max(sched.max_running);
    let engine = Engine::spawn(runner, Arc::new(TokenizerVocab { lm: lm.clone() }), sched)?;
    let about = format!(
        "{} threads, {} parallel sequences, context {} tokens per request, KV cache {} tokens ({kv_mib:.0} MiB), {}, {pooling}",
        lm.model.n_threads(),
        opts.sched.max_running,
        engine.n_ctx(),
        opts.kv_tokens,
        text.template_origin()
    );
    let served = Served {
        id: id.to_string(),
        created: crate::gen::unix_now(),
        engine,
        text: Arc::new(text),
    };
    let file_bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    Ok(LoadedServed {
        served,
        bytes: file_bytes.saturating_add(runner_kv_bytes),
        about,
    })
}
