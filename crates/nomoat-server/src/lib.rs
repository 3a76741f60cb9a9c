//! nomoat-server: see the crate description.
#![forbid(unsafe_code)]
