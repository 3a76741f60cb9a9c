//! The Anthropic Messages API over the fake model: response shape, the stream's event order,
//! stop sequences, token counting, and Anthropic-shaped errors.

mod common;

use axum::http::StatusCode;
use common::*;
use nomoat_chat::Message;
use nomoat_engine::scheduler::testing::FakeVocab;
use nomoat_server::{ModelText, ServerConfig};
use serde_json::{json, Value};

fn prompt_ids(messages: &[Message]) -> Vec<u32> {
    let p = FakeText.render_chat(messages).expect("render");
    FakeText.tokenize(&p.text, p.add_bos, true)
}

/// `(event name, data)` of each SSE event.
fn sse_events(body: &[u8]) -> Vec<(String, Value)> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim());
            }
        }
        let v: Value = serde_json::from_str(&data).unwrap_or(Value::String(data));
        out.push((name, v));
    }
    out
}

#[tokio::test]
async fn message_has_anthropics_shape_and_the_greedy_answer() {
    let s = setup();
    let body = json!({
        "model": "fake",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "w3"}],
        "messages": [
            {"role": "user", "content": "w5 w6"},
            {"role": "assistant", "content": [{"type": "text", "text": "w7"}]},
            {"role": "user", "content": [{"type": "text", "text": "w8", "cache_control": {"type": "ephemeral"}}]},
        ],
        "temperature": 0,
        "metadata": {"user_id": "u1"},
    });
    let req = axum::http::Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    let (st, v) = send_json(&s.app, req).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ids = prompt_ids(&[
        Message::new("system", "w3"),
        Message::new("user", "w5 w6"),
        Message::new("assistant", "w7"),
        Message::new("user", "w8"),
    ]);
    let (want_ids, want_text) = reference(&ids, 10);
    assert!(v["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "fake");
    assert_eq!(v["content"], json!([{"type": "text", "text": want_text}]));
    let reason = if want_ids.len() < 10 {
        "end_turn"
    } else {
        "max_tokens"
    };
    assert_eq!(v["stop_reason"], reason);
    assert_eq!(v["stop_sequence"], Value::Null);
    assert_eq!(
        v["usage"],
        json!({"input_tokens": ids.len(), "output_tokens": want_ids.len()})
    );

    // count_tokens counts the same prompt.
    let count = json!({"model": "fake", "system": "w3", "messages": body["messages"]});
    let (st, v) = send_json(&s.app, post("/v1/messages/count_tokens", &count)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"input_tokens": ids.len()}));
}

