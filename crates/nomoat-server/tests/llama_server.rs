//! llama-server's native routes (`/completion`, `/infill`, `/props`, `/slots`) and vLLM's
//! `/tokenizer_info`, in-process over the engine's deterministic fake model.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use nomoat_chat::{ChatPrompt, Message};
use nomoat_engine::scheduler::testing::{FakeRunner, FakeVocab};
use nomoat_engine::scheduler::{Engine, SchedulerConfig};
use nomoat_server::{
    router, AppState, Limits, ModelInfo, ModelText, Served, ServerConfig, TextError,
};
use serde_json::{json, Value};

const EOG: u32 = V as u32 - 1;
const PRE: u32 = 60;
const SUF: u32 = 61;
const MID: u32 = 62;
const N_CTX: usize = 4096;

/// The fake tokenizer with FIM tokens, BOS and EOS, as a code model's vocabulary has them.
struct FimText;

impl ModelText for FimText {
    fn tokenize(&self, text: &str, add_special: bool, parse: bool) -> Vec<u32> {
        FakeText.tokenize(text, add_special, parse)
    }
    fn detokenize(&self, ids: &[u32]) -> String {
        FakeText.detokenize(ids)
    }
    fn token_bytes(&self, id: u32) -> Vec<u8> {
        FakeText.token_bytes(id)
    }
    fn is_eog(&self, id: u32) -> bool {
        FakeText.is_eog(id)
    }
    fn render_chat(&self, messages: &[Message]) -> Result<ChatPrompt, TextError> {
        FakeText.render_chat(messages)
    }
    fn info(&self) -> ModelInfo {
        ModelInfo {
            path: Some("/models/fake.gguf".into()),
            chat_template: Some("{{ messages }}".into()),
            add_bos: true,
            bos: Some(BOS),
            eos: Some(EOG),
            fim_pre: Some(PRE),
            fim_suf: Some(SUF),
            fim_mid: Some(MID),
            ..ModelInfo::default()
        }
    }
}

fn fim_setup() -> Setup {
    let engine = Engine::spawn(
        // Longer than llama-server's batch, so /infill has room for extra context.
        FakeRunner::new(V, N_CTX, 4, N_CTX / 4 + 64),
        Arc::new(FakeVocab { n_vocab: V }),
        SchedulerConfig::default(),
    )
    .expect("engine");
    let state = AppState::new(ServerConfig::default(), Limits::default());
    assert!(state.set_model(Served {
        id: "fake".into(),
        created: 1,
        engine,
        text: Arc::new(FimText),
    }));
    Setup {
        app: router(state.clone()),
        state,
    }
}

async fn completion(s: &Setup, body: Value) -> (StatusCode, Value) {
    send_json(&s.app, post("/completion", &body)).await
}

