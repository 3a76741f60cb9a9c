//! Ollama's API (`/api/...`) over the engine's fake model: NDJSON framing and the final
//! statistics object, `stream: false`, `options` mapped or refused by name, load / unload with
//! an empty conversation, `context` round trips, Ollama-shaped errors, and the model routes
//! (tags, show, ps, pull, copy, delete) over a pool with a cache in a temporary folder.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use nomoat_engine::scheduler::testing::{FakeRunner, FakeVocab};
use nomoat_engine::scheduler::{Engine, SchedulerConfig};
use nomoat_gguf::GgufWriter;
use nomoat_server::{
    router, AppState, EngineOptions, KeepAlive, Limits, LoadedServed, ModelSpec, ModelText,
    PoolConfig, Served, ServerConfig,
};
use serde_json::{json, Value};

/// Lines of an NDJSON body, each parsed; fails on a line that is not one JSON object.
fn ndjson(body: &[u8]) -> Vec<Value> {
    let s = String::from_utf8(body.to_vec()).expect("utf-8");
    assert!(s.ends_with('\n'), "NDJSON ends with a newline: {s:?}");
    s.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

fn chat_body(extra: Value) -> Value {
    let mut b = json!({
        "model": "fake",
        "messages": [{"role": "user", "content": "w5 w6 w7"}],
        "options": {"temperature": 0, "num_predict": 10},
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

const STATS: [&str; 6] = [
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

#[tokio::test]
async fn chat_streams_ndjson_by_default_and_ends_with_statistics() {
    let s = setup();
    let (st, h, b) = send(&s.app, post("/api/chat", &chat_body(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert_eq!(h["content-type"], "application/x-ndjson");
    let lines = ndjson(&b);
    let ids = chat_prompt_ids("w5 w6 w7");
    let (want_ids, want_text) = reference(&ids, 10);
    let (last, chunks) = lines.split_last().expect("lines");
    assert!(!chunks.is_empty());
    let mut text = String::new();
    for c in chunks {
        assert_eq!(c["done"], false, "{c}");
        assert_eq!(c["model"], "fake");
        assert_eq!(c["message"]["role"], "assistant");
        assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
        text.push_str(c["message"]["content"].as_str().unwrap());
    }
    assert_eq!(text, want_text);
    assert_eq!(last["done"], true);
    assert_eq!(last["message"]["content"], "");
    let reason = if want_ids.len() < 10 {
        "stop"
    } else {
        "length"
    };
    assert_eq!(last["done_reason"], reason);
    for k in STATS {
        assert!(last[k].is_u64(), "{k} in {last}");
    }
    assert_eq!(last["prompt_eval_count"], ids.len());
    assert_eq!(last["eval_count"], want_ids.len());
    assert!(last["total_duration"].as_u64() >= last["eval_duration"].as_u64());
    assert!(last.get("context").is_none(), "chat has no context");
    wait_idle(&s.state).await;
}

#[tokio::test]
async fn chat_without_streaming_is_one_object() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/api/chat",
            &chat_body(json!({"stream": false, "logprobs": true, "top_logprobs": 2})),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (want_ids, want_text) = reference(&chat_prompt_ids("w5 w6 w7"), 10);
    assert_eq!(v["message"]["content"], want_text.as_str());
    assert_eq!(v["done"], true);
    assert_eq!(v["eval_count"], want_ids.len());
    let lps = v["logprobs"].as_array().expect("logprobs");
    let n_text = want_ids.iter().filter(|&&i| i as usize != V - 1).count();
    assert_eq!(lps.len(), n_text);
    assert_eq!(lps[0]["top_logprobs"].as_array().unwrap().len(), 2);
    for k in STATS {
        assert!(v[k].is_u64(), "{k}");
    }
}

#[tokio::test]
async fn options_change_the_output_and_stop_ends_it() {
    let s = setup();
    let (_, full) = send_json(
        &s.app,
        post("/api/chat", &chat_body(json!({"stream": false}))),
    )
    .await;
    let text = full["message"]["content"].as_str().unwrap().to_string();
    assert!(text.len() > 2, "{text}");
    // A stop string from the middle of the greedy answer ends it there.
    let stop = &text[1..2];
    let body = json!({"model": "fake", "messages": [{"role": "user", "content": "w5 w6 w7"}],
                      "stream": false, "options": {"temperature": 0, "num_predict": 10, "stop": [stop]}});
    let (_, v) = send_json(&s.app, post("/api/chat", &body)).await;
    assert_eq!(v["message"]["content"], &text[..1]);
    assert_eq!(v["done_reason"], "stop");
    // num_predict limits the tokens.
    let body = json!({"model": "fake", "messages": [{"role": "user", "content": "w5 w6 w7"}],
                      "stream": false, "options": {"temperature": 0, "num_predict": 2}});
    let (_, v) = send_json(&s.app, post("/api/chat", &body)).await;
    assert_eq!(v["eval_count"], 2);
    assert_eq!(v["done_reason"], "length");
    // A penalty window of the whole context (-1) or far beyond it is the context, not a
    // huge allocation.
    for n in [-1i64, 4_000_000_000] {
        let body = json!({"model": "fake", "messages": [{"role": "user", "content": "w5 w6 w7"}],
                          "stream": false, "options": {"temperature": 0, "num_predict": 3,
                                                       "repeat_last_n": n, "repeat_penalty": 1.2}});
        let (st, v) = send_json(&s.app, post("/api/chat", &body)).await;
        assert_eq!(st, StatusCode::OK, "{n}: {v}");
    }
    // Options with no effect on the output are accepted.
    let body = json!({"model": "fake", "messages": [{"role": "user", "content": "w5 w6 w7"}],
                      "stream": false, "keep_alive": "5m", "think": false, "truncate": true,
                      "options": {"temperature": 0, "num_predict": 10, "num_thread": 8, "num_gpu": 99,
                                  "main_gpu": 0, "use_mmap": true, "numa": false, "num_batch": 512,
                                  "mirostat": 0, "tfs_z": 1.0, "num_ctx": 64}});
    let (st, h, b) = send(&s.app, post("/api/chat", &body)).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["message"]["content"], text.as_str());
    let listed = h["x-nomoat-no-effect"].to_str().unwrap();
    for f in ["truncate", "options.num_thread", "options.use_mmap"] {
        assert!(listed.contains(f), "{f} in {listed}");
    }
}

#[tokio::test]
async fn refused_fields_and_options_are_named_in_ollama_shaped_errors() {
    let s = setup();
    for (extra, word) in [
        (json!({"options": {"bogus": 1}}), "bogus"),
        (json!({"options": {"mirostat": 2}}), "mirostat"),
        (json!({"options": {"tfs_z": 0.5}}), "tfs_z"),
        (json!({"options": {"temperature": -1}}), "temperature"),
        (json!({"options": {"num_ctx": 100000}}), "num_ctx"),
        (json!({"format": "json"}), "format"),
        (json!({"format": {"type": "object"}}), "format"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}]}),
            "tools",
        ),
        (json!({"think": true}), "does not support thinking"),
        (json!({"keep_alive": "soon"}), "keep_alive"),
        (json!({"colour": "red"}), "colour"),
        (
            json!({"messages": [{"role": "user", "content": "x", "images": ["aGk="]}]}),
            "images",
        ),
        (
            json!({"messages": [{"role": "robot", "content": "x"}]}),
            "robot",
        ),
        (json!({"model": ""}), "model is required"),
    ] {
        let (st, v) = send_json(&s.app, post("/api/chat", &chat_body(extra.clone()))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{extra}: {v}");
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("Ollama shape: {v}"));
        assert!(msg.contains(word), "{extra}: {msg}");
    }
    let (st, v) = send_json(
        &s.app,
        post("/api/chat", &chat_body(json!({"model": "nope:7b"}))),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v, json!({"error": "model 'nope:7b' not found"}));
    let (st, v) = send_json(
        &s.app,
        post("/api/generate", &json!({"model": "nope", "prompt": "w1"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "model 'nope' not found");
    for (body, word) in [
        (
            json!({"model": "fake", "prompt": "w1", "images": ["aGk="]}),
            "images",
        ),
        (
            json!({"model": "fake", "prompt": "w1", "suffix": "end"}),
            "suffix",
        ),
        (
            json!({"model": "fake", "prompt": "w1", "raw": true, "system": "s"}),
            "raw mode",
        ),
        (
            json!({"model": "fake", "prompt": "w1", "template": "{{ .Prompt }}"}),
            "template",
        ),
        (
            json!({"model": "fake", "prompt": "w1", "context": [1, 99999]}),
            "context[1]",
        ),
        (
            json!({"model": "fake", "prompt": "w1", "think": "high"}),
            "thinking",
        ),
    ] {
        let (st, v) = send_json(&s.app, post("/api/generate", &body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(word), "{body}: {v}");
    }
    // A prompt longer than the context is refused, not truncated.
    let long = vec!["w3"; 600].join(" ");
    let (st, v) = send_json(
        &s.app,
        post(
            "/api/generate",
            &json!({"model": "fake", "prompt": long, "raw": true}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("does not fit"), "{v}");
}

#[tokio::test]
async fn generate_returns_context_that_continues_the_conversation() {
    let s = setup();
    let body = json!({"model": "fake:latest", "prompt": "w5 w6", "system": "w2", "stream": false,
                      "options": {"temperature": 0, "num_predict": 4}});
    let (st, v) = send_json(&s.app, post("/api/generate", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["model"], "fake:latest",
        "answers with the name it was given"
    );
    let prompt = FakeText.tokenize("system: w2\nuser: w5 w6\nassistant:", true, true);
    let (_, want) = reference(&prompt, 4);
    assert_eq!(v["response"], want.as_str());
    let ctx: Vec<u32> = serde_json::from_value(v["context"].clone()).expect("context");
    assert_eq!(&ctx[..prompt.len()], &prompt[..]);
    assert_eq!(
        ctx[prompt.len()..],
        FakeText.tokenize(&want, false, false)[..]
    );

    // Sent back, the context comes before this turn's prompt.
    let body = json!({"model": "fake", "prompt": "w9", "context": ctx, "stream": false,
                      "options": {"temperature": 0, "num_predict": 3}});
    let (st, v) = send_json(&s.app, post("/api/generate", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut ids = ctx.clone();
    ids.extend(FakeText.tokenize("user: w9\nassistant:", true, true));
    assert_eq!(v["prompt_eval_count"], ids.len());
    assert_eq!(v["response"], reference(&ids, 3).1.as_str());

    // Raw: the prompt as given, no template, no context back; streamed by default.
    let body = json!({"model": "fake", "prompt": "w5 w6", "raw": true,
                      "options": {"temperature": 0, "num_predict": 4}});
    let (st, _, b) = send(&s.app, post("/api/generate", &body)).await;
    assert_eq!(st, StatusCode::OK);
    let lines = ndjson(&b);
    let text: String = lines
        .iter()
        .map(|l| l["response"].as_str().unwrap())
        .collect();
    assert_eq!(
        text,
        reference(&FakeText.tokenize("w5 w6", true, true), 4).1
    );
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(last.get("context").is_none(), "{last}");
}

#[tokio::test]
async fn an_empty_conversation_loads_or_unloads_the_model() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post("/api/chat", &json!({"model": "fake", "messages": []})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["done"].clone(), v["done_reason"].clone()),
        (json!(true), json!("load"))
    );
    assert_eq!(v["message"], json!({"role": "assistant", "content": ""}));
    let (_, v) = send_json(&s.app, post("/api/generate", &json!({"model": "fake"}))).await;
    assert_eq!(
        (v["response"].clone(), v["done_reason"].clone()),
        (json!(""), json!("load"))
    );
    let (st, v) = send_json(
        &s.app,
        post("/api/generate", &json!({"model": "nope", "keep_alive": 0})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = send_json(
        &s.app,
        post("/api/generate", &json!({"model": "fake", "keep_alive": 0})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["done_reason"], "unload");
    let (_, v) = send_json(&s.app, get("/api/ps")).await;
    assert_eq!(v["models"], json!([]), "unloaded: {v}");
}

#[tokio::test]
async fn version_head_and_the_ollama_api_key_quirk() {
    let s = setup();
    let (st, v) = send_json(&s.app, get("/api/version")).await;
    assert_eq!(st, StatusCode::OK);
    let ver = v["version"].as_str().unwrap();
    assert!(ver.split('.').all(|p| p.parse::<u32>().is_ok()), "{ver}");
    let head = |uri: &str| Request::head(uri).body(Body::empty()).unwrap();
    for uri in ["/", "/api/version", "/api/tags"] {
        let (st, _, _) = send(&s.app, head(uri)).await;
        assert_eq!(st, StatusCode::OK, "HEAD {uri}");
    }
    // OpenAI clients pointed at Ollama send `api_key="ollama"`: fine on a server without a key.
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer ollama")
        .body(Body::from(
            json!({"messages": [{"role": "user", "content": "w1"}], "max_tokens": 1}).to_string(),
        ))
        .unwrap();
    let (st, _) = send_json(&s.app, req).await;
    assert_eq!(st, StatusCode::OK);
}

/// A small GGUF header with the keys `/api/show` reads (no weights worth running).
fn write_gguf(path: &Path) {
    let mut w = GgufWriter::new(3);
    w.add_kv("general.architecture", "llama")
        .add_kv("general.name", "tiny test")
        .add_kv("general.file_type", 7u32)
        .add_kv("general.license", "apache-2.0")
        .add_kv("llama.context_length", 128u32)
        .add_kv("llama.block_count", 2u32)
        .add_kv("tokenizer.ggml.model", "llama")
        .add_kv(
            "tokenizer.ggml.tokens",
            vec!["<s>", "</s>", "a", "b", "c", "d", "e"],
        )
        .add_kv("tokenizer.ggml.eos_token_id", 1u32)
        .add_kv(
            "tokenizer.chat_template",
            "{% for m in messages %}{{ m.content }}{% endfor %}",
        );
    w.add_tensor_f32("output_norm.weight", &[4], &[1.0; 4])
        .unwrap();
    w.add_tensor_f32("token_embd.weight", &[4, 7], &[0.5; 28])
        .unwrap();
    std::fs::write(path, w.to_bytes()).unwrap();
}

fn temp_home(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nomoat-ollama-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("models")).unwrap();
    d
}

/// A pool serving `main` (a configured model) and a cache holding `cached`; loads are the fake
/// model, the files are real GGUF headers.
fn pool_server(home: &Path) -> (axum::Router, Arc<AppState>) {
    let main = home.join("main.gguf");
    write_gguf(&main);
    write_gguf(&home.join("models").join("cached.gguf"));
    let opts = EngineOptions {
        n_threads: 1,
        kv_tokens: 512,
        n_ctx: 512,
        sched: SchedulerConfig::default(),
        chat_template: None,
        pooling: None,
    };
    let mut cfg = PoolConfig::new(
        vec![ModelSpec {
            id: "main".into(),
            aliases: Vec::new(),
            path: main,
            opts: opts.clone(),
            keep_alive: KeepAlive::Default,
        }],
        opts,
    );
    cfg.cache = Some(nomoat_hub::Cache::at(home));
    cfg.loader = Arc::new(|_p: &Path, id: &str, _o: &EngineOptions| {
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
            bytes: 1234,
            about: "fake".into(),
        })
    });
    let state = AppState::with_pool(ServerConfig::default(), Limits::default(), cfg);
    (router(state.clone()), state)
}

#[tokio::test]
async fn tags_show_and_ps_describe_the_pools_models() {
    let home = temp_home("tags");
    let (app, _st) = pool_server(&home);
    let (st, v) = send_json(&app, get("/api/tags")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let models = v["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main:latest", "cached:latest"]);
    let m = &models[0];
    assert_eq!(m["model"], "main:latest");
    assert_eq!(
        m["size"],
        std::fs::metadata(home.join("main.gguf")).unwrap().len()
    );
    assert_eq!(m["digest"].as_str().unwrap().len(), 64);
    assert!(m["modified_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        m["details"],
        json!({"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
               "parameter_size": "32", "quantization_level": "Q8_0"})
    );

    let (st, v) = send_json(&app, post("/api/show", &json!({"model": "cached:latest"}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["template"],
        "{% for m in messages %}{{ m.content }}{% endfor %}"
    );
    assert_eq!(v["model_info"]["general.architecture"], "llama");
    assert_eq!(v["model_info"]["llama.context_length"], 128);
    assert_eq!(v["model_info"]["general.parameter_count"], 32);
    assert_eq!(
        v["model_info"]["tokenizer.ggml.tokens"],
        json!([]),
        "long arrays need verbose"
    );
    assert!(v["model_info"].get("general.name").is_none());
    assert!(v["parameters"].as_str().unwrap().contains("stop"));
    assert!(v["parameters"].as_str().unwrap().contains("\"</s>\""));
    assert_eq!(v["license"], "apache-2.0");
    assert_eq!(v["capabilities"], json!(["completion"]));
    assert_eq!(v["tensors"].as_array().unwrap().len(), 2);
    let (_, v) = send_json(
        &app,
        post("/api/show", &json!({"model": "cached", "verbose": true})),
    )
    .await;
    assert_eq!(
        v["model_info"]["tokenizer.ggml.tokens"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let (st, v) = send_json(&app, post("/api/show", &json!({"model": "ghost"}))).await;
    assert_eq!(
        (st, v),
        (
            StatusCode::NOT_FOUND,
            json!({"error": "model 'ghost' not found"})
        )
    );

    let (_, v) = send_json(&app, get("/api/ps")).await;
    assert_eq!(v["models"], json!([]), "nothing loaded yet: {v}");
    let body = json!({"model": "cached", "messages": [{"role": "user", "content": "w1"}],
                      "stream": false, "keep_alive": "10m", "options": {"num_predict": 1}});
    let (st, v) = send_json(&app, post("/api/chat", &body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = send_json(&app, get("/api/ps")).await;
    let ps = v["models"].as_array().unwrap();
    assert_eq!(ps.len(), 1, "{v}");
    assert_eq!(ps[0]["name"], "cached:latest");
    assert_eq!(ps[0]["size"], 1234);
    assert_eq!(ps[0]["size_vram"], 0);
    assert_eq!(ps[0]["context_length"], 128);
    assert_eq!(ps[0]["details"]["family"], "llama");
    let exp = ps[0]["expires_at"].as_str().unwrap();
    let now = nomoat_hub::cache::now_rfc3339();
    assert!(exp > now.as_str(), "{exp} after {now}");
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn pull_copy_and_delete_work_on_the_cache() {
    let home = temp_home("pull");
    let (app, _st) = pool_server(&home);
    // A model already in the cache: progress then success.
    let (st, h, b) = send(&app, post("/api/pull", &json!({"model": "cached"}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["content-type"], "application/x-ndjson");
    let lines = ndjson(&b);
    assert_eq!(lines[0], json!({"status": "pulling manifest"}));
    assert_eq!(lines.last().unwrap(), &json!({"status": "success"}));
    let size = std::fs::metadata(home.join("models/cached.gguf"))
        .unwrap()
        .len();
    assert!(
        lines
            .iter()
            .any(|l| l["total"] == size && l["completed"] == size),
        "{lines:?}"
    );
    let (st, v) = send_json(
        &app,
        post("/api/pull", &json!({"model": "cached", "stream": false})),
    )
    .await;
    assert_eq!((st, v), (StatusCode::OK, json!({"status": "success"})));
    // Unknown: an error line in the stream, a status without it.
    let (_, _, b) = send(&app, post("/api/pull", &json!({"model": "no-such-model"}))).await;
    let lines = ndjson(&b);
    assert!(lines.last().unwrap()["error"].is_string(), "{lines:?}");
    let (st, v) = send_json(
        &app,
        post(
            "/api/pull",
            &json!({"model": "no-such-model", "stream": false}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");

    let (st, _) = send_json(
        &app,
        post(
            "/api/copy",
            &json!({"source": "main", "destination": "copy1:latest"}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = send_json(&app, get("/api/tags")).await;
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "copy1:latest"),
        "{v}"
    );
    let (st, _) = send_json(
        &app,
        post("/api/copy", &json!({"source": "ghost", "destination": "x"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let del = |m: &str| {
        Request::delete("/api/delete")
            .header("content-type", "application/json")
            .body(Body::from(json!({"model": m}).to_string()))
            .unwrap()
    };
    let (st, _, b) = send(&app, del("copy1")).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(!home.join("models/copy1.gguf").exists());
    let (st, v) = send_json(&app, del("copy1")).await;
    assert_eq!(
        (st, v),
        (
            StatusCode::NOT_FOUND,
            json!({"error": "model 'copy1' not found"})
        )
    );
    // The operator's own files are not deleted.
    let (st, _) = send_json(&app, del("main")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(home.join("main.gguf").exists());
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn with_a_key_the_api_routes_answer_401_in_ollamas_shape() {
    let cfg = ServerConfig {
        api_key: Some("sekrit".into()),
        ..Default::default()
    };
    let s = setup_with(cfg, SchedulerConfig::default(), 0);
    let (st, v) = send_json(&s.app, get("/api/tags")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("API key"), "{v}");
    let req = Request::get("/api/tags")
        .header("authorization", "Bearer sekrit")
        .body(Body::empty())
        .unwrap();
    let (st, _) = send_json(&s.app, req).await;
    assert_eq!(st, StatusCode::OK);
    // `api_key="ollama"` is no key at all to a server that has one.
    let req = Request::get("/api/tags")
        .header("authorization", "Bearer ollama")
        .body(Body::empty())
        .unwrap();
    let (st, _) = send_json(&s.app, req).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
