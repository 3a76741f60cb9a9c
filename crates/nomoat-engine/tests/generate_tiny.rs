//! Generation on the tiny random llama model against llama.cpp's golden (greedy ids, top-5
//! log-probs within 1e-3, see ../shared/reference/README.md), plus the properties of the loop:
//! seeded sampling is reproducible, echo covers the prompt, stop strings cut the text, the cache
//! prefix is reused.

use std::sync::Arc;

use nomoat_engine::generate::{GenerateParams, LoadedModel, Session};
use nomoat_engine::sample::SamplingParams;
use nomoat_engine::stop::FinishReason;
use nomoat_testkit::{read_jsonl, reference, synthetic, synthetic_spec};

fn tiny() -> Arc<LoadedModel> {
    let path = synthetic_spec(synthetic::TINY_LLAMA);
    Arc::new(LoadedModel::load(&path, 2).expect("load tiny llama"))
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn greedy(n: usize, logprobs: usize) -> GenerateParams {
    GenerateParams {
        max_tokens: n,
        sampling: SamplingParams::greedy(),
        logprobs,
        ignore_eos: true,
        ..Default::default()
    }
}

#[test]
fn greedy_ids_and_logprobs_match_llama_cpp_golden() {
    let lm = tiny();
    let mut s = Session::new(lm, 256, 64).unwrap();
    for g in read_jsonl(&reference("golden-tiny-llama.jsonl")) {
        let prompt = ids(&g["prompt_ids"]);
        let want = ids(&g["gen_ids"]);
        let out = s
            .generate(&prompt, &greedy(want.len(), 5), &mut |_| {})
            .unwrap();
        assert_eq!(out.tokens, want, "prompt {:?}", g["prompt"]);
        assert_eq!(out.finish, FinishReason::Length);
        for (k, (step, got)) in g["steps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&out.logprobs)
            .enumerate()
        {
            let top = step["top"].as_array().unwrap();
            assert_eq!(got.len(), 5);
            for (j, (e, &(id, lp))) in top.iter().zip(got).enumerate() {
                let want_lp = e[1].as_f64().unwrap();
                assert!(
                    (lp - want_lp).abs() < 1e-3,
                    "prompt {} step {k} rank {j}: {lp} vs {want_lp}",
                    g["index"]
                );
                // Ranks may swap only between near-ties.
                if id != e[0].as_u64().unwrap() as u32 {
                    assert!((top[j][1].as_f64().unwrap() - lp).abs() < 2e-3);
                }
            }
        }
    }
}

#[test]
fn echo_is_teacher_forced_and_matches_incremental_steps() {
    let lm = tiny();
    let g = &read_jsonl(&reference("golden-tiny-llama.jsonl"))[1];
    let prompt = ids(&g["prompt_ids"]);
    let gen = ids(&g["gen_ids"]);
    let mut full = prompt.clone();
    full.extend_from_slice(&gen);
    let mut s = Session::new(lm, 256, 7).unwrap();
    let p = GenerateParams {
        echo: true,
        logprobs: 5,
        ..greedy(0, 5)
    };
    let out = s.generate(&full, &p, &mut |_| {}).unwrap();
    assert!(out.tokens.is_empty());
    assert_eq!(out.prompt_logprobs.len(), full.len() - 1);
    // Position len(prompt)-1+k predicts golden step k.
    for (k, step) in g["steps"].as_array().unwrap().iter().enumerate() {
        let row = &out.prompt_logprobs[prompt.len() - 1 + k];
        assert_eq!(row[0].0, gen[k], "step {k}");
        assert!((row[0].1 - step["logprob"].as_f64().unwrap()).abs() < 1e-3);
    }
}

#[test]
fn seeded_sampling_is_reproducible_and_seed_dependent() {
    let lm = tiny();
    let mut s = Session::new(lm, 256, 32).unwrap();
    let prompt = [1, 387, 264, 271];
    let run = |s: &mut Session, seed| {
        let p = GenerateParams {
            max_tokens: 24,
            sampling: SamplingParams {
                temp: 1.0,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.0,
                seed,
                ..Default::default()
            },
            ignore_eos: true,
            ..Default::default()
        };
        s.generate(&prompt, &p, &mut |_| {}).unwrap().tokens
    };
    let a = run(&mut s, 7);
    let b = run(&mut s, 7);
    let c = run(&mut s, 8);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn stop_strings_cut_the_text_and_streamed_text_matches() {
    let lm = tiny();
    let mut s = Session::new(lm.clone(), 256, 32).unwrap();
    let prompt = [1, 387, 264, 271, 271, 274, 376, 274, 277, 271, 263];
    let full = s.generate(&prompt, &greedy(16, 0), &mut |_| {}).unwrap();
    // Golden prompt 0 continues with one byte token then "K" repeated: stop at "KK".
    assert!(full.text.contains("KK"), "{:?}", full.text);
    let mut streamed = String::new();
    let p = GenerateParams {
        stop: vec!["KK".into()],
        ..greedy(16, 0)
    };
    let cut = s
        .generate(&prompt, &p, &mut |t| streamed.push_str(t))
        .unwrap();
    assert_eq!(cut.finish, FinishReason::Stop);
    assert_eq!(cut.text, full.text[..full.text.find("KK").unwrap()]);
    assert_eq!(streamed, cut.text);
    assert!(cut.tokens.len() < 16);
}

#[test]
fn cache_prefix_is_reused_between_calls() {
    let lm = tiny();
    let mut s = Session::new(lm, 256, 32).unwrap();
    let prompt = [1, 387, 264, 271, 271, 274, 376];
    let a = s.generate(&prompt, &greedy(4, 0), &mut |_| {}).unwrap();
    assert_eq!(a.timings.prompt_evaluated, prompt.len());
    let mut longer = prompt.to_vec();
    // The cache holds the prompt and the first three generated tokens (the fourth was never
    // evaluated): only the fourth and two new ones need evaluating.
    longer.extend_from_slice(&a.tokens);
    longer.extend_from_slice(&[5, 6]);
    let b = s.generate(&longer, &greedy(4, 0), &mut |_| {}).unwrap();
    assert_eq!(b.timings.prompt_evaluated, 3);
    let mut fresh = Session::new(s.model().clone(), 256, 32).unwrap();
    let c = fresh.generate(&longer, &greedy(4, 0), &mut |_| {}).unwrap();
    assert_eq!(b.tokens, c.tokens);
}

#[test]
fn prompt_too_long_and_bad_ids_are_errors() {
    let lm = tiny();
    let mut s = Session::new(lm, 8, 4).unwrap();
    assert!(s.generate(&[1; 9], &greedy(1, 0), &mut |_| {}).is_err());
    assert!(s
        .generate(&[1, 100_000], &greedy(1, 0), &mut |_| {})
        .is_err());
    assert!(s.generate(&[], &greedy(1, 0), &mut |_| {}).is_err());
    // The limit of the context ends generation with "length".
    let out = s
        .generate(&[1, 2, 3], &greedy(100, 0), &mut |_| {})
        .unwrap();
    assert_eq!(out.finish, FinishReason::Length);
    assert_eq!(out.tokens.len(), 8 - 3 + 1);
}
