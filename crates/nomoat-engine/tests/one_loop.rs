//! The CLI's single-sequence driver (`Session::generate`) and the server's engine thread run
//! the same token loop: the same request through both gives the same ids, text, finish reason
//! and log-probs, on a real (tiny) model, including `ignore_eos`, stop strings, seeded sampling
//! and echo scoring.

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use nomoat_engine::generate::{GenerateParams, LoadedModel, Session};
use nomoat_engine::sample::SamplingParams;
use nomoat_engine::scheduler::{
    Engine, Event, GenRequest, PagedRunner, SchedulerConfig, TokenizerVocab,
};
use nomoat_engine::stop::FinishReason;
use nomoat_testkit::{synthetic, synthetic_spec};

fn tiny() -> Arc<LoadedModel> {
    let path = synthetic_spec(synthetic::TINY_LLAMA);
    Arc::new(LoadedModel::load(&path, 1).expect("load tiny llama"))
}

/// What one request produced, in a form both drivers fill.
#[derive(Debug, PartialEq)]
struct Out {
    ids: Vec<u32>,
    text: String,
    finish: FinishReason,
    logprobs: Vec<Vec<(u32, f64)>>,
    prompt_logprobs: Vec<Vec<(u32, f64)>>,
}

fn via_cli(lm: &Arc<LoadedModel>, req: &GenRequest) -> Out {
    let mut s = Session::new(lm.clone(), 256, 64).expect("session");
    let p = GenerateParams {
        max_tokens: req.max_tokens,
        sampling: req.sampling.clone(),
        stop: req.stop.clone(),
        logprobs: req.logprobs.unwrap_or(0),
        echo: req.prompt_logprobs,
        ignore_eos: req.ignore_eos,
        cancel: None,
        constraint: None,
    };
    let mut streamed = String::new();
    let g = s
        .generate(&req.prompt, &p, &mut |t| streamed.push_str(t))
        .expect("generate");
    assert_eq!(streamed, g.text);
    Out {
        ids: g.tokens,
        text: g.text,
        finish: g.finish,
        logprobs: g.logprobs,
        prompt_logprobs: g.prompt_logprobs,
    }
}

fn via_server(engine: &Engine, req: &GenRequest) -> Out {
    let (tx, rx) = channel();
    let permit = engine.try_reserve(1).expect("room").pop().expect("permit");
    engine
        .submit(req.clone(), Box::new(tx), permit)
        .expect("submit");
    let mut out = Out {
        ids: Vec::new(),
        text: String::new(),
        finish: FinishReason::Length,
        logprobs: Vec::new(),
        prompt_logprobs: Vec::new(),
    };
    loop {
        match rx.recv_timeout(Duration::from_secs(60)).expect("event") {
            Event::PromptLogprobs(lp) => {
                out.prompt_logprobs = lp
                    .into_iter()
                    .skip(1)
                    .map(|e| e.expect("entry").top)
                    .collect();
            }
            Event::Token { id, text, logprob } => {
                out.ids.push(id);
                out.text.push_str(&text);
                if let Some(lp) = logprob {
                    out.logprobs.push(lp.top);
                }
            }
            Event::Done { finish_reason, .. } => {
                out.finish = finish_reason;
                return out;
            }
            Event::Error(e) => panic!("engine error: {e}"),
        }
    }
}

fn engine(lm: &Arc<LoadedModel>) -> Engine {
    let runner = PagedRunner::new(lm.clone(), 2048, 256, 64).expect("runner");
    let cfg = SchedulerConfig {
        step_tokens: 64,
        ..Default::default()
    };
    Engine::spawn(runner, Arc::new(TokenizerVocab { lm: lm.clone() }), cfg).expect("spawn")
}

fn prompt(seed: u32, len: usize) -> Vec<u32> {
    let mut p = vec![1u32];
    p.extend((0..len as u32).map(|i| (i * 37 + seed * 101) % 500 + 3));
    p
}

#[test]
fn cli_and_server_give_the_same_tokens() {
    let lm = tiny();
    let e = engine(&lm);
    let eos = lm.tokenizer.eos().expect("eos");

    let mut cases = Vec::new();
    // Greedy with top log-probs.
    let mut r = GenRequest::new(prompt(1, 20), 24, SamplingParams::greedy());
    r.logprobs = Some(3);
    cases.push(r);
    // A prompt longer than one 64-token chunk.
    cases.push(GenRequest::new(
        prompt(2, 150),
        16,
        SamplingParams::greedy(),
    ));
    // Seeded sampling.
    let sampling = SamplingParams {
        temp: 0.9,
        seed: 42,
        ..SamplingParams::default()
    };
    cases.push(GenRequest::new(prompt(3, 12), 20, sampling));
    // EOS forced: both stop after it; with ignore_eos both go on to the limit.
    let mut forced = SamplingParams::greedy();
    forced.logit_bias = vec![(eos, 100.0)];
    let r = GenRequest::new(prompt(4, 8), 10, forced);
    cases.push(r.clone());
    let mut r = r;
    r.ignore_eos = true;
    cases.push(r);
    // Echo scoring with max_tokens 0 and with generation.
    let mut r = GenRequest::new(prompt(5, 30), 0, SamplingParams::greedy());
    r.prompt_logprobs = true;
    r.logprobs = Some(2);
    cases.push(r.clone());
    r.max_tokens = 5;
    cases.push(r);

    for (k, req) in cases.iter().enumerate() {
        let cli = via_cli(&lm, req);
        let server = via_server(&e, req);
        assert_eq!(cli, server, "case {k}: {req:?}");
    }
    // The EOS cases really differ, so `ignore_eos` reached the server's loop.
    let stopped = via_server(&e, &cases[3]);
    assert_eq!(stopped.ids, vec![eos]);
    assert_eq!(stopped.finish, FinishReason::Stop);
    let ignored = via_server(&e, &cases[4]);
    assert_eq!(ignored.ids, vec![eos; 10]);
    assert_eq!(ignored.finish, FinishReason::Length);
}

#[test]
fn stop_strings_end_both_drivers_at_the_same_token() {
    let lm = tiny();
    let e = engine(&lm);
    let req = GenRequest::new(prompt(6, 10), 32, SamplingParams::greedy());
    let full = via_cli(&lm, &req);
    // Stop on a piece of text from the middle of the greedy answer.
    let mid = full.text.len() / 2;
    let Some(stop) = full
        .text
        .get(mid..)
        .and_then(|t| t.chars().find(|c| !c.is_whitespace()))
    else {
        return;
    };
    let mut req = req;
    req.stop = vec![stop.to_string()];
    let cli = via_cli(&lm, &req);
    let server = via_server(&e, &req);
    assert_eq!(cli, server);
    assert!(!cli.text.contains(stop));
}
