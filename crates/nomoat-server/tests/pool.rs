//! Many models per server: load on first use, keep-alive, LRU under --max-loaded and the memory
//! budget, /v1/models states, and that a request for one model does not wait on another's load.
//! The loader builds the engine's fake model (no files are read), counting loads.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{get, post, send_json, FakeText, V};
use nomoat_engine::scheduler::testing::{FakeRunner, FakeVocab};
use nomoat_engine::scheduler::{Engine, SchedulerConfig};
use nomoat_server::{
    router, AppState, EngineOptions, KeepAlive, Limits, LoadedServed, ModelSpec, PoolConfig,
    Served, ServerConfig,
};
use serde_json::{json, Value};

fn opts() -> EngineOptions {
    EngineOptions {
        n_threads: 1,
        kv_tokens: 512,
        n_ctx: 512,
        sched: SchedulerConfig::default(),
        chat_template: None,
        pooling: None,
    }
}

fn spec(id: &str) -> ModelSpec {
    ModelSpec {
        id: id.into(),
        aliases: vec![format!("{id}-alias")],
        path: PathBuf::from(format!("/nonexistent/{id}.gguf")),
        opts: opts(),
        keep_alive: KeepAlive::Default,
    }
}

/// Loads counted per id; a model whose id starts with `slow` takes 1.5 s to load, `bad` fails.
#[derive(Default)]
struct Loads(Mutex<HashMap<String, usize>>);

impl Loads {
    fn of(&self, id: &str) -> usize {
        self.0.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

fn pool_config(specs: Vec<ModelSpec>, loads: Arc<Loads>, bytes: u64) -> PoolConfig {
    let mut cfg = PoolConfig::new(specs, opts());
    cfg.loader = Arc::new(move |_path: &Path, id: &str, _o: &EngineOptions| {
        *loads.0.lock().unwrap().entry(id.to_string()).or_default() += 1;
        if id.starts_with("slow") {
            std::thread::sleep(Duration::from_millis(1500));
        }
        if id.starts_with("bad") {
            return Err("not a GGUF file".to_string());
        }
        let engine = Engine::spawn(
            FakeRunner::new(V, 128, 4, 512),
            Arc::new(FakeVocab { n_vocab: V }),
            SchedulerConfig::default(),
        )
        .map_err(|e| e.to_string())?;
        Ok(LoadedServed {
            served: Served {
                id: id.to_string(),
                created: 7,
                engine,
                text: Arc::new(FakeText),
            },
            bytes,
            about: "fake".into(),
        })
    });
    cfg
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "w5 w6"}], "max_tokens": 3, "temperature": 0})
}

fn states(v: &Value) -> HashMap<String, String> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["status"]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn models_load_on_first_use_and_requests_pick_them_by_name() {
    let loads = Arc::new(Loads::default());
    let cfg = pool_config(vec![spec("a"), spec("b")], loads.clone(), 100);
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    let app = router(state.clone());

    let (s, v) = send_json(&app, get("/v1/models")).await;
    assert_eq!(s, 200);
    let st = states(&v);
    assert_eq!(st["a"], "unloaded");
    assert_eq!(st["b"], "unloaded");
    assert_eq!(loads.of("a") + loads.of("b"), 0, "listing loads nothing");

    // Interleaved requests to both; each loads once.
    for m in ["a", "b", "a-alias", "b", "a"] {
        let (s, v) = send_json(&app, post("/v1/chat/completions", &chat(m))).await;
        assert_eq!(s, 200, "{v}");
        let want = m.trim_end_matches("-alias");
        assert_eq!(v["model"], want);
    }
    assert_eq!((loads.of("a"), loads.of("b")), (1, 1));
    let (_, v) = send_json(&app, get("/v1/models")).await;
    let st = states(&v);
    assert_eq!((st["a"].as_str(), st["b"].as_str()), ("loaded", "loaded"));

    // Without a model: the default (the first).
    let (s, v) = send_json(
        &app,
        post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "w1"}], "max_tokens": 1}),
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["model"], "a");

    // `:latest` is the bare name; an unknown one is 404 everywhere.
    let (s, _) = send_json(&app, post("/v1/chat/completions", &chat("b:latest"))).await;
    assert_eq!(s, 200);
    let (s, v) = send_json(&app, post("/v1/chat/completions", &chat("nope"))).await;
    assert_eq!(s, 404, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
    let (s, _) = send_json(&app, get("/v1/models/nope")).await;
    assert_eq!(s, 404);
    let (s, v) = send_json(&app, get("/v1/models/b")).await;
    assert_eq!(s, 200);
    assert_eq!(v["status"]["value"], "loaded");
}

#[tokio::test]
async fn max_loaded_unloads_the_least_recently_used_and_keeps_the_default() {
    let loads = Arc::new(Loads::default());
    let mut cfg = pool_config(vec![spec("a"), spec("b"), spec("c")], loads.clone(), 100);
    cfg.max_loaded = 2;
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    let app = router(state.clone());
    // The default is kept loaded for good (as `nomoat serve` loads it at start).
    state.pool().get(None, KeepAlive::Forever).await.unwrap();
    for m in ["b", "c", "b", "c"] {
        let (s, v) = send_json(&app, post("/v1/chat/completions", &chat(m))).await;
        assert_eq!(s, 200, "{v}");
    }
    // b and c take turns in the one slot the default leaves.
    assert_eq!((loads.of("a"), loads.of("b"), loads.of("c")), (1, 2, 2));
    let (_, v) = send_json(&app, get("/v1/models")).await;
    let st = states(&v);
    assert_eq!(st["a"], "loaded");
    assert_eq!(st["c"], "loaded");
    assert_eq!(st["b"], "unloaded");
}

