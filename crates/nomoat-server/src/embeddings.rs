//! Embeddings: `POST /v1/embeddings` (OpenAI), `POST /api/embed` and the legacy
//! `POST /api/embeddings` (Ollama).
//!
//! Every route tokenizes its inputs (BOS etc. as the model adds them, special-token text parsed,
//! as llama-server and Ollama do), queues one embedding job on the engine
//! ([`nomoat_engine::scheduler::Engine::submit_embed`]: the engine thread runs its inputs between
//! decode steps, pooled as the model file or `--pooling` says) and shapes the vectors. OpenAI
//! and `/api/embed` return unit-length (L2) vectors, as llama-server (`embd_normalize` 2) and
//! Ollama do; the legacy `/api/embeddings` returns them unnormalised, as Ollama does.
//!
//! `dimensions` is accepted only when it equals the model's width: a causal LM is not trained
//! for truncated (Matryoshka) embeddings, so cutting its vector would not give a meaningful one.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nomoat_engine::scheduler::{l2_normalize, EmbedSink, Embeddings, EngineError};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::body::read_json;
use crate::error::ApiError;
use crate::gen;
use crate::model::Served;
use crate::params::{FieldStatus, Fields};
use crate::AppState;

/// Inputs in one request.
pub const MAX_INPUTS: usize = 512;
/// Tokens of all inputs of one request together (each input is also at most the context).
pub const MAX_TOTAL_TOKENS: usize = 1 << 17;

/// Fields of `POST /v1/embeddings`.
pub const EMBED_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", FieldStatus::Supported),
    ("input", FieldStatus::Supported),
    ("encoding_format", FieldStatus::Supported),
    ("dimensions", FieldStatus::Supported),
    ("user", FieldStatus::NoEffect),
];

/// Fields of Ollama's `POST /api/embed`.
pub const OLLAMA_EMBED_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", FieldStatus::Supported),
    ("input", FieldStatus::Supported),
    ("truncate", FieldStatus::Supported),
    ("options", FieldStatus::Supported),
    ("dimensions", FieldStatus::Supported),
    // One model, always loaded: how long to keep it has no effect.
    ("keep_alive", FieldStatus::NoEffect),
];

/// Fields of Ollama's legacy `POST /api/embeddings`.
pub const OLLAMA_EMBEDDINGS_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", FieldStatus::Supported),
    ("prompt", FieldStatus::Supported),
    ("options", FieldStatus::Supported),
    ("keep_alive", FieldStatus::NoEffect),
];

/// Ollama `options` that only steer sampling or the runtime, so cannot change an embedding.
const OPTIONS_NO_EFFECT: &[&str] = &[
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "typical_p",
    "tfs_z",
    "seed",
    "num_predict",
    "stop",
    "repeat_penalty",
    "repeat_last_n",
    "presence_penalty",
    "frequency_penalty",
    "penalize_newline",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
    "num_keep",
    "num_thread",
    "num_gpu",
    "main_gpu",
    "num_batch",
    "use_mmap",
    "use_mlock",
    "numa",
    "low_vram",
];

/// One input before tokenizing.
enum Input {
    Text(String),
    Tokens(Vec<u32>),
}

/// Hands the engine's result to the waiting request; the request going away (client gone)
/// closes it, and the engine then drops the job.
struct OneshotSink(oneshot::Sender<Result<Embeddings, EngineError>>);

impl EmbedSink for OneshotSink {
    fn send(self: Box<Self>, result: Result<Embeddings, EngineError>) {
        let _ = self.0.send(result);
    }
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

fn no_embeddings(served: &Served) -> Result<usize, ApiError> {
    served
        .engine
        .embedding()
        .map(|i| i.n_embd)
        .map_err(|e| ApiError::invalid("model", format!("this model cannot embed: {e}")))
}

/// `dimensions`: only the model's own width.
fn check_dimensions(f: &Fields<'_>, n_embd: usize) -> Result<(), ApiError> {
    match f.integer("dimensions", 1, i64::MAX)? {
        None => Ok(()),
        Some(d) if d as usize == n_embd => Ok(()),
        Some(d) => Err(ApiError::invalid(
            "dimensions",
            format!(
                "this model gives {n_embd}-dimensional embeddings and cannot shorten them \
                 (it is not trained for truncated embeddings); 'dimensions' = {d} must be \
                 {n_embd} or absent"
            ),
        )),
    }
}

/// OpenAI `input`: a string, an array of strings, an array of token ids, or an array of
/// token-id arrays; none empty.
fn openai_inputs(f: &Fields<'_>) -> Result<Vec<Input>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "input",
            "'input' must be a non-empty string, an array of strings, an array of token ids, or \
             an array of token-id arrays",
        )
    };
    let ids = |a: &[Value], at: &str| -> Result<Vec<u32>, ApiError> {
        a.iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_u64()
                    .filter(|&x| x <= u64::from(u32::MAX))
                    .map(|x| x as u32)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "input",
                            format!("{at}[{i}] = {v} is not a valid token id"),
                        )
                    })
            })
            .collect()
    };
    let out: Vec<Input> = match f.get("input") {
        None => return Err(ApiError::invalid("input", "'input' is required")),
        Some(Value::String(s)) => vec![Input::Text(s.clone())],
        Some(Value::Array(a)) if a.is_empty() => return Err(bad()),
        Some(Value::Array(a)) => match &a[0] {
            Value::String(_) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|s| Input::Text(s.to_owned()))
                        .ok_or_else(bad)
                })
                .collect::<Result<_, _>>()?,
            Value::Number(_) => vec![Input::Tokens(ids(a, "input")?)],
            Value::Array(_) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Array(inner) => ids(inner, &format!("input[{i}]")).map(Input::Tokens),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    for (i, x) in out.iter().enumerate() {
        let empty = match x {
            Input::Text(s) => s.is_empty(),
            Input::Tokens(t) => t.is_empty(),
        };
        if empty {
            return Err(ApiError::invalid(
                "input",
                format!("input[{i}] is empty; every input needs at least one character or token"),
            ));
        }
    }
    Ok(out)
}

