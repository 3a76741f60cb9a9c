//! `nomoat show` end to end: the built binary on the default model, a tiny synthetic model,
//! a model nomoat cannot run, and malformed files. Facts are checked against the reference
//! metadata dump made with llama.cpp's gguf-py (`../shared/reference/gemma3-270m-metadata.txt`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nomoat_gguf::{GgmlType, GgufWriter};
use serde_json::Value as J;

fn nomoat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomoat"))
        .args(args)
        .output()
        .expect("run nomoat")
}

fn show_json(model: &Path) -> (J, Output) {
    let out = nomoat(&["show", "--json", "--tensors", model.to_str().unwrap()]);
    let j: J = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (j, out)
}

fn scratch(name: &str) -> PathBuf {
    nomoat_testkit::testdata_dir().join(format!("show-test-{}-{name}", std::process::id()))
}

/// One tensor row of the reference dump: `name [dims] TYPE n_elements n_bytes`.
struct DumpTensor {
    name: String,
    dims: Vec<u64>,
    ty: String,
    n_elements: u64,
    n_bytes: u64,
}

fn reference_tensors() -> Vec<DumpTensor> {
    let text =
        std::fs::read_to_string(nomoat_testkit::reference("gemma3-270m-metadata.txt")).unwrap();
    let section = text.split("## Tensors").nth(1).expect("tensor section");
    section
        .lines()
        .filter(|l| l.contains('\t'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            DumpTensor {
                name: f[0].to_string(),
                dims: f[1]
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .map(|d| d.parse().unwrap())
                    .collect(),
                ty: f[2].to_string(),
                n_elements: f[3].parse().unwrap(),
                n_bytes: f[4].parse().unwrap(),
            }
        })
        .collect()
}

