//! `nomoat perplexity`: llama.cpp's perplexity on a text file (see
//! `nomoat_engine::perplexity` for the method), with a progress bar; `--json` prints
//! `{"ppl", "ppl_stderr", "tokens", "tokens_per_second"}`.
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nomoat_engine::generate::{LoadedModel, Session};
use nomoat_engine::perplexity::perplexity;
use serde::Serialize;

use crate::model_arg;

/// Measure perplexity on a text file, with llama.cpp's method: the text is cut into windows of
/// -c tokens, each starting with BOS, and the second half of each window is scored.
/// PPL = exp(mean negative log-likelihood) ± its standard error.
///
/// Example:
///   nomoat perplexity -f corpus.txt -c 512
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model: a .gguf path, a cached name, or hf:ORG/REPO/FILE.gguf (default: smollm2-135m-instruct)
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Text file to score
    #[arg(short, long, value_name = "FILE")]
    pub file: std::path::PathBuf,
    /// Window size in tokens
    #[arg(short = 'c', long = "ctx", default_value_t = 512, value_name = "N")]
    pub ctx: usize,
    /// Tokens per forward pass (default: the window size)
    #[arg(short = 'b', long = "batch-size", value_name = "N")]
    pub batch: Option<usize>,
    /// Threads (default: physical cores)
    #[arg(short, long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print one JSON object: {"ppl", "ppl_stderr", "tokens", "tokens_per_second"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Output {
    ppl: f64,
    ppl_stderr: f64,
    tokens: usize,
    tokens_per_second: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let path = model_arg::resolve(args.model.as_deref())?;
    let threads = args.threads.unwrap_or_else(nomoat_backend::default_threads);
    let lm = Arc::new(LoadedModel::load(&path, threads)?);
    // As llama-perplexity: special tokens in the text are not parsed; BOS per the model's rule.
    let tokens = lm.tokenizer.encode(&text, true, false);
    let bos = if lm.tokenizer.vocab().add_bos() {
        lm.tokenizer.bos()
    } else {
        None
    };
    let n_ctx = args.ctx;
    let mut session = Session::new(lm.clone(), n_ctx.max(4), args.batch.unwrap_or(n_ctx))?;
    let n_chunks = tokens.len() / n_ctx.max(1);
    if !args.json {
        eprintln!(
            "{}: {} tokens, {} windows of {} tokens, {} threads",
            args.file.display(),
            tokens.len(),
            n_chunks,
            n_ctx,
            threads
        );
    }
    let bar = ProgressBar::new(n_chunks as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} windows, PPL {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let r = perplexity(&mut session, &tokens, n_ctx, bos, &mut |done, _, ppl| {
        bar.set_position(done as u64);
        bar.set_message(format!("{ppl:.4}"));
    });
    bar.finish_and_clear();
    let r = r?;
    if args.json {
        let o = Output {
            ppl: r.ppl,
            ppl_stderr: r.ppl_stderr,
            tokens: r.tokens,
            tokens_per_second: r.tokens_per_second(),
        };
        writeln!(std::io::stdout(), "{}", serde_json::to_string(&o)?)?;
    } else {
        writeln!(
            std::io::stdout(),
            "PPL = {:.4} ± {:.5}",
            r.ppl,
            r.ppl_stderr
        )?;
        writeln!(
            std::io::stdout(),
            "{} windows of {} tokens ({} scored) in {:.1} s: {:.1} tokens/s",
            r.n_chunks,
            n_ctx,
            r.scored,
            r.seconds,
            r.tokens_per_second()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