/// Token ids of every input, off the async threads.
async fn tokenize(served: &Arc<Served>, inputs: Vec<Input>) -> Result<Vec<Vec<u32>>, ApiError> {
    let text = served.text.clone();
    tokio::task::spawn_blocking(move || {
        inputs
            .into_iter()
            .map(|x| match x {
                Input::Text(s) => text.tokenize(&s, true, true),
                Input::Tokens(t) => t,
            })
            .collect()
    })
    .await
    .map_err(|_| ApiError::internal("internal error while tokenizing the input"))
}

/// Count and size limits; `n_ctx` bounds each input.
fn check_sizes(ids: &[Vec<u32>], n_ctx: usize, param: &str) -> Result<usize, ApiError> {
    if ids.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            param,
            format!(
                "{} inputs in one request; at most {MAX_INPUTS} are allowed",
                ids.len()
            ),
        ));
    }
    let mut total = 0usize;
    for (i, t) in ids.iter().enumerate() {
        if t.len() > n_ctx {
            return Err(ApiError::invalid(
                param,
                format!(
                    "input[{i}] has {} tokens but this server's context holds {n_ctx}; shorten it",
                    t.len()
                ),
            ));
        }
        total += t.len();
    }
    if total > MAX_TOTAL_TOKENS {
        return Err(ApiError::invalid(
            param,
            format!(
                "the inputs hold {total} tokens together; at most {MAX_TOTAL_TOKENS} are allowed \
                 per request"
            ),
        ));
    }
    Ok(total)
}

/// Queue the job and wait for its vectors (unnormalised).
async fn run(
    served: &Arc<Served>,
    ids: Vec<Vec<u32>>,
    param: &str,
) -> Result<Embeddings, ApiError> {
    let permit = gen::reserve(served, 1)?
        .pop()
        .ok_or_else(|| ApiError::internal("no permit"))?;
    let (tx, rx) = oneshot::channel();
    served
        .engine
        .submit_embed(ids, Box::new(OneshotSink(tx)), permit)
        .map_err(|e| gen::submit_error(e, param))?;
    match rx.await {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(EngineError::ShuttingDown)) | Err(_) => {
            Err(ApiError::unavailable("the server is shutting down", 5))
        }
        Ok(Err(e)) => Err(ApiError::internal(format!("embedding failed: {e}"))),
    }
}

/// Standard base64 with padding (RFC 4648 §4), what OpenAI's `encoding_format: base64` uses.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= c.len() {
                s.push(A[(n >> shift & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The vector as OpenAI's base64 form: little-endian f32s.
fn base64_f32(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64(&bytes)
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, EMBED_FIELDS)?;
    let served = st.resolve(f.string("model")?).await?;
    let n_embd = no_embeddings(&served)?;
    let b64 = match f.string("encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(o) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("'encoding_format' must be 'float' or 'base64', got '{o}'"),
            ))
        }
    };
    check_dimensions(&f, n_embd)?;
    let inputs = openai_inputs(&f)?;
    let ids = tokenize(&served, inputs).await?;
    let total = check_sizes(&ids, served.engine.n_ctx(), "input")?;
    let out = run(&served, ids, "input").await?;
    let data: Vec<Value> = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, mut v)| {
            l2_normalize(&mut v);
            let embedding = match b64 {
                true => json!(base64_f32(&v)),
                false => json!(v),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": served.id,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }))
    .into_response())
}