fn reference_kv(key: &str) -> String {
    let text =
        std::fs::read_to_string(nomoat_testkit::reference("gemma3-270m-metadata.txt")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} [")))
        .unwrap_or_else(|| panic!("{key} not in the dump"));
    line.split(" = ")
        .nth(1)
        .unwrap()
        .trim_matches('\'')
        .to_string()
}

#[test]
fn default_model_json_matches_the_reference_dump() {
    let model = nomoat_testkit::gemma3_270m();
    let (j, out) = show_json(&model);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(j["architecture"], "gemma3");
    assert_eq!(j["name"], reference_kv("general.name"));
    assert_eq!(j["license"], "gemma");
    assert_eq!(j["gguf_version"], 3);
    assert_eq!(j["file_size"], std::fs::metadata(&model).unwrap().len());
    assert_eq!(j["file_type"]["id"], 15);
    assert_eq!(j["file_type"]["name"], "Q4_K - Medium");
    let h = &j["hparams"];
    for (field, key) in [
        ("context_length", "gemma3.context_length"),
        ("block_count", "gemma3.block_count"),
        ("embedding_length", "gemma3.embedding_length"),
        ("feed_forward_length", "gemma3.feed_forward_length"),
        ("head_count", "gemma3.attention.head_count"),
        ("head_count_kv", "gemma3.attention.head_count_kv"),
        ("head_dim_k", "gemma3.attention.key_length"),
        ("head_dim_v", "gemma3.attention.value_length"),
        ("sliding_window", "gemma3.attention.sliding_window"),
    ] {
        assert_eq!(h[field].to_string(), reference_kv(key), "{field}");
    }
    assert_eq!(h["block_count"], 18);
    assert_eq!(h["embedding_length"], 640);
    assert_eq!(h["rope_freq_base"].as_f64(), Some(1e6));
    assert_eq!(h["rms_eps"].as_f64(), Some(1e-6));

    let t = &j["tokenizer"];
    assert_eq!(t["model"], "llama");
    assert_eq!(t["pre"], "default");
    assert_eq!(t["vocab_size"], 262144);
    assert_eq!(
        t["chat_template_bytes"],
        J::Null,
        "the file has no chat template"
    );
    let special: BTreeMap<String, (i64, String)> = t["special"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let text = s["text"].as_str().unwrap_or("").to_string();
            (
                s["role"].as_str().unwrap().to_string(),
                (s["id"].as_i64().unwrap(), text),
            )
        })
        .collect();
    assert_eq!(special["bos"], (2, "<bos>".to_string()));
    assert_eq!(special["eos"], (1, "<eos>".to_string()));
    assert_eq!(special["unk"], (3, "<unk>".to_string()));
    assert_eq!(special["pad"], (0, "<pad>".to_string()));

    // Tensors, per-type histogram and parameter count against the dump.
    let dump = reference_tensors();
    assert_eq!(j["tensor_count"], dump.len() as u64);
    let params: u64 = dump.iter().map(|d| d.n_elements).sum();
    assert_eq!(j["parameters"], params);
    let mut hist: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in &dump {
        let e = hist.entry(d.ty.to_lowercase()).or_default();
        e.0 += 1;
        e.1 += d.n_bytes;
    }
    let rows = j["tensor_types"].as_array().unwrap();
    assert_eq!(rows.len(), hist.len());
    for r in rows {
        let ty = r["type"].as_str().unwrap().to_lowercase();
        assert_eq!(
            (r["count"].as_u64().unwrap(), r["bytes"].as_u64().unwrap()),
            hist[&ty],
            "{ty}"
        );
    }
    let tensors = j["tensors"].as_array().unwrap();
    for d in &dump {
        let t = tensors
            .iter()
            .find(|t| t["name"] == d.name.as_str())
            .unwrap();
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(shape, d.dims, "{}", d.name);
        assert_eq!(
            t["type"].as_str().unwrap().to_lowercase(),
            d.ty.to_lowercase()
        );
        assert_eq!(
            t["end"].as_u64().unwrap() - t["start"].as_u64().unwrap(),
            d.n_bytes
        );
        assert!(t["end"].as_u64().unwrap() <= j["file_size"].as_u64().unwrap());
    }
    let embd = tensors
        .iter()
        .find(|t| t["name"] == "token_embd.weight")
        .unwrap();
    assert_eq!(embd["type"], GgmlType::Q8_0.name());
    assert_eq!(j["validation"]["ok"], true);
    // llama.cpp's built-in gemma3 pattern: every 6th layer is global, the rest use the window;
    // the LM head is token_embd (no output.weight in the dump).
    let rt = &j["validation"]["runtime"];
    let swa: Vec<u64> = rt["sliding_window_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..18).filter(|i| i % 6 != 5).collect();
    assert_eq!(swa, expected);
    assert_eq!(rt["rope_freq_base_swa"].as_f64(), Some(10000.0));
    assert_eq!(
        rt["tied_output"],
        !dump.iter().any(|d| d.name == "output.weight")
    );
}

#[test]
fn default_model_text_report() {
    let model = nomoat_testkit::gemma3_270m();
    let out = nomoat(&["show", model.to_str().unwrap()]);
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "gemma3",
        "Gemma 3 270m",
        "268.1 M",
        "Q4_K - Medium (15)",
        "262144",
        "bos token",
        "\"<bos>\"",
        "chat template         absent",
        "q8_0",
        "q6_K",
        "validation: ok",
        "sliding-window layers 0-4, 6-10, 12-16",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in:\n{s}");
    }
    assert!(
        !s.contains("[640, 262144]"),
        "tensors are listed only with --tensors"
    );
    let out = nomoat(&["show", "--tensors", model.to_str().unwrap()]);
    let s = String::from_utf8(out.stdout).unwrap();
    let line = s.lines().find(|l| l.contains("token_embd.weight")).unwrap();
    assert!(
        line.contains("[640, 262144]") && line.contains("q8_0"),
        "{line}"
    );
}

