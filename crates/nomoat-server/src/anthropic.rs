//! The Anthropic Messages API: `POST /v1/messages` (plain and streamed) and
//! `POST /v1/messages/count_tokens`, with Anthropic-shaped errors. The conversation goes through
//! the same chat template as `/v1/chat/completions` (`gen::chat_ids`); sampling maps onto the
//! same [`nomoat_engine::sample::SamplingParams`] through `params::common`. What is supported is
//! listed in docs/compat-anthropic.md.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nomoat_chat::Message;
use nomoat_engine::scheduler::{Event, FinishReason, GenRequest};
use serde_json::{json, Value};

use crate::body::read_json;
use crate::error::ApiError;
use crate::gen::{self, StreamFormat, Timing};
use crate::params::{self, FieldStatus, Fields};
use crate::{AppState, Limits};

use FieldStatus::{NoEffect, Supported, Unsupported};

/// Fields of `POST /v1/messages`. `tool_choice` and `thinking` are checked by hand (their
/// neutral values are objects); `tools` only as the empty list.
const MESSAGES_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", Supported),
    ("max_tokens", Supported),
    ("messages", Supported),
    ("system", Supported),
    ("stop_sequences", Supported),
    ("temperature", Supported),
    ("top_p", Supported),
    ("top_k", Supported),
    ("stream", Supported),
    ("metadata", NoEffect),
    ("service_tier", NoEffect),
    // Prompt caching is automatic here; where and how fast it runs is this machine.
    ("cache_control", NoEffect),
    ("inference_geo", NoEffect),
    ("speed", NoEffect),
    ("user_profile_id", NoEffect),
    ("workspace_id", NoEffect),
    ("tool_choice", Supported),
    ("thinking", Supported),
    ("tools", Unsupported),
    ("output_config", Unsupported),
    ("output_format", Unsupported),
    ("diagnostics", Unsupported),
    ("mcp_servers", Unsupported),
    ("container", Unsupported),
];

/// Fields of `POST /v1/messages/count_tokens`.
const COUNT_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", Supported),
    ("messages", Supported),
    ("system", Supported),
    ("cache_control", NoEffect),
    ("speed", NoEffect),
    ("user_profile_id", NoEffect),
    ("workspace_id", NoEffect),
    ("tool_choice", Supported),
    ("thinking", Supported),
    ("tools", Unsupported),
    ("output_config", Unsupported),
    ("output_format", Unsupported),
    ("mcp_servers", Unsupported),
];

/// Whether a request path belongs to this API (its errors are Anthropic-shaped, also the ones
/// the auth layer answers).
pub fn is_anthropic_path(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}

/// An [`ApiError`] answered in Anthropic's shape:
/// `{"type": "error", "error": {"type": ..., "message": ...}}`, same status.
pub struct AnthropicError(pub ApiError);

impl From<ApiError> for AnthropicError {
    fn from(e: ApiError) -> Self {
        AnthropicError(e)
    }
}

/// Anthropic's error type for a status (its documented list).
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 408 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let e = self.0;
        let message = match (&e.param, e.code) {
            (Some(p), Some("unsupported_parameter")) => format!(
                "{p}: not supported by this server (see docs/compat-anthropic.md); remove it"
            ),
            (Some(p), Some("unknown_parameter")) => format!("{p}: Extra inputs are not permitted"),
            _ => e.message.clone(),
        };
        let mut resp = (
            e.status,
            axum::Json(error_body(error_type(e.status), &message)),
        )
            .into_response();
        if let Some(s) = e.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// Anthropic-style ids: `msg_` then hex.
fn new_id() -> String {
    gen::new_id("msg").replacen('-', "_", 1)
}

/// A 400 about one place in the request, named the way Anthropic's errors name it
/// (`messages.0.content.1.type: ...`).
fn bad(path: impl Into<String>, msg: impl std::fmt::Display) -> ApiError {
    let path = path.into();
    ApiError::invalid(path.clone(), format!("{path}: {msg}"))
}

/// `tool_choice`, `thinking` at their neutral values (no tools, no extended thinking) pass;
/// anything else is refused by name. Issue 13 adds tools.
fn refuse_tools_and_thinking(f: &Fields<'_>) -> Result<(), ApiError> {
    if let Some(v) = f.get("tool_choice") {
        let ty = v.get("type").and_then(Value::as_str);
        if !matches!(ty, Some("auto" | "none")) {
            return Err(ApiError::unsupported("tool_choice"));
        }
    }
    if let Some(v) = f.get("thinking") {
        if v.get("type").and_then(Value::as_str) != Some("disabled") {
            return Err(ApiError::unsupported("thinking"));
        }
    }
    Ok(())
}

