//! `/v1/embeddings`, `/api/embed` and `/api/embeddings` over the fake model (token `wN` is id N,
//! BOS 1; its "hidden state" after a history is `FakeRunner::hidden_for`, mean-pooled): the
//! vectors are the pooled states of exactly the tokens sent, normalised where the API says,
//! in input order; every bad input is a 400 naming the field.

mod common;

use axum::http::StatusCode;
use common::{post, send_json, setup, BOS};
use nomoat_engine::scheduler::testing::FakeRunner;
use serde_json::{json, Value};

const N_EMBD: usize = 8;

/// Mean of the fake per-token states of `tokens`.
fn fake_mean(tokens: &[u32]) -> Vec<f32> {
    let mut acc = [0.0f64; N_EMBD];
    for pos in 0..tokens.len() {
        for (a, x) in acc
            .iter_mut()
            .zip(FakeRunner::hidden_for(&tokens[..=pos], N_EMBD))
        {
            *a += x as f64;
        }
    }
    acc.iter()
        .map(|a| (a / tokens.len() as f64) as f32)
        .collect()
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    for x in &mut v {
        *x = (*x as f64 / n) as f32;
    }
    v
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

/// Standard base64 decoding (test side, independent of the server's encoder).
fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 byte {c}"),
        }
    };
    let mut out = Vec::new();
    for q in s.as_bytes().chunks(4) {
        let pad = q.iter().filter(|&&c| c == b'=').count();
        let n = q
            .iter()
            .map(|&c| if c == b'=' { 0 } else { val(c) })
            .fold(0u32, |n, v| n << 6 | v);
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    out
}

#[tokio::test]
async fn one_string_is_the_normalised_mean_of_its_tokens() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/v1/embeddings",
            &json!({"model": "fake", "input": "w5 w6 w7"}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "fake");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["index"], 0);
    let got = floats(&v["data"][0]["embedding"]);
    assert!(close(&got, &unit(fake_mean(&[BOS, 5, 6, 7]))), "{got:?}");
    let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    assert_eq!(v["usage"], json!({"prompt_tokens": 4, "total_tokens": 4}));
}