#[test]
fn tiny_llama_model() {
    let model = nomoat_testkit::synthetic_spec(nomoat_testkit::synthetic::TINY_LLAMA);
    let (j, out) = show_json(&model);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(j["architecture"], "llama");
    let h = &j["hparams"];
    assert_eq!(
        (
            &h["block_count"],
            &h["embedding_length"],
            &h["head_count"],
            &h["head_count_kv"]
        ),
        (&J::from(2), &J::from(64), &J::from(4), &J::from(2))
    );
    assert_eq!(h["feed_forward_length"], 192);
    assert_eq!(
        h["head_dim_k"], 16,
        "64 / 4 heads without an explicit key_length"
    );
    assert_eq!(j["tokenizer"]["vocab_size"], 512);
    assert_eq!(j["tensor_types"][0]["type"], "f32");
    assert_eq!(j["validation"]["ok"], true);
}

#[test]
fn a_file_nomoat_cannot_run_prints_facts_and_errors_and_exits_1() {
    let mut w = GgufWriter::new(3);
    w.add_kv("general.architecture", "mamba")
        .add_kv("general.name", "not runnable\u{1b}[2J\r")
        .add_kv("mamba.block_count", 3u32)
        .add_kv("mamba.ssm.state_size", 16u32);
    w.add_tensor_f32("output_norm.weight", &[8], &[1.0; 8])
        .unwrap();
    let path = scratch("mamba.gguf");
    w.write_to(&path).unwrap();

    let out = nomoat(&["show", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("mamba") && s.contains("not runnable"), "{s}");
    assert!(
        s.contains("mamba.ssm.state_size"),
        "other <arch> keys are shown: {s}"
    );
    assert!(s.contains("validation: "), "{s}");
    assert!(
        !s.contains('\u{1b}') && !s.contains('\r'),
        "control characters from the file are escaped: {s:?}"
    );
    assert!(s.to_lowercase().contains("architecture `mamba`"), "{s}");

    let (j, out) = show_json(&path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(j["validation"]["ok"], false);
    assert!(!j["validation"]["errors"].as_array().unwrap().is_empty());
    assert_eq!(j["hparams"]["block_count"], 3);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn malformed_files_exit_1_with_a_clear_message() {
    let mut w = GgufWriter::new(3);
    w.add_kv("general.architecture", "llama");
    w.add_tensor_f32("a", &[64], &[0.0; 64]).unwrap();
    let bytes = w.to_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.gguf", Vec::new(), "not a GGUF file"),
        (
            "cut.gguf",
            bytes[..bytes.len() - 8].to_vec(),
            "outside the file",
        ),
        ("header.gguf", bytes[..20].to_vec(), "truncated"),
        (
            "v1.gguf",
            {
                let mut b = bytes.clone();
                b[4] = 1;
                b
            },
            "unsupported GGUF version 1",
        ),
    ];
    for (name, b, needle) in cases {
        let path = scratch(name);
        std::fs::write(&path, &b).unwrap();
        let out = nomoat(&["show", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(needle), "{name}: {err}");
        assert!(
            err.contains(path.to_str().unwrap()),
            "{name} names the file: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
    let out = nomoat(&["show", "/no/such/model.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/model.gguf"));
}

#[test]
fn vocabulary_only_file_shows_the_tokenizer_and_a_short_error_list() {
    let path = nomoat_testkit::reference("vocab/ggml-vocab-llama-spm.gguf");
    let out = nomoat(&["show", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no tensors: nomoat cannot run it"
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("(no tensors: a vocabulary-only file)"), "{s}");
    assert!(s.contains("vocab size            32000"), "{s}");
    let listed = s.lines().filter(|l| l.starts_with("  - ")).count();
    let (j, _) = show_json(&path);
    let all = j["validation"]["errors"].as_array().unwrap().len();
    assert_eq!(j["tokenizer"]["vocab_size"], 32000);
    assert!(all > 20, "{all}");
    assert_eq!(listed, 20);
    assert!(s.contains(&format!("… and {} more", all - 20)), "{s}");
}
