//! nomoat-engine: see the crate description.
#![forbid(unsafe_code)]
