//! Constrained generation on a real vocabulary (the default test model's, Gemma 3: 262k tokens,
//! SentencePiece with byte fallback) driven by random logits: whatever the "model" prefers, the
//! output follows the spec. The sampler is the engine's real chain; only the logits are fake.

use std::sync::OnceLock;

use nomoat_engine::sample::{SamplerChain, SamplingParams};
use nomoat_gguf::GgufFile;
use nomoat_grammar::{GrammarError, Grammars, OutputSpec};
use nomoat_tokenizer::Tokenizer;
use serde_json::{json, Value};

struct Env {
    tok: Tokenizer,
    grammars: Grammars,
}

fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| {
        let file = GgufFile::open(nomoat_testkit::default_model()).expect("open default model");
        let tok = Tokenizer::from_gguf(file.gguf()).expect("tokenizer");
        let grammars = Grammars::new(&tok).expect("grammars");
        Env { tok, grammars }
    })
}

/// xorshift: reproducible fake logits.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
    }
}

/// Generates under `spec` with random logits (temperature 1, seeded), at most `max` tokens.
/// Returns the text and whether the grammar said it was complete.
fn generate(spec: &OutputSpec, seed: u64, max: usize) -> (String, bool) {
    let e = env();
    let compiled = e.grammars.compile(spec).expect("compile");
    let mut c = compiled.constraint().0;
    let n = e.tok.n_vocab();
    let mut sampler = SamplerChain::new(
        SamplingParams {
            temp: 1.0,
            seed,
            ..Default::default()
        },
        n,
    );
    let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut logits = vec![0f32; n];
    let mut ids = Vec::new();
    for _ in 0..max {
        for l in logits.iter_mut() {
            *l = rng.next();
        }
        c.mask(&mut logits).expect("mask");
        let id = sampler.sample(&logits);
        assert!(logits[id as usize].is_finite(), "sampled a masked token");
        sampler.accept(id);
        let done = c.accept(id).expect("accept");
        if e.tok.is_eog(id) {
            return (e.tok.decode(&ids), true);
        }
        ids.push(id);
        if done {
            return (e.tok.decode(&ids), true);
        }
    }
    (e.tok.decode(&ids), false)
}

#[test]
fn any_json_object_parses() {
    for seed in 1..=6 {
        let (text, done) = generate(&OutputSpec::JsonObject, seed, 400);
        if done {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}: {text:?}"));
            assert!(v.is_object(), "{text}");
        } else {
            // Random logits may wander; what came out must still be a prefix of an object.
            assert!(text.trim_start().starts_with('{'), "{text}");
        }
    }
}

#[test]
fn a_schema_with_enums_bounds_and_required_fields_is_always_met() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
            "color": {"enum": ["red", "green", "blue"]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
        },
        "required": ["name", "age", "color"],
        "additionalProperties": false,
    });
    let spec = OutputSpec::JsonSchema(schema);
    let mut complete = 0;
    for seed in 1..=12 {
        let (text, done) = generate(&spec, seed, 300);
        if !done {
            continue;
        }
        complete += 1;
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}: {text:?}"));
        let o = v.as_object().expect("object");
        assert!(o
            .keys()
            .all(|k| ["name", "age", "color", "tags"].contains(&k.as_str())));
        assert!(o["name"].as_str().unwrap().chars().count() <= 12, "{text}");
        let age = o["age"].as_i64().expect("integer age");
        assert!((0..=130).contains(&age), "{text}");
        assert!(["red", "green", "blue"].contains(&o["color"].as_str().unwrap()));
        if let Some(t) = o.get("tags") {
            assert!(t.as_array().unwrap().len() <= 3);
        }
    }
    assert!(complete >= 6, "only {complete} of 12 runs completed");
}

#[test]
fn a_regex_is_followed_and_ends_the_output() {
    let spec = OutputSpec::Regex(r"(yes|no), [0-9]{3}".into());
    for seed in 1..=8 {
        let (text, done) = generate(&spec, seed, 40);
        assert!(done, "seed {seed}: {text:?}");
        let ok = (text.starts_with("yes, ") || text.starts_with("no, "))
            && text.len() == text.find(", ").unwrap() + 5
            && text[text.len() - 3..].bytes().all(|b| b.is_ascii_digit());
        assert!(ok, "seed {seed}: {text:?}");
    }
}

