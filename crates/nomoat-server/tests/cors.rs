//! Browser access (CORS) and the header that lists accepted-without-effect fields.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{post, send, setup_with};
use nomoat_engine::scheduler::SchedulerConfig;
use nomoat_server::ServerConfig;
use serde_json::json;

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri("/v1/chat/completions")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .expect("request")
}

fn keyed(origins: &[&str]) -> ServerConfig {
    ServerConfig {
        api_key: Some("k".into()),
        cors_origins: origins.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn localhost_pages_pass_preflight_without_the_key_and_others_do_not() {
    let s = setup_with(keyed(&[]), SchedulerConfig::default(), 0);
    let (status, h, _) = send(&s.app, preflight("http://localhost:5173")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(h["access-control-allow-origin"], "http://localhost:5173");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");

    let (_, h, _) = send(&s.app, preflight("http://evil.example")).await;
    assert!(h.get("access-control-allow-origin").is_none());
    let (_, h, _) = send(&s.app, preflight("http://localhost.evil.example")).await;
    assert!(h.get("access-control-allow-origin").is_none());

    // The real request still needs the key; the CORS header is on its answer too.
    let mut req = post(
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "w1"}], "max_tokens": 1}),
    );
    req.headers_mut()
        .insert("origin", "http://127.0.0.1:3000".parse().unwrap());
    let (status, h, _) = send(&s.app, req).await;
    assert_eq!(status, 401);
    assert_eq!(h["access-control-allow-origin"], "http://127.0.0.1:3000");
}

#[tokio::test]
async fn configured_origins_replace_the_localhost_default() {
    let s = setup_with(
        keyed(&["https://app.example"]),
        SchedulerConfig::default(),
        0,
    );
    let (_, h, _) = send(&s.app, preflight("https://app.example")).await;
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let (_, h, _) = send(&s.app, preflight("http://localhost:5173")).await;
    assert!(h.get("access-control-allow-origin").is_none());

    let s = setup_with(keyed(&["*"]), SchedulerConfig::default(), 0);
    let (_, h, _) = send(&s.app, preflight("https://anything.example")).await;
    assert_eq!(h["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn fields_without_effect_are_listed_in_a_header() {
    let s = common::setup();
    let body = json!({
        "messages": [{"role": "user", "content": "w1"}], "max_tokens": 1,
        "user": "u1", "metadata": {"a": "b"}, "store": false, "cache_prompt": true,
    });
    let (status, h, _) = send(&s.app, post("/v1/chat/completions", &body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        h[nomoat_server::NO_EFFECT_HEADER],
        "user, metadata, store, cache_prompt"
    );
    let body = json!({"messages": [{"role": "user", "content": "w1"}], "max_tokens": 1});
    let (_, h, _) = send(&s.app, post("/v1/chat/completions", &body)).await;
    assert!(h.get(nomoat_server::NO_EFFECT_HEADER).is_none());
    // A field that would change the output is still refused by name.
    let body = json!({"messages": [{"role": "user", "content": "w1"}], "tools": [{"type": "function", "function": {"name": "f"}}]});
    let (status, _, b) = send(&s.app, post("/v1/chat/completions", &body)).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&b));
}
