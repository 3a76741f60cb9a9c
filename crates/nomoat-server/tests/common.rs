//! Shared test setup: the server over the engine's deterministic fake model, with a fake
//! tokenizer (`wN` is token N) and a line-per-message chat format.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use nomoat_chat::{ChatPrompt, Message};
use nomoat_engine::scheduler::testing::{FakeRunner, FakeVocab};
use nomoat_engine::scheduler::{Engine, SchedulerConfig};
use nomoat_server::{router, AppState, Limits, ModelText, Served, ServerConfig, TextError};
use serde_json::Value;
use tower::ServiceExt;

pub const V: usize = 64;
pub const BOS: u32 = 1;

pub struct FakeText;

impl ModelText for FakeText {
    fn tokenize(&self, text: &str, add_special: bool, _parse: bool) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        if add_special {
            ids.push(BOS);
        }
        for w in text.split_whitespace() {
            let id = match w.strip_prefix('w').and_then(|n| n.parse::<u32>().ok()) {
                Some(n) if (n as usize) < V => n,
                _ => w.bytes().map(u32::from).sum::<u32>() % (V as u32 - 1),
            };
            ids.push(id);
        }
        ids
    }
    fn detokenize(&self, ids: &[u32]) -> String {
        ids.iter().map(|&i| FakeVocab::piece(i)).collect()
    }
    fn token_bytes(&self, id: u32) -> Vec<u8> {
        FakeVocab::piece(id).into_bytes()
    }
    fn is_eog(&self, id: u32) -> bool {
        id as usize == V - 1
    }
    fn render_chat(&self, messages: &[Message]) -> Result<ChatPrompt, TextError> {
        let mut s = String::new();
        for m in messages {
            let c = m.content.flatten_text().unwrap_or_default();
            if c == "PANIC" {
                panic!("test panic inside one request");
            }
            s.push_str(&format!("{}: {}\n", m.role, c));
        }
        s.push_str("assistant:");
        Ok(ChatPrompt {
            text: s,
            add_bos: true,
        })
    }
}

pub struct Setup {
    pub app: Router,
    pub state: Arc<AppState>,
}

pub fn setup_with(cfg: ServerConfig, sched: SchedulerConfig, delay_ms: u64) -> Setup {
    let mut b = FakeRunner::new(V, 128, 4, 512);
    b.step_delay = Duration::from_millis(delay_ms);
    let engine = Engine::spawn(b, Arc::new(FakeVocab { n_vocab: V }), sched).expect("engine");
    let state = AppState::new(cfg, Limits::default());
    assert!(state.set_model(Served {
        id: "fake".into(),
        created: 1,
        engine,
        text: Arc::new(FakeText),
    }));
    Setup {
        app: router(state.clone()),
        state,
    }
}

pub fn setup() -> Setup {
    setup_with(ServerConfig::default(), SchedulerConfig::default(), 0)
}

pub fn post(uri: &str, body: &Value) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

pub async fn send(
    app: &Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

pub async fn send_json(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (s, _, b) = send(app, req).await;
    let v = serde_json::from_slice(&b)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into()));
    (s, v)
}

/// `data:` payloads of an SSE body.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(|s| s.trim().to_string())
        .collect()
}

/// Greedy continuation of the fake model, as text, computed without the server.
pub fn reference(prompt: &[u32], max_tokens: usize) -> (Vec<u32>, String) {
    let mut hist = prompt.to_vec();
    let mut ids = Vec::new();
    let mut text = String::new();
    for _ in 0..max_tokens {
        let l = FakeRunner::logits_for(&hist, V);
        let mut best = 0;
        for (i, &x) in l.iter().enumerate() {
            if x > l[best] {
                best = i;
            }
        }
        let id = best as u32;
        ids.push(id);
        hist.push(id);
        if id as usize == V - 1 {
            break;
        }
        text.push_str(&FakeVocab::piece(id));
    }
    (ids, text)
}

pub fn chat_prompt_ids(user: &str) -> Vec<u32> {
    let p = FakeText
        .render_chat(&[Message::new("user", user)])
        .expect("render");
    FakeText.tokenize(&p.text, p.add_bos, true)
}

/// Waits (up to 5 s) until the engine has no request in flight: the engine thread drops a
/// finished request's place just after sending its last event.
pub async fn wait_idle(state: &nomoat_server::AppState) {
    let engine = &state.model().expect("model").engine;
    let t0 = std::time::Instant::now();
    loop {
        let s = engine.stats();
        if s.inflight == 0 && s.running == 0 && s.waiting == 0 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "engine still busy: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
