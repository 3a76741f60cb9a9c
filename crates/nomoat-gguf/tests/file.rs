//! `GgufFile` on real files: the synthetic tiny model, the default model, and a small file,
//! checking zero-copy views against the bytes read from disk and their alignment in memory.

use nomoat_gguf::{GgmlType, GgufFile, GgufWriter, OpenOptions};

#[test]
fn small_file_is_mapped_and_tensor_data_is_aligned() {
    let mut w = GgufWriter::new(3);
    w.add_kv("general.architecture", "llama");
    w.add_tensor_f32("a", &[3], &[1.0, 2.0, 3.0]).unwrap();
    w.add_tensor_f32("b", &[5], &[4.0; 5]).unwrap();
    let path =
        nomoat_testkit::testdata_dir().join(format!("gguf-small-{}.gguf", std::process::id()));
    w.write_to(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert!(f.file_len() < 4096);
    for t in f.gguf().tensors() {
        let data = f.tensor_data(t);
        assert_eq!(
            data.as_ptr() as usize % 32,
            0,
            "{} is not 32-byte aligned",
            t.name
        );
        assert_eq!(data.len() as u64, t.n_bytes);
    }
    let (_, b) = f.tensor_by_name("b").unwrap();
    assert_eq!(&b[16..20], &4.0f32.to_le_bytes());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn tiny_llama_views_match_the_file_bytes() {
    let path = nomoat_testkit::synthetic_spec(nomoat_testkit::synthetic::TINY_LLAMA);
    let f = GgufFile::open(&path).unwrap();
    let disk = std::fs::read(&path).unwrap();
    let g = f.gguf();
    assert_eq!(g.architecture().unwrap(), "llama");
    assert_eq!(g.get_u32("llama.block_count").unwrap(), 2);
    assert_eq!(g.get_str_array("tokenizer.ggml.tokens").unwrap().len(), 512);
    let embd = g.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (embd.row_len(), embd.n_rows(), embd.ty),
        (64, 512, GgmlType::F32)
    );
    let mut covered = 0u64;
    for t in g.tensors() {
        let r = g.tensor_range(t);
        assert_eq!(
            f.tensor_data(t),
            &disk[r.start as usize..r.end as usize],
            "{}",
            t.name
        );
        covered += t.n_bytes;
    }
    // Every data byte belongs to a tensor or to alignment padding.
    assert!(g.data_offset + covered <= f.file_len());
    assert!(f.file_len() - g.data_offset - covered < 32 * g.tensors().len() as u64);
}

#[test]
fn default_model_opens_with_every_option() {
    let path = nomoat_testkit::gemma3_270m();
    let f = GgufFile::open_with(
        &path,
        &OpenOptions {
            populate: false,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    f.advise_random().unwrap();
    f.advise_willneed().unwrap();
    #[cfg(target_os = "linux")]
    let _ = f.advise_hugepage();
    let g = f.gguf();
    assert_eq!(g.architecture().unwrap(), "gemma3");
    assert_eq!(g.tensors().len(), 236);
    assert_eq!(g.get_u32("gemma3.block_count").unwrap(), 18);
    assert_eq!(
        g.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        262_144
    );
    assert_eq!(
        g.get_f32_array("tokenizer.ggml.scores").unwrap().len(),
        262_144
    );
    assert_eq!(g.get_i32_array("tokenizer.ggml.token_type").unwrap()[5], 4);
    assert_eq!(g.opt_str("tokenizer.chat_template").unwrap(), None);
    let embd = g.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.ty, GgmlType::Q8_0);
    assert_eq!(f.tensor_data(embd).len(), 178_257_920);
    let f = std::sync::Arc::new(f);
    let t = std::thread::spawn({
        let f = f.clone();
        move || f.gguf().tensors().len()
    });
    assert_eq!(t.join().unwrap(), 236);
}
