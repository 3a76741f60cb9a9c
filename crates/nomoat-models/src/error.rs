//! Errors of model loading, validation and the forward pass. Each names the key or tensor and what
//! is wrong with it.

use nomoat_gguf::{GgmlType, GgufError};

/// Why a model cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the model file: {0}")]
    Gguf(#[from] GgufError),
    #[error("unknown architecture `{arch}` (nomoat runs {known})")]
    UnknownArchitecture { arch: String, known: String },
    #[error("missing key `{key}`")]
    MissingKey { key: String },
    #[error("key `{key}` has type {found}, expected {expected}")]
    WrongType {
        key: String,
        expected: String,
        found: String,
    },
    #[error("key `{key}` = {value}: {reason}")]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("inconsistent hyperparameters: {0}")]
    Inconsistent(String),
    #[error("special token `{key}` = {id} is outside the vocabulary of {n_vocab} tokens")]
    SpecialTokenOutOfRange {
        key: String,
        id: u64,
        n_vocab: usize,
    },
    #[error("tokenizer array `{key}` has {len} entries, but the vocabulary has {expected}")]
    TokenizerArrayLength {
        key: String,
        len: usize,
        expected: usize,
    },
    #[error("missing tensor `{name}`")]
    MissingTensor { name: String },
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    #[error("unsupported tensor type {ty} in tensor `{name}`{hint}")]
    UnsupportedTensorType {
        name: String,
        ty: GgmlType,
        hint: &'static str,
    },
    #[error("tensor `{name}`: row of {row_len} elements is not a multiple of the {ty} block size {block}")]
    BadRowSize {
        name: String,
        ty: GgmlType,
        row_len: u64,
        block: u64,
    },
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("KV cache: {0}")]
    Kv(#[from] crate::kv::KvError),
    #[error("compute backend: {0}")]
    Backend(#[from] nomoat_backend::BackendError),
    #[error("bad batch: {0}")]
    BadBatch(String),
}

impl ModelError {
    /// Turns a typed-getter error of the GGUF reader into the matching model error.
    pub(crate) fn from_lookup(e: GgufError) -> ModelError {
        match e {
            GgufError::MissingKey { key } => ModelError::MissingKey { key },
            GgufError::WrongType {
                key,
                expected,
                found,
            } => ModelError::WrongType {
                key,
                expected,
                found,
            },
            GgufError::OutOfRange {
                key,
                value,
                expected,
            } => ModelError::BadValue {
                key,
                value,
                reason: format!("does not fit in {expected}"),
            },
            other => ModelError::Gguf(other),
        }
    }
}
