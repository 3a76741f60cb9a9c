//! `nomoat generate`: one completion, printed as text or as one JSON object (`--json`) with the
//! ids, text, finish reason, top log-probs and timings. Tests and tools depend on that object:
//!
//! ```text
//! {"model": str, "prompt_tokens": [int], "tokens": [int], "text": str,
//!  "finish_reason": "length"|"stop", "top_logprobs": [[[int, float], ...], ...],
//!  "timings": {"prompt_ms": float, "generate_ms": float}}
//! ```
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use nomoat_engine::generate::{GenerateParams, LoadedModel, Session};
use serde::Serialize;

use crate::constraint_args::ConstraintArgs;
use crate::model_arg;
use crate::sampling_args::SamplingArgs;

/// Generate from a prompt; with --json print one JSON object (ids, text, log-probs, timings).
///
/// Examples:
///   nomoat generate -p "The capital of France is" -n 16 --temp 0
///   nomoat generate -m model.gguf --prompt-tokens 1,415,2 -n 8 --json
///   nomoat generate -p "..." --echo -n 0 --json      # log-probs of every prompt position
///   nomoat generate -p "A user profile:" --json-schema person.json   # output follows the schema
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model: a .gguf path, a cached name, or hf:ORG/REPO/FILE.gguf (default: smollm2-135m-instruct)
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Prompt text, tokenized with the model's BOS rule (special tokens written as text are parsed)
    #[arg(
        short,
        long,
        conflicts_with = "prompt_tokens",
        required_unless_present = "prompt_tokens"
    )]
    pub prompt: Option<String>,
    /// Prompt as token ids, fed exactly as given (no BOS added): 1,415,2
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub prompt_tokens: Option<Vec<u32>>,
    /// Tokens to generate (0: only evaluate the prompt, e.g. with --echo)
    #[arg(
        short = 'n',
        long = "n-predict",
        default_value_t = 128,
        value_name = "N"
    )]
    pub n_predict: usize,
    /// Print one JSON object instead of the text
    #[arg(long)]
    pub json: bool,
    /// Top log-probs per step in the JSON (0: none)
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub logprobs: usize,
    /// Also give log-probs for the prompt positions (entry i predicts prompt token i+1)
    #[arg(long)]
    pub echo: bool,
    /// Stop when this text appears (repeatable); it is not included in the output
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Keep generating past end-of-generation tokens
    #[arg(long)]
    pub ignore_eos: bool,
    /// Context size in tokens (default: prompt + n, at most 4096)
    #[arg(short = 'c', long = "ctx", value_name = "N")]
    pub ctx: Option<usize>,
    /// Threads (default: physical cores)
    #[arg(short, long, value_name = "N")]
    pub threads: Option<usize>,
    /// Prompt tokens per forward pass
    #[arg(
        short = 'b',
        long = "batch-size",
        default_value_t = 512,
        value_name = "N"
    )]
    pub batch: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub constraint: ConstraintArgs,
}

#[derive(Serialize)]
struct Output<'a> {
    model: &'a str,
    prompt_tokens: &'a [u32],
    tokens: &'a [u32],
    text: &'a str,
    finish_reason: &'static str,
    top_logprobs: Vec<&'a [(u32, f64)]>,
    timings: JsonTimings,
}

#[derive(Serialize)]
struct JsonTimings {
    prompt_ms: f64,
    generate_ms: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model_name = args
        .model
        .clone()
        .unwrap_or_else(|| model_arg::DEFAULT_NAME.to_string());
    let path = model_arg::resolve(args.model.as_deref())?;
    let threads = args.threads.unwrap_or_else(nomoat_backend::default_threads);
    let lm = Arc::new(LoadedModel::load(&path, threads)?);
    let prompt: Vec<u32> = match (&args.prompt, &args.prompt_tokens) {
        (_, Some(ids)) => ids.clone(),
        (Some(text), None) => lm.tokenize_prompt(text),
        (None, None) => anyhow::bail!("give a prompt with -p TEXT or --prompt-tokens IDS"),
    };
    if prompt.is_empty() {
        anyhow::bail!("the prompt is empty (no tokens)");
    }
    let n_ctx = args
        .ctx
        .unwrap_or_else(|| (prompt.len() + args.n_predict).clamp(1, 4096));
    let constraint = args.constraint.compile(&lm)?;
    let mut session = Session::new(lm.clone(), n_ctx, args.batch)?;
    let params = GenerateParams {
        max_tokens: args.n_predict,
        sampling: args.sampling.params(n_ctx)?,
        stop: args.stop.clone(),
        logprobs: if args.json { args.logprobs } else { 0 },
        echo: args.echo,
        ignore_eos: args.ignore_eos,
        cancel: None,
        constraint: constraint.as_ref().map(|c| c.fresh()),
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_err: Option<std::io::Error> = None;
    let json = args.json;
    let g = session
        .generate(&prompt, &params, &mut |t| {
            if !json && write_err.is_none() {
                if let Err(e) = out.write_all(t.as_bytes()).and_then(|()| out.flush()) {
                    write_err = Some(e);
                }
            }
        })
        .context("generation failed")?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    if json {
        let top_logprobs = g
            .prompt_logprobs
            .iter()
            .chain(&g.logprobs)
            .map(Vec::as_slice)
            .collect();
        let o = Output {
            model: &model_name,
            prompt_tokens: &g.prompt_tokens,
            tokens: &g.tokens,
            text: &g.text,
            finish_reason: g.finish.as_str(),
            top_logprobs,
            timings: JsonTimings {
                prompt_ms: g.timings.prompt_ms,
                generate_ms: g.timings.generate_ms,
            },
        };
        serde_json::to_writer(&mut out, &o)?;
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
