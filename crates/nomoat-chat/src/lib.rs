//! nomoat-chat: see the crate description.
#![forbid(unsafe_code)]
