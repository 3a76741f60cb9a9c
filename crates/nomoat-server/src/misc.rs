//! The small routes: models, health, metrics, tokenize, detokenize, and the 404/405 answers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::body::read_json;
use crate::error::ApiError;
use crate::model::Served;
use crate::pool::{ModelEntry, PoolError};
use crate::AppState;

/// One model in OpenAI's list shape, plus where it is (`status`, as llama-server's router mode
/// writes it) and, when loaded, its context and vocabulary.
fn entry_json(e: &ModelEntry, served: Option<&Served>) -> Value {
    let created = e
        .modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let state = if e.loaded.is_some() {
        "loaded"
    } else if e.loading {
        "loading"
    } else {
        "unloaded"
    };
    let mut v = json!({
        "id": e.id,
        "object": "model",
        "created": served.map_or(created, |s| s.created),
        "owned_by": "nomoat",
        "status": {"value": state},
        "aliases": e.aliases,
        "meta": {"size": e.size},
    });
    if let (Some(s), Some(l)) = (served, &e.loaded) {
        v["meta"]["n_ctx"] = json!(s.engine.n_ctx());
        v["meta"]["n_vocab"] = json!(s.engine.n_vocab());
        v["meta"]["memory_bytes"] = json!(l.bytes);
    }
    v
}

/// `GET /v1/models`: every model this server can serve, loaded or not.
pub async fn models(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    if st.pool().awaiting_install() {
        return Err(ApiError::unavailable("Loading model", 2));
    }
    let loaded = st.pool().loaded();
    let data: Vec<Value> = st
        .pool()
        .list()
        .iter()
        .map(|e| {
            let s = loaded.iter().find(|(l, _)| l.id == e.id).map(|(_, s)| &**s);
            entry_json(e, s)
        })
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

/// `GET /v1/models/{id}`: one model (without loading it).
pub async fn model(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if st.pool().awaiting_install() {
        return Err(ApiError::unavailable("Loading model", 2));
    }
    let e = st
        .pool()
        .find(&id)
        .ok_or_else(|| ApiError::from(PoolError::NotFound(id.clone())))?;
    let loaded = st.pool().loaded();
    let s = loaded.iter().find(|(l, _)| l.id == e.id).map(|(_, s)| &**s);
    Ok(axum::Json(entry_json(&e, s)).into_response())
}

/// 200 once the default model is loaded and its engine runs (503 while it loads); a server with
/// no default model is healthy once it runs.
pub async fn health(State(st): State<Arc<AppState>>) -> Response {
    let pool = st.pool();
    if pool.awaiting_install() {
        return ApiError::unavailable("Loading model", 2).into_response();
    }
    if pool.default_model().is_none() {
        return axum::Json(json!({"status": "ok"})).into_response();
    }
    match pool.default_loaded() {
        Some(m) if m.engine.is_alive() => axum::Json(json!({"status": "ok"})).into_response(),
        Some(_) => ApiError::unavailable("the engine has stopped", 5).into_response(),
        None => ApiError::unavailable("Loading model", 2).into_response(),
    }
}

pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let stats = st.model().map(|m| m.engine.stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(stats.as_ref()),
    )
        .into_response()
}

/// `POST /tokenize {"content": str, "add_special": bool, "with_pieces": bool}` (llama-server's
/// shape) → `{"tokens": [id…]}` or `[{"id", "piece"}…]`. vLLM's spelling (`prompt`,
/// `add_special_tokens`, what lm-eval's remote tokenizer sends) is accepted too.
pub async fn tokenize(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let m = st.resolve(map.get("model").and_then(Value::as_str)).await?;
    for k in map.keys() {
        if !matches!(
            k.as_str(),
            "content"
                | "prompt"
                | "add_special"
                | "add_special_tokens"
                | "parse_special"
                | "with_pieces"
                | "model"
        ) {
            return Err(ApiError::invalid(
                k.clone(),
                format!("Unrecognized request argument supplied: {k}"),
            ));
        }
    }
    let key = match (map.contains_key("content"), map.contains_key("prompt")) {
        (true, true) => {
            return Err(ApiError::invalid(
                "prompt",
                "give 'content' or 'prompt', not both",
            ))
        }
        (false, true) => "prompt",
        _ => "content",
    };
    let content = map
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(key, format!("'{key}' (a string) is required")))?
        .to_string();
    let flag = |k: &str, default: bool| -> Result<bool, ApiError> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::invalid(k, format!("'{k}' must be a boolean"))),
        }
    };
    if map.contains_key("add_special") && map.contains_key("add_special_tokens") {
        return Err(ApiError::invalid(
            "add_special_tokens",
            "give 'add_special' or 'add_special_tokens', not both",
        ));
    }
    let add_special = flag("add_special", false)? || flag("add_special_tokens", false)?;
    let parse_special = flag("parse_special", true)?;
    let with_pieces = flag("with_pieces", false)?;
    let text = m.text.clone();
    let ids =
        tokio::task::spawn_blocking(move || text.tokenize(&content, add_special, parse_special))
            .await
            .map_err(|_| ApiError::internal("internal error while tokenizing"))?;
    let tokens: Value = if with_pieces {
        ids.iter()
            .map(|&id| json!({"id": id, "piece": m.piece(id)}))
            .collect()
    } else {
        json!(ids)
    };
    Ok(axum::Json(json!({"tokens": tokens})).into_response())
}

/// `POST /detokenize {"tokens": [id…]}` → `{"content": str, "prompt": str}` (llama-server's
/// key and vLLM's, which lm-eval reads).
pub async fn detokenize(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let m = st.resolve(map.get("model").and_then(Value::as_str)).await?;
    for k in map.keys() {
        if !matches!(k.as_str(), "tokens" | "model") {
            return Err(ApiError::invalid(
                k.clone(),
                format!("Unrecognized request argument supplied: {k}"),
            ));
        }
    }
    let Some(Value::Array(list)) = map.get("tokens") else {
        return Err(ApiError::invalid(
            "tokens",
            "'tokens' (an array of token ids) is required",
        ));
    };
    let n_vocab = m.engine.n_vocab();
    let ids = list
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .filter(|&x| x < n_vocab as u64)
                .map(|x| x as u32)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "tokens",
                        format!("tokens[{i}] = {v} is not a token id below the vocabulary size {n_vocab}"),
                    )
                })
        })
        .collect::<Result<Vec<u32>, _>>()?;
    let text = m.text.detokenize(&ids);
    Ok(axum::Json(json!({"content": text, "prompt": text})).into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("Unknown route. Routes: /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics, /tokenize, /detokenize, /completion, /infill, /props, /slots, /tokenizer_info")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// A caught panic: that request gets a 500, the server goes on.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let mut r = ApiError::internal("internal error while handling this request").into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
