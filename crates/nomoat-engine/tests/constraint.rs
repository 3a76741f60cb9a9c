//! The constraint stage of the token loop, on the scheduler's fake model: the grammar's mask
//! wins over what the model prefers, the request ends when the grammar is complete, `n > 1`
//! forks keep their own state, and a failing grammar ends the request with an error.

use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

use nomoat_engine::sample::{Constraint, ConstraintBox, SamplingParams, Sequential};
use nomoat_engine::scheduler::testing::{FakeRunner, FakeVocab};
use nomoat_engine::scheduler::{Engine, EngineError, Event, GenRequest, SchedulerConfig};
use nomoat_engine::stop::FinishReason;

const V: usize = 64;

fn engine() -> Engine {
    Engine::spawn(
        FakeRunner::new(V, 256, 4, 64),
        Arc::new(FakeVocab { n_vocab: V }),
        SchedulerConfig::default(),
    )
    .expect("spawn")
}

fn run(e: &Engine, req: GenRequest) -> (Vec<u32>, Event) {
    let (tx, rx): (_, Receiver<Event>) = channel();
    let permit = e.try_reserve(1).expect("room").pop().expect("permit");
    e.submit(req, Box::new(tx), permit).expect("submit");
    let mut ids = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).expect("event") {
            Event::Token { id, .. } => ids.push(id),
            Event::PromptLogprobs(_) => {}
            ev => return (ids, ev),
        }
    }
}

fn constrained(allowed: Vec<Vec<u32>>, max_tokens: usize, sampling: SamplingParams) -> GenRequest {
    let mut r = GenRequest::new(vec![1, 2, 3], max_tokens, sampling);
    r.constraint = Some(ConstraintBox(Box::new(Sequential { allowed, step: 0 })));
    r
}

#[test]
fn the_mask_decides_and_completion_ends_the_request() {
    let e = engine();
    let (free, _) = run(
        &e,
        GenRequest::new(vec![1, 2, 3], 3, SamplingParams::greedy()),
    );
    // Tokens the model would never pick greedily.
    let forced: Vec<u32> = (10..13).filter(|t| !free.contains(t)).collect();
    assert_eq!(forced.len(), 3);
    let (ids, done) = run(
        &e,
        constrained(
            forced.iter().map(|&t| vec![t]).collect(),
            50,
            SamplingParams::greedy(),
        ),
    );
    assert_eq!(ids, forced);
    match done {
        Event::Done { finish_reason, .. } => assert_eq!(finish_reason, FinishReason::Stop),
        other => panic!("{other:?}"),
    }
    // A choice between two: the model's own preference among the allowed ones.
    let (ids, _) = run(
        &e,
        constrained(vec![vec![20, free[0]]], 5, SamplingParams::greedy()),
    );
    assert_eq!(ids, vec![free[0]]);
}

#[test]
fn random_sampling_never_leaves_the_allowed_set_and_forks_are_independent() {
    let e = engine();
    let allowed: Vec<Vec<u32>> = (0..8).map(|i| vec![30 + i, 40 + i, 50 + i]).collect();
    let mut c: Box<dyn Constraint> = Box::new(Sequential {
        allowed: allowed.clone(),
        step: 0,
    });
    c.accept(30).expect("first step");
    let forked = ConstraintBox(c.fork());
    for seed in 0..20 {
        let sampling = SamplingParams {
            temp: 1.5,
            seed,
            ..Default::default()
        };
        let mut req = GenRequest::new(vec![1, 2, 3], 50, sampling);
        req.constraint = Some(forked.clone());
        let (ids, _) = run(&e, req);
        assert_eq!(ids.len(), 7, "the fork starts at step 1");
        for (i, id) in ids.iter().enumerate() {
            assert!(allowed[i + 1].contains(id), "step {}: {id}", i + 1);
        }
    }
}

#[test]
fn a_failing_grammar_ends_the_request_with_an_error() {
    let e = engine();
    // Step 1 allows only an id outside the vocabulary: the mask is empty.
    let (ids, ev) = run(
        &e,
        constrained(
            vec![vec![5], vec![V as u32 + 7]],
            10,
            SamplingParams::greedy(),
        ),
    );
    assert_eq!(ids, vec![5]);
    match ev {
        Event::Error(EngineError::Constraint(m)) => assert!(m.contains("no allowed token"), "{m}"),
        other => panic!("{other:?}"),
    }
}
