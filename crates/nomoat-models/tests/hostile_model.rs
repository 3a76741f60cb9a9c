//! Model-level hostile inputs: files that parse as GGUF but cannot be run. Each variant of a valid
//! tiny llama file (built with `GgufWriter`) must give its specific `ModelError` from `validate`,
//! never a panic or an allocation sized from the bad value.

use std::sync::Arc;

use nomoat_gguf::{GgmlType, GgufFile, GgufWriter, Value};
use nomoat_models::{validate, LoadOptions, Model, ModelError};

const EMBD: u64 = 32;
const FF: u64 = 64;
const VOCAB: usize = 64;

/// A valid one-layer llama model as a list of keys and tensors, to be mutated by each test.
struct Spec {
    kv: Vec<(String, Value)>,
    tensors: Vec<(String, GgmlType, Vec<u64>)>,
}

impl Spec {
    fn base() -> Spec {
        let u = |k: &str, v: u32| (format!("llama.{k}"), Value::U32(v));
        let tokens: Vec<Value> = (0..VOCAB).map(|i| Value::String(format!("t{i}"))).collect();
        let kv = vec![
            (
                "general.architecture".to_owned(),
                Value::String("llama".into()),
            ),
            u("context_length", 256),
            u("embedding_length", EMBD as u32),
            u("block_count", 1),
            u("feed_forward_length", FF as u32),
            u("attention.head_count", 4),
            u("attention.head_count_kv", 2),
            (
                "llama.attention.layer_norm_rms_epsilon".into(),
                Value::F32(1e-5),
            ),
            ("llama.rope.freq_base".into(), Value::F32(10000.0)),
            ("tokenizer.ggml.model".into(), Value::String("llama".into())),
            ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
            (
                "tokenizer.ggml.scores".into(),
                Value::Array(vec![Value::F32(0.0); VOCAB]),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(vec![Value::I32(1); VOCAB]),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ];
        let f = GgmlType::F32;
        let (e, ff, v, kvd) = (EMBD, FF, VOCAB as u64, EMBD / 2);
        let mut tensors = vec![
            ("token_embd.weight".to_owned(), f, vec![e, v]),
            ("output_norm.weight".into(), f, vec![e]),
            ("output.weight".into(), f, vec![e, v]),
        ];
        for (n, d) in [
            ("attn_norm.weight", vec![e]),
            ("attn_q.weight", vec![e, e]),
            ("attn_k.weight", vec![e, kvd]),
            ("attn_v.weight", vec![e, kvd]),
            ("attn_output.weight", vec![e, e]),
            ("ffn_norm.weight", vec![e]),
            ("ffn_gate.weight", vec![e, ff]),
            ("ffn_up.weight", vec![e, ff]),
            ("ffn_down.weight", vec![ff, e]),
        ] {
            tensors.push((format!("blk.0.{n}"), f, d));
        }
        Spec { kv, tensors }
    }

    fn set(mut self, key: &str, v: Value) -> Spec {
        match self.kv.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.kv.push((key.to_owned(), v)),
        }
        self
    }

    fn remove(mut self, key: &str) -> Spec {
        self.kv.retain(|(k, _)| k != key);
        self
    }

    fn tensor(mut self, name: &str, ty: GgmlType, dims: &[u64]) -> Spec {
        match self.tensors.iter_mut().find(|(n, ..)| n == name) {
            Some(t) => *t = (name.to_owned(), ty, dims.to_vec()),
            None => self.tensors.push((name.to_owned(), ty, dims.to_vec())),
        }
        self
    }

    fn drop_tensor(mut self, name: &str) -> Spec {
        self.tensors.retain(|(n, ..)| n != name);
        self
    }

