//! Batched forward passes give the same logits as token-by-token decoding, several sequences in
//! one batch give the same logits as each alone, shared prefixes behave like copies, and a full
//! cache or a malformed batch is an error that changes nothing.

mod common;

use common::{load, Session};
use nomoat_models::{Batch, KvDtype, KvError, Model, ModelError};
use nomoat_testkit::{synthetic, synthetic_spec};

/// Tokens of a 21-token prompt (longer than tiny-gemma3's 8-token window).
fn prompt() -> Vec<u32> {
    (0..21).map(|i| 1 + (i * 37 + 11) % 500).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits of every row, prompt fed in one batch and token by token.
fn batch_vs_incremental(model: &Model) {
    let toks = prompt();
    let n_vocab = model.config().n_vocab;
    let mut a = Session::new(model, 64, 32);
    let batched = a.feed(&toks, true).to_vec();
    assert_eq!(batched.len(), toks.len() * n_vocab);
    let mut b = Session::new(model, 64, 32);
    for (i, &t) in toks.iter().enumerate() {
        let row = b.feed(&[t], false).to_vec();
        let d = max_diff(&row, &batched[i * n_vocab..(i + 1) * n_vocab]);
        // Same f16 cache and attention path; only matmul summation order differs (GEMM vs GEMV).
        assert!(d < 1e-4, "row {i}: max |Δ logit| {d}");
    }
}

#[test]
fn prompt_batch_equals_token_by_token_llama() {
    batch_vs_incremental(&load(&synthetic_spec(synthetic::TINY_LLAMA)));
}

#[test]
fn prompt_batch_equals_token_by_token_gemma3_sliding_window() {
    batch_vs_incremental(&load(&synthetic_spec(synthetic::TINY_GEMMA3)));
}

#[test]
fn small_scratch_chunks_equal_one_chunk() {
    let model = load(&synthetic_spec(synthetic::TINY_QWEN3));
    let toks = prompt();
    let whole = Session::new(&model, 64, 32).feed(&toks, true).to_vec();
    // max_batch 4: the 21 tokens run as 6 chunks.
    let chunked = Session::new(&model, 64, 4).feed(&toks, true).to_vec();
    assert!(max_diff(&whole, &chunked) < 1e-4);
}

#[test]
fn two_sequences_in_one_batch_equal_each_alone() {
    let model = load(&synthetic_spec(synthetic::TINY_QWEN2));
    let n_vocab = model.config().n_vocab;
    let p1 = prompt();
    let p2: Vec<u32> = prompt().iter().rev().take(13).map(|t| t + 3).collect();
    let alone1 = Session::new(&model, 64, 32).feed(&p1, true).to_vec();
    let alone2 = Session::new(&model, 64, 32).feed(&p2, true).to_vec();

    let mut kv = model.new_kv_cache(128, 16, KvDtype::F16).unwrap();
    let (s1, s2) = (kv.alloc_seq(), kv.alloc_seq());
    let mut batch = Batch::new();
    // Interleave the two prompts: row order p1[0], p2[0], p1[1], p2[1], ...
    let mut rows = vec![];
    for i in 0..p1.len().max(p2.len()) {
        if i < p1.len() {
            batch.push(p1[i], i as u32, s1, true);
            rows.push((1, i));
        }
        if i < p2.len() {
            batch.push(p2[i], i as u32, s2, true);
            rows.push((2, i));
        }
    }
    let mut scratch = model.new_scratch(16);
    let mut logits = vec![];
    model
        .forward(&batch, &mut kv, &mut scratch, &mut logits)
        .unwrap();
    for (r, &(which, i)) in rows.iter().enumerate() {
        let got = &logits[r * n_vocab..(r + 1) * n_vocab];
        let want = if which == 1 { &alone1 } else { &alone2 };
        let d = max_diff(got, &want[i * n_vocab..(i + 1) * n_vocab]);
        assert!(d < 1e-4, "sequence {which} row {i}: {d}");
    }
    assert_eq!((kv.seq_len(s1), kv.seq_len(s2)), (p1.len(), p2.len()));
}

#[test]
fn forked_prefix_continues_like_a_fresh_sequence() {
    let model = load(&synthetic_spec(synthetic::TINY_LLAMA));
    let n_vocab = model.config().n_vocab;
    let toks = prompt();
    let (prefix, tail) = toks.split_at(18); // 18 = one full block of 16 + 2 in a shared partial block
    let fresh = Session::new(&model, 64, 32).feed(&toks, true).to_vec();

    let mut kv = model.new_kv_cache(128, 16, KvDtype::F16).unwrap();
    let mut scratch = model.new_scratch(32);
    let mut logits = vec![];
    let a = kv.alloc_seq();
    let mut batch = Batch::new();
    for (i, &t) in prefix.iter().enumerate() {
        batch.push(t, i as u32, a, false);
    }
    model
        .forward(&batch, &mut kv, &mut scratch, &mut logits)
        .unwrap();
    let free_before = kv.n_free_blocks();
    let b = kv.alloc_seq();
    kv.fork_prefix(a, b, prefix.len()).unwrap();
    assert_eq!(kv.n_free_blocks(), free_before, "forking copies nothing");
    // Continue both sequences with different tails in one batch: the shared partial block is
    // copied on write, so neither sees the other's tokens.
    batch.clear();
    for (i, &t) in tail.iter().enumerate() {
        batch.push(t, (prefix.len() + i) as u32, b, true);
    }
    batch.push(7, prefix.len() as u32, a, true);
    model
        .forward(&batch, &mut kv, &mut scratch, &mut logits)
        .unwrap();
    for i in 0..tail.len() {
        let want = &fresh[(prefix.len() + i) * n_vocab..][..n_vocab];
        let d = max_diff(&logits[i * n_vocab..(i + 1) * n_vocab], want);
        assert!(d < 1e-4, "tail row {i}: {d}");
    }
    let mut alt = prefix.to_vec();
    alt.push(7);
    let want_a = Session::new(&model, 64, 32).feed(&alt, false).to_vec();
    assert!(max_diff(&logits[tail.len() * n_vocab..], &want_a) < 1e-4);
}

#[test]
fn full_cache_and_bad_batches_are_errors_that_change_nothing() {
    let model = load(&synthetic_spec(synthetic::TINY_LLAMA));
    let mut kv = model.new_kv_cache(32, 16, KvDtype::F32).unwrap(); // 2 blocks
    let s = kv.alloc_seq();
    let mut scratch = model.new_scratch(8);
    let mut logits = vec![];
    let mut batch = Batch::new();
    for i in 0..33u32 {
        batch.push(5, i, s, false);
    }
    let e = model.forward(&batch, &mut kv, &mut scratch, &mut logits);
    assert!(
        matches!(
            e,
            Err(ModelError::Kv(KvError::OutOfBlocks { needed: 3, free: 2 }))
        ),
        "{e:?}"
    );
    assert_eq!((kv.seq_len(s), kv.n_free_blocks()), (0, 2));

    batch.clear();
    batch.push(5, 1, s, true); // position 1, but the sequence is empty
    let e = model.forward(&batch, &mut kv, &mut scratch, &mut logits);
    assert!(matches!(e, Err(ModelError::BadBatch(_))), "{e:?}");
    batch.clear();
    batch.push(512, 0, s, true); // vocabulary is 512
    let e = model.forward(&batch, &mut kv, &mut scratch, &mut logits);
    assert!(matches!(e, Err(ModelError::BadBatch(_))), "{e:?}");
    batch.clear();
    batch.push(5, 0, nomoat_models::SeqId(99), true);
    let e = model.forward(&batch, &mut kv, &mut scratch, &mut logits);
    assert!(
        matches!(e, Err(ModelError::Kv(KvError::UnknownSeq(_)))),
        "{e:?}"
    );
    assert_eq!(kv.seq_len(s), 0);
}
