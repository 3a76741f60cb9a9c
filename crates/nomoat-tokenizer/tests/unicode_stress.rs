//! 15,000 random pieces of Latin, Greek, Arabic, Devanagari, kana, Han, Hangul, emoji, combining
//! marks, odd whitespace (U+0085, U+2028, U+3000), U+2581, code points newer than Unicode 15.1,
//! digits, contractions and special-token text (`tests/data/unicode-stress.txt`), tokenized with
//! BOS by every reference vocabulary, with and without special parsing. The ids must equal
//! `llama-tokenize --no-escape` (llama.cpp 0c1e57098), pinned by count and by the sha256 of its
//! printed list in `tests/data/unicode-stress-llama-tokenize.json`.

mod common;

use std::path::Path;

use sha2::{Digest, Sha256};

#[test]
fn unicode_stress_matches_llama_tokenize() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = std::fs::read_to_string(data.join("unicode-stress.txt")).expect("read text");
    let expect: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("unicode-stress-llama-tokenize.json")).expect("read"),
    )
    .expect("json");
    let rows = expect.as_array().expect("rows");
    assert_eq!(rows.len(), 28);
    let mut failures = Vec::new();
    let mut last: Option<(String, nomoat_tokenizer::Tokenizer)> = None;
    for row in rows {
        let name = row["vocab"].as_str().expect("vocab");
        if last.as_ref().map(|(n, _)| n.as_str()) != Some(name) {
            last = Some((name.to_string(), common::load(&common::vocab_path(name))));
        }
        let Some((_, tok)) = &last else {
            unreachable!()
        };
        let parse = row["parse_special"].as_bool().expect("parse_special");
        let ids = tok.encode(&text, true, parse);
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        let printed = format!("[{}]\n", list.join(", "));
        let sha: String = Sha256::digest(printed.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if ids.len() as u64 != row["n"].as_u64().expect("n")
            || sha != row["sha256"].as_str().expect("sha")
        {
            failures.push(format!("{name} parse_special={parse}: {} ids", ids.len()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
