//! In-process tests of every route and error path (`tower::ServiceExt::oneshot`) over the
//! engine's deterministic fake model.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use nomoat_engine::scheduler::SchedulerConfig;
use nomoat_server::ServerConfig;
use serde_json::{json, Value};

#[tokio::test]
async fn health_models_and_unknown_routes() {
    let s = setup();
    let (st, v) = send_json(&s.app, get("/health")).await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (st, v) = send_json(&s.app, get("/v1/models")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "fake");
    let (st, _) = send_json(&s.app, get("/v1/models/fake")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = send_json(&s.app, get("/v1/models/gpt-4")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "model_not_found");

    let (st, v) = send_json(&s.app, get("/v2/nothing")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["type"], "not_found_error");
    let (st, v) = send_json(&s.app, get("/v1/chat/completions")).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn health_is_503_while_loading() {
    let state = nomoat_server::AppState::new(ServerConfig::default(), Default::default());
    let app = nomoat_server::router(state);
    let (st, h, b) = send(&app, get("/health")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.get("retry-after").is_some());
    assert!(String::from_utf8_lossy(&b).contains("Loading model"));
    let (st, _) = send_json(&app, post("/v1/completions", &json!({"prompt": "w1"}))).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn chat_completion_gives_the_models_greedy_answer() {
    let s = setup();
    let body = json!({
        "model": "fake",
        "messages": [{"role": "user", "content": "w5 w6 w7"}],
        "temperature": 0,
        "max_tokens": 10,
        "logprobs": true,
        "top_logprobs": 3,
        "user": "someone",
    });
    let (st, v) = send_json(&s.app, post("/v1/chat/completions", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ids = chat_prompt_ids("w5 w6 w7");
    let (want_ids, want_text) = reference(&ids, 10);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], want_text.as_str());
    let finish = if want_ids.len() < 10 {
        "stop"
    } else {
        "length"
    };
    assert_eq!(v["choices"][0]["finish_reason"], finish);
    assert_eq!(v["usage"]["prompt_tokens"], ids.len());
    assert_eq!(v["usage"]["completion_tokens"], want_ids.len());
    assert_eq!(v["usage"]["total_tokens"], ids.len() + want_ids.len());
    let lp = v["choices"][0]["logprobs"]["content"]
        .as_array()
        .expect("logprobs");
    assert!(!lp.is_empty());
    assert_eq!(lp[0]["top_logprobs"].as_array().map(Vec::len), Some(3));
    // Greedy: the chosen token is the top-1 alternative.
    assert_eq!(lp[0]["token"], lp[0]["top_logprobs"][0]["token"]);
    assert!(lp[0]["logprob"].as_f64().expect("lp") <= 0.0);
}

#[tokio::test]
async fn chat_content_parts_and_null_content() {
    let s = setup();
    let body = json!({
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "w1"}, {"type": "text", "text": "w2"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "w3", "tool_call_id": "c1"},
            {"role": "user", "content": "w4"}
        ],
        "temperature": 0, "max_tokens": 3
    });
    let (st, v) = send_json(&s.app, post("/v1/chat/completions", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let bad = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]});
    let (st, v) = send_json(&s.app, post("/v1/chat/completions", &bad)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["param"], "messages[0].content[0].type");
}

#[tokio::test]
async fn streaming_chat_matches_non_streaming_and_reports_usage() {
    let s = setup();
    let base = json!({"messages": [{"role": "user", "content": "w9 w8"}], "temperature": 0, "max_tokens": 12});
    let (_, plain) = send_json(&s.app, post("/v1/chat/completions", &base)).await;
    let mut streamed = base.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (st, h, body) = send(&s.app, post("/v1/chat/completions", &streamed)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/event-stream"));
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("chunk json"))
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
    );
    let usage_chunk = chunks.last().expect("usage chunk");
    assert_eq!(usage_chunk["choices"].as_array().map(Vec::len), Some(0));
    for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(usage_chunk["usage"][k], plain["usage"][k], "{k}");
    }
    // The second request found the first one's prompt blocks in the prefix cache.
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"],
        4
    );
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&plain["choices"][0]["finish_reason"]]);
    // Every chunk but the last carries "usage": null when include_usage is on.
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null()));
}

