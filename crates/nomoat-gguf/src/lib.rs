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
//! ```
//! use nomoat_gguf::{GgmlType, Gguf, GgufError, GgufWriter};
//!
//! let mut w = GgufWriter::new(3);
//! w.add_kv("general.architecture", "llama")
//!     .add_kv("llama.block_count", 2u32)
//!     .add_kv("tokenizer.ggml.tokens", vec!["<s>", "</s>", "a"]);
//! w.add_tensor_f32("output_norm.weight", &[4], &[1.0; 4])?;
//! w.add_tensor("token_embd.weight", GgmlType::Q8_0, &[32, 3], &[0u8; 3 * 34])?;
//! let bytes = w.to_bytes();
//!
//! let g = Gguf::parse(&bytes)?;
//! assert_eq!(g.architecture()?, "llama");
//! assert_eq!(g.get_u32("llama.block_count")?, 2);
//! assert_eq!(g.get_str_array("tokenizer.ggml.tokens")?, ["<s>", "</s>", "a"]);
//! let t = g.tensor("token_embd.weight").unwrap();
//! assert_eq!((t.row_len(), t.n_rows(), t.n_bytes), (32, 3, 102));
//!
//! // Errors name the key and the types.
//! let e = g.get_f32("llama.block_count").unwrap_err();
//! assert_eq!(e.to_string(), "key `llama.block_count` has type u32, expected f32");
//! // Hostile bytes give typed errors.
//! assert!(matches!(Gguf::parse(&bytes[..30]), Err(GgufError::Truncated { .. })));
//! # Ok::<(), GgufError>(())
//! ```
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

pub mod describe;

pub use error::{GgufError, Result};
pub use gguf::Gguf;
pub use limits::{Limits, DEFAULT_ALIGNMENT, MAX_DIMS};
pub use mmap::{GgufFile, OpenOptions};
pub use tensor::TensorInfo;
pub use types::GgmlType;
pub use value::{Value, ValueType};
pub use writer::{encode_str, encode_value, encode_value_into, GgufWriter, RawTensor};