    fn file(&self, tag: &str) -> GgufFile {
        let mut w = GgufWriter::new(3);
        for (k, v) in &self.kv {
            w.add_kv(k, v.clone());
        }
        for (name, ty, dims) in &self.tensors {
            let n: u64 = dims[1..].iter().product::<u64>();
            let bytes = ty.row_bytes(dims[0]).unwrap() * n;
            // Small deterministic values (F32 data); other types get zero bytes.
            let data: Vec<u8> = if *ty == GgmlType::F32 {
                (0..bytes / 4)
                    .flat_map(|i| (((i * 37 % 17) as f32 - 8.0) / 64.0).to_le_bytes())
                    .collect()
            } else {
                vec![0; bytes as usize]
            };
            w.add_tensor(name, *ty, dims, &data).unwrap();
        }
        let path = nomoat_testkit::testdata_dir().join(format!("hostile-model-{tag}.gguf"));
        std::fs::write(&path, w.to_bytes()).unwrap();
        GgufFile::open(&path).unwrap()
    }

    fn errors(&self, tag: &str) -> Vec<ModelError> {
        match validate(&self.file(tag)) {
            Ok(cfg) => panic!("{tag}: expected errors, got a valid config {cfg:?}"),
            Err(e) => e,
        }
    }
}

fn has(errs: &[ModelError], pred: impl Fn(&ModelError) -> bool) -> bool {
    errs.iter().any(pred)
}

#[test]
fn base_model_is_valid_and_runs() {
    let f = Arc::new(Spec::base().file("base"));
    let cfg = validate(&f).expect("valid");
    assert_eq!(
        (cfg.n_embd, cfg.n_head, cfg.n_head_kv, cfg.head_dim_k),
        (32, 4, 2, 8)
    );
    assert_eq!(
        (cfg.n_vocab, cfg.special.bos, cfg.tied_output),
        (VOCAB, Some(1), false)
    );
    let model = Model::load(f, LoadOptions::default()).unwrap();
    let mut kv = model
        .new_kv_cache(16, 8, nomoat_models::KvDtype::F16)
        .unwrap();
    let s = kv.alloc_seq();
    let mut batch = nomoat_models::Batch::new();
    batch.push(1, 0, s, true);
    batch.push(5, 1, s, true);
    let mut scratch = model.new_scratch(4);
    let mut logits = vec![];
    model
        .forward(&batch, &mut kv, &mut scratch, &mut logits)
        .unwrap();
    assert_eq!(logits.len(), 2 * VOCAB);
    assert!(logits.iter().all(|v| v.is_finite()));
}

#[test]
fn unknown_architecture() {
    let e = Spec::base()
        .set("general.architecture", Value::String("gpt9".into()))
        .errors("arch");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::UnknownArchitecture { arch, .. } if arch == "gpt9")
        ),
        "{e:?}"
    );
}

#[test]
fn missing_hyperparameter() {
    let e = Spec::base()
        .remove("llama.embedding_length")
        .errors("missing-embd");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::MissingKey { key } if key == "llama.embedding_length")
        ),
        "{e:?}"
    );
}

#[test]
fn zero_block_count() {
    let e = Spec::base()
        .set("llama.block_count", Value::U32(0))
        .errors("zero-layers");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key, .. } if key == "llama.block_count")
        ),
        "{e:?}"
    );
}

#[test]
fn nan_norm_epsilon() {
    let key = "llama.attention.layer_norm_rms_epsilon";
    let e = Spec::base()
        .set(key, Value::F32(f32::NAN))
        .errors("nan-eps");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key: k, .. } if k == key)
        ),
        "{e:?}"
    );
}

#[test]
fn infinite_rope_base() {
    let key = "llama.rope.freq_base";
    let e = Spec::base()
        .set(key, Value::F32(f32::INFINITY))
        .errors("inf-rope");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key: k, .. } if k == key)
        ),
        "{e:?}"
    );
}

#[test]
fn huge_context_length_is_refused_before_allocation() {
    let e = Spec::base()
        .set("llama.context_length", Value::U64(1 << 40))
        .errors("huge-ctx");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key, .. } if key == "llama.context_length")
        ),
        "{e:?}"
    );
}

#[test]
fn huge_embedding_length() {
    let e = Spec::base()
        .set("llama.embedding_length", Value::U32(u32::MAX))
        .errors("huge-embd");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key, .. } if key == "llama.embedding_length")
        ),
        "{e:?}"
    );
}