#[tokio::test]
async fn completions_echo_logprobs_score_the_prompt() {
    let s = setup();
    let prompt = vec![3u32, 14, 15, 9, 26, 5];
    let body =
        json!({"prompt": prompt, "max_tokens": 0, "echo": true, "logprobs": 1, "temperature": 0});
    let (st, v) = send_json(&s.app, post("/v1/completions", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let c = &v["choices"][0];
    assert_eq!(c["text"], "w3 w14 w15 w9 w26 w5 ");
    let lp = &c["logprobs"];
    assert_eq!(lp["tokens"].as_array().map(Vec::len), Some(6));
    assert!(lp["token_logprobs"][0].is_null());
    for i in 1..6 {
        let l = nomoat_engine::scheduler::testing::FakeRunner::logits_for(&prompt[..i], V);
        let lse = nomoat_engine::sample::log_sum_exp(&l);
        let want = f64::from(l[prompt[i] as usize]) - lse;
        let got = lp["token_logprobs"][i].as_f64().expect("lp");
        assert!((got - want).abs() < 1e-4, "position {i}: {got} vs {want}");
        assert_eq!(lp["top_logprobs"][i].as_object().map(|m| m.len()), Some(1));
    }
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    assert_eq!(v["usage"]["completion_tokens"], 0);
    assert_eq!(c["finish_reason"], "length");
}

#[tokio::test]
async fn completions_prompt_forms() {
    let s = setup();
    for (prompt, n_choices) in [
        (json!("w1 w2"), 1),
        (json!(["w1 w2", "w3"]), 2),
        (json!([1, 2, 3]), 1),
        (json!([[1, 2], [3, 4, 5]]), 2),
    ] {
        let body = json!({"prompt": prompt, "max_tokens": 4, "temperature": 0, "n": 2});
        let (st, v) = send_json(&s.app, post("/v1/completions", &body)).await;
        assert_eq!(st, StatusCode::OK, "{prompt}: {v}");
        let choices = v["choices"].as_array().expect("choices");
        assert_eq!(choices.len(), 2 * n_choices, "{prompt}");
        // Greedy: both samples of one prompt agree.
        assert_eq!(choices[0]["text"], choices[1]["text"]);
        assert_eq!(choices[1]["index"], 1);
    }
    // A plain completion continues the text exactly as the model would.
    let body = json!({"prompt": "w7 w8", "max_tokens": 5, "temperature": 0});
    let (_, v) = send_json(&s.app, post("/v1/completions", &body)).await;
    let (_, want) = reference(&[BOS, 7, 8], 5);
    assert_eq!(v["choices"][0]["text"], want.as_str());
}

#[tokio::test]
async fn completions_stream() {
    let s = setup();
    let body = json!({"prompt": "w2", "max_tokens": 6, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}});
    let (st, _, b) = send(&s.app, post("/v1/completions", &body)).await;
    assert_eq!(st, StatusCode::OK);
    let data = sse_data(&b);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("json"))
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    let (ids, want) = reference(&[BOS, 2], 6);
    assert_eq!(text, want);
    assert_eq!(
        chunks.last().expect("usage")["usage"]["completion_tokens"],
        ids.len()
    );
}

