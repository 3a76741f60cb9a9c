//! A valid tiny llama-shaped model that the hostile variants start from.
#![allow(dead_code)]

use nomoat_gguf::{GgmlType, GgufWriter, Value};

/// Tokens of the tiny vocabulary.
pub const TOKENS: [&str; 8] = ["<unk>", "<s>", "</s>", "▁a", "▁b", "c", "d", "e"];

/// Key/value pairs of the base model (everything but the tensors).
pub fn base_kv(w: &mut GgufWriter) {
    w.add_kv("general.architecture", "llama")
        .add_kv("general.name", "tiny hostile base")
        .add_kv("llama.context_length", 128u32)
        .add_kv("llama.embedding_length", 32u32)
        .add_kv("llama.block_count", 1u32)
        .add_kv("llama.attention.head_count", 2u32)
        .add_kv("llama.attention.layer_norm_rms_epsilon", 1e-5f32)
        .add_kv("tokenizer.ggml.model", "llama")
        .add_kv("tokenizer.ggml.tokens", Value::from(TOKENS.to_vec()))
        .add_kv("tokenizer.ggml.scores", vec![0.0f32; TOKENS.len()])
        .add_kv("tokenizer.ggml.token_type", vec![1i32; TOKENS.len()])
        .add_kv("tokenizer.ggml.bos_token_id", 1u32)
        .add_kv("tokenizer.ggml.add_bos_token", true);
}

/// Tensors of the base model: an F32 norm, a Q8_0 embedding, a Q4_K matrix.
pub fn base_tensors(w: &mut GgufWriter) {
    w.add_tensor_f32("output_norm.weight", &[32], &[1.0; 32])
        .unwrap();
    w.add_tensor(
        "token_embd.weight",
        GgmlType::Q8_0,
        &[32, TOKENS.len() as u64],
        &[0u8; 34 * TOKENS.len()],
    )
    .unwrap();
    w.add_tensor(
        "blk.0.ffn_up.weight",
        GgmlType::Q4_K,
        &[256, 2],
        &[0u8; 2 * 144],
    )
    .unwrap();
}

/// The base writer: version 3, all keys and tensors.
pub fn base() -> GgufWriter {
    let mut w = GgufWriter::new(3);
    base_kv(&mut w);
    base_tensors(&mut w);
    w
}

/// The base writer without tensors (for variants that add their own).
pub fn base_no_tensors() -> GgufWriter {
    let mut w = GgufWriter::new(3);
    base_kv(&mut w);
    w
}

/// Byte offsets of the header fields.
pub const VERSION_AT: usize = 4;
pub const N_TENSORS_AT: usize = 8;
pub const N_KV_AT: usize = 16;

pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A header with no tensors and one raw key/value pair, followed by `tail` bytes of zeros.
pub fn one_raw_kv(key: &[u8], type_id: u32, payload: &[u8], tail: usize) -> Vec<u8> {
    let mut w = GgufWriter::new(3);
    w.add_kv_raw(key, type_id, payload);
    let mut b = w.to_bytes();
    b.resize(b.len() + tail, 0);
    b
}
