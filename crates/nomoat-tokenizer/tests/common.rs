//! Shared helpers of the tokenizer tests.
#![allow(dead_code)]

use std::path::Path;

use nomoat_gguf::GgufFile;
use nomoat_tokenizer::Tokenizer;

pub fn load(path: &Path) -> Tokenizer {
    let f = GgufFile::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    Tokenizer::from_gguf(f.gguf()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn vocab_path(name: &str) -> std::path::PathBuf {
    nomoat_testkit::reference("vocab").join(name)
}