async fn expect_400(s: &Setup, uri: &str, body: Value, param: &str) -> Value {
    let (st, v) = send_json(&s.app, post(uri, &body)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body} → {v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert_eq!(v["error"]["param"], param, "{body} → {v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    v
}

#[tokio::test]
async fn invalid_requests_get_400_naming_the_field() {
    let s = setup();
    let msgs = json!([{"role": "user", "content": "w1"}]);
    let chat = "/v1/chat/completions";
    let cmpl = "/v1/completions";
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "temperature": 2.5}),
        "temperature",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "temperature": "hot"}),
        "temperature",
    )
    .await;
    expect_400(&s, chat, json!({"messages": msgs, "top_p": -0.1}), "top_p").await;
    expect_400(&s, chat, json!({"messages": msgs, "n": 9}), "n").await;
    expect_400(&s, chat, json!({"messages": msgs, "n": 0}), "n").await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "max_tokens": -1}),
        "max_tokens",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "max_tokens": 1e308}),
        "max_tokens",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "logprobs": true, "top_logprobs": 21}),
        "top_logprobs",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "top_logprobs": 2}),
        "top_logprobs",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "logit_bias": {"99999": 1}}),
        "logit_bias",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "logit_bias": {"3": 1000}}),
        "logit_bias",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "stop": vec!["x"; 17]}),
        "stop",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "stop": "x".repeat(2000)}),
        "stop",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "stream_options": {"include_usage": true}}),
        "stream_options",
    )
    .await;
    expect_400(&s, chat, json!({"messages": []}), "messages").await;
    expect_400(
        &s,
        chat,
        json!({"messages": [{"role": "wizard", "content": "x"}]}),
        "messages[0].role",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "frobnicate": 1}),
        "frobnicate",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "tools": [{"type": "function", "function": {"name": "no spaces"}}]}),
        "tools",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "tool_choice": "required"}),
        "tool_choice",
    )
    .await;
    expect_400(
        &s,
        chat,
        json!({"messages": msgs, "response_format": {"type": "json_object"}}),
        "response_format",
    )
    .await;
    // Neutral values of unsupported fields are fine.
    let (st, _) = send_json(&s.app, post(chat, &json!({"messages": msgs, "max_tokens": 1, "tools": [], "response_format": {"type": "text"}}))).await;
    assert_eq!(st, StatusCode::OK);

    expect_400(&s, cmpl, json!({"prompt": [1, 64]}), "prompt").await;
    expect_400(&s, cmpl, json!({"prompt": [1, -1]}), "prompt").await;
    expect_400(&s, cmpl, json!({"prompt": [1, 4294967296u64]}), "prompt").await;
    expect_400(&s, cmpl, json!({"prompt": [1, "a"]}), "prompt").await;
    expect_400(&s, cmpl, json!({"prompt": []}), "prompt").await;
    expect_400(&s, cmpl, json!({"prompt": "w1", "suffix": "x"}), "suffix").await;
    expect_400(&s, cmpl, json!({"prompt": "w1", "best_of": 3}), "best_of").await;
    expect_400(
        &s,
        cmpl,
        json!({"prompt": "w1", "logprobs": 21}),
        "logprobs",
    )
    .await;
    let v = expect_400(
        &s,
        cmpl,
        json!({"prompt": "w1", "max_tokens": 1000}),
        "prompt",
    )
    .await;
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.contains("128") && msg.contains("1000"), "{msg}");
    let v = expect_400(
        &s,
        chat,
        json!({"messages": msgs, "max_tokens": 500}),
        "messages",
    )
    .await;
    assert_eq!(v["error"]["code"], "context_length_exceeded");

    // Not JSON, not an object.
    let (st, v) = send_json(
        &s.app,
        axum::http::Request::post(chat)
            .body(axum::body::Body::from("{nope"))
            .expect("req"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"]
        .as_str()
        .expect("m")
        .contains("invalid JSON"));
    let (st, _) = send_json(&s.app, post(chat, &json!([1, 2]))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // The server still works afterwards.
    let (st, _) = send_json(
        &s.app,
        post(cmpl, &json!({"prompt": "w1", "max_tokens": 2})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn oversize_body_is_413_before_parsing() {
    let cfg = ServerConfig {
        max_body_bytes: 1000,
        ..Default::default()
    };
    let s = setup_with(cfg, SchedulerConfig::default(), 0);
    let body = json!({"prompt": "w1 ".repeat(600)});
    let (st, v) = send_json(&s.app, post("/v1/completions", &body)).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"]["message"].as_str().expect("m").contains("1000"));
    // Without a Content-Length (streamed body) the limit holds too.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..20).map(|_| Ok("x".repeat(100))).collect();
    let req = axum::http::Request::post("/v1/completions")
        .body(axum::body::Body::from_stream(futures_util::stream::iter(
            chunks,
        )))
        .expect("req");
    let (st, _) = send_json(&s.app, req).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn api_key_is_required_everywhere_but_health() {
    let cfg = ServerConfig {
        api_key: Some("sekret".into()),
        ..Default::default()
    };
    let s = setup_with(cfg, SchedulerConfig::default(), 0);
    let (st, _) = send_json(&s.app, get("/health")).await;
    assert_eq!(st, StatusCode::OK);
    for uri in ["/v1/models", "/metrics", "/nowhere"] {
        let (st, h, b) = send(&s.app, get(uri)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(h["www-authenticate"], "Bearer");
        let v: Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(v["error"]["type"], "authentication_error");
    }
    let mut req = post("/v1/completions", &json!({"prompt": "w1", "max_tokens": 1}));
    req.headers_mut()
        .insert("authorization", "Bearer wrong".parse().expect("h"));
    assert_eq!(send(&s.app, req).await.0, StatusCode::UNAUTHORIZED);
    let mut req = get("/v1/models");
    req.headers_mut()
        .insert("authorization", "Bearer sekret".parse().expect("h"));
    assert_eq!(send(&s.app, req).await.0, StatusCode::OK);
    let mut req = get("/v1/models");
    req.headers_mut()
        .insert("x-api-key", "sekret".parse().expect("h"));
    assert_eq!(send(&s.app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn full_queue_is_503_with_retry_after() {
    let sched = SchedulerConfig {
        max_running: 1,
        queue_capacity: 1,
        ..Default::default()
    };
    let s = setup_with(ServerConfig::default(), sched, 0);
    let engine = &s.state.model().expect("model").engine;
    let held = engine.try_reserve(engine.capacity()).expect("all places");
    let (st, h, b) = send(
        &s.app,
        post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "w1"}]}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.get("retry-after").is_some());
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert!(v["error"]["message"].as_str().expect("m").contains("busy"));
    drop(held);
    let (st, _) = send_json(
        &s.app,
        post("/v1/completions", &json!({"prompt": "w1", "max_tokens": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_panic_is_that_requests_500_only() {
    let s = setup();
    let body = json!({"messages": [{"role": "user", "content": "PANIC"}]});
    let (st, v) = send_json(&s.app, post("/v1/chat/completions", &body)).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["error"]["type"], "server_error");
    let ok = json!({"messages": [{"role": "user", "content": "w1"}], "max_tokens": 2});
    let (st, _) = send_json(&s.app, post("/v1/chat/completions", &ok)).await;
    assert_eq!(st, StatusCode::OK);
    // The place the panicking request reserved came back.
    wait_idle(&s.state).await;
}

#[tokio::test]
async fn tokenize_and_detokenize() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/tokenize",
            &json!({"content": "w5 w6", "add_special": true}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["tokens"], json!([BOS, 5, 6]));
    let (_, v) = send_json(
        &s.app,
        post("/tokenize", &json!({"content": "w5", "with_pieces": true})),
    )
    .await;
    assert_eq!(v["tokens"], json!([{"id": 5, "piece": "w5 "}]));
    let (st, v) = send_json(&s.app, post("/detokenize", &json!({"tokens": [5, 6]}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["content"], "w5 w6 ");
    expect_400(&s, "/detokenize", json!({"tokens": [5, 64]}), "tokens").await;
    expect_400(&s, "/tokenize", json!({"text": "x"}), "text").await;
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_engine_state() {
    let s = setup();
    send_json(
        &s.app,
        post(
            "/v1/completions",
            &json!({"prompt": "w1 w2", "max_tokens": 3, "temperature": 0}),
        ),
    )
    .await;
    send_json(&s.app, get("/nope")).await;
    wait_idle(&s.state).await;
    let (st, h, b) = send(&s.app, get("/metrics")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/plain"));
    let text = String::from_utf8(b).expect("utf8");
    for name in [
        "nomoat_requests_total{route=\"/v1/completions\",status=\"200\"} 1",
        "nomoat_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "nomoat_prompt_tokens_total 3",
        "nomoat_queue_depth 0",
        "nomoat_running_sequences 0",
        "nomoat_kv_blocks_free",
        "nomoat_kv_blocks_used",
        "nomoat_prefix_cache_hits_total",
        "nomoat_time_to_first_token_seconds_count 1",
        "nomoat_inter_token_latency_seconds_bucket",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
}

#[tokio::test]
async fn repeated_system_prompt_hits_the_prefix_cache() {
    let s = setup();
    let system = (0..24)
        .map(|i| format!("w{}", i % 60 + 2))
        .collect::<Vec<_>>()
        .join(" ");
    for q in ["w3", "w4"] {
        let body = json!({"messages": [{"role": "system", "content": system}, {"role": "user", "content": q}], "max_tokens": 2});
        let (st, v) = send_json(&s.app, post("/v1/chat/completions", &body)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let stats = s.state.model().expect("m").engine.stats();
    assert_eq!(stats.prefix_hits, 1);
    assert!(stats.prefix_hit_tokens >= 20, "{stats:?}");
}

#[tokio::test]
async fn shutdown_refuses_new_requests() {
    let s = setup();
    let m = s.state.model().expect("m").clone();
    tokio::task::spawn_blocking(move || m.engine.shutdown(Duration::from_millis(10)))
        .await
        .expect("join");
    let (st, h, _) = send(&s.app, post("/v1/completions", &json!({"prompt": "w1"}))).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.get("retry-after").is_some());
    let (st, _) = send_json(&s.app, get("/health")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn more_choices_than_the_server_holds_is_400_not_503() {
    let sched = SchedulerConfig {
        max_running: 2,
        queue_capacity: 2,
        ..Default::default()
    };
    let s = setup_with(ServerConfig::default(), sched, 0);
    let body = json!({"prompt": ["w1", "w2", "w3"], "n": 2, "max_tokens": 1});
    expect_400(&s, "/v1/completions", body, "n").await;
    let body = json!({"prompt": ["w1", "w2"], "n": 2, "max_tokens": 1});
    let (st, v) = send_json(&s.app, post("/v1/completions", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["choices"].as_array().map(Vec::len), Some(4));
}

/// `ignore_eos` (a nomoat extension, as in llama-server) reaches the token loop: with the
/// end-of-generation token forced, a request stops after it, or runs to `max_tokens` with it set.
#[tokio::test]
async fn ignore_eos_runs_to_max_tokens() {
    let s = setup();
    let eog = (V - 1).to_string();
    for (ignore, want_tokens, want_finish) in [(false, 1, "stop"), (true, 5, "length")] {
        for (uri, mut body) in [
            (
                "/v1/completions",
                json!({"prompt": "w3 w4", "max_tokens": 5, "temperature": 0}),
            ),
            (
                "/v1/chat/completions",
                json!({"messages": [{"role": "user", "content": "w3"}], "max_tokens": 5, "temperature": 0}),
            ),
        ] {
            body["logit_bias"] = json!({eog.clone(): 100});
            body["ignore_eos"] = json!(ignore);
            let (st, v) = send_json(&s.app, post(uri, &body)).await;
            assert_eq!(st, StatusCode::OK, "{v}");
            assert_eq!(v["usage"]["completion_tokens"], want_tokens, "{uri} {v}");
            assert_eq!(v["choices"][0]["finish_reason"], want_finish, "{uri} {v}");
        }
    }
    let (st, _) = send_json(
        &s.app,
        post(
            "/v1/completions",
            &json!({"prompt": "w3", "ignore_eos": "yes"}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
