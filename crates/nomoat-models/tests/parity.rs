//! Parity with llama.cpp on the reference goldens (`../shared/reference/golden-*.jsonl`).
//!
//! Tiny F32 models (llama, qwen2, qwen3, gemma3): prompt in one batch, then 16 greedy steps of one
//! token each; every greedy id must equal llama.cpp's and every top-5 log-prob must be within
//! `TINY_TOL` of it. The README measured that an exact float64 reimplementation differs from these
//! goldens by up to 7.1e-4 (llama.cpp stores K/V in f16, rounds Q to f16 in flash attention,
//! accumulates in f16 and looks GELU up in an f16 table); we reproduce the f16 KV cache, the Q
//! rounding and the GELU table, so 1e-3 is a bound with margin, not a loose one.

mod common;

use common::{argmax, load, log_softmax, Session};
use nomoat_testkit::{read_jsonl, reference, synthetic, synthetic_spec};

const TINY_TOL: f64 = 1e-3;

/// Returns the largest |Δ log-prob| over all steps and top-5 entries.
fn tiny_parity(spec: synthetic::Spec, golden: &str) -> f64 {
    let model = load(&synthetic_spec(spec));
    let mut max_delta = 0.0f64;
    for line in read_jsonl(&reference(golden)) {
        let prompt: Vec<u32> = line["prompt_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let mut s = Session::new(&model, 128, 32);
        let mut logits = s.feed(&prompt, false).to_vec();
        for (i, step) in line["steps"].as_array().unwrap().iter().enumerate() {
            let want = step["id"].as_u64().unwrap() as u32;
            let lp = log_softmax(&logits);
            assert_eq!(
                argmax(&logits),
                want,
                "{golden} prompt {:?} step {i}: greedy id differs",
                line["prompt"]
            );
            for e in step["top"].as_array().unwrap() {
                let id = e[0].as_u64().unwrap() as usize;
                let d = (lp[id] - e[1].as_f64().unwrap()).abs();
                max_delta = max_delta.max(d);
                assert!(
                    d <= TINY_TOL,
                    "{golden} prompt {:?} step {i} token {id}: log-prob {} vs llama.cpp {} (Δ {d:.2e})",
                    line["prompt"],
                    lp[id],
                    e[1]
                );
            }
            logits = s.feed(&[want], false).to_vec();
        }
    }
    eprintln!("{golden}: max |Δ logprob| = {max_delta:.3e}");
    max_delta
}

#[test]
fn tiny_llama_matches_llama_cpp() {
    tiny_parity(synthetic::TINY_LLAMA, "golden-tiny-llama.jsonl");
}

#[test]
fn tiny_qwen2_matches_llama_cpp() {
    tiny_parity(synthetic::TINY_QWEN2, "golden-tiny-qwen2.jsonl");
}

#[test]
fn tiny_qwen3_matches_llama_cpp() {
    tiny_parity(synthetic::TINY_QWEN3, "golden-tiny-qwen3.jsonl");
}

#[test]
fn tiny_gemma3_matches_llama_cpp() {
    tiny_parity(synthetic::TINY_GEMMA3, "golden-tiny-gemma3.jsonl");
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Default model (Gemma 3 270M Q4_K_M), teacher-forced: each prompt plus llama.cpp's 48-token
/// greedy continuation in one batch with logits for every row.
///
/// Thresholds: this model amplifies rounding differences of the quantized matmuls to ~0.02-0.03
/// nats. Measured on a 2-vCPU AVX2 EPYC with the same llama.cpp build (b11312) through libllama,
/// incremental decoding: llama.cpp itself agrees with these goldens on 372/384 top-1 ids with 2
/// threads (376 with 1, 373 with 4: its results depend on the thread count), mean |Δ logprob|
/// 0.022, max 0.21, and reproduces the first 16 greedy tokens on 4/8 prompts. nomoat measures
/// 369-373/384, mean 0.035-0.037, depending on its kernels' summation order (decode follows
/// llama.cpp's `ggml_vec_dot_*` lanes exactly; prompts of 32+ tokens use block sums). So the bar here is llama.cpp's own reproducibility with a margin: ≥ 95 %
/// top-1 and mean |Δ| ≤ 0.05.
#[test]
fn default_model_teacher_forced() {
    let model = load(&nomoat_testkit::gemma3_270m());
    let (mut agree, mut total, mut sum_delta, mut max_delta) = (0usize, 0usize, 0.0f64, 0.0f64);
    let n_vocab = model.config().n_vocab;
    for line in read_jsonl(&reference("golden-gemma3-public.jsonl")) {
        let prompt = ids(&line["prompt_ids"]);
        let gen = ids(&line["gen_ids"]);
        let mut all = prompt.clone();
        all.extend(&gen);
        let mut s = Session::new(&model, 512, 128);
        let logits = s.feed(&all, true).to_vec();
        for (j, step) in line["steps"].as_array().unwrap().iter().enumerate() {
            let row = &logits[(prompt.len() - 1 + j) * n_vocab..][..n_vocab];
            let want = step["id"].as_u64().unwrap() as u32;
            total += 1;
            agree += usize::from(argmax(row) == want);
            let lp = log_softmax(row);
            let d = (lp[want as usize] - step["logprob"].as_f64().unwrap()).abs();
            sum_delta += d;
            max_delta = max_delta.max(d);
        }
    }
    let rate = agree as f64 / total as f64;
    let mean = sum_delta / total as f64;
    eprintln!(
        "default model teacher-forced: top-1 agreement {agree}/{total} = {:.2} %, mean |Δ logprob| {mean:.4}, max {max_delta:.4}",
        100.0 * rate
    );
    assert!(rate >= 0.95, "top-1 agreement {rate}");
    assert!(mean <= 0.05, "mean |Δ logprob| {mean}");
}

/// Default model, greedy: the first 16 generated tokens (prompt in one batch, then one token per
/// forward) compared with llama.cpp's. llama.cpp itself, rerun on the reference machine kind,
/// reproduces 4 of the 8 (see above; a divergence at one near-tie changes the rest of the
/// continuation), and so does nomoat; the test requires that level.
#[test]
fn default_model_greedy_16() {
    let model = load(&nomoat_testkit::gemma3_270m());
    let lines = read_jsonl(&reference("golden-gemma3-public.jsonl"));
    let mut matches = 0;
    for line in &lines {
        let prompt = ids(&line["prompt_ids"]);
        let want = ids(&line["gen_ids"]);
        let mut s = Session::new(&model, 512, 64);
        let mut next = argmax(s.feed(&prompt, false));
        let mut got = vec![next];
        while got.len() < 16 {
            next = argmax(s.feed(&[next], false));
            got.push(next);
        }
        if got[..] == want[..16] {
            matches += 1;
        } else {
            eprintln!(
                "prompt {:?}: got {got:?}, want {:?}",
                line["prompt"],
                &want[..16]
            );
        }
    }
    eprintln!(
        "default model greedy: {matches}/{} prompts identical over 16 tokens",
        lines.len()
    );
    assert!(matches >= 4, "{matches}/8");
}
