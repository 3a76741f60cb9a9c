//! The OpenAI Responses API over the fake model: the response object, the stream's event order
//! and sequence numbers, and refused fields.

mod common;

use axum::http::StatusCode;
use common::*;
use nomoat_chat::Message;
use nomoat_server::ModelText;
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
async fn response_object_has_openais_shape() {
    let s = setup();
    let body = json!({
        "model": "fake",
        "instructions": "w3",
        "input": [
            {"role": "developer", "content": "w4"},
            {"role": "user", "content": [{"type": "input_text", "text": "w5"}]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "w6", "annotations": []}]},
            {"role": "user", "content": "w7"},
        ],
        "temperature": 0,
        "max_output_tokens": 50,
        "store": false,
        "metadata": {"k": "v"},
        "user": "someone",
    });
    let (st, v) = send_json(&s.app, post("/v1/responses", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ids = prompt_ids(&[
        Message::new("system", "w3"),
        Message::new("system", "w4"),
        Message::new("user", "w5"),
        Message::new("assistant", "w6"),
        Message::new("user", "w7"),
    ]);
    let (want_ids, want_text) = reference(&ids, 50);
    assert!(want_ids.len() < 50, "the fake model should end on its own");
    assert!(v["id"].as_str().expect("id").starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert!(v["created_at"].as_u64().is_some());
    assert_eq!(v["status"], "completed");
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(v["model"], "fake");
    assert_eq!(v["instructions"], "w3");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["store"], false);
    let out = v["output"].as_array().expect("output");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "message");
    assert_eq!(out[0]["role"], "assistant");
    assert_eq!(out[0]["status"], "completed");
    assert!(out[0]["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(
        out[0]["content"],
        json!([{"type": "output_text", "text": want_text, "annotations": []}])
    );
    assert_eq!(v["usage"]["input_tokens"], ids.len());
    assert_eq!(v["usage"]["output_tokens"], want_ids.len());
    assert_eq!(v["usage"]["total_tokens"], ids.len() + want_ids.len());
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 0);

    // A string input is one user message; the limit makes it incomplete.
    let body = json!({"model": "fake", "input": "w7", "max_output_tokens": 2, "temperature": 0});
    let (st, v) = send_json(&s.app, post("/v1/responses", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, want) = reference(&prompt_ids(&[Message::new("user", "w7")]), 2);
    assert_eq!(v["output"][0]["content"][0]["text"], want.as_str());
    assert_eq!(v["status"], "incomplete");
    assert_eq!(
        v["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(v["output"][0]["status"], "incomplete");
}

#[tokio::test]
async fn stream_events_come_in_openais_order() {
    let s = setup();
    let base = json!({"input": "w2 w11", "temperature": 0, "max_output_tokens": 5});
    let (_, plain) = send_json(&s.app, post("/v1/responses", &base)).await;
    let mut streamed = base.clone();
    streamed["stream"] = json!(true);
    let (st, _, body) = send(&s.app, post("/v1/responses", &streamed)).await;
    assert_eq!(st, StatusCode::OK);
    let evs = sse_events(&body);
    for (i, (n, d)) in evs.iter().enumerate() {
        assert_eq!(d["type"].as_str(), Some(n.as_str()), "{d}");
        assert_eq!(d["sequence_number"], i, "{d}");
    }
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    let last = if plain["status"] == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    assert_eq!(
        &names[..4],
        &[
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        &names[names.len() - 4..],
        &[
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            last
        ]
    );
    let deltas = &evs[4..evs.len() - 4];
    assert!(!deltas.is_empty());
    let text: String = deltas
        .iter()
        .map(|(n, d)| {
            assert_eq!(n, "response.output_text.delta");
            d["delta"].as_str().expect("delta").to_string()
        })
        .collect();
    let want = plain["output"][0]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert_eq!(text, want);
    let created = &evs[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["output"], json!([]));
    let item_id = evs[2].1["item"]["id"].as_str().expect("item id");
    for (_, d) in &evs[3..evs.len() - 1] {
        let id = d.get("item_id").unwrap_or(&d["item"]["id"]);
        assert_eq!(id, item_id, "{d}");
    }
    assert_eq!(evs[evs.len() - 4].1["text"], want);
    let fin = &evs[evs.len() - 1].1["response"];
    assert_eq!(fin["id"], created["id"]);
    assert_eq!(fin["output"][0]["content"], plain["output"][0]["content"]);
    // The same counts (the second run reuses the cached prompt prefix, so cached_tokens differ).
    for k in ["input_tokens", "output_tokens", "total_tokens"] {
        assert_eq!(fin["usage"][k], plain["usage"][k], "{k}");
    }
    assert!(fin["usage"]["input_tokens_details"]["cached_tokens"].as_u64() > Some(0));
    assert!(!String::from_utf8_lossy(&body).contains("[DONE]"));
}

#[tokio::test]
async fn refused_fields_are_named() {
    let s = setup();
    let cases = [
        (
            json!({"input": "w1", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"input": "w1", "tools": [{"type": "function", "name": "f"}]}),
            "tools",
        ),
        (
            json!({"input": "w1", "reasoning": {"effort": "low"}}),
            "reasoning",
        ),
        (
            json!({"input": "w1", "text": {"format": {"type": "json_object"}}}),
            "text.format",
        ),
        (
            json!({"input": "w1", "include": ["reasoning.encrypted_content"]}),
            "include",
        ),
        (json!({"input": "w1", "background": true}), "background"),
        (json!({"input": "w1", "seed": 3}), "seed"),
        (
            json!({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}),
            "input[0].type",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"input": [{"role": "tool", "content": "x"}]}),
            "input[0].role",
        ),
        (json!({"input": []}), "input"),
        (json!({}), "input"),
        (
            json!({"input": "w1", "max_output_tokens": 0}),
            "max_output_tokens",
        ),
    ];
    for (body, param) in cases {
        let (st, v) = send_json(&s.app, post("/v1/responses", &body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["param"], param, "{body}: {v}");
    }
    // Neutral values of refused fields pass, and store: true is accepted (nothing is stored).
    let ok = json!({"input": "w1", "max_output_tokens": 2, "tools": [], "tool_choice": "auto",
                    "text": {"format": {"type": "text"}}, "include": [], "truncation": "disabled",
                    "store": true, "reasoning": null});
    let (st, v) = send_json(&s.app, post("/v1/responses", &ok)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["store"], false);
    let (st, v) = send_json(
        &s.app,
        post("/v1/responses", &json!({"model": "gpt-4o", "input": "w1"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "model_not_found");
}