/// Text of a `text` block list (`system`, or a message's `content`), joined with newlines as
/// the OpenAI chat route joins text parts. Other block types are refused by name.
fn text_blocks(path: &str, blocks: &[Value]) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(blocks.len());
    for (j, b) in blocks.iter().enumerate() {
        let at = format!("{path}.{j}");
        let Value::Object(o) = b else {
            return Err(bad(at, "each content block must be an object"));
        };
        match o.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some(t) => {
                return Err(bad(
                    format!("{at}.type"),
                    format!(
                        "content blocks of type '{t}' are not supported by this server (text only)"
                    ),
                ))
            }
            None => return Err(bad(format!("{at}.type"), "Field required")),
        }
        for k in o.keys() {
            // cache_control and citations change nothing here: there is no prompt-cache
            // billing and no document to cite.
            if !matches!(k.as_str(), "type" | "text" | "cache_control" | "citations") {
                return Err(bad(format!("{at}.{k}"), "Extra inputs are not permitted"));
            }
        }
        match o.get("text") {
            Some(Value::String(t)) => texts.push(t.as_str()),
            _ => {
                return Err(bad(
                    format!("{at}.text"),
                    "a text block needs a string 'text'",
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

fn content(path: &str, v: Option<&Value>) -> Result<String, ApiError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => text_blocks(path, blocks),
        Some(_) => Err(bad(path, "must be a string or an array of content blocks")),
        None => Err(bad(path, "Field required")),
    }
}

/// `system` + `messages` as the chat template's messages.
fn conversation(f: &Fields<'_>, limits: &Limits) -> Result<Vec<Message>, ApiError> {
    let mut out = Vec::new();
    if let Some(system) = f.get("system") {
        out.push(Message::new("system", content("system", Some(system))?));
    }
    let list = match f.get("messages") {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("messages", "must be an array")),
        None => return Err(bad("messages", "Field required")),
    };
    if list.is_empty() {
        return Err(bad("messages", "at least one message is required"));
    }
    if list.len() > limits.max_messages {
        return Err(bad(
            "messages",
            format!(
                "{} messages; at most {} are allowed",
                list.len(),
                limits.max_messages
            ),
        ));
    }
    for (i, m) in list.iter().enumerate() {
        let at = format!("messages.{i}");
        let Value::Object(o) = m else {
            return Err(bad(at, "each message must be an object"));
        };
        if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "role" | "content")) {
            return Err(bad(format!("{at}.{k}"), "Extra inputs are not permitted"));
        }
        let role = match o.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant")) => r,
            Some(r) => {
                return Err(bad(
                    format!("{at}.role"),
                    format!("unknown role '{r}'; expected user or assistant (the system prompt goes in 'system')"),
                ))
            }
            None => return Err(bad(format!("{at}.role"), "Field required")),
        };
        let text = content(&format!("{at}.content"), o.get("content"))?;
        out.push(Message::new(role, text));
    }
    if list
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("assistant")
    {
        // Anthropic continues a final assistant message (prefill); the chat template here would
        // close that turn and start a new one, a different answer, so it is refused.
        return Err(bad(
            format!("messages.{}", list.len() - 1),
            "a final assistant message (prefill) is not supported by this server; end with a user message",
        ));
    }
    Ok(out)
}

fn stop_sequences(f: &Fields<'_>, limits: &Limits) -> Result<Vec<String>, ApiError> {
    let list = match f.get("stop_sequences") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("stop_sequences", "must be an array of strings")),
    };
    if list.len() > limits.max_stop {
        return Err(bad(
            "stop_sequences",
            format!(
                "{} strings; at most {} are allowed",
                list.len(),
                limits.max_stop
            ),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str() {
            Some("") => return Err(bad(format!("stop_sequences.{i}"), "must not be empty")),
            Some(s) if s.len() > limits.max_stop_bytes => {
                return Err(bad(
                    format!("stop_sequences.{i}"),
                    format!("longer than {} bytes", limits.max_stop_bytes),
                ))
            }
            Some(s) => out.push(s.to_string()),
            None => return Err(bad(format!("stop_sequences.{i}"), "must be a string")),
        }
    }
    let total: usize = out.iter().map(String::len).sum();
    if total > 4 * limits.max_stop_bytes {
        return Err(bad(
            "stop_sequences",
            format!("more than {} bytes in total", 4 * limits.max_stop_bytes),
        ));
    }
    Ok(out)
}

fn required_model<'a>(f: &Fields<'a>) -> Result<&'a str, ApiError> {
    f.string("model")?
        .ok_or_else(|| bad("model", "Field required"))
}

/// Anthropic's `stop_reason` and `stop_sequence` for how generation ended.
fn stop_reason(finish: FinishReason, stop: Option<String>) -> (&'static str, Value) {
    match (finish, stop) {
        (FinishReason::Length, _) => ("max_tokens", Value::Null),
        (FinishReason::Stop, Some(s)) => ("stop_sequence", Value::String(s)),
        (FinishReason::Stop, None) => ("end_turn", Value::Null),
    }
}

