//! `nomoat`: run open-weight language models from GGUF files on your own hardware.
//!
//! Each subcommand lives in its own file under `cmd/`: flags are parsed here with clap, then the
//! subcommand's `run` calls into the library crates.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod constraint_args;
mod model_arg;
mod sampling_args;

/// Run open-weight language models (Llama, Gemma, Qwen, Mistral, ...) from GGUF files.
#[derive(Parser)]
#[command(name = "nomoat", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with a model or complete a prompt in the terminal (default model: smollm2-135m-instruct)
    Run(cmd::run::Args),
    /// Generate from a prompt and print one JSON object (ids, text, log-probs, timings)
    Generate(cmd::generate::Args),
    /// Serve an OpenAI-compatible HTTP API
    Serve(cmd::serve::Args),
    /// Show a model file's facts, validate it, optionally list its tensors
    Show(cmd::show::Args),
    /// Tokenize text with a model's vocabulary
    Tokenize(cmd::tokenize::Args),
    /// Render a chat template for a list of messages
    Template(cmd::template::Args),
    /// Measure perplexity on a text file (llama.cpp's method)
    Perplexity(cmd::perplexity::Args),
    /// Measure prompt and generation speed (llama-bench's method and output)
    Bench(cmd::bench::Args),
    /// Download a model into the cache
    Pull(cmd::pull::PullArgs),
    /// List cached models (--available: the models nomoat can fetch by name)
    List(cmd::pull::ListArgs),
    /// Remove a cached model
    Rm(cmd::pull::RmArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Show(a) => cmd::show::run(a),
        Command::Tokenize(a) => cmd::tokenize::run(a),
        Command::Template(a) => cmd::template::run(a),
        Command::Perplexity(a) => cmd::perplexity::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Pull(a) => cmd::pull::pull(a),
        Command::List(a) => cmd::pull::list(a),
        Command::Rm(a) => cmd::pull::rm(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by `: ` like anyhow's `{:#}`, but without a cause whose text
/// the message already holds: many errors print their source in their own message (thiserror's
/// `"{path}: {source}"`), and printing the chain too said everything twice (`no such file: no such
/// file`).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.is_empty() {
            text = c;
        } else if !c.is_empty() && !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// `nomoat show m.gguf | head` must not print an error when `head` closes the pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
