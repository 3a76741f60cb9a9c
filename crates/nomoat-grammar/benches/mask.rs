//! Per-token cost of constrained decoding: computing the mask, applying it to the logits and
//! advancing on the token, for a JSON-schema reply on the default chat model's vocabulary
//! (SmolLM2, 49k tokens) and on Gemma 3's (262k). Compare with the decode time per token of the
//! same model (`nomoat bench`) for the share of decode time it costs.
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use nomoat_gguf::GgufFile;
use nomoat_grammar::{Grammars, OutputSpec};
use nomoat_tokenizer::Tokenizer;
use serde_json::json;

fn bench(c: &mut Criterion) {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"enum": ["admin", "user", "guest"]}, "maxItems": 3},
            "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                        "required": ["city", "zip"], "additionalProperties": false}
        },
        "required": ["name", "age", "email", "tags", "address"],
        "additionalProperties": false
    });
    let reply = r#"{"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["admin","user"],"address":{"city":"London","zip":"10115"}}"#;
    for (label, path) in [
        ("smollm2-49k", nomoat_testkit::smollm2_135m_instruct()),
        ("gemma3-262k", nomoat_testkit::gemma3_270m()),
    ] {
        let file = GgufFile::open(&path).expect("model");
        let tok = Tokenizer::from_gguf(file.gguf()).expect("tokenizer");
        let grammars = Grammars::new(&tok).expect("grammars");
        let compiled = grammars
            .compile(&OutputSpec::JsonSchema(schema.clone()))
            .expect("compile");
        let ids = tok.encode(reply, false, false);
        let n = tok.n_vocab();
        let mut logits = vec![0f32; n];
        c.bench_function(
            &format!("mask+accept per token, {label} ({} tokens)", ids.len()),
            |b| {
                b.iter_batched(
                    || compiled.constraint().0,
                    |mut g| {
                        for &id in &ids {
                            g.mask(&mut logits).expect("mask");
                            g.accept(id).expect("accept");
                        }
                    },
                    BatchSize::SmallInput,
                )
            },
        );
        c.bench_function(&format!("compile the schema, {label}"), |b| {
            b.iter(|| {
                grammars
                    .compile(&OutputSpec::JsonSchema(schema.clone()))
                    .expect("compile")
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
