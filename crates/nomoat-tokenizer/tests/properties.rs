//! Property tests: text survives encode → decode, and the streaming decoder always equals the
//! one-shot decoder.

mod common;

use std::sync::OnceLock;

use nomoat_tokenizer::{DecodeOptions, Tokenizer};
use proptest::prelude::*;

fn vocab(name: &'static str) -> &'static Tokenizer {
    static CELLS: [OnceLock<Tokenizer>; 4] = [const { OnceLock::new() }; 4];
    let i = [
        "ggml-vocab-llama-spm.gguf",
        "ggml-vocab-llama-bpe.gguf",
        "ggml-vocab-qwen2.gguf",
        "ggml-vocab-gemma-4.gguf",
    ]
    .iter()
    .position(|&n| n == name)
    .expect("known vocab");
    CELLS[i].get_or_init(|| common::load(&common::vocab_path(name)))
}

const SHOWN: DecodeOptions = DecodeOptions {
    remove_special: false,
    unparse_special: true,
};

/// Text that stresses spaces, apostrophes, punctuation, multi-byte and unusual characters.
fn tricky() -> impl Strategy<Value = String> {
    prop::string::string_regex(
        "[ a-zA-Z0-9',.?!\\n\\t\\u{a0}é日本😀\\u{200d}\\u{301}ß\\u{0}<>|_-]{0,48}",
    )
    .expect("valid strategy")
}

/// Any Unicode except U+2581, which SPM vocabularies use to stand for a space (so it cannot
/// round-trip there).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), tricky()].prop_map(|s| s.replace('\u{2581}', "_"))
}

fn stream(tok: &Tokenizer, ids: &[u32], opts: DecodeOptions) -> String {
    let mut d = tok.stream_decoder(opts);
    let mut out = String::new();
    for &id in ids {
        out.push_str(&d.push(tok.vocab(), id));
    }
    out.push_str(&d.finish(tok.vocab()));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn spm_byte_fallback_round_trips(s in any_text()) {
        let tok = vocab("ggml-vocab-llama-spm.gguf");
        let ids = tok.encode(&s, false, false);
        prop_assert_eq!(tok.detokenize(&ids, SHOWN), s.as_bytes());
        // With a BOS in front, llama.cpp keeps the added space (its detokenize quirk).
        let with_bos = tok.encode(&s, true, false);
        let mut spaced = if s.is_empty() { Vec::new() } else { b" ".to_vec() };
        spaced.extend_from_slice(s.as_bytes());
        prop_assert_eq!(tok.detokenize(&with_bos, SHOWN), [b"<s>".as_slice(), &spaced].concat());
    }

    #[test]
    fn byte_level_bpe_round_trips(s in any_text()) {
        // qwen2 does not clean spaces, so its decode is the identity on any text.
        let q = vocab("ggml-vocab-qwen2.gguf");
        prop_assert_eq!(q.decode(&q.encode(&s, false, false)), s.clone());
        // llama-bpe cleans spaces when decoding; its pieces still join back to the text.
        let l = vocab("ggml-vocab-llama-bpe.gguf");
        let joined: Vec<u8> = l.encode(&s, false, false).iter().flat_map(|&id| l.token_to_piece(id, true)).collect();
        prop_assert_eq!(joined, s.as_bytes());
    }

    #[test]
    fn gemma4_bpe_round_trips(s in any_text()) {
        // Gemma 4 cleans spaces when decoding; its pieces join back to the text.
        let g = vocab("ggml-vocab-gemma-4.gguf");
        let joined: Vec<u8> = g.encode(&s, false, false).iter().flat_map(|&id| g.token_to_piece(id, true)).collect();
        prop_assert_eq!(joined, s.as_bytes());
    }

    #[test]
    fn stream_equals_one_shot(
        raw in prop::collection::vec(any::<u32>(), 0..40),
        text in tricky(),
        which in 0usize..3,
        remove_special in any::<bool>(),
        unparse_special in any::<bool>(),
    ) {
        let name = ["ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"][which];
        let tok = vocab(name);
        let n = tok.n_vocab() as u32;
        // Random ids (any token, byte tokens and specials included) around real tokens of text.
        let mut ids: Vec<u32> = raw.iter().take(8).map(|&r| r % n).collect();
        ids.extend(tok.encode(&text, true, true));
        ids.extend(raw.iter().skip(8).map(|&r| r % 300));
        let opts = DecodeOptions { remove_special, unparse_special };
        let one_shot = String::from_utf8_lossy(&tok.detokenize(&ids, opts)).into_owned();
        prop_assert_eq!(stream(tok, &ids, opts), one_shot);
        // The raw piece stream equals the pieces joined.
        let mut d = nomoat_tokenizer::StreamDecoder::pieces(unparse_special);
        let mut raw = String::new();
        for &id in &ids {
            raw.push_str(&d.push(tok.vocab(), id));
        }
        raw.push_str(&d.finish(tok.vocab()));
        let joined: Vec<u8> = ids.iter().flat_map(|&id| tok.token_to_piece(id, unparse_special)).collect();
        prop_assert_eq!(raw, String::from_utf8_lossy(&joined).into_owned());
    }
}
