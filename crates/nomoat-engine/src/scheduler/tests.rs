//! Scheduler tests on the deterministic fake model: batching never mixes sequences, prefix
//! sharing and preemption give the same tokens as a lone run, cancellation frees blocks.

use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::testing::{FakeRunner, FakeVocab};
use super::*;

const V: usize = 64;

fn engine(n_blocks: usize, cfg: SchedulerConfig, delay_ms: u64) -> Engine {
    let mut b = FakeRunner::new(V, 256, 4, n_blocks);
    b.step_delay = Duration::from_millis(delay_ms);
    Engine::spawn(b, Arc::new(FakeVocab { n_vocab: V }), cfg).expect("spawn")
}

fn greedy(prompt: Vec<u32>, max_tokens: usize) -> GenRequest {
    GenRequest::new(prompt, max_tokens, SamplingParams::greedy())
}

fn submit(e: &Engine, req: GenRequest) -> Receiver<Event> {
    let (tx, rx) = channel();
    let permit = e.try_reserve(1).expect("room").pop().expect("permit");
    e.submit(req, Box::new(tx), permit).expect("submit");
    rx
}

/// All events of one request, until Done or Error.
fn collect(rx: &Receiver<Event>) -> (Vec<u32>, String, Event) {
    let mut ids = Vec::new();
    let mut text = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).expect("event") {
            Event::Token { id, text: t, .. } => {
                ids.push(id);
                text.push_str(&t);
            }
            Event::PromptLogprobs(_) => {}
            ev @ (Event::Done { .. } | Event::Error(_)) => return (ids, text, ev),
        }
    }
}

/// What the fake model gives greedily, computed without the engine.
fn reference(prompt: &[u32], max_tokens: usize) -> Vec<u32> {
    let mut hist = prompt.to_vec();
    let mut out = Vec::new();
    for _ in 0..max_tokens {
        let l = FakeRunner::logits_for(&hist, V);
        let id = crate::sample::SamplerChain::new(SamplingParams::greedy(), V).sample(&l);
        out.push(id);
        hist.push(id);
        if id as usize == V - 1 {
            break;
        }
    }
    out
}

