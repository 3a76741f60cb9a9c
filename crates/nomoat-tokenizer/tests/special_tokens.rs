//! Special-token matching, BOS/EOS and strip attributes on every reference vocabulary, against
//! `llama-tokenize` (llama.cpp 0c1e57098): `data/special-llama-tokenize.jsonl` holds its ids for
//! texts full of control and user-defined token text, with and without BOS and special parsing.
//! (The vocab suite itself only covers `add_special = parse_special = false`.)

mod common;

use std::collections::HashMap;
use std::path::Path;

use nomoat_tokenizer::Tokenizer;

#[test]
fn special_tokens_match_llama_tokenize() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/special-llama-tokenize.jsonl");
    let rows = nomoat_testkit::read_jsonl(&path);
    assert_eq!(rows.len(), 126);
    let mut cache: HashMap<String, Tokenizer> = HashMap::new();
    let mut failures = Vec::new();
    for row in &rows {
        let name = row["vocab"].as_str().expect("vocab").to_string();
        let tok = cache
            .entry(name.clone())
            .or_insert_with(|| common::load(&common::vocab_path(&name)));
        let text = row["text"].as_str().expect("text");
        let add = row["add_special"].as_bool().expect("add_special");
        let parse = row["parse_special"].as_bool().expect("parse_special");
        let want: Vec<u32> = row["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect();
        let got = tok.encode(text, add, parse);
        if got != want {
            failures.push(format!(
                "{name} add={add} parse={parse} {text:?}\n  want {want:?}\n  got  {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
