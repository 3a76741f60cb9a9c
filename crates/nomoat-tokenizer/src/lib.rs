//! nomoat-tokenizer: see the crate description.
#![forbid(unsafe_code)]
