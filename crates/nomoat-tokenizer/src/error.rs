//! Errors: every message names the key or token at fault, so a bad file is easy to diagnose.

/// Why a vocabulary could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("vocabulary: missing key {0}")]
    MissingKey(&'static str),
    #[error("vocabulary: key {key} has the wrong type (expected {expected})")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("vocabulary: unsupported tokenizer model {0:?} (nomoat supports llama (SPM), gpt2 (byte-level BPE) and gemma4)")]
    UnsupportedModel(String),
    #[error("vocabulary: unknown pre-tokenizer {0:?} (tokenizer.ggml.pre)")]
    UnknownPreTokenizer(String),
    #[error("vocabulary: the token list is empty")]
    Empty,
    #[error("vocabulary: {n} tokens is more than the supported maximum of {max}")]
    TooManyTokens { n: usize, max: usize },
    #[error("vocabulary: token {id} is {len} bytes long (maximum {max})")]
    TokenTooLong { id: usize, len: usize, max: usize },
    #[error("vocabulary: {key} has {got} entries but there are {n_tokens} tokens")]
    LengthMismatch {
        key: &'static str,
        got: usize,
        n_tokens: usize,
    },
    #[error("vocabulary: token {id} duplicates token {first} ({text:?})")]
    DuplicateToken { id: usize, first: u32, text: String },
    #[error("vocabulary: {key} = {id} is out of range (the vocabulary has {n_tokens} tokens)")]
    SpecialIdOutOfRange {
        key: &'static str,
        id: u64,
        n_tokens: usize,
    },
    #[error("vocabulary: {key} is true but {id_key} is not set")]
    MissingSpecialToken {
        key: &'static str,
        id_key: &'static str,
    },
    #[error("vocabulary: merge {index} ({merge:?}) {why}")]
    InvalidMerge {
        index: usize,
        merge: String,
        why: &'static str,
    },
    #[error("vocabulary: the BPE tokenizer needs tokenizer.ggml.merges")]
    MissingMerges,
    #[error("vocabulary: {n} merges is more than the supported maximum of {max}")]
    TooManyMerges { n: usize, max: usize },
    #[error("pre-tokenizer regex {expr:?} does not compile: {why}")]
    Regex { expr: String, why: String },
}
