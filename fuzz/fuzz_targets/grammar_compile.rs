//! Fuzz the constrained-decoding front end: any bytes, read as a JSON schema, a Lark grammar or
//! a regex (the first byte picks), must compile or give a typed error within llguidance's limits
//! (never a panic, a hang or an unbounded allocation); a compiled spec is then driven through a
//! few mask/accept steps, always taking the first allowed token.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nomoat_grammar::{Grammars, OutputSpec};
use nomoat_tokenizer::{Tokenizer, Vocab, VocabParts};

/// A byte-level SentencePiece vocabulary: `<unk>`, `<s>`, `</s>`, the 256 byte tokens and a
/// few words, so every text is reachable.
fn grammars() -> &'static (Grammars, usize) {
    static G: OnceLock<(Grammars, usize)> = OnceLock::new();
    G.get_or_init(|| {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
        }
        for w in ["{\"", "\":", "true", "false", "null", "▁the", "ab", "12"] {
            tokens.push(w.into());
            types.push(1);
        }
        let n = tokens.len();
        let parts = VocabParts {
            model: "llama".into(),
            tokens: tokens.into_iter().map(Into::into).collect(),
            token_types: Some(types),
            ..Default::default()
        };
        let tok = Tokenizer::from_vocab(Vocab::from_parts(parts).expect("vocab")).expect("tokenizer");
        (Grammars::new(&tok).expect("grammars"), n)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let spec = match kind % 4 {
        0 => match serde_json::from_str(text) {
            Ok(v) => OutputSpec::JsonSchema(v),
            Err(_) => return,
        },
        1 => OutputSpec::Lark(text.to_owned()),
        2 => OutputSpec::Regex(text.to_owned()),
        _ => OutputSpec::JsonObject,
    };
    let (g, n) = grammars();
    let Ok(compiled) = g.compile(&spec) else {
        return;
    };
    let mut c = compiled.constraint().0;
    let mut logits = vec![0f32; *n];
    for _ in 0..16 {
        logits.iter_mut().for_each(|l| *l = 0.0);
        if c.mask(&mut logits).is_err() {
            return;
        }
        let Some(id) = logits.iter().position(|l| l.is_finite()) else {
            return;
        };
        match c.accept(id as u32) {
            Ok(false) => {}
            _ => return,
        }
    }
});
