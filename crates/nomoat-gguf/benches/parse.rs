//! Parse speed: metadata of a Gemma-3-sized vocabulary (262,144 tokens, scores, types) built
//! with the writer, and, when it is cached, opening the default model (mmap + full parse).

use criterion::{criterion_group, criterion_main, Criterion};
use nomoat_gguf::{GgmlType, Gguf, GgufFile, GgufWriter, Value};

fn vocab_file() -> Vec<u8> {
    const N: usize = 262_144;
    let tokens: Vec<Value> = (0..N).map(|i| Value::String(format!("▁tok{i}"))).collect();
    let mut w = GgufWriter::new(3);
    w.add_kv("general.architecture", "gemma3")
        .add_kv("tokenizer.ggml.model", "llama")
        .add_kv("tokenizer.ggml.tokens", Value::Array(tokens))
        .add_kv("tokenizer.ggml.scores", vec![-1.5f32; N])
        .add_kv("tokenizer.ggml.token_type", vec![1i32; N]);
    for i in 0..236 {
        w.add_tensor(&format!("blk.{i}.w"), GgmlType::Q8_0, &[32], &[0u8; 34])
            .expect("tensor");
    }
    w.to_bytes()
}

fn bench(c: &mut Criterion) {
    let bytes = vocab_file();
    c.bench_function("parse 262k-token vocabulary + 236 tensor infos", |b| {
        b.iter(|| Gguf::parse(std::hint::black_box(&bytes)).expect("parse"))
    });
    let model = std::env::var_os("NOMOAT_TEST_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/nomoat/models/gemma3-270m.gguf")
        });
    if model.exists() {
        c.bench_function("open default model (mmap + parse)", |b| {
            b.iter(|| GgufFile::open(&model).expect("open"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
