//! Typed parse and lookup errors. Every variant says what went wrong and where: the byte offset
//! of the structure in the file and, where there is one, the key or tensor name.

use std::path::PathBuf;

/// Errors from reading, parsing, validating or querying a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("not a GGUF file: the first 4 bytes are {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: Vec<u8> },
    #[error("big-endian GGUF file (version {version} byte-swapped) is not supported")]
    BigEndian { version: u32 },
    #[error("unsupported GGUF version {version} (nomoat reads versions 2 and 3)")]
    UnsupportedVersion { version: u32 },
    #[error("file truncated: {what} at byte {offset} needs {needed} bytes, only {available} left")]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("{what} at byte {offset} is {value}, above the limit of {limit}")]
    LimitExceeded {
        what: String,
        value: u64,
        limit: u64,
        offset: u64,
    },
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { what: String, offset: u64 },
    #[error("{what} at byte {offset} is empty")]
    EmptyName { what: String, offset: u64 },
    #[error("unknown value type id {id} for key `{key}` at byte {offset}")]
    UnknownValueType { id: u32, key: String, offset: u64 },
    #[error("key `{key}`: array nesting deeper than {limit} at byte {offset}")]
    TooDeep {
        key: String,
        limit: u32,
        offset: u64,
    },
    #[error("key `{key}`: bool value {value} at byte {offset} is neither 0 nor 1")]
    InvalidBool { key: String, value: u8, offset: u64 },
    #[error("unknown tensor type id {id} for tensor `{tensor}` at byte {offset}")]
    UnknownTensorType {
        id: u32,
        tensor: String,
        offset: u64,
    },
    #[error("duplicate key `{key}` at byte {offset}")]
    DuplicateKey { key: String, offset: u64 },
    #[error("duplicate tensor `{name}` at byte {offset}")]
    DuplicateTensor { name: String, offset: u64 },
    #[error("tensor `{tensor}` at byte {offset}: bad dimensions: {reason}")]
    BadDims {
        tensor: String,
        reason: String,
        offset: u64,
    },
    #[error("arithmetic overflow computing {what} at byte {offset}")]
    Overflow { what: String, offset: u64 },
    #[error("tensor `{tensor}` data [{start}, {end}) lies outside the file ({file_len} bytes)")]
    TensorOutOfBounds {
        tensor: String,
        /// Absolute start of the data in the file.
        start: u64,
        /// Absolute end (exclusive); `u64::MAX` if it does not fit.
        end: u64,
        file_len: u64,
    },
    #[error(
        "tensor `{tensor}` data offset {offset} is not a multiple of the alignment {alignment}"
    )]
    Misaligned {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error("tensor `{tensor}` data [{start}, {end}) overlaps tensor `{other}`")]
    Overlap {
        tensor: String,
        other: String,
        start: u64,
        end: u64,
    },
    #[error("general.alignment = {value} is not a non-zero power of two")]
    BadAlignment { value: u64 },
    #[error("missing key `{key}`")]
    MissingKey { key: String },
    #[error("key `{key}` has type {found}, expected {expected}")]
    WrongType {
        key: String,
        expected: String,
        found: String,
    },
    #[error("key `{key}` = {value} is out of range for {expected}")]
    OutOfRange {
        key: String,
        value: String,
        expected: String,
    },
    #[error("writer: {0}")]
    Writer(String),
}

/// `Result` with [`GgufError`].
pub type Result<T, E = GgufError> = std::result::Result<T, E>;