#[test]
fn heads_not_divisible_by_kv_heads() {
    let e = Spec::base()
        .set("llama.attention.head_count_kv", Value::U32(3))
        .errors("gqa");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::Inconsistent(m) if m.contains("head_count_kv"))
        ),
        "{e:?}"
    );
}

#[test]
fn embedding_not_divisible_by_heads() {
    let e = Spec::base()
        .set("llama.attention.head_count", Value::U32(5))
        .set("llama.attention.head_count_kv", Value::U32(5))
        .errors("embd-heads");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::Inconsistent(m) if m.contains("not divisible"))
        ),
        "{e:?}"
    );
}

#[test]
fn zero_key_length() {
    let e = Spec::base()
        .set("llama.attention.key_length", Value::U32(0))
        .errors("zero-hd");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key, .. } if key == "llama.attention.key_length")
        ),
        "{e:?}"
    );
}

#[test]
fn hyperparameter_of_wrong_type() {
    let e = Spec::base()
        .set("llama.attention.head_count", Value::String("4".into()))
        .errors("type");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::WrongType { key, .. } if key == "llama.attention.head_count")
        ),
        "{e:?}"
    );
}

#[test]
fn special_token_out_of_range() {
    let e = Spec::base()
        .set("tokenizer.ggml.bos_token_id", Value::U32(VOCAB as u32))
        .errors("bos");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::SpecialTokenOutOfRange { key, id, n_vocab }
            if key == "tokenizer.ggml.bos_token_id" && *id == VOCAB as u64 && *n_vocab == VOCAB)
        ),
        "{e:?}"
    );
}

#[test]
fn tokenizer_arrays_of_different_lengths() {
    let e = Spec::base()
        .set(
            "tokenizer.ggml.scores",
            Value::Array(vec![Value::F32(0.0); VOCAB - 1]),
        )
        .set(
            "tokenizer.ggml.token_type",
            Value::Array(vec![Value::I32(1); VOCAB + 5]),
        )
        .errors("arrays");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::TokenizerArrayLength { key, len, expected }
        if key == "tokenizer.ggml.scores" && *len == VOCAB - 1 && *expected == VOCAB)
        ),
        "{e:?}"
    );
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::TokenizerArrayLength { key, len, .. }
        if key == "tokenizer.ggml.token_type" && *len == VOCAB + 5)
        ),
        "{e:?}"
    );
}

#[test]
fn missing_tensor() {
    let e = Spec::base()
        .drop_tensor("blk.0.ffn_up.weight")
        .errors("missing-tensor");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::MissingTensor { name } if name == "blk.0.ffn_up.weight")
        ),
        "{e:?}"
    );
}

#[test]
fn mis_shaped_tensor() {
    let e = Spec::base()
        .tensor("blk.0.attn_q.weight", GgmlType::F32, &[EMBD, EMBD + 8])
        .errors("shape");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::TensorShape { name, expected, found }
        if name == "blk.0.attn_q.weight" && expected == &[EMBD, EMBD] && found == &[EMBD, EMBD + 8])
        ),
        "{e:?}"
    );
}

#[test]
fn embedding_rows_must_match_vocabulary() {
    let e = Spec::base()
        .tensor(
            "token_embd.weight",
            GgmlType::F32,
            &[EMBD, VOCAB as u64 - 1],
        )
        .errors("embd-rows");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::TensorShape { name, .. } if name == "token_embd.weight")
        ),
        "{e:?}"
    );
}

#[test]
fn unsupported_tensor_type() {
    let e = Spec::base()
        .tensor("blk.0.ffn_gate.weight", GgmlType::I32, &[EMBD, FF])
        .errors("type-i32");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::UnsupportedTensorType { name, ty, .. }
        if name == "blk.0.ffn_gate.weight" && *ty == GgmlType::I32)
        ),
        "{e:?}"
    );
}