#[tokio::test]
async fn stop_sequence_is_reported_by_name() {
    let s = setup();
    let ids = prompt_ids(&[Message::new("user", "w9 w4")]);
    let (want, full) = reference(&ids, 8);
    assert!(want.len() >= 3 && want[2] as usize != V - 1, "{want:?}");
    let third = FakeVocab::piece(want[2]);
    let stop = third.trim_end().to_string();
    let body = json!({
        "model": "fake", "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "w9 w4"}],
        "stop_sequences": ["never-said", stop],
    });
    let (st, v) = send_json(&s.app, post("/v1/messages", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The text ends just before the stop string's first occurrence.
    let cut = &full[..full
        .find(stop.as_str())
        .expect("the stop string is in the text")];
    assert_eq!(v["content"][0]["text"], cut);
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], stop.as_str());

    // A length stop says max_tokens.
    let body = json!({"model": "fake", "max_tokens": 2, "temperature": 0,
                      "messages": [{"role": "user", "content": "w9 w4"}]});
    let (_, v) = send_json(&s.app, post("/v1/messages", &body)).await;
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn stream_events_come_in_anthropics_order() {
    let s = setup();
    let base = json!({"model": "fake", "max_tokens": 6, "temperature": 0,
                      "messages": [{"role": "user", "content": "w2 w11"}]});
    let (_, plain) = send_json(&s.app, post("/v1/messages", &base)).await;
    let mut streamed = base.clone();
    streamed["stream"] = json!(true);
    let (st, h, body) = send(&s.app, post("/v1/messages", &streamed)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/event-stream"));
    let evs = sse_events(&body);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    // Every event is named by its payload's type, and there is no [DONE].
    for (n, d) in &evs {
        assert_eq!(d["type"].as_str(), Some(n.as_str()), "{d}");
    }
    assert_eq!(
        &names[..3],
        &["message_start", "content_block_start", "ping"]
    );
    assert_eq!(
        &names[names.len() - 3..],
        &["content_block_stop", "message_delta", "message_stop"]
    );
    let deltas = &names[3..names.len() - 3];
    assert!(!deltas.is_empty());
    assert!(deltas.iter().all(|n| *n == "content_block_delta"));

    let start = &evs[0].1["message"];
    assert!(start["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(start["content"], json!([]));
    assert_eq!(
        start["usage"]["input_tokens"],
        plain["usage"]["input_tokens"]
    );
    assert_eq!(
        evs[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = evs[3..evs.len() - 3]
        .iter()
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "text_delta");
            assert_eq!(d["index"], 0);
            d["delta"]["text"].as_str().expect("text").to_string()
        })
        .collect();
    assert_eq!(text, plain["content"][0]["text"].as_str().expect("text"));
    let delta = &evs[evs.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], plain["stop_reason"]);
    assert_eq!(delta["delta"]["stop_sequence"], Value::Null);
    assert_eq!(
        delta["usage"]["output_tokens"],
        plain["usage"]["output_tokens"]
    );
    assert!(!String::from_utf8_lossy(&body).contains("[DONE]"));
}

async fn anthropic_error(s: &Setup, uri: &str, body: Value) -> (StatusCode, Value) {
    let (st, v) = send_json(&s.app, post(uri, &body)).await;
    assert_eq!(v["type"], "error", "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    (st, v["error"].clone())
}

#[tokio::test]
async fn errors_are_anthropic_shaped_and_name_the_field() {
    let s = setup();
    let user = json!([{"role": "user", "content": "w1"}]);
    let cases = [
        (json!({"model": "fake", "messages": user}), "max_tokens"),
        (json!({"max_tokens": 5, "messages": user}), "model"),
        (json!({"model": "fake", "max_tokens": 5}), "messages"),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": user, "tools": [{"name": "f", "input_schema": {}}]}),
            "tools",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": user, "tool_choice": {"type": "any"}}),
            "tool_choice",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": user, "thinking": {"type": "enabled", "budget_tokens": 1024}}),
            "thinking",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": user, "temperature": 1.5}),
            "temperature",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": user, "frequency_penalty": 1}),
            "frequency_penalty",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}),
            "'image'",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]}),
            "'tool_result'",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": [{"role": "user", "content": "w1"}, {"role": "assistant", "content": "w2"}]}),
            "prefill",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": [{"role": "system", "content": "w1"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "fake", "max_tokens": 5, "messages": user, "stop_sequences": [""]}),
            "stop_sequences.0",
        ),
        (
            json!({"model": "fake", "max_tokens": 100000, "messages": user}),
            "context length",
        ),
    ];
    for (body, needle) in cases {
        let (st, e) = anthropic_error(&s, "/v1/messages", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(e["type"], "invalid_request_error", "{body}");
        assert!(
            e["message"].as_str().expect("msg").contains(needle),
            "{needle}: {e}"
        );
    }
    // Tool and thinking fields at their neutral values change nothing and pass.
    let neutral = json!({"model": "fake", "max_tokens": 2, "messages": user, "tools": [],
                         "tool_choice": {"type": "auto"}, "thinking": {"type": "disabled"}});
    let (st, v) = send_json(&s.app, post("/v1/messages", &neutral)).await;
    assert_eq!(st, StatusCode::OK, "{v}");

    let (st, e) = anthropic_error(
        &s,
        "/v1/messages",
        json!({"model": "claude-3-5-haiku", "max_tokens": 5, "messages": user}),
    )
    .await;
    assert_eq!(
        (st, e["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found_error"))
    );
    let (st, e) = anthropic_error(
        &s,
        "/v1/messages/count_tokens",
        json!({"model": "fake", "messages": [{"role": "user", "content": [{"type": "document"}]}]}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().expect("m").contains("'document'"));

    let (st, _, b) = send(
        &s.app,
        axum::http::Request::post("/v1/messages")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{not json"))
            .expect("req"),
    )
    .await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn a_wrong_key_is_an_anthropic_authentication_error() {
    let cfg = ServerConfig {
        api_key: Some("sekret".into()),
        ..ServerConfig::default()
    };
    let s = setup_with(cfg, Default::default(), 0);
    let body =
        json!({"model": "fake", "max_tokens": 2, "messages": [{"role": "user", "content": "w1"}]});
    let (st, v) = send_json(&s.app, post("/v1/messages", &body)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    // The SDK sends the key as x-api-key.
    let req = axum::http::Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("x-api-key", "sekret")
        .body(axum::body::Body::from(body.to_string()))
        .expect("req");
    let (st, v) = send_json(&s.app, req).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Other routes keep OpenAI's error shape.
    let (st, v) = send_json(&s.app, post("/v1/chat/completions", &json!({}))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["type"], "authentication_error");
    assert!(v.get("type").is_none());
}
