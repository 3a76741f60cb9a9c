//! Perplexity windows on the tiny llama model, checked against a direct computation of the same
//! definition (llama.cpp's `perplexity()`): windows of n_ctx from an empty cache, first token
//! replaced by BOS, positions n_ctx/2 .. n_ctx-2 scored, the tail dropped.

use std::sync::Arc;

use nomoat_engine::generate::{LoadedModel, Session};
use nomoat_engine::perplexity::{perplexity, PerplexityError};
use nomoat_testkit::{synthetic, synthetic_spec};

#[test]
fn windows_bos_and_second_half_as_llama_cpp() {
    let lm = Arc::new(LoadedModel::load(&synthetic_spec(synthetic::TINY_LLAMA), 2).unwrap());
    let n_ctx = 16;
    // 2 full windows and a tail of 5 that must be ignored.
    let tokens: Vec<u32> = (0..2 * n_ctx + 5)
        .map(|i| (i * 37 % 500 + 3) as u32)
        .collect();
    let bos = Some(1);
    let mut s = Session::new(lm.clone(), n_ctx, 16).unwrap();
    let mut calls = Vec::new();
    let r = perplexity(&mut s, &tokens, n_ctx, bos, &mut |d, t, _| {
        calls.push((d, t))
    })
    .unwrap();
    assert_eq!(calls, vec![(1, 2), (2, 2)]);
    assert_eq!(r.n_chunks, 2);
    assert_eq!(r.tokens, 32);
    assert_eq!(r.scored, 2 * (n_ctx - 1 - n_ctx / 2));

    // Direct: full logits of each window, log-softmax in f64.
    let mut nlls = Vec::new();
    for c in 0..2 {
        let mut w = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
        w[0] = 1;
        let mut fresh = Session::new(lm.clone(), n_ctx, 4).unwrap();
        fresh
            .eval(&w, 0..n_ctx, &mut |i, row| {
                if (n_ctx / 2..n_ctx - 1).contains(&i) {
                    let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
                    let z: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
                    let target = tokens[c * n_ctx + i + 1] as usize;
                    nlls.push(-(row[target] as f64 - max - z.ln()));
                }
            })
            .unwrap();
    }
    let n = nlls.len() as f64;
    let mean = nlls.iter().sum::<f64>() / n;
    let var = nlls.iter().map(|x| x * x).sum::<f64>() / n - mean * mean;
    assert!(
        (r.ppl - mean.exp()).abs() < 1e-9 * r.ppl,
        "{} vs {}",
        r.ppl,
        mean.exp()
    );
    let se = (var / (n - 1.0)).sqrt() * mean.exp();
    assert!((r.ppl_stderr - se).abs() < 1e-9 * se.max(1.0));
}

#[test]
fn too_short_text_is_an_error() {
    let lm = Arc::new(LoadedModel::load(&synthetic_spec(synthetic::TINY_LLAMA), 1).unwrap());
    let mut s = Session::new(lm, 16, 16).unwrap();
    let e = perplexity(&mut s, &[3; 31], 16, Some(1), &mut |_, _, _| {}).unwrap_err();
    assert!(matches!(
        e,
        PerplexityError::TooShort {
            tokens: 31,
            n_ctx: 16
        }
    ));
}
