//! Write a seed corpus for `gguf_parse` from the GGUF writer: a few well-formed files of every
//! value type and several tensor types. Usage: `cargo run --bin seed_corpus -- corpus/gguf_parse`.

use nomoat_gguf::{GgmlType, GgufWriter, Value};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corpus/gguf_parse".into());
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();

    for version in [2u32, 3] {
        let mut w = GgufWriter::new(version);
        w.add_kv("general.architecture", "llama")
            .add_kv("general.name", "seed")
            .add_kv("llama.block_count", 2u32)
            .add_kv("llama.rope.freq_base", 10000.0f32)
            .add_kv("a.u8", 1u8)
            .add_kv("a.i8", -1i8)
            .add_kv("a.u16", 2u16)
            .add_kv("a.i16", -2i16)
            .add_kv("a.i32", -3i32)
            .add_kv("a.u64", 4u64)
            .add_kv("a.i64", -4i64)
            .add_kv("a.f64", 0.5f64)
            .add_kv("a.bool", true)
            .add_kv("tokenizer.ggml.tokens", vec!["<s>", "</s>", "a", "b"])
            .add_kv("tokenizer.ggml.scores", vec![0.0f32, 0.0, -1.0, -2.0])
            .add_kv("tokenizer.ggml.token_type", vec![3i32, 3, 1, 1])
            .add_kv(
                "nested",
                Value::Array(vec![Value::from(vec![1u32, 2]), Value::from(vec![3u32])]),
            );
        w.add_tensor_f32("norm", &[8], &[1.0; 8]).expect("f32");
        w.add_tensor("q8", GgmlType::Q8_0, &[32, 2], &[1u8; 68])
            .expect("q8_0");
        w.add_tensor("q4k", GgmlType::Q4_K, &[256], &[2u8; 144])
            .expect("q4_K");
        files.push((format!("model-v{version}.gguf"), w.to_bytes()));
    }

    let mut w = GgufWriter::new(3);
    w.set_alignment(64);
    w.add_kv("general.architecture", "gemma3");
    for (i, ty) in GgmlType::ALL.iter().enumerate() {
        let bytes = vec![0u8; ty.type_size() as usize];
        w.add_tensor(&format!("t{i}"), *ty, &[ty.block_size()], &bytes)
            .expect("one block");
    }
    files.push(("all-types.gguf".into(), w.to_bytes()));

    let mut w = GgufWriter::new(3);
    w.add_kv("only", "metadata");
    files.push(("metadata-only.gguf".into(), w.to_bytes()));

    for (name, bytes) in files {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write seed");
    }
}