#[test]
fn a_lark_grammar_with_an_embedded_schema() {
    let g = r#"start: "ANSWER: " obj
obj: %json{"x-guidance": {"whitespace_flexible": false}, "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false}
"#;
    let spec = OutputSpec::Lark(g.into());
    for seed in 1..=4 {
        let (text, done) = generate(&spec, seed, 60);
        assert!(done, "{text:?}");
        let rest = text.strip_prefix("ANSWER: ").expect("prefix");
        let v: Value = serde_json::from_str(rest).expect("json");
        assert!(v["ok"].is_boolean());
    }
}

#[test]
fn forks_continue_independently() {
    let e = env();
    let compiled = e
        .grammars
        .compile(&OutputSpec::Regex("ab|ac".into()))
        .expect("compile");
    let mut a = compiled.constraint().0;
    let a_id = e.tok.encode("a", false, false);
    assert_eq!(a_id.len(), 1);
    a.accept(a_id[0]).expect("a");
    let mut b = a.fork();
    let mut l1 = vec![0f32; e.tok.n_vocab()];
    b.mask(&mut l1).expect("mask");
    let allowed: Vec<usize> = (0..l1.len()).filter(|&i| l1[i].is_finite()).collect();
    let texts: Vec<String> = allowed.iter().map(|&i| e.tok.decode(&[i as u32])).collect();
    assert!(texts.iter().all(|t| t == "b" || t == "c"), "{texts:?}");
}

#[test]
fn bad_specs_are_clear_errors() {
    let e = env();
    let err = |spec: OutputSpec| match e.grammars.compile(&spec) {
        Err(GrammarError::Invalid(m)) => m,
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(_) => panic!("compiled: {spec:?}"),
    };
    let m = err(OutputSpec::Regex("(unclosed".into()));
    assert!(!m.is_empty());
    let m = err(OutputSpec::Lark("start: undefined_rule\n".into()));
    assert!(m.contains("undefined_rule"), "{m}");
    let m = err(OutputSpec::JsonSchema(
        json!({"type": "object", "$ref": "#/$defs/missing"}),
    ));
    assert!(m.contains("missing") || m.contains("ref"), "{m}");
    let huge = "a".repeat(nomoat_grammar::MAX_SPEC_BYTES + 1);
    assert!(matches!(
        e.grammars.compile(&OutputSpec::Regex(huge)),
        Err(GrammarError::TooLarge { .. })
    ));
}

/// How many tokens `mask` leaves allowed.
fn allowed(c: &mut Box<dyn nomoat_engine::sample::Constraint>, n: usize) -> usize {
    let mut logits = vec![0f32; n];
    c.mask(&mut logits).expect("mask");
    logits.iter().filter(|l| l.is_finite()).count()
}

#[test]
fn a_lazy_grammar_starts_at_its_trigger_and_not_in_a_code_fence() {
    use nomoat_grammar::Trigger;
    let e = env();
    let n = e.tok.n_vocab();
    let lark = "start: \"<call>\" /[a-z]{1,8}/ \"</call>\"\n".to_owned();
    let compiled = e
        .grammars
        .compile(&OutputSpec::Lark(lark))
        .expect("compile");
    let triggers = [Trigger {
        text: "<call>".into(),
        at_start: false,
    }];

    // Free text, then the trigger split over tokens: constrained from there on.
    let mut c = compiled.lazy_constraint(&triggers).0;
    for id in e.tok.encode("Sure, calling now: <ca", false, false) {
        assert_eq!(allowed(&mut c, n), n, "free before the trigger");
        assert!(!c.accept(id).unwrap());
    }
    for id in e.tok.encode("ll>", false, false) {
        c.accept(id).unwrap();
    }
    let free = allowed(&mut c, n);
    assert!(
        free < n / 4,
        "the grammar holds after the trigger ({free} of {n} allowed)"
    );
    let mut logits = vec![0f32; n];
    c.mask(&mut logits).unwrap();
    let upper = e.tok.encode("Sure", false, false)[0];
    assert!(
        logits[upper as usize].is_infinite(),
        "text outside the grammar is masked"
    );
    let mut done = false;
    for id in e.tok.encode("abc</call>", false, false) {
        let mut logits = vec![0f32; n];
        c.mask(&mut logits).unwrap();
        assert!(
            logits[id as usize].is_finite(),
            "token {id} of the call is allowed"
        );
        done = c.accept(id).unwrap();
    }
    assert!(done, "the grammar ends with the call");

    // Inside a fence the trigger is an example, not a call.
    let mut c = compiled.lazy_constraint(&triggers).0;
    for id in e.tok.encode("```\n<call>x", false, false) {
        c.accept(id).unwrap();
    }
    assert_eq!(allowed(&mut c, n), n, "no grammar inside a code fence");

    // `at_start`: only as the reply's first non-blank text.
    let start = [Trigger {
        text: "<call>".into(),
        at_start: true,
    }];
    let mut c = compiled.lazy_constraint(&start).0;
    for id in e.tok.encode("ok <call>", false, false) {
        c.accept(id).unwrap();
    }
    assert_eq!(allowed(&mut c, n), n);
    let mut c = compiled.lazy_constraint(&start).0;
    for id in e.tok.encode("\n <call>", false, false) {
        c.accept(id).unwrap();
    }
    assert!(allowed(&mut c, n) < n / 4);
}
