//! Hostile specs: schemas, Lark grammars and regexes built to blow up a grammar compiler (huge
//! repetition counts, deep nesting, reference cycles, pathological regexes, byte-mutated
//! schemas) compile or give an error, each in bounded time, and a compiled one masks and
//! advances without a panic. The same driver as `fuzz/fuzz_targets/grammar_compile.rs`, over a
//! byte-level vocabulary.

use std::time::{Duration, Instant};

use nomoat_grammar::{GrammarError, Grammars, OutputSpec};
use nomoat_tokenizer::{Tokenizer, Vocab, VocabParts};
use serde_json::{json, Value};

fn byte_vocab() -> (Grammars, usize) {
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
    let tok = Tokenizer::from_vocab(Vocab::from_parts(parts).unwrap()).unwrap();
    (Grammars::new(&tok).unwrap(), n)
}

/// Compiles `spec` and, when it compiles, takes the first allowed token 32 times. Returns the
/// compile result and asserts the whole thing stayed within `limit`.
fn drive(g: &Grammars, n: usize, spec: &OutputSpec, limit: Duration) -> Result<(), GrammarError> {
    let t = Instant::now();
    let r = g.compile(spec).map(|compiled| {
        let mut c = compiled.constraint().0;
        let mut logits = vec![0f32; n];
        for _ in 0..32 {
            logits.iter_mut().for_each(|l| *l = 0.0);
            if c.mask(&mut logits).is_err() {
                break;
            }
            let Some(id) = logits.iter().position(|l| l.is_finite()) else {
                break;
            };
            if !matches!(c.accept(id as u32), Ok(false)) {
                break;
            }
        }
    });
    assert!(
        t.elapsed() < limit,
        "{:?} took {:?}",
        format!("{spec:?}").chars().take(120).collect::<String>(),
        t.elapsed()
    );
    r
}

fn nested(depth: usize) -> Value {
    let mut v = json!({"type": "string"});
    for _ in 0..depth {
        v = json!({"type": "array", "items": v});
    }
    v
}

#[test]
fn hostile_specs_compile_or_fail_in_bounded_time() {
    let (g, n) = byte_vocab();
    let limit = Duration::from_secs(10);
    let schemas = vec![
        json!({"type": "array", "minItems": 1_000_000_000u64, "items": {"type": "integer"}}),
        json!({"type": "string", "minLength": 100_000_000u64}),
        json!({"type": "string", "maxLength": u64::MAX}),
        json!({"type": "integer", "minimum": 1e300, "maximum": -1e300}),
        json!({"$ref": "#"}),
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        json!({"$ref": "#/$defs/missing"}),
        json!({"$ref": "https://example.com/schema.json"}),
        json!({"enum": (0..20_000).map(|i| format!("value-{i}")).collect::<Vec<_>>()}),
        json!({"anyOf": (0..2_000).map(|i| json!({"const": i})).collect::<Vec<_>>()}),
        json!({"type": "string", "pattern": "(a|aa)*(b|bb)*c{1000}"}),
        json!({"type": "object", "properties": {}, "required": ["x"], "additionalProperties": false}),
        nested(120),
    ];
    let mut ok = 0;
    for s in schemas {
        if drive(&g, n, &OutputSpec::JsonSchema(s), limit).is_ok() {
            ok += 1;
        }
    }
    let lark = [
        "start: a\na: a \"x\" | \"y\"\n".to_owned(),
        "start: start\n".to_owned(),
        format!(
            "start: {}\n",
            (0..5_000)
                .map(|i| format!("\"w{i}\""))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        "start: /(a+)+$/\n".to_owned(),
        "start: %json{\"$ref\": \"#\"}\n".to_owned(),
        "start: \"unterminated\n".to_owned(),
        "start: <[999999999]>\n".to_owned(),
    ];
    for l in lark {
        let _ = drive(&g, n, &OutputSpec::Lark(l), limit);
    }
    for re in [
        "a{1000000}",
        "(a*)*b",
        "[",
        "(?<=a)b",
        "\\p{Greek}{1,500}",
        "x{4294967295}",
    ] {
        let _ = drive(&g, n, &OutputSpec::Regex(re.into()), limit);
    }
    assert!(ok >= 1, "the sane schemas among them compile");
}

#[test]
fn byte_mutated_schemas_never_panic() {
    let (g, n) = byte_vocab();
    let seeds = [
        r#"{"type":"object","properties":{"name":{"type":"string","maxLength":8},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["name"]}"#,
        r#"{"anyOf":[{"type":"integer","minimum":0},{"type":"string","pattern":"^[a-z]{2,4}$"}]}"#,
        r##"{"$defs":{"n":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/n"}}}}},"$ref":"#/$defs/n"}"##,
    ];
    let alphabet = br##"{}[]":,0123456789-.eE"abcnrtuxyz$#/ \"##;
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut compiled = 0;
    for round in 0..300 {
        let mut b = seeds[round % seeds.len()].as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % b.len();
            match next() % 3 {
                0 => b[i] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let text = String::from_utf8_lossy(&b).into_owned();
        let spec = match serde_json::from_str::<Value>(&text) {
            Ok(v) => OutputSpec::JsonSchema(v),
            // Not JSON: try it as a grammar and as a regex instead.
            Err(_) => {
                let _ = drive(
                    &g,
                    n,
                    &OutputSpec::Regex(text.clone()),
                    Duration::from_secs(10),
                );
                OutputSpec::Lark(text)
            }
        };
        if drive(&g, n, &spec, Duration::from_secs(10)).is_ok() {
            compiled += 1;
        }
    }
    assert!(compiled > 0, "some mutants still compile and get driven");
}
