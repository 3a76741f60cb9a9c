//! Embeddings from a real (tiny, random) model: the hidden states `forward_hidden` returns are
//! the ones the LM head multiplies (hidden · Wᵀ = logits), and `Model::embed` pools exactly
//! those: mean = their mean, last = the last row, cls = the first; chunking, other inputs and
//! repetition do not change the vector (batched inputs are checked at the API level, in
//! nomoat-server's tests/embeddings.rs).

mod common;

use common::load;
use nomoat_gguf::{GgmlType, GgufFile};
use nomoat_models::embed::l2_normalize;
use nomoat_models::{Batch, KvDtype, Model, Pooling};
use nomoat_testkit::{synthetic, synthetic_spec};

fn tokens(n: usize, salt: usize) -> Vec<u32> {
    (0..n)
        .map(|i| (1 + (i * 37 + salt * 11) % 500) as u32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Hidden states (every row) and logits (every row) of `toks` as one sequence.
fn states_and_logits(model: &Model, toks: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let mut out = Vec::new();
    for hidden in [true, false] {
        let mut kv = model.new_kv_cache(64, 16, KvDtype::F16).expect("kv");
        let seq = kv.alloc_seq();
        let mut scratch = model.new_scratch(32);
        let mut b = Batch::new();
        for (i, &t) in toks.iter().enumerate() {
            b.push(t, i as u32, seq, true);
        }
        let mut rows = Vec::new();
        match hidden {
            true => model.forward_hidden(&b, &mut kv, &mut scratch, &mut rows),
            false => model.forward(&b, &mut kv, &mut scratch, &mut rows),
        }
        .expect("forward");
        out.push(rows);
    }
    let logits = out.pop().expect("logits");
    (out.pop().expect("hidden"), logits)
}

/// With the tiny llama's 512 × 64 random head (rank 64), logits determine the hidden state, and
/// those logits are checked against llama.cpp's goldens (`parity.rs`); so this ties the state
/// embeddings pool to llama.cpp's `result_norm` without running llama.cpp.
#[test]
fn hidden_states_are_what_the_lm_head_multiplies() {
    let path = synthetic_spec(synthetic::TINY_LLAMA);
    let model = load(&path);
    let cfg = model.config().clone();
    let toks = tokens(9, 1);
    let (hidden, logits) = states_and_logits(&model, &toks);
    assert_eq!(hidden.len(), toks.len() * cfg.n_embd);
    // The f32 LM head from the file: row v is token v's output vector.
    let file = GgufFile::open(&path).expect("open");
    let name = match file.gguf().tensor("output.weight") {
        Some(_) => "output.weight",
        None => "token_embd.weight",
    };
    let (info, bytes) = file.tensor_by_name(name).expect("head tensor");
    assert_eq!(info.ty, GgmlType::F32, "the tiny model is f32");
    let w: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let e = cfg.n_embd;
    for (r, h) in hidden.chunks_exact(e).enumerate() {
        for v in (0..cfg.n_vocab).step_by(37) {
            let dot: f32 = h
                .iter()
                .zip(&w[v * e..(v + 1) * e])
                .map(|(a, b)| a * b)
                .sum();
            let want = logits[r * cfg.n_vocab + v];
            assert!(
                (dot - want).abs() <= 1e-3 * (1.0 + want.abs()),
                "row {r} token {v}: hidden·w = {dot}, logit {want}"
            );
        }
    }
}

#[test]
fn pooling_takes_the_mean_the_first_or_the_last_state() {
    for spec in [synthetic::TINY_LLAMA, synthetic::TINY_GEMMA3] {
        let model = load(&synthetic_spec(spec));
        let e = model.config().n_embd;
        let toks = tokens(21, 2);
        let (hidden, _) = states_and_logits(&model, &toks);
        let n = toks.len();
        let mut mean = vec![0.0f32; e];
        for row in hidden.chunks_exact(e) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x / n as f32;
            }
        }
        let mut scratch = model.new_scratch(32);
        let got = model
            .embed(&toks, Pooling::Mean, &mut scratch)
            .expect("mean");
        assert!(max_diff(&got, &mean) < 1e-4, "mean");
        let got = model
            .embed(&toks, Pooling::Last, &mut scratch)
            .expect("last");
        assert!(max_diff(&got, &hidden[(n - 1) * e..]) < 1e-4, "last");
        let got = model.embed(&toks, Pooling::Cls, &mut scratch).expect("cls");
        assert!(max_diff(&got, &hidden[..e]) < 1e-4, "cls");
    }
}

#[test]
fn same_input_same_vector_across_chunking_and_other_inputs() {
    let model = load(&synthetic_spec(synthetic::TINY_QWEN3));
    let a = tokens(21, 3);
    let b = tokens(5, 4);
    let mut big = model.new_scratch(64);
    let mut small = model.new_scratch(4); // 21 tokens in 6 chunks
    let once = model.embed(&a, Pooling::Mean, &mut big).expect("embed");
    let again = model.embed(&a, Pooling::Mean, &mut big).expect("embed");
    assert_eq!(once, again, "deterministic");
    let chunked = model.embed(&a, Pooling::Mean, &mut small).expect("embed");
    assert!(max_diff(&once, &chunked) < 1e-4);
    // Resumed five tokens at a time, as the engine interleaves it with decode steps.
    let mut run = model.embed_start(a.clone(), Pooling::Mean).expect("start");
    let mut steps = 1;
    let resumed = loop {
        match run.step(&model, &mut big, 5).expect("step") {
            Some(v) => break v,
            None => steps += 1,
        }
    };
    assert_eq!(steps, 5);
    assert!(max_diff(&once, &resumed) < 1e-4);
    // Another input in between changes nothing (each runs in its own cache).
    model.embed(&b, Pooling::Mean, &mut big).expect("embed");
    assert_eq!(
        model.embed(&a, Pooling::Mean, &mut big).expect("embed"),
        once
    );
    let mut unit = once.clone();
    l2_normalize(&mut unit);
    let norm: f32 = unit.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    // Different inputs, different vectors.
    let other = model.embed(&b, Pooling::Mean, &mut big).expect("embed");
    assert!(max_diff(&once, &other) > 1e-3);
}

#[test]
fn empty_and_out_of_vocabulary_inputs_are_errors() {
    let model = load(&synthetic_spec(synthetic::TINY_LLAMA));
    let mut scratch = model.new_scratch(8);
    assert!(model.embed(&[], Pooling::Mean, &mut scratch).is_err());
    let n_vocab = model.config().n_vocab as u32;
    assert!(model
        .embed(&[1, n_vocab], Pooling::Mean, &mut scratch)
        .is_err());
}
