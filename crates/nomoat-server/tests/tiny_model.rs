//! The server over a real model (the tiny synthetic llama): 16 concurrent streaming clients get
//! exactly the tokens each gets alone (greedy), so batching never mixes sequences; chat and
//! prompt scoring work through the real tokenizer and template.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{get, post, send, send_json, sse_data, wait_idle};
use nomoat_engine::scheduler::SchedulerConfig;
use nomoat_server::{load_served, router, AppState, EngineOptions, Limits, ServerConfig};
use serde_json::{json, Value};

fn tiny_server(parallel: usize) -> (axum::Router, Arc<AppState>) {
    let path = nomoat_testkit::synthetic_spec(nomoat_testkit::synthetic::TINY_LLAMA);
    let opts = EngineOptions {
        n_threads: 1,
        kv_tokens: 4096,
        n_ctx: 256,
        sched: SchedulerConfig {
            max_running: parallel,
            queue_capacity: 32,
            step_tokens: 64,
            ..Default::default()
        },
        // The synthetic model has no chat template and no family: choose one, as `--chat-template`.
        chat_template: Some(nomoat_chat::TemplateChoice::builtin("chatml").expect("chatml")),
        pooling: None,
    };
    let served = load_served(&path, "tiny-llama", &opts)
        .expect("load tiny llama")
        .served;
    let state = AppState::new(ServerConfig::default(), Limits::default());
    assert!(state.set_model(served));
    (router(state.clone()), state)
}

fn prompt_ids(i: usize) -> Vec<u32> {
    // Different lengths (3..=48) and contents; 1 is BOS in the synthetic vocabulary.
    let mut ids = vec![1u32];
    ids.extend((0..3 + (i * 7) % 46).map(|k| ((k * 31 + i * 17) % 500 + 3) as u32));
    ids
}

/// Generated token ids of one streamed completion, from its log-prob entries.
async fn stream_tokens(app: &axum::Router, ids: &[u32]) -> (String, Vec<String>) {
    let body = json!({
        "prompt": ids, "max_tokens": 24, "temperature": 0, "stream": true, "logprobs": 0,
    });
    let (st, _, b) = send(app, post("/v1/completions", &body)).await;
    assert_eq!(st, StatusCode::OK);
    let data = sse_data(&b);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let mut text = String::new();
    let mut tokens = Vec::new();
    for d in &data[..data.len() - 1] {
        let c: Value = serde_json::from_str(d).expect("chunk");
        assert!(c.get("error").is_none(), "{c}");
        text.push_str(c["choices"][0]["text"].as_str().unwrap_or(""));
        if let Some(t) = c["choices"][0]["logprobs"]["tokens"].as_array() {
            tokens.extend(t.iter().map(|x| x.as_str().unwrap_or("").to_string()));
        }
    }
    (text, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_streams_match_their_solo_runs() {
    let (app, state) = tiny_server(16);
    let mut alone = Vec::new();
    for i in 0..16 {
        alone.push(stream_tokens(&app, &prompt_ids(i)).await);
    }
    assert!(alone.iter().all(|(_, t)| !t.is_empty()));
    wait_idle(&state).await;
    let steps_before = state.model().expect("model").engine.stats().steps;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { stream_tokens(&app, &prompt_ids(i)).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let together = t.await.expect("task");
        assert_eq!(together, alone[i], "stream {i} differs when batched");
    }
    wait_idle(&state).await;
    // They really ran together: far fewer forward passes than generated tokens.
    let steps = state.model().expect("model").engine.stats().steps - steps_before;
    let generated: usize = alone.iter().map(|(_, t)| t.len()).sum();
    assert!(
        steps * 2 < generated as u64,
        "{steps} steps for {generated} tokens"
    );
}

#[tokio::test]
async fn chat_and_prompt_scoring_on_a_real_model() {
    let (app, state) = tiny_server(4);
    let chat = json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}], "max_tokens": 8, "temperature": 0});
    let (st, v) = send_json(&app, post("/v1/chat/completions", &chat)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["usage"]["prompt_tokens"].as_u64().expect("n") > 5);
    assert!(v["usage"]["completion_tokens"].as_u64().expect("n") >= 1);

    // Echo scoring: the log-prob of each prompt token equals what a completion of the prefix
    // reports for that token.
    let ids = prompt_ids(5);
    let body = json!({"prompt": ids, "max_tokens": 0, "echo": true, "logprobs": 1});
    let (st, v) = send_json(&app, post("/v1/completions", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let lps = v["choices"][0]["logprobs"]["token_logprobs"]
        .as_array()
        .expect("lps")
        .clone();
    assert_eq!(lps.len(), ids.len());
    assert!(lps[0].is_null());
    for k in [1usize, 4, ids.len() - 1] {
        let body = json!({"prompt": &ids[..k], "max_tokens": 1, "logprobs": 20, "temperature": 0,
                          "logit_bias": {ids[k].to_string(): 100}});
        let (_, w) = send_json(&app, post("/v1/completions", &body)).await;
        // With the bias the sampled token is ids[k]; its reported log-prob is of the raw logits.
        let got = w["choices"][0]["logprobs"]["token_logprobs"][0]
            .as_f64()
            .expect("lp");
        let want = lps[k].as_f64().expect("lp");
        assert!((got - want).abs() < 1e-4, "position {k}: {got} vs {want}");
    }
    let (st, _, b) = send(&app, get("/metrics")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(String::from_utf8_lossy(&b).contains("nomoat_kv_blocks_free"));
    wait_idle(&state).await;
}