/// The engine drops a finished request's place and publishes its counters just after the last
/// event; wait for that.
fn wait_idle(e: &Engine) -> StatsSnapshot {
    let t0 = Instant::now();
    loop {
        let st = e.stats();
        if st.inflight == 0 && st.running == 0 && st.waiting == 0 {
            return st;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "still busy: {st:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Like [`reference`] with the end-of-generation token never chosen.
fn reference_no_eog(prompt: &[u32], max_tokens: usize) -> Vec<u32> {
    let mut hist = prompt.to_vec();
    let mut out = Vec::new();
    for _ in 0..max_tokens {
        let l = FakeRunner::logits_for(&hist, V);
        let id = crate::sample::SamplerChain::new(SamplingParams::greedy(), V).sample(&l[..V - 1]);
        out.push(id);
        hist.push(id);
    }
    out
}

fn prompt(seed: u32, len: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| (i * 7 + seed * 13) % (V as u32 - 1))
        .collect()
}

#[test]
fn one_request_matches_reference() {
    let e = engine(64, SchedulerConfig::default(), 0);
    let p = prompt(1, 10);
    let (ids, text, done) = collect(&submit(&e, greedy(p.clone(), 12)));
    assert_eq!(ids, reference(&p, 12));
    let expect: String = ids
        .iter()
        .filter(|&&i| i as usize != V - 1)
        .map(|&i| FakeVocab::piece(i))
        .collect();
    assert_eq!(text, expect);
    match done {
        Event::Done { usage, .. } => {
            assert_eq!(usage.prompt_tokens, 10);
            assert_eq!(usage.completion_tokens, ids.len());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_requests_do_not_mix_and_long_prompts_are_chunked() {
    let cfg = SchedulerConfig {
        max_running: 8,
        queue_capacity: 16,
        step_tokens: 16,
        ..Default::default()
    };
    let e = engine(256, cfg, 0);
    let prompts: Vec<Vec<u32>> = (0..12).map(|i| prompt(i, 5 + 9 * i as usize)).collect();
    let rxs: Vec<_> = prompts
        .iter()
        .map(|p| submit(&e, greedy(p.clone(), 20)))
        .collect();
    for (p, rx) in prompts.iter().zip(&rxs) {
        let (ids, _, done) = collect(rx);
        assert!(matches!(done, Event::Done { .. }), "{done:?}");
        assert_eq!(ids, reference(p, 20));
    }
    wait_idle(&e);
}

#[test]
fn shared_prefix_is_reused_and_gives_the_same_tokens() {
    let e = engine(128, SchedulerConfig::default(), 0);
    let system = prompt(3, 16);
    let mut a = system.clone();
    a.extend([5, 6, 7]);
    let mut b = system.clone();
    b.extend([9, 9]);
    let (ids_a, _, _) = collect(&submit(&e, greedy(a.clone(), 8)));
    let (ids_b, _, done) = collect(&submit(&e, greedy(b.clone(), 8)));
    assert_eq!(ids_a, reference(&a, 8));
    assert_eq!(ids_b, reference(&b, 8));
    let st = wait_idle(&e);
    assert_eq!(st.prefix_hits, 1);
    assert_eq!(st.prefix_hit_tokens, 16);
    match done {
        Event::Done { usage, .. } => assert_eq!(usage.cached_tokens, 16),
        other => panic!("{other:?}"),
    }
}

#[test]
fn short_of_blocks_preempts_and_still_gives_exact_tokens() {
    // 14 blocks of 4 tokens: three sequences growing to ~30 tokens cannot all fit.
    let cfg = SchedulerConfig {
        max_running: 3,
        prefix_cache_entries: 0,
        ..Default::default()
    };
    let e = engine(14, cfg, 0);
    let prompts: Vec<Vec<u32>> = (0..3).map(|i| prompt(10 + i, 6)).collect();
    // The end-of-generation token is banned so every sequence grows to its full length.
    let no_eog = |p: &Vec<u32>| {
        let mut r = greedy(p.clone(), 24);
        r.sampling.logit_bias = vec![(V as u32 - 1, -1000.0)];
        r
    };
    let rxs: Vec<_> = prompts.iter().map(|p| submit(&e, no_eog(p))).collect();
    for (p, rx) in prompts.iter().zip(&rxs) {
        let (ids, _, done) = collect(rx);
        assert!(matches!(done, Event::Done { .. }), "{done:?}");
        assert_eq!(ids, reference_no_eog(p, 24));
    }
    let st = wait_idle(&e);
    assert!(st.preemptions > 0, "{st:?}");
    assert_eq!(st.kv_blocks_free, 14);
}

#[test]
fn dropped_receiver_cancels_and_frees_blocks() {
    let e = engine(64, SchedulerConfig::default(), 5);
    let rx = submit(&e, greedy(prompt(2, 12), 200));
    // Wait for the first token, then hang up.
    loop {
        if let Event::Token { .. } = rx.recv_timeout(Duration::from_secs(10)).expect("token") {
            break;
        }
    }
    drop(rx);
    let t0 = Instant::now();
    loop {
        let st = e.stats();
        if st.running == 0 && st.inflight == 0 {
            assert_eq!(st.cancelled, 1);
            // Only the prefix-cache entry (the prompt's 3 full blocks) stays.
            assert_eq!(st.kv_blocks_free, 64 - 3);
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "not cancelled: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn queue_is_bounded_and_permits_come_back() {
    let cfg = SchedulerConfig {
        max_running: 1,
        queue_capacity: 2,
        ..Default::default()
    };
    let e = engine(64, cfg, 0);
    let held = e.try_reserve(3).expect("three places");
    assert!(e.try_reserve(1).is_none());
    drop(held);
    assert!(e.try_reserve(3).is_some());
}

#[test]
fn invalid_requests_are_refused() {
    let e = engine(64, SchedulerConfig::default(), 0);
    assert_eq!(
        e.validate(&greedy(vec![], 1)),
        Err(SubmitError::EmptyPrompt)
    );
    assert!(matches!(
        e.validate(&greedy(vec![1, V as u32], 1)),
        Err(SubmitError::BadToken { index: 1, .. })
    ));
    assert!(matches!(
        e.validate(&greedy(vec![1; 200], 100)),
        Err(SubmitError::TooLong { .. })
    ));
}

#[test]
fn echo_gives_prompt_logprobs_and_max_tokens_zero() {
    let e = engine(64, SchedulerConfig::default(), 0);
    let p = prompt(4, 9);
    let mut req = greedy(p.clone(), 0);
    req.prompt_logprobs = true;
    req.logprobs = Some(2);
    let rx = submit(&e, req);
    let lp = match rx.recv_timeout(Duration::from_secs(10)).expect("event") {
        Event::PromptLogprobs(lp) => lp,
        other => panic!("{other:?}"),
    };
    assert_eq!(lp.len(), 9);
    assert!(lp[0].is_none());
    for i in 1..9 {
        let l = FakeRunner::logits_for(&p[..i], V);
        let lse = crate::sample::log_sum_exp(&l);
        let want = f64::from(l[p[i] as usize]) - lse;
        let got = lp[i].as_ref().expect("entry");
        assert_eq!(got.id, p[i]);
        assert!((got.logprob - want).abs() < 1e-5);
        assert_eq!(got.top.len(), 2);
    }
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(10)).expect("done"),
        Event::Done {
            finish_reason: FinishReason::Length,
            usage: Usage {
                completion_tokens: 0,
                ..
            },
            stop: None,
        }
    ));
}

#[test]
fn stop_strings_cut_the_text() {
    let e = engine(64, SchedulerConfig::default(), 0);
    let p = prompt(5, 6);
    let want = reference(&p, 6);
    let third = FakeVocab::piece(want[2]);
    let mut req = greedy(p, 6);
    req.stop = vec![third.trim_end().to_string()];
    let (ids, text, done) = collect(&submit(&e, req));
    let first_two: String = want[..2].iter().map(|&i| FakeVocab::piece(i)).collect();
    assert_eq!(text, first_two);
    assert_eq!(ids.len(), 3);
    match done {
        Event::Done {
            finish_reason: FinishReason::Stop,
            stop,
            ..
        } => assert_eq!(stop.as_deref(), Some(third.trim_end())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn shutdown_ends_in_flight_requests_with_an_error() {
    let e = engine(64, SchedulerConfig::default(), 5);
    let rx = submit(&e, greedy(prompt(6, 4), 200));
    e.shutdown(Duration::from_millis(30));
    let (_, _, last) = collect(&rx);
    assert!(matches!(last, Event::Error(_)), "{last:?}");
    assert!(e.try_reserve(1).is_none());
}

#[test]
fn ignore_eos_generates_past_end_of_generation_tokens() {
    let e = engine(64, SchedulerConfig::default(), 0);
    let mut req = greedy(prompt(7, 5), 6);
    req.sampling.logit_bias = vec![(V as u32 - 1, 1000.0)];
    let (ids, text, _) = collect(&submit(&e, req.clone()));
    assert_eq!(ids, vec![V as u32 - 1]);
    assert_eq!(text, "");
    req.ignore_eos = true;
    let (ids, text, done) = collect(&submit(&e, req));
    assert_eq!(ids, vec![V as u32 - 1; 6]);
    // Past the end, the end-of-generation token is decoded like any other.
    assert_eq!(text, FakeVocab::piece(V as u32 - 1).repeat(6));
    assert!(matches!(
        done,
        Event::Done {
            finish_reason: FinishReason::Length,
            ..
        }
    ));
}

/// Mean of the fake model's per-token states of `tokens`, computed without the engine.
fn fake_mean(tokens: &[u32], n_embd: usize) -> Vec<f32> {
    let mut acc = vec![0.0f64; n_embd];
    for pos in 0..tokens.len() {
        for (a, x) in acc
            .iter_mut()
            .zip(FakeRunner::hidden_for(&tokens[..=pos], n_embd))
        {
            *a += x as f64;
        }
    }
    acc.iter()
        .map(|a| (a / tokens.len() as f64) as f32)
        .collect()
}

#[test]
fn embedding_job_runs_between_decode_steps_and_leaves_generation_unchanged() {
    let e = engine(256, SchedulerConfig::default(), 3);
    let info = e.embedding().expect("fake model embeds");
    let gen = submit(
        &e,
        GenRequest::new(vec![1, 2, 3], 40, SamplingParams::greedy()),
    );
    let inputs = vec![vec![5, 6, 7], vec![9], vec![5, 6, 7]];
    let (tx, rx) = channel();
    let permit = e.try_reserve(1).expect("room").pop().expect("permit");
    e.submit_embed(inputs.clone(), Box::new(tx), permit)
        .expect("submit");
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("reply")
        .expect("embeddings");
    // The job finished while the 40-token stream was still going: it was not queued behind it.
    assert!(e.stats().running == 1, "generation should still be running");
    assert_eq!(out.vectors.len(), 3);
    for (v, t) in out.vectors.iter().zip(&inputs) {
        assert_eq!(v, &fake_mean(t, info.n_embd));
    }
    let (ids, _, done) = collect(&gen);
    assert!(matches!(done, Event::Done { .. }));
    assert_eq!(ids, reference(&[1, 2, 3], 40));
    wait_idle(&e);
}

#[test]
fn embedding_inputs_are_checked() {
    let e = engine(64, SchedulerConfig::default(), 0);
    let bad = [
        (vec![], SubmitError::EmptyPrompt),
        (vec![vec![1], vec![]], SubmitError::EmptyInput { index: 1 }),
        (
            vec![vec![1, V as u32]],
            SubmitError::BadInputToken {
                index: 0,
                id: V as u32,
                n_vocab: V,
            },
        ),
        (
            vec![vec![1; 257]],
            SubmitError::InputTooLong {
                index: 0,
                len: 257,
                n_ctx: 256,
            },
        ),
    ];
    for (inputs, want) in bad {
        assert_eq!(e.validate_embed(&inputs), Err(want));
    }
    let mut b = FakeRunner::new(V, 256, 4, 64);
    b.embedding = None;
    let e = Engine::spawn(
        b,
        Arc::new(FakeVocab { n_vocab: V }),
        SchedulerConfig::default(),
    )
    .expect("spawn");
    assert!(matches!(
        e.validate_embed(&[vec![1]]),
        Err(SubmitError::NoEmbeddings(_))
    ));
}

#[test]
fn long_embedding_inputs_run_in_chunks_between_decode_steps() {
    let cfg = SchedulerConfig {
        step_tokens: 8,
        ..SchedulerConfig::default()
    };
    let e = engine(256, cfg, 2);
    let gen = submit(
        &e,
        GenRequest::new(vec![1, 2, 3], 30, SamplingParams::greedy()),
    );
    // 200 tokens at 8 per iteration: 25 chunks, each after a decode step of the stream.
    let long: Vec<u32> = (0..200).map(|i| 2 + (i * 7 % 50) as u32).collect();
    let inputs = vec![long.clone(), vec![4, 5], long];
    let (tx, rx) = channel();
    let permit = e.try_reserve(1).expect("room").pop().expect("permit");
    e.submit_embed(inputs.clone(), Box::new(tx), permit)
        .expect("submit");
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("reply")
        .expect("embeddings");
    for (v, t) in out.vectors.iter().zip(&inputs) {
        assert_eq!(v, &fake_mean(t, 8));
    }
    let (ids, _, _) = collect(&gen);
    assert_eq!(ids, reference(&[1, 2, 3], 30));
    assert!(wait_idle(&e).prompt_tokens_computed >= 402);
}
