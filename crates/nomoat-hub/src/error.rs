//! Errors of the model cache; each says what failed, where, and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {}: {msg}", path.display())]
    Manifest { path: PathBuf, msg: String },
    #[error("invalid model name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error("invalid model spec {spec:?}: {why} (expected hf:ORG/REPO/FILE.gguf)")]
    InvalidSpec { spec: String, why: &'static str },
    #[error(
        "unknown model {name:?}: not a file, not in the cache ({}), and not a model nomoat can \
         fetch by name (known: {known}). Give a path to a .gguf file, hf:ORG/REPO/FILE.gguf, or \
         `nomoat list` to see what is cached",
        cache.display()
    )]
    UnknownModel {
        name: String,
        cache: PathBuf,
        known: String,
    },
    #[error("model {name:?} is not in the cache ({})", cache.display())]
    NotCached { name: String, cache: PathBuf },
    #[error(
        "{what}: sha256 {got} does not match the expected {expected}; the download is corrupt or \
         the source changed (nothing was installed)"
    )]
    Checksum {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{what}: {got} bytes, expected {expected} (nothing was installed)")]
    Size {
        what: String,
        expected: u64,
        got: u64,
    },
    #[error("could not fetch {name}. Tried:\n{tried}\n{advice}")]
    FetchFailed {
        name: String,
        tried: String,
        advice: String,
    },
}

impl HubError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        HubError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