#[test]
fn norm_weight_must_be_f32() {
    let e = Spec::base()
        .tensor("blk.0.attn_norm.weight", GgmlType::F16, &[EMBD])
        .errors("norm-f16");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::UnsupportedTensorType { name, ty: GgmlType::F16, .. }
        if name == "blk.0.attn_norm.weight")
        ),
        "{e:?}"
    );
}

#[test]
fn unsupported_rope_scaling() {
    let e = Spec::base()
        .set("llama.rope.scaling.type", Value::String("yarn".into()))
        .errors("yarn");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::Unsupported(m) if m.contains("yarn"))
        ),
        "{e:?}"
    );
}

#[test]
fn mixture_of_experts_is_refused() {
    let e = Spec::base()
        .tensor("blk.0.ffn_gate_inp.weight", GgmlType::F32, &[EMBD, 4])
        .errors("moe");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::Unsupported(m) if m.contains("mixture"))
        ),
        "{e:?}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let e = Spec::base()
        .drop_tensor("blk.0.attn_k.weight")
        .drop_tensor("output_norm.weight")
        .set("tokenizer.ggml.eos_token_id", Value::U32(1000))
        .errors("many");
    assert_eq!(e.len(), 3, "{e:?}");
    let load = Model::load(
        Arc::new(Spec::base().drop_tensor("output_norm.weight").file("load")),
        LoadOptions::default(),
    );
    assert!(
        matches!(load, Err(ModelError::MissingTensor { ref name }) if name == "output_norm.weight")
    );
}

// ---- accepted variants: optional keys read the way llama.cpp reads them ----------------------

#[test]
fn rope_scaling_keys() {
    use nomoat_models::RopeScaling;
    let lin = Spec::base()
        .set("llama.rope.scaling.type", Value::String("linear".into()))
        .set("llama.rope.scaling.factor", Value::F32(4.0))
        .file("rope-linear");
    assert_eq!(
        validate(&lin).unwrap().rope.scaling,
        RopeScaling::Linear { factor: 4.0 }
    );
    let l3 = Spec::base()
        .set("llama.rope.scaling.type", Value::String("llama3".into()))
        .set("llama.rope.scaling.factor", Value::F32(8.0))
        .set(
            "llama.rope.scaling.original_context_length",
            Value::U32(8192),
        )
        .file("rope-llama3");
    let cfg = validate(&l3).unwrap();
    assert_eq!(
        cfg.rope.scaling,
        RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_ctx: 8192
        }
    );
    assert!(Model::load(Arc::new(l3), LoadOptions::default()).is_ok());
    // Llama 3.1 files carry the factors as a tensor instead: [n_rot / 2] = [4].
    let f = Spec::base()
        .tensor("rope_freqs.weight", GgmlType::F32, &[4])
        .file("rope-freqs");
    assert!(Model::load(Arc::new(f), LoadOptions::default()).is_ok());
    let e = Spec::base()
        .tensor("rope_freqs.weight", GgmlType::F32, &[5])
        .errors("rope-freqs-bad");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::TensorShape { name, .. } if name == "rope_freqs.weight")
        ),
        "{e:?}"
    );
}

#[test]
fn tied_output_when_output_weight_is_absent() {
    let f = Spec::base().drop_tensor("output.weight").file("tied");
    assert!(validate(&f).unwrap().tied_output);
    assert!(Model::load(Arc::new(f), LoadOptions::default()).is_ok());
}

#[test]
fn explicit_head_dims_and_rope_dims() {
    let e = Spec::base()
        .set("llama.rope.dimension_count", Value::U32(9))
        .errors("odd-rot");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::Inconsistent(m) if m.contains("rope.dimension_count"))
        ),
        "{e:?}"
    );
    let e = Spec::base()
        .set("llama.attention.key_length", Value::U32(4096))
        .errors("big-hd");
    assert!(
        has(
            &e,
            |e| matches!(e, ModelError::BadValue { key, .. } if key == "llama.attention.key_length")
        ),
        "{e:?}"
    );
}
