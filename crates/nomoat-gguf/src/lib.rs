//! nomoat-gguf: see the crate description.
//! Only `mmap.rs` contains `unsafe` (mapping a file); everything else parses `&[u8]`.
#![deny(unsafe_code)]
