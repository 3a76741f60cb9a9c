//! nomoat-kernels: see the crate description.
//! `unsafe` lives only in the SIMD kernels (`#[target_feature]` functions reached through the dispatch table).