#[tokio::test]
async fn batches_equal_single_requests_in_order() {
    let s = setup();
    let texts = ["w5 w6", "w9", "w5 w6 w7 w8", "w9"];
    let (st, v) = send_json(&s.app, post("/v1/embeddings", &json!({"input": texts}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), texts.len());
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(data[i]["index"], i);
        let (_, one) = send_json(&s.app, post("/v1/embeddings", &json!({"input": t}))).await;
        assert_eq!(
            data[i]["embedding"], one["data"][0]["embedding"],
            "input {i}"
        );
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(data[1]["embedding"], data[3]["embedding"]);
    assert_eq!(v["usage"]["prompt_tokens"], 3 + 2 + 5 + 2);
}

#[tokio::test]
async fn token_arrays_are_embedded_as_given() {
    let s = setup();
    let (st, v) = send_json(&s.app, post("/v1/embeddings", &json!({"input": [5, 6]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(close(
        &floats(&v["data"][0]["embedding"]),
        &unit(fake_mean(&[5, 6]))
    ));
    let (st, v) = send_json(
        &s.app,
        post(
            "/v1/embeddings",
            &json!({"input": [[5, 6], [7], [BOS, 5, 6]]}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    for (i, t) in [vec![5, 6], vec![7], vec![BOS, 5, 6]].iter().enumerate() {
        assert!(close(
            &floats(&v["data"][i]["embedding"]),
            &unit(fake_mean(t))
        ));
    }
    assert_eq!(v["usage"]["total_tokens"], 6);
}

#[tokio::test]
async fn base64_is_the_little_endian_floats() {
    let s = setup();
    let body = |fmt: &str| json!({"input": ["w5 w6", "w7"], "encoding_format": fmt});
    let (_, f) = send_json(&s.app, post("/v1/embeddings", &body("float"))).await;
    let (st, b) = send_json(&s.app, post("/v1/embeddings", &body("base64"))).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    for i in 0..2 {
        let bytes = unbase64(b["data"][i]["embedding"].as_str().expect("base64 string"));
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(decoded, floats(&f["data"][i]["embedding"]));
    }
}

#[tokio::test]
async fn dimensions_only_the_native_width() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/v1/embeddings",
            &json!({"input": "w5", "dimensions": N_EMBD, "user": "u1"}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"][0]["embedding"].as_array().map(Vec::len),
        Some(N_EMBD)
    );
    let (st, v) = send_json(
        &s.app,
        post("/v1/embeddings", &json!({"input": "w5", "dimensions": 4})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["param"], "dimensions");
}

#[tokio::test]
async fn bad_inputs_are_400_naming_the_field() {
    let s = setup();
    let long: Vec<u32> = vec![5; 129]; // the fake model's context is 128
    let cases = [
        (json!({}), "input"),
        (json!({"input": ""}), "input"),
        (json!({"input": []}), "input"),
        (json!({"input": [""]}), "input"),
        (json!({"input": ["w5", ""]}), "input"),
        (json!({"input": [[]]}), "input"),
        (json!({"input": [[5], 6]}), "input"),
        (json!({"input": 5}), "input"),
        (json!({"input": [-1]}), "input"),
        (json!({"input": [64]}), "input"),
        (json!({"input": long}), "input"),
        (
            json!({"input": "w5", "encoding_format": "int8"}),
            "encoding_format",
        ),
        (json!({"input": "w5", "dimensions": 0}), "dimensions"),
        (json!({"input": "w5", "pooling": "mean"}), "pooling"),
    ];
    for (body, param) in cases {
        let (st, v) = send_json(&s.app, post("/v1/embeddings", &body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["param"], param, "{body}: {v}");
    }
    let (st, _) = send_json(
        &s.app,
        post("/v1/embeddings", &json!({"model": "other", "input": "w5"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn too_many_inputs_are_refused() {
    let s = setup();
    let many = vec!["w5"; 513];
    let (st, v) = send_json(&s.app, post("/v1/embeddings", &json!({"input": many}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("512")));
}

#[tokio::test]
async fn ollama_embed_matches_openai_and_reports_counts() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/api/embed",
            &json!({"model": "fake", "input": ["w5 w6", "w7"], "keep_alive": "5m",
                    "options": {"temperature": 0.5, "seed": 3}}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["model"], "fake");
    assert_eq!(v["prompt_eval_count"], 3 + 2);
    assert!(v["total_duration"].as_u64().is_some());
    assert_eq!(v["load_duration"], 0);
    let (_, o) = send_json(
        &s.app,
        post("/v1/embeddings", &json!({"input": ["w5 w6", "w7"]})),
    )
    .await;
    for i in 0..2 {
        assert_eq!(v["embeddings"][i], o["data"][i]["embedding"]);
    }
    // One string, and the empty input that only loads the model.
    let (_, one) = send_json(
        &s.app,
        post("/api/embed", &json!({"model": "fake", "input": "w7"})),
    )
    .await;
    assert_eq!(one["embeddings"][0], v["embeddings"][1]);
    let (st, e) = send_json(
        &s.app,
        post("/api/embed", &json!({"model": "fake", "input": []})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(e["embeddings"], json!([]));
}

#[tokio::test]
async fn ollama_truncates_to_the_context_unless_told_not_to() {
    let s = setup();
    let words: Vec<String> = (0..200).map(|i| format!("w{}", 2 + i % 60)).collect();
    let long = words.join(" ");
    let (st, v) = send_json(
        &s.app,
        post("/api/embed", &json!({"model": "fake", "input": long})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["prompt_eval_count"], 128);
    let mut ids = vec![BOS];
    ids.extend((0..127).map(|i| 2 + (i % 60) as u32));
    assert!(close(&floats(&v["embeddings"][0]), &unit(fake_mean(&ids))));
    // num_ctx truncates further.
    let (_, v) = send_json(
        &s.app,
        post(
            "/api/embed",
            &json!({"model": "fake", "input": long, "options": {"num_ctx": 10}}),
        ),
    )
    .await;
    assert_eq!(v["prompt_eval_count"], 10);
    let (st, v) = send_json(
        &s.app,
        post(
            "/api/embed",
            &json!({"model": "fake", "input": long, "truncate": false}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().is_some_and(|m| m.contains("context")),
        "{v}"
    );
}

#[tokio::test]
async fn ollama_errors_are_its_shape() {
    let s = setup();
    for body in [
        json!({"model": "fake", "input": [5]}),
        json!({"model": "fake", "input": "w5", "options": {"mirror": 1}}),
        json!({"model": "fake", "input": "w5", "dimensions": 3}),
        json!({"model": "fake", "input": "w5", "format": "json"}),
    ] {
        let (st, v) = send_json(&s.app, post("/api/embed", &body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"].is_string(), "{body}: {v}");
    }
    let (st, v) = send_json(
        &s.app,
        post("/api/embed", &json!({"model": "nope", "input": "w5"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn legacy_ollama_embeddings_are_unnormalised() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/api/embeddings",
            &json!({"model": "fake", "prompt": "w5 w6"}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(close(&floats(&v["embedding"]), &fake_mean(&[BOS, 5, 6])));
    let (st, v) = send_json(
        &s.app,
        post("/api/embeddings", &json!({"model": "fake", "prompt": ""})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["embedding"], json!([]));
}

/// The tiny real llama behind the router, pooled as `--pooling` says (`None`: the file's choice).
fn tiny(pooling: Option<nomoat_engine::scheduler::Pooling>) -> axum::Router {
    let path = nomoat_testkit::synthetic_spec(nomoat_testkit::synthetic::TINY_LLAMA);
    let opts = nomoat_server::EngineOptions {
        n_threads: 1,
        kv_tokens: 1024,
        n_ctx: 256,
        sched: nomoat_engine::scheduler::SchedulerConfig::default(),
        chat_template: None,
        pooling,
    };
    let nomoat_server::LoadedServed { served, about, .. } =
        nomoat_server::load_served(&path, "tiny", &opts).expect("load");
    let want = pooling.map_or("mean".to_string(), |p| p.to_string());
    assert!(
        about.contains(&format!("embeddings {want} pooling")),
        "{about}"
    );
    let state = nomoat_server::AppState::new(Default::default(), Default::default());
    assert!(state.set_model(served));
    nomoat_server::router(state)
}

async fn tiny_vectors(app: &axum::Router, input: Value) -> Vec<Vec<f32>> {
    let (st, v) = send_json(app, post("/v1/embeddings", &json!({"input": input}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| floats(&d["embedding"]))
        .collect()
}

#[tokio::test]
async fn pooling_flag_on_a_real_model() {
    use nomoat_engine::scheduler::Pooling;
    let input = json!([[1, 5, 6, 7], [1, 9, 9], [1, 5, 6, 7, 8]]);
    let mean = tiny_vectors(&tiny(None), input.clone()).await;
    let last = tiny_vectors(&tiny(Some(Pooling::Last)), input.clone()).await;
    let cls = tiny_vectors(&tiny(Some(Pooling::Cls)), input).await;
    for v in mean.iter().chain(&last).chain(&cls) {
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4 && v.len() == 64);
    }
    assert!(!close(&mean[0], &last[0]), "mean and last differ");
    // Causal attention: the first token's state sees only BOS, so `cls` is the same for every
    // input starting with it; `last` and `mean` depend on every token.
    assert!(close(&cls[0], &cls[1]) && close(&cls[0], &cls[2]));
    assert!(!close(&last[0], &last[2]) && !close(&mean[0], &mean[2]));
}