#[tokio::test]
async fn memory_budget_evicts_and_refuses_what_cannot_fit() {
    let loads = Arc::new(Loads::default());
    let mut cfg = pool_config(vec![spec("a"), spec("b"), spec("c")], loads.clone(), 600);
    cfg.max_loaded = 8;
    cfg.memory_budget = Some(1000);
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    let app = router(state.clone());
    for m in ["b", "c"] {
        let (s, v) = send_json(&app, post("/v1/chat/completions", &chat(m))).await;
        assert_eq!(s, 200, "{v}");
    }
    // 600 + 600 > 1000: loading c unloaded b.
    let (_, v) = send_json(&app, get("/v1/models")).await;
    let st = states(&v);
    assert_eq!((st["b"].as_str(), st["c"].as_str()), ("unloaded", "loaded"));
    // With the default pinned, nothing can make room for another 600.
    state.pool().unload("c");
    state.pool().get(None, KeepAlive::Forever).await.unwrap();
    let (s, v) = send_json(&app, post("/v1/chat/completions", &chat("b"))).await;
    assert_eq!(s, 500, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("no room"),
        "{v}"
    );
}

#[tokio::test]
async fn keep_alive_runs_out_and_a_load_failure_is_reported() {
    let loads = Arc::new(Loads::default());
    let mut cfg = pool_config(vec![spec("a"), spec("b"), spec("bad")], loads.clone(), 1);
    cfg.keep_alive = KeepAlive::For(Duration::from_millis(300));
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    let app = router(state.clone());
    let (s, _) = send_json(&app, post("/v1/chat/completions", &chat("b"))).await;
    assert_eq!(s, 200);
    let t0 = Instant::now();
    loop {
        let (_, v) = send_json(&app, get("/v1/models")).await;
        if states(&v)["b"] == "unloaded" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "b never unloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Used again: loads again.
    let (s, _) = send_json(&app, post("/v1/chat/completions", &chat("b"))).await;
    assert_eq!(s, 200);
    assert_eq!(loads.of("b"), 2);
    // UnloadNow (Ollama's keep_alive 0) unloads right after.
    state
        .pool()
        .get(Some("b"), KeepAlive::UnloadNow)
        .await
        .unwrap();
    let t0 = Instant::now();
    while state.pool().find("b").unwrap().loaded.is_some() {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (s, v) = send_json(&app, post("/v1/chat/completions", &chat("bad"))).await;
    assert_eq!(s, 500);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("cannot load model 'bad'") && msg.contains("not a GGUF"),
        "{msg}"
    );
    // A failed load is not remembered as loaded; trying again tries again.
    let _ = send_json(&app, post("/v1/chat/completions", &chat("bad"))).await;
    assert_eq!(loads.of("bad"), 2);
}

#[tokio::test]
async fn a_request_never_waits_on_another_models_load() {
    let loads = Arc::new(Loads::default());
    let cfg = pool_config(vec![spec("a"), spec("slow")], loads.clone(), 1);
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    let app = router(state.clone());
    let (s, _) = send_json(&app, post("/v1/chat/completions", &chat("a"))).await;
    assert_eq!(s, 200);

    let slow_app = app.clone();
    let t0 = Instant::now();
    let slow = tokio::spawn(async move {
        send_json(&slow_app, post("/v1/chat/completions", &chat("slow"))).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, v) = send_json(&app, get("/v1/models")).await;
    assert_eq!(states(&v)["slow"], "loading");
    // Two more requests for slow wait on the one load.
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                send_json(&app, post("/v1/chat/completions", &chat("slow"))).await
            })
        })
        .collect();
    let (s, _) = send_json(&app, post("/v1/chat/completions", &chat("a"))).await;
    assert_eq!(s, 200);
    assert!(
        t0.elapsed() < Duration::from_millis(1200),
        "a waited on slow's load ({:?})",
        t0.elapsed()
    );
    let (s, _) = slow.await.unwrap();
    assert_eq!(s, 200);
    for w in waiters {
        assert_eq!(w.await.unwrap().0, 200);
    }
    assert_eq!(loads.of("slow"), 1, "concurrent requests share one load");
}

#[tokio::test]
async fn health_waits_for_the_default_model() {
    let loads = Arc::new(Loads::default());
    let cfg = pool_config(vec![spec("slow-default"), spec("b")], loads, 1);
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    let app = router(state.clone());
    let (s, _) = send_json(&app, get("/health")).await;
    assert_eq!(s, 503);
    let counter = Arc::new(AtomicUsize::new(0));
    let c2 = counter.clone();
    let st2 = state.clone();
    let preload = tokio::spawn(async move {
        st2.pool().get(None, KeepAlive::Forever).await.unwrap();
        c2.fetch_add(1, Ordering::SeqCst);
    });
    preload.await.unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    let (s, _) = send_json(&app, get("/health")).await;
    assert_eq!(s, 200);
}
