//! The tokenization oracles made with llama.cpp: `tokenize-gemma3.jsonl` (default model),
//! `tokenize-tiny-llama.jsonl`, and the prompt ids of every `golden-*.jsonl`.

mod common;

use nomoat_testkit::{read_jsonl, reference, synthetic, synthetic_spec};
use nomoat_tokenizer::{DecodeOptions, Tokenizer};
use serde_json::Value;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("id array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// A piece is a string, or an array of bytes when it is not valid UTF-8 on its own.
fn piece(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Array(a) => a.iter().map(|b| b.as_u64().expect("byte") as u8).collect(),
        other => panic!("unexpected piece {other}"),
    }
}

fn check_tokenize_file(tok: &Tokenizer, file: &str) {
    let rows = read_jsonl(&reference(file));
    assert!(rows.len() >= 24, "{file}: {} rows", rows.len());
    for row in rows {
        let text = row["text"].as_str().expect("text");
        let want = ids(&row["ids"]);
        assert_eq!(
            tok.encode(text, false, true),
            want,
            "{file}: ids of {text:?}"
        );
        assert_eq!(
            tok.encode(text, true, true),
            ids(&row["ids_add_special"]),
            "{file}: ids with BOS of {text:?}"
        );
        let pieces: Vec<Vec<u8>> = row["pieces"]
            .as_array()
            .expect("pieces")
            .iter()
            .map(piece)
            .collect();
        let got: Vec<Vec<u8>> = want
            .iter()
            .map(|&id| tok.token_to_piece(id, true))
            .collect();
        assert_eq!(got, pieces, "{file}: pieces of {text:?}");
        // The oracle's `detokenized` is the pieces joined (llama-cpp-python's detokenize).
        let joined: Vec<u8> = got.concat();
        assert_eq!(
            String::from_utf8_lossy(&joined),
            row["detokenized"].as_str().expect("detokenized"),
            "{file}: detokenized {text:?}"
        );
        // llama.cpp's own detokenize gives the text back when the oracle says it round-trips.
        if row["roundtrip_ok"].as_bool() == Some(true) {
            let opts = DecodeOptions {
                remove_special: false,
                unparse_special: true,
            };
            assert_eq!(
                tok.detokenize(&want, opts),
                text.as_bytes(),
                "{file}: round trip {text:?}"
            );
        }
    }
}

#[test]
fn gemma3_default_model_tokenize_oracle() {
    let tok = common::load(&nomoat_testkit::gemma3_270m());
    assert_eq!(tok.n_vocab(), 262_144);
    assert_eq!((tok.bos(), tok.eos()), (Some(2), Some(1)));
    assert!(tok.vocab().add_bos() && !tok.vocab().add_space_prefix());
    let eot = tok
        .vocab()
        .token_id("<end_of_turn>")
        .expect("<end_of_turn>");
    assert!(tok.is_eog(eot) && tok.is_eog(1) && !tok.is_eog(2));
    check_tokenize_file(&tok, "tokenize-gemma3.jsonl");
}

#[test]
fn tiny_llama_tokenize_oracle() {
    let tok = common::load(&synthetic_spec(synthetic::TINY_LLAMA));
    check_tokenize_file(&tok, "tokenize-tiny-llama.jsonl");
}

fn check_golden_prompts(tok: &Tokenizer, file: &str) {
    let rows = read_jsonl(&reference(file));
    assert!(!rows.is_empty(), "{file} is empty");
    for row in rows {
        let prompt = row["prompt"].as_str().expect("prompt");
        assert_eq!(
            tok.encode(prompt, true, true),
            ids(&row["prompt_ids"]),
            "{file}: {prompt:?}"
        );
        if let Some(ns) = row.get("prompt_ids_no_special") {
            assert_eq!(
                tok.encode(prompt, false, true),
                ids(ns),
                "{file}: {prompt:?} without BOS"
            );
        }
    }
}

#[test]
fn golden_gemma3_prompt_ids() {
    let tok = common::load(&nomoat_testkit::gemma3_270m());
    check_golden_prompts(&tok, "golden-gemma3-public.jsonl");
}

#[test]
fn golden_tiny_prompt_ids() {
    for (spec, file) in [
        (synthetic::TINY_LLAMA, "golden-tiny-llama.jsonl"),
        (synthetic::TINY_QWEN2, "golden-tiny-qwen2.jsonl"),
        (synthetic::TINY_QWEN3, "golden-tiny-qwen3.jsonl"),
        (synthetic::TINY_GEMMA3, "golden-tiny-gemma3.jsonl"),
    ] {
        let tok = common::load(&synthetic_spec(spec));
        check_golden_prompts(&tok, file);
    }
}
