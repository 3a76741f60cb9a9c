//! Hostile vocabulary files: every defect gives a clear error, never a panic.

use nomoat_gguf::{Gguf, GgufWriter, Value};
use nomoat_tokenizer::Tokenizer;

/// A small valid BPE vocabulary: a, b, ab, ▁ and byte-level space.
fn base() -> GgufWriter {
    let mut w = GgufWriter::new(3);
    w.add_kv("general.architecture", "llama");
    w.add_kv("tokenizer.ggml.model", "gpt2");
    w.add_kv("tokenizer.ggml.pre", "gpt-2");
    w.add_kv(
        "tokenizer.ggml.tokens",
        vec!["a", "b", "ab", "Ġ", "<|endoftext|>"],
    );
    w.add_kv("tokenizer.ggml.token_type", vec![1i32, 1, 1, 1, 3]);
    w.add_kv("tokenizer.ggml.merges", vec!["a b"]);
    w.add_kv("tokenizer.ggml.eos_token_id", 4u32);
    w.add_kv("tokenizer.ggml.bos_token_id", 4u32);
    w
}

fn build(w: &GgufWriter) -> Result<Tokenizer, String> {
    let bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).map_err(|e| format!("gguf: {e}"))?;
    Tokenizer::from_gguf(&g).map_err(|e| e.to_string())
}

fn expect_error(w: &GgufWriter, needle: &str) {
    match build(w) {
        Ok(_) => panic!("expected an error containing {needle:?}"),
        Err(e) => assert!(e.contains(needle), "error {e:?} should contain {needle:?}"),
    }
}

#[test]
fn tokenizer_is_shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<Tokenizer>();
    check::<nomoat_tokenizer::StreamDecoder>();
}

#[test]
fn valid_base_vocabulary_works() {
    let tok = build(&base()).expect("valid");
    assert_eq!(tok.encode("ab a", false, false), vec![2, 3, 0]);
    assert_eq!(tok.decode(&[2, 3, 0]), "ab a");
    assert!(tok.is_eog(4));
}

#[test]
fn mismatched_array_lengths_are_rejected() {
    let mut w = base();
    w.add_kv("tokenizer.ggml.token_type", vec![1i32, 1]);
    expect_error(&w, "token_type has 2 entries but there are 5 tokens");
    let mut w = base();
    w.add_kv("tokenizer.ggml.scores", vec![0.0f32; 7]);
    expect_error(&w, "scores has 7 entries");
}

#[test]
fn out_of_range_special_ids_are_rejected() {
    for key in [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.eot_token_id",
    ] {
        let mut w = base();
        w.add_kv(key, 5u32);
        expect_error(&w, &format!("{key} = 5 is out of range"));
    }
    let mut w = base();
    w.add_kv("tokenizer.ggml.bos_token_id", -1i32);
    expect_error(&w, "bos_token_id has the wrong type");
}

#[test]
fn invalid_merges_are_rejected() {
    for (merge, why) in [
        ("ab", "has no space"),
        ("a z", "unknown right token"),
        ("z b", "unknown left token"),
        ("b a", "not in the vocabulary"),
    ] {
        let mut w = base();
        w.add_kv("tokenizer.ggml.merges", vec!["a b", merge]);
        expect_error(&w, why);
    }
    let mut w = base();
    w.add_kv("tokenizer.ggml.merges", Value::Array(vec![Value::U32(1)]));
    expect_error(&w, "merges has the wrong type");
}

#[test]
fn other_defects_are_rejected() {
    let mut w = base();
    w.add_kv("tokenizer.ggml.tokens", vec!["a", "b", "ab", "a", "x"]);
    expect_error(&w, "duplicates token 0");
    let mut w = base();
    w.add_kv("tokenizer.ggml.tokens", Value::Array(vec![]));
    expect_error(&w, "token list is empty");
    let mut w = base();
    w.add_kv("tokenizer.ggml.model", "t5");
    expect_error(&w, "unsupported tokenizer model");
    let mut w = base();
    w.add_kv("tokenizer.ggml.pre", "mystery");
    expect_error(&w, "unknown pre-tokenizer");
    let mut w = GgufWriter::new(3);
    w.add_kv("tokenizer.ggml.model", "llama");
    expect_error(&w, "missing key tokenizer.ggml.tokens");
    let mut w = base();
    w.add_kv("tokenizer.ggml.add_bos_token", true);
    w.add_kv("tokenizer.ggml.model", "gemma4");
    w.add_kv("tokenizer.ggml.bos_token_id", Value::Bool(true));
    expect_error(&w, "bos_token_id has the wrong type");
}
