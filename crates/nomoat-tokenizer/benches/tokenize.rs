//! Tokenizer throughput on the licence corpus (191 KB of English legal text): the default model's
//! SPM vocabulary (Gemma 3, 262k tokens) and the Llama 3 byte-level BPE vocabulary; also the
//! time to build a tokenizer from a parsed GGUF file and to decode.
//!
//! `cargo bench -p nomoat-tokenizer --bench tokenize` (throughput is reported in bytes/s).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nomoat_gguf::GgufFile;
use nomoat_tokenizer::Tokenizer;

fn bench(c: &mut Criterion) {
    let corpus = std::fs::read_to_string(nomoat_testkit::reference("corpus-licenses.txt"))
        .expect("read corpus");
    let models = [
        ("gemma3-spm", nomoat_testkit::gemma3_270m()),
        (
            "llama3-bpe",
            nomoat_testkit::reference("vocab").join("ggml-vocab-llama-bpe.gguf"),
        ),
    ];
    for (name, path) in models {
        let file = GgufFile::open(&path).expect("open vocabulary");
        let tok = Tokenizer::from_gguf(file.gguf()).expect("tokenizer");
        let ids = tok.encode(&corpus, true, true);
        eprintln!("{name}: {} bytes -> {} tokens", corpus.len(), ids.len());

        let mut g = c.benchmark_group(format!("tokenize/{name}"));
        g.sample_size(20);
        g.throughput(Throughput::Bytes(corpus.len() as u64));
        g.bench_function("encode corpus", |b| {
            b.iter(|| black_box(tok.encode(black_box(&corpus), true, true)))
        });
        g.bench_function("decode corpus", |b| {
            b.iter(|| black_box(tok.decode(black_box(&ids))))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("load/{name}"));
        g.sample_size(10);
        g.bench_function("from_gguf", |b| {
            b.iter(|| black_box(Tokenizer::from_gguf(file.gguf()).expect("tokenizer")))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
