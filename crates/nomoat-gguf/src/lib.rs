//! nomoat-gguf: read and write GGUF model files, treating every input as hostile.
//!
//! - [`Gguf::parse`] turns bytes into typed metadata ([`Value`]) and validated [`TensorInfo`]s:
//!   every count, length, dimension and offset is checked against [`Limits`] and the bytes left,
//!   every size uses checked arithmetic, and every tensor's data range is inside the file,
//!   aligned and disjoint from the others. Errors ([`GgufError`]) say what and where.
//! - [`GgufFile::open`] memory-maps a file and hands out zero-copy tensor views.
//! - [`GgufWriter`] builds files in memory (synthetic models, hostile test variants).
//! - [`GgmlType`] describes every GGML tensor type: id, name, block geometry.
//!
//! Only `mmap.rs` contains `unsafe` (mapping a file); everything else parses `&[u8]`.
#![deny(unsafe_code)]

mod error;
mod gguf;
mod limits;
mod mmap;
mod parse;
mod tensor;
mod types;
mod value;
mod writer;

pub use error::{GgufError, Result};
pub use gguf::Gguf;
pub use limits::{Limits, DEFAULT_ALIGNMENT, MAX_DIMS};
pub use mmap::{GgufFile, OpenOptions};
pub use tensor::TensorInfo;
pub use types::GgmlType;
pub use value::{Value, ValueType};
pub use writer::{encode_str, encode_value, encode_value_into, GgufWriter, RawTensor};