/// Ollama's error shape: `{"error": "message"}` with the status.
fn ollama_error(e: ApiError) -> Response {
    (e.status, Json(json!({"error": e.message}))).into_response()
}

/// Ollama `options`: `num_ctx` caps the truncation length; sampling and runtime options have
/// no effect on an embedding; anything else is refused by name. Returns the `num_ctx` cap.
fn ollama_options(f: &Fields<'_>) -> Result<Option<usize>, ApiError> {
    let Some(v) = f.get("options") else {
        return Ok(None);
    };
    let Value::Object(o) = v else {
        return Err(ApiError::invalid("options", "'options' must be an object"));
    };
    let mut num_ctx = None;
    for (k, v) in o {
        if v.is_null() || OPTIONS_NO_EFFECT.contains(&k.as_str()) {
            continue;
        }
        if k == "num_ctx" {
            let n = v.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
                ApiError::invalid("options.num_ctx", "'num_ctx' must be a positive integer")
            })?;
            num_ctx = Some(usize::try_from(n).unwrap_or(usize::MAX));
            continue;
        }
        return Err(ApiError::invalid(
            format!("options.{k}"),
            format!("option '{k}' is not supported for embeddings by this server"),
        ));
    }
    Ok(num_ctx)
}

/// `POST /api/embed` (Ollama).
pub async fn ollama_embed(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let start = Instant::now();
    match ollama_embed_inner(st, headers, body, start).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => ollama_error(e),
    }
}

async fn ollama_embed_inner(
    st: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    start: Instant,
) -> Result<Value, ApiError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, OLLAMA_EMBED_FIELDS)?;
    let name = f.string("model")?;
    let served = st.resolve(name).await?;
    let model = name.unwrap_or(&served.id).to_owned();
    let n_embd = no_embeddings(&served)?;
    check_dimensions(&f, n_embd)?;
    let truncate = f.bool("truncate")?.unwrap_or(true);
    let n_ctx = ollama_options(&f)?.map_or(served.engine.n_ctx(), |n| n.min(served.engine.n_ctx()));
    let bad = || ApiError::invalid("input", "'input' must be a string or an array of strings");
    // As Ollama: an empty string or list embeds nothing (a client's way to load the model).
    let texts: Vec<String> = match f.get("input") {
        None => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    if texts.is_empty() {
        return Ok(json!({"model": model, "embeddings": []}));
    }
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(ApiError::invalid("input", format!("input[{i}] is empty")));
    }
    let mut ids = tokenize(&served, texts.into_iter().map(Input::Text).collect()).await?;
    for (i, t) in ids.iter_mut().enumerate() {
        if t.len() > n_ctx {
            if !truncate {
                return Err(ApiError::invalid(
                    "input",
                    format!(
                        "input[{i}] length ({} tokens) exceeds the maximum context length \
                         ({n_ctx}); send truncate: true to cut it",
                        t.len()
                    ),
                ));
            }
            t.truncate(n_ctx);
        }
    }
    let total = check_sizes(&ids, n_ctx, "input")?;
    let out = run(&served, ids, "input").await?;
    let embeddings: Vec<Vec<f32>> = out
        .vectors
        .into_iter()
        .map(|mut v| {
            l2_normalize(&mut v);
            v
        })
        .collect();
    Ok(json!({
        "model": model,
        "embeddings": embeddings,
        "total_duration": start.elapsed().as_nanos() as u64,
        // The model is loaded before the server answers: nothing was loaded for this request.
        "load_duration": 0,
        "prompt_eval_count": total,
    }))
}

/// `POST /api/embeddings` (Ollama's legacy route): one `prompt`, the vector unnormalised.
pub async fn ollama_embeddings(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match ollama_embeddings_inner(st, headers, body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => ollama_error(e),
    }
}

async fn ollama_embeddings_inner(
    st: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, OLLAMA_EMBEDDINGS_FIELDS)?;
    let served = st.resolve(f.string("model")?).await?;
    no_embeddings(&served)?;
    let n_ctx = ollama_options(&f)?.map_or(served.engine.n_ctx(), |n| n.min(served.engine.n_ctx()));
    let prompt = f.string("prompt")?.unwrap_or("");
    // As Ollama: an empty prompt only loads the model.
    if prompt.is_empty() {
        return Ok(json!({"embedding": []}));
    }
    let ids = tokenize(&served, vec![Input::Text(prompt.to_owned())]).await?;
    check_sizes(&ids, n_ctx, "prompt")?;
    let mut out = run(&served, ids, "prompt").await?;
    Ok(json!({"embedding": out.vectors.pop().unwrap_or_default()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn base64_f32_is_little_endian() {
        // 1.0f32 = 0x3f800000 → bytes 00 00 80 3f.
        assert_eq!(base64_f32(&[1.0]), base64(&[0, 0, 0x80, 0x3f]));
    }
}