#[tokio::test]
async fn completion_greedy_text_prompt() {
    let s = setup();
    let (st, v) = completion(
        &s,
        json!({"prompt": "w5 w6", "n_predict": 4, "temperature": 0, "return_tokens": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // A text prompt gets BOS, as llama-server's add_special.
    let (ids, text) = reference(&[BOS, 5, 6], 4);
    assert_eq!(v["content"], text);
    assert_eq!(v["tokens"], json!(ids));
    assert_eq!(v["stop"], true);
    assert_eq!(v["tokens_predicted"], 4);
    assert_eq!(v["tokens_evaluated"], 3);
    assert_eq!(v["stop_type"], "limit");
    assert_eq!(v["stopping_word"], "");
    assert_eq!(v["model"], "fake");
    assert_eq!(v["truncated"], false);
    assert_eq!(v["generation_settings"]["temperature"], 0.0);
    assert_eq!(v["generation_settings"]["n_predict"], 4);
    // llama-server's defaults for what the request left out.
    assert_eq!(v["generation_settings"]["top_k"], 40);
    assert_eq!(v["timings"]["predicted_n"], 4);
    assert!(v["timings"]["prompt_ms"].as_f64().is_some());
    assert!(v.get("completion_probabilities").is_none());
}

#[tokio::test]
async fn completion_token_and_mixed_prompts() {
    let s = setup();
    let greedy = |prompt: Value| json!({"prompt": prompt, "n_predict": 3, "temperature": 0});
    // Token ids go in as they are: no BOS.
    let (st, v) = completion(&s, greedy(json!([5, 6]))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["content"], reference(&[5, 6], 3).1);
    assert_eq!(v["tokens"], json!([]), "tokens only with return_tokens");
    // Mixed: BOS only before a leading text piece.
    let (_, v) = completion(&s, greedy(json!([5, "w6 w7"]))).await;
    assert_eq!(v["content"], reference(&[5, 6, 7], 3).1);
    assert_eq!(v["tokens_evaluated"], 3);
    let (_, v) = completion(&s, greedy(json!(["w6", 7]))).await;
    assert_eq!(v["content"], reference(&[BOS, 6, 7], 3).1);
    // Several prompts: an array of results, in order.
    let (st, v) = completion(&s, greedy(json!(["w6", [8, 9]]))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let a = v.as_array().expect("array");
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["index"], 0);
    assert_eq!(a[0]["content"], reference(&[BOS, 6], 3).1);
    assert_eq!(a[1]["index"], 1);
    assert_eq!(a[1]["content"], reference(&[8, 9], 3).1);
    // One prompt in a list is answered with one object, as llama-server does.
    let (_, v) = completion(&s, greedy(json!(["w6"]))).await;
    assert_eq!(v["content"], reference(&[BOS, 6], 3).1);
}

fn log_softmax(l: &[f32]) -> Vec<f64> {
    let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = l.iter().map(|&x| (x as f64 - max).exp()).sum();
    l.iter().map(|&x| x as f64 - max - sum.ln()).collect()
}

#[tokio::test]
async fn completion_n_probs() {
    let s = setup();
    let (st, v) = completion(
        &s,
        json!({"prompt": [5, 6], "n_predict": 3, "temperature": 0, "n_probs": 3}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (ids, _) = reference(&[5, 6], 3);
    let probs = v["completion_probabilities"].as_array().expect("probs");
    assert_eq!(probs.len(), 3);
    let mut hist = vec![5, 6];
    for (p, &id) in probs.iter().zip(&ids) {
        let lp = log_softmax(&FakeRunner::logits_for(&hist, V));
        assert_eq!(p["id"], id);
        assert_eq!(p["token"], FakeVocab::piece(id));
        assert_eq!(p["bytes"], json!(FakeVocab::piece(id).into_bytes()));
        let got = p["logprob"].as_f64().expect("logprob");
        assert!(
            (got - lp[id as usize]).abs() < 1e-5,
            "{got} vs {}",
            lp[id as usize]
        );
        let top = p["top_logprobs"].as_array().expect("top");
        assert_eq!(top.len(), 3);
        // Greedy: the best alternative is the chosen token; the rest are sorted.
        assert_eq!(top[0]["id"], id);
        let vals: Vec<f64> = top.iter().map(|t| t["logprob"].as_f64().unwrap()).collect();
        assert!(vals.windows(2).all(|w| w[0] >= w[1]), "{vals:?}");
        for t in top {
            let tid = t["id"].as_u64().unwrap() as usize;
            assert!((t["logprob"].as_f64().unwrap() - lp[tid]).abs() < 1e-5);
            assert_eq!(t["token"], FakeVocab::piece(tid as u32));
        }
        hist.push(id);
    }
}

#[tokio::test]
async fn completion_streams_llama_server_chunks() {
    let s = setup();
    let req = post(
        "/completion",
        &json!({"prompt": [5, 6], "n_predict": 5, "temperature": 0, "stream": true,
                "n_probs": 1, "return_tokens": true}),
    );
    let (st, headers, body) = send(&s.app, req).await;
    assert_eq!(st, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let chunks: Vec<Value> = sse_data(&body)
        .iter()
        .map(|d| serde_json::from_str(d).expect("every data line is JSON (no [DONE])"))
        .collect();
    let (ids, text) = reference(&[5, 6], 5);
    let (last, tokens) = chunks.split_last().expect("chunks");
    assert_eq!(tokens.len(), 5);
    let streamed: String = tokens
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, text);
    for (i, c) in tokens.iter().enumerate() {
        assert_eq!(c["stop"], false);
        assert_eq!(c["tokens"], json!([ids[i]]));
        assert_eq!(c["tokens_predicted"], i + 1);
        assert_eq!(c["completion_probabilities"][0]["id"], ids[i]);
    }
    assert_eq!(last["stop"], true);
    assert_eq!(last["content"], "");
    assert_eq!(last["stop_type"], "limit");
    assert_eq!(last["tokens_predicted"], 5);
    assert_eq!(last["tokens"], json!(ids));
    assert!(last["timings"].is_object());
}

#[tokio::test]
async fn completion_stop_word_and_eos() {
    let s = setup();
    let (_, text) = reference(&[5, 6], 4);
    // Pieces read "wN "; stop on the third one.
    let third = text.split_whitespace().nth(2).unwrap().to_string();
    let (st, v) = completion(
        &s,
        json!({"prompt": [5, 6], "n_predict": 4, "temperature": 0, "stop": ["zzz", third]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stop_type"], "word");
    assert_eq!(v["stopping_word"], third);
    let cut = text.find(&third).unwrap();
    assert_eq!(v["content"], text[..cut]);

    // The end-of-generation token made certain by logit_bias, in OpenAI's object form and in
    // llama-server's pairs (on /completions, llama-server's other name for /completion).
    for (uri, bias) in [
        ("/completion", json!({EOG.to_string(): 100})),
        ("/completions", json!([[EOG, 100]])),
    ] {
        let body = json!({"prompt": [5, 6], "n_predict": 4, "temperature": 0, "logit_bias": bias});
        let (st, v) = send_json(&s.app, post(uri, &body)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["stop_type"], "eos");
        assert_eq!(v["content"], "");
        assert_eq!(v["tokens_predicted"], 1);
    }
    // `false` bans a token: the greedy pick moves to another one.
    let first = reference(&[5, 6], 1).0[0];
    let (_, v) = completion(
        &s,
        json!({"prompt": [5, 6], "n_predict": 1, "temperature": 0, "return_tokens": true,
                "logit_bias": [[first, false]]}),
    )
    .await;
    assert_ne!(v["tokens"][0], first, "{v}");
    assert!(
        v["generation_settings"]["logit_bias"][0][1]
            .as_f64()
            .unwrap()
            <= -100.0
    );
    let (st, v) = completion(&s, json!({"prompt": [5], "logit_bias": [["w1", 2]]})).await;
    assert_eq!(
        (st, v["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("logit_bias"))
    );
}

#[tokio::test]
async fn completion_fields_are_checked() {
    let s = setup();
    let base = || json!({"prompt": "w1", "n_predict": 1});
    let with = |k: &str, val: Value| {
        let mut b = base();
        b[k] = val;
        b
    };
    for (k, val) in [
        ("max_tokens", json!(3)),
        ("n", json!(2)),
        ("mirostat", json!(2)),
        ("grammar", json!("root ::= \"a\"")),
        ("post_sampling_probs", json!(true)),
        ("samplers", json!(["top_k"])),
        ("n_predict", json!(-2)),
        ("n_probs", json!(21)),
        ("seed", json!("x")),
        ("temperature", json!(-1)),
    ] {
        let (st, v) = completion(&s, with(k, val.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{k}={val}: {v}");
        assert_eq!(v["error"]["param"], k, "{v}");
    }
    // Accepted: no effect, neutral values, llama-server's random seed.
    for (k, val) in [
        ("cache_prompt", json!(true)),
        ("id_slot", json!(-1)),
        ("mirostat", json!(0)),
        ("grammar", json!("")),
        ("seed", json!(-1)),
        ("n_predict", json!(-1)),
    ] {
        let (st, v) = completion(&s, with(k, val.clone())).await;
        assert_eq!(st, StatusCode::OK, "{k}={val}: {v}");
    }
    let (st, v) = completion(&s, json!({"n_predict": 1})).await;
    assert_eq!(
        (st, v["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("prompt"))
    );
    let (st, v) = completion(&s, json!({"prompt": [5, 64]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = completion(&s, json!({"prompt": [5], "n_predict": 200})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let (st, v) = completion(&s, json!({"prompt": "w1", "model": "other"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn infill_builds_the_fim_prompt() {
    let s = fim_setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/infill",
            &json!({"input_prefix": "w3 w4", "input_suffix": "w8", "prompt": "w5",
                    "n_predict": 3, "temperature": 0}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // BOS, [PRE] prefix prompt, [SUF] suffix, [MID].
    let prompt = [BOS, PRE, 3, 4, 5, SUF, 8, MID];
    assert_eq!(v["tokens_evaluated"], prompt.len());
    assert_eq!(v["content"], reference(&prompt, 3).1);

    // Extra context goes first, behind a text separator when the model has no FIM_SEP.
    let (st, v) = send_json(
        &s.app,
        post(
            "/infill",
            &json!({"input_prefix": "w3", "input_suffix": "",
                    "input_extra": [{"filename": "a.py", "text": "w9 w10"}],
                    "n_predict": 2, "temperature": 0}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut expected = FimText.tokenize("\n\n--- snippet ---\n\n", false, false);
    expected.extend([9, 10, BOS, PRE, 3, SUF, MID]);
    assert_eq!(v["tokens_evaluated"], expected.len());
    assert_eq!(v["content"], reference(&expected, 2).1);

    for (k, body) in [
        (
            "input_extra",
            json!({"input_prefix": "w1", "input_extra": "x"}),
        ),
        (
            "input_extra[0].path",
            json!({"input_extra": [{"path": "a"}]}),
        ),
        ("input_prefix", json!({"input_prefix": 3})),
        ("suffix", json!({"suffix": "w1"})),
    ] {
        let (st, v) = send_json(&s.app, post("/infill", &body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["param"], k, "{v}");
    }
}

#[tokio::test]
async fn infill_without_fim_tokens_is_refused() {
    let s = setup();
    let (st, v) = send_json(
        &s.app,
        post(
            "/infill",
            &json!({"input_prefix": "w1", "input_suffix": "w2"}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("fill-in-the-middle"), "{msg}");
}

#[tokio::test]
async fn props_slots_and_tokenizer_info() {
    let s = fim_setup();
    let (st, v) = send_json(&s.app, get("/props")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["total_slots"], SchedulerConfig::default().max_running);
    assert_eq!(v["default_generation_settings"]["n_ctx"], N_CTX);
    let p = &v["default_generation_settings"]["params"];
    assert!((p["temperature"].as_f64().unwrap() - 0.8).abs() < 1e-6);
    assert!((p["top_p"].as_f64().unwrap() - 0.95).abs() < 1e-6);
    assert_eq!(p["n_predict"], -1);
    assert_eq!(v["model_path"], "/models/fake.gguf");
    assert_eq!(v["chat_template"], "{{ messages }}");
    assert_eq!(v["bos_token"], FakeVocab::piece(BOS));
    assert_eq!(v["eos_token"], FakeVocab::piece(EOG));
    assert!(v["build_info"].as_str().unwrap().starts_with("nomoat "));
    assert_eq!(v["modalities"]["vision"], false);

    wait_idle(&s.state).await;
    let (st, v) = send_json(&s.app, get("/slots")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let slots = v.as_array().unwrap();
    assert_eq!(slots.len(), SchedulerConfig::default().max_running);
    for (i, sl) in slots.iter().enumerate() {
        assert_eq!(sl["id"], i);
        assert_eq!(sl["is_processing"], false);
        assert_eq!(sl["n_ctx"], N_CTX);
    }
    let (st, _) = send_json(&s.app, get("/slots?fail_on_no_slot=1")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = send_json(&s.app, get("/slots?id=3")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _) = send_json(&s.app, post("/slots", &json!({}))).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "read-only");

    for req in [get("/tokenizer_info"), post("/tokenizer_info", &json!({}))] {
        let (st, v) = send_json(&s.app, req).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["eos_token"], FakeVocab::piece(EOG));
        assert_eq!(v["bos_token"], FakeVocab::piece(BOS));
        assert_eq!(v["add_bos_token"], true);
        assert_eq!(v["model_max_length"], N_CTX);
        assert_eq!(v["chat_template"], "{{ messages }}");
    }
    // A model that reports no special tokens still answers, with them null.
    let plain = setup();
    let (_, v) = send_json(&plain.app, get("/tokenizer_info")).await;
    assert!(v.get("eos_token").is_some_and(Value::is_null), "{v}");
}

#[tokio::test]
async fn tokenize_takes_vllm_spelling() {
    let s = setup();
    // What lm-eval's remote tokenizer sends.
    let (st, v) = send_json(
        &s.app,
        post(
            "/tokenize",
            &json!({"prompt": "w3 w4", "add_special_tokens": false}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["tokens"], json!([3, 4]));
    let (_, v) = send_json(
        &s.app,
        post(
            "/tokenize",
            &json!({"prompt": "w3", "add_special_tokens": true}),
        ),
    )
    .await;
    assert_eq!(v["tokens"], json!([BOS, 3]));
    let (_, v) = send_json(&s.app, post("/tokenize", &json!({"content": "w3"}))).await;
    assert_eq!(v["tokens"], json!([3]));
    for body in [
        json!({"content": "w3", "prompt": "w3"}),
        json!({"prompt": "w3", "add_special": true, "add_special_tokens": true}),
        json!({"prompt": 3}),
    ] {
        let (st, v) = send_json(&s.app, post("/tokenize", &body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    let (st, v) = send_json(&s.app, post("/detokenize", &json!({"tokens": [3, 4]}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["prompt"], "w3 w4 ");
    assert_eq!(v["content"], "w3 w4 ");
}

/// lm-eval scores with `echo`, `logprobs` and `max_tokens: 1` and sums `token_logprobs[ctxlen:-1]`:
/// the last entry must be the generated token even when it is the end-of-generation token.
#[tokio::test]
async fn echo_logprobs_keep_the_generated_eog_entry() {
    let s = setup();
    for eog_bias in [0, 100] {
        let body = json!({"prompt": [5, 6, 7], "max_tokens": 1, "echo": true, "logprobs": 1,
                          "temperature": 0, "logit_bias": {EOG.to_string(): eog_bias}});
        let (st, v) = send_json(&s.app, post("/v1/completions", &body)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let lps = v["choices"][0]["logprobs"]["token_logprobs"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(lps.len(), 4, "bias {eog_bias}: {v}");
        assert!(lps[0].is_null());
        // The prompt entries do not depend on what was generated.
        let want = log_softmax(&FakeRunner::logits_for(&[5, 6], V))[7];
        assert!((lps[2].as_f64().unwrap() - want).abs() < 1e-5);
    }
}
