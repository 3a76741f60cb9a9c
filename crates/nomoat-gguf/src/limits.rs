//! Explicit parser limits. Each bound is far above what real models use, and every count is
//! additionally bounded by the bytes left in the file before anything is allocated from it.

/// Upper bounds applied while parsing. `Limits::default()` accepts every real model known to us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest metadata string value in bytes. Default 16 MiB: token strings are a few bytes,
    /// the largest chat templates about 100 KB, licence texts tens of KB.
    pub max_string_len: u64,
    /// Longest key or tensor name in bytes. Default 64 KiB (llama.cpp keeps names under 64 bytes
    /// and keys are short dotted paths, so this only stops absurd values early).
    pub max_name_len: u64,
    /// Most elements in one array. Default 16 Mi: vocabularies are up to ~262k tokens and BPE
    /// merge lists up to ~1M entries.
    pub max_array_len: u64,
    /// Deepest array nesting (1 = arrays of scalars/strings only). Default 3; real files use 1.
    pub max_array_depth: u32,
    /// Most metadata key/value pairs. Default 1 Mi (real files have tens).
    pub max_kv_count: u64,
    /// Most tensors. Default 1 Mi (real files have up to tens of thousands).
    pub max_tensor_count: u64,
    /// Most memory the decoded metadata may take, counted as the in-memory size of every value
    /// plus string bytes. Default 1 GiB; a 262k-token vocabulary with scores and types takes
    /// about 28 MiB. This bounds the in-memory growth of arrays of small elements (each `Value`
    /// is 32 bytes).
    pub max_metadata_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_len: 1 << 24,
            max_name_len: 1 << 16,
            max_array_len: 1 << 24,
            max_array_depth: 3,
            max_kv_count: 1 << 20,
            max_tensor_count: 1 << 20,
            max_metadata_memory: 1 << 30,
        }
    }
}

/// ggml's `GGML_MAX_DIMS`: a tensor has 1 to 4 dimensions.
pub const MAX_DIMS: u32 = 4;

/// The default data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
