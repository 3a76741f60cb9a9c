//! Model arguments of the subcommands: a path, a cached name, or `hf:ORG/REPO/FILE.gguf`; no
//! argument means the default model. Models known by name or given as `hf:` are fetched into the
//! cache on first use, with a progress bar and the model's licence.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nomoat_hub::{Cache, ModelRef, Observer, DEFAULT_MODEL};

/// The default model's cache name.
pub const DEFAULT_NAME: &str = DEFAULT_MODEL.name;

/// Resolves a model argument to a file, fetching it if needed.
pub fn resolve(arg: Option<&str>) -> anyhow::Result<PathBuf> {
    let arg = arg.unwrap_or(DEFAULT_NAME);
    let r = ModelRef::parse(arg)?;
    let cache = Cache::from_env();
    let mut bar = Bar::default();
    let pulled = cache
        .ensure(&r, &mut bar)
        .with_context(|| format!("model {arg:?}"))?;
    if pulled.fetched {
        eprintln!(
            "{}: saved to {} ({})",
            pulled.entry.name,
            pulled.path.display(),
            human_bytes(pulled.entry.size)
        );
        if let Some(k) = pulled.known {
            print_licence(k);
        }
    }
    Ok(pulled.path)
}

/// Whether `arg` names a model (rather than being a prompt): an `hf:` spec, a `.gguf` path, an
/// existing file, or a name that is cached or known.
pub fn looks_like_model(arg: &str) -> bool {
    if arg.starts_with("hf:") || arg.ends_with(".gguf") {
        return true;
    }
    if std::path::Path::new(arg).is_file() {
        return true;
    }
    match ModelRef::parse(arg) {
        Ok(ModelRef::Name(n)) => {
            nomoat_hub::catalog::find(&n).is_some() || Cache::from_env().contains(&n)
        }
        _ => false,
    }
}

/// The licence notice shown after a model is first fetched.
pub fn print_licence(k: &nomoat_hub::KnownModel) {
    eprintln!(
        "\n{} is distributed under the {}.\nRead the terms at {} — by using the model you agree to them.\n",
        k.description, k.license, k.license_url
    );
}

/// `1.23 GB` style sizes (decimal, as download tools print them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Draws fetch progress on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Observer for Bar {
    fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }
    fn begin(&mut self, label: &str, total: Option<u64>) {
        let b = match total {
            Some(t) => {
                let b = ProgressBar::new(t);
                b.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b
            }
            None => {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b
            }
        };
        b.set_message(label.to_string());
        self.bar = Some(b);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
    fn tick(&mut self) {
        if let Some(b) = &self.bar {
            b.tick();
        }
    }
    fn end(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_not_models() {
        assert!(!looks_like_model("Once upon a time"));
        assert!(!looks_like_model("hello"));
        assert!(looks_like_model("gemma3-270m"));
        assert!(looks_like_model("hf:a/b/c.gguf"));
        assert!(looks_like_model("x.gguf"));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(253_113_024), "253.1 MB");
    }
}
