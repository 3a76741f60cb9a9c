//! The whole licence corpus (191 KB), tokenized with BOS and special parsing, must give exactly
//! the ids `llama-tokenize --ids` printed for it (llama.cpp 0c1e57098). The list is pinned by its
//! length and the sha256 of llama-tokenize's output text (`[2, 156, ...]\n`).

mod common;

use sha2::{Digest, Sha256};

fn check(tok: &nomoat_tokenizer::Tokenizer, n: usize, sha: &str) {
    let corpus = std::fs::read_to_string(nomoat_testkit::reference("corpus-licenses.txt"))
        .expect("read corpus");
    let ids = tok.encode(&corpus, true, true);
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    let printed = format!("[{}]\n", list.join(", "));
    let got: String = Sha256::digest(printed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(ids.len(), n, "token count");
    assert_eq!(got, sha, "ids differ from llama-tokenize");
}

#[test]
fn gemma3_corpus_matches_llama_tokenize() {
    let tok = common::load(&nomoat_testkit::gemma3_270m());
    check(
        &tok,
        41531,
        "924fb8eb36600c4c7420c3485955f84daf6c10b9e5a2f2bc1a74932add88ef81",
    );
}

#[test]
fn llama3_bpe_corpus_matches_llama_tokenize() {
    let tok = common::load(&common::vocab_path("ggml-vocab-llama-bpe.gguf"));
    check(
        &tok,
        40518,
        "9246a6e2a255734555dff953fd5db625614befac32751ea8f7e1febd8500c606",
    );
}