/// `POST /v1/messages`.
pub async fn messages(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AnthropicError> {
    let start = Instant::now();
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, MESSAGES_FIELDS)?;
    let served = st.resolve(Some(required_model(&f)?)).await?;
    let max_tokens = f
        .integer("max_tokens", 1, i64::MAX)?
        .ok_or_else(|| bad("max_tokens", "Field required"))?;
    let max_tokens = usize::try_from(max_tokens).unwrap_or(usize::MAX);
    // Anthropic's range is [0, 1]; params::common then checks its own wider one.
    f.number("temperature", 0.0, 1.0)?;
    refuse_tools_and_thinking(&f)?;
    let c = params::common(&f, &st.limits, served.engine.n_vocab())?;
    let stop = stop_sequences(&f, &st.limits)?;
    let conversation = conversation(&f, &st.limits)?;

    let permits = gen::reserve(&served, 1)?;
    let ids = gen::chat_ids(&served, conversation).await?;
    let n_ctx = served.engine.n_ctx();
    if ids.len().saturating_add(max_tokens) > n_ctx {
        return Err(ApiError::context_length(ids.len(), max_tokens, n_ctx).into());
    }
    let n_prompt = ids.len();
    let req = GenRequest {
        prompt: ids,
        max_tokens,
        sampling: c.sampling,
        stop,
        logprobs: None,
        prompt_logprobs: false,
        ignore_eos: false,
        constraint: None,
        render_special: false,
    };
    let rx = gen::submit_all(&served, vec![req], permits, "messages")?;
    let id = new_id();
    let mut timing = Timing::new(st.clone(), start, 1);

    if c.stream {
        let fmt = MessageStream {
            id,
            model: served.id.clone(),
            n_prompt,
        };
        return Ok(gen::sse(rx, fmt, timing, 1));
    }

    let events = gen::collect(rx, &mut timing, 1).await?;
    let mut text = String::new();
    let mut reason = ("end_turn", Value::Null);
    let mut output_tokens = 0;
    for ev in events.into_iter().flatten() {
        match ev {
            Event::Token { text: t, .. } => text.push_str(&t),
            Event::Done {
                finish_reason,
                usage,
                stop,
            } => {
                reason = stop_reason(finish_reason, stop);
                output_tokens = usage.completion_tokens;
            }
            Event::PromptLogprobs(_) | Event::Error(_) => {}
        }
    }
    Ok(axum::Json(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "model": served.id,
        "stop_reason": reason.0,
        "stop_sequence": reason.1,
        "usage": {"input_tokens": n_prompt, "output_tokens": output_tokens},
    }))
    .into_response())
}

/// `POST /v1/messages/count_tokens`: the prompt `/v1/messages` would run, counted.
pub async fn count_tokens(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AnthropicError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, COUNT_FIELDS)?;
    let served = st.resolve(Some(required_model(&f)?)).await?;
    refuse_tools_and_thinking(&f)?;
    let conversation = conversation(&f, &st.limits)?;
    let ids = gen::chat_ids(&served, conversation).await?;
    Ok(axum::Json(json!({"input_tokens": ids.len()})).into_response())
}

/// Anthropic's stream: message_start, content_block_start, ping, content_block_delta per piece
/// of text, content_block_stop, message_delta (stop reason, output tokens), message_stop.
struct MessageStream {
    id: String,
    model: String,
    n_prompt: usize,
}

impl StreamFormat for MessageStream {
    const NAMED_EVENTS: bool = true;
    const DONE_MARKER: bool = false;

    fn error(&mut self, message: &str) -> Value {
        error_body("api_error", message)
    }

    fn start(&mut self) -> Vec<Value> {
        vec![
            json!({"type": "message_start", "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": self.model,
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": self.n_prompt, "output_tokens": 0},
            }}),
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
        ]
    }

    fn event(&mut self, _index: usize, ev: Event) -> Vec<Value> {
        match ev {
            Event::Token { text, .. } if !text.is_empty() => vec![json!({
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            })],
            Event::Done {
                finish_reason,
                usage,
                stop,
            } => {
                let (reason, seq) = stop_reason(finish_reason, stop);
                vec![
                    json!({"type": "content_block_stop", "index": 0}),
                    json!({"type": "message_delta",
                           "delta": {"stop_reason": reason, "stop_sequence": seq},
                           "usage": {"output_tokens": usage.completion_tokens}}),
                    json!({"type": "message_stop"}),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<Value> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_follow_the_status() {
        assert_eq!(error_type(StatusCode::BAD_REQUEST), "invalid_request_error");
        assert_eq!(error_type(StatusCode::UNAUTHORIZED), "authentication_error");
        assert_eq!(error_type(StatusCode::NOT_FOUND), "not_found_error");
        assert_eq!(
            error_type(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error"
        );
        assert_eq!(error_type(StatusCode::INTERNAL_SERVER_ERROR), "api_error");
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(
            stop_reason(FinishReason::Length, None),
            ("max_tokens", Value::Null)
        );
        assert_eq!(
            stop_reason(FinishReason::Stop, None),
            ("end_turn", Value::Null)
        );
        assert_eq!(
            stop_reason(FinishReason::Stop, Some("END".into())),
            ("stop_sequence", json!("END"))
        );
    }

    #[test]
    fn paths() {
        assert!(is_anthropic_path("/v1/messages"));
        assert!(is_anthropic_path("/v1/messages/count_tokens"));
        assert!(!is_anthropic_path("/v1/messagesX"));
        assert!(!is_anthropic_path("/v1/chat/completions"));
    }
}
