//! The OpenAI Responses API, stateless: `POST /v1/responses` (plain and streamed). `input` and
//! `instructions` become a conversation through the same chat template as
//! `/v1/chat/completions` (`gen::chat_ids`). Nothing is stored, so `previous_response_id` and
//! `conversation` are refused. What is supported is listed in docs/compat-responses.md.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
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

/// Fields of `POST /v1/responses`. `text`, `include`, `truncation`, `background`,
/// `previous_response_id` and `conversation` are checked by hand (see [`refuse_by_hand`]).
const RESPONSES_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", Supported),
    ("input", Supported),
    ("instructions", Supported),
    ("max_output_tokens", Supported),
    ("temperature", Supported),
    ("top_p", Supported),
    ("stream", Supported),
    ("text", Supported),
    ("include", Supported),
    ("truncation", Supported),
    ("background", Supported),
    ("previous_response_id", Supported),
    ("conversation", Supported),
    ("store", NoEffect),
    ("metadata", NoEffect),
    ("user", NoEffect),
    ("service_tier", NoEffect),
    ("safety_identifier", NoEffect),
    ("prompt_cache_key", NoEffect),
    ("parallel_tool_calls", NoEffect),
    ("max_tool_calls", NoEffect),
    ("tools", Unsupported),
    ("tool_choice", Unsupported),
    ("reasoning", Unsupported),
    ("top_logprobs", Unsupported),
    ("prompt", Unsupported),
    ("stream_options", Unsupported),
];

/// Responses-style ids: `resp_…`, `msg_…`.
fn new_id(prefix: &str) -> String {
    gen::new_id(prefix).replacen('-', "_", 1)
}

/// Points the generic "not supported" error at this API's compatibility table.
fn this_api(mut e: ApiError) -> ApiError {
    if e.code == Some("unsupported_parameter") {
        if let Some(p) = &e.param {
            e.message = format!(
                "'{p}' is not supported by this server (see docs/compat-responses.md); \
                 remove it or leave it at its default"
            );
        }
    }
    e
}

/// The hand-checked fields at their neutral values pass; anything else is refused by name.
fn refuse_by_hand(f: &Fields<'_>) -> Result<(), ApiError> {
    for k in ["previous_response_id", "conversation"] {
        if f.get(k).is_some() {
            let mut e = ApiError::invalid(
                k,
                format!(
                    "'{k}' is not supported: this server is stateless and stores no responses or \
                     conversations; send the whole conversation in 'input'"
                ),
            );
            e.code = Some("unsupported_parameter");
            return Err(e);
        }
    }
    if let Some(t) = f.get("text") {
        let Value::Object(o) = t else {
            return Err(ApiError::invalid("text", "'text' must be an object"));
        };
        for (k, v) in o {
            match (k.as_str(), v) {
                (_, Value::Null) => {}
                ("format", Value::Object(fmt))
                    if fmt.get("type").and_then(Value::as_str) == Some("text") => {}
                // Our answers have one length; "medium" is the API's default.
                ("verbosity", Value::String(s)) if s == "medium" => {}
                ("format" | "verbosity", _) => {
                    return Err(ApiError::unsupported(&format!("text.{k}")));
                }
                _ => {
                    return Err(ApiError::invalid(
                        format!("text.{k}"),
                        format!("Unrecognized text option: {k}"),
                    ))
                }
            }
        }
    }
    match f.get("include") {
        None => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(_) => return Err(ApiError::unsupported("include")),
    }
    match f.string("truncation")? {
        None | Some("disabled") => {}
        Some(_) => return Err(ApiError::unsupported("truncation")),
    }
    if f.bool("background")? == Some(true) {
        return Err(ApiError::unsupported("background"));
    }
    Ok(())
}

/// The text of a message item's `content`: a string, or `input_text` / `output_text` parts
/// joined with newlines (as the chat route joins text parts).
fn item_content(at: &str, v: Option<&Value>) -> Result<String, ApiError> {
    let parts = match v {
        Some(Value::String(s)) => return Ok(s.clone()),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.content"),
                "'content' must be a string or an array of content parts",
            ))
        }
        None => {
            return Err(ApiError::invalid(
                format!("{at}.content"),
                "each message needs 'content'",
            ))
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let pat = format!("{at}.content[{j}]");
        let Value::Object(o) = p else {
            return Err(ApiError::invalid(
                pat,
                "each content part must be an object",
            ));
        };
        match o.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text") => {}
            Some(t) => {
                return Err(ApiError::invalid(
                    format!("{pat}.type"),
                    format!(
                    "content part type '{t}' is not supported (input_text and output_text only)"
                ),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{pat}.type"),
                    "each content part needs a string 'type'",
                ))
            }
        }
        // annotations and logprobs come back on output_text parts of earlier answers; they
        // are not part of what the model reads.
        if let Some(k) = o
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "text" | "annotations" | "logprobs"))
        {
            return Err(ApiError::invalid(
                format!("{pat}.{k}"),
                format!("Unrecognized content part field: {k}"),
            ));
        }
        match o.get("text") {
            Some(Value::String(t)) => texts.push(t.as_str()),
            _ => {
                return Err(ApiError::invalid(
                    format!("{pat}.text"),
                    "a text part needs a string 'text'",
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

/// `instructions` + `input` as the chat template's messages.
fn conversation(f: &Fields<'_>, limits: &Limits) -> Result<Vec<Message>, ApiError> {
    let mut out = Vec::new();
    if let Some(i) = f.string("instructions")? {
        out.push(Message::new("system", i));
    }
    let items = match f.get("input") {
        None => return Err(ApiError::invalid("input", "'input' is required")),
        Some(Value::String(s)) => {
            out.push(Message::new("user", s.clone()));
            return Ok(out);
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid(
                "input",
                "'input' must be a string or an array of input items",
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid("input", "'input' must not be empty"));
    }
    if items.len() > limits.max_messages {
        return Err(ApiError::invalid(
            "input",
            format!(
                "'input' has {} items; at most {} are allowed",
                items.len(),
                limits.max_messages
            ),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let Value::Object(o) = item else {
            return Err(ApiError::invalid(at, "each input item must be an object"));
        };
        match o.get("type").and_then(Value::as_str) {
            None | Some("message") => {}
            Some(t) => {
                return Err(ApiError::invalid(
                    format!("{at}.type"),
                    format!("input items of type '{t}' are not supported (messages only)"),
                ))
            }
        }
        // id and status come back on output messages of earlier answers; they change nothing.
        if let Some(k) = o
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "role" | "content" | "id" | "status"))
        {
            return Err(ApiError::invalid(
                format!("{at}.{k}"),
                format!("Unrecognized input item field: {k}"),
            ));
        }
        let role = match o.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant" | "system")) => r,
            Some("developer") => "system",
            Some(r) => {
                return Err(ApiError::invalid(
                    format!("{at}.role"),
                    format!("unknown role '{r}'; expected user, assistant, system or developer"),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{at}.role"),
                    "each message needs a string 'role'",
                ))
            }
        };
        out.push(Message::new(role, item_content(&at, o.get("content"))?));
    }
    Ok(out)
}

/// What a response echoes of its request.
struct Settings {
    model: String,
    instructions: Value,
    max_output_tokens: Value,
    temperature: f32,
    top_p: f32,
    metadata: Value,
    user: Value,
    n_prompt: usize,
}

/// How one answer ended, for the response object.
struct Outcome<'a> {
    text: &'a str,
    finish: FinishReason,
    output_tokens: usize,
    cached: usize,
}

fn output_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

/// The response object: in progress (no outcome yet) or finished.
fn response_json(
    id: &str,
    created_at: u64,
    s: &Settings,
    item_id: &str,
    out: Option<&Outcome<'_>>,
) -> Value {
    let (status, incomplete, output, usage) = match out {
        None => ("in_progress", Value::Null, Vec::new(), Value::Null),
        Some(o) => {
            let (status, incomplete) = match o.finish {
                FinishReason::Length => ("incomplete", json!({"reason": "max_output_tokens"})),
                FinishReason::Stop => ("completed", Value::Null),
            };
            let item = message_item(item_id, status, vec![output_part(o.text)]);
            let usage = json!({
                "input_tokens": s.n_prompt,
                "input_tokens_details": {"cached_tokens": o.cached},
                "output_tokens": o.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": s.n_prompt + o.output_tokens,
            });
            (status, incomplete, vec![item], usage)
        }
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": s.instructions,
        "max_output_tokens": s.max_output_tokens,
        "model": s.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        // Nothing is ever stored, whatever the request asked.
        "store": false,
        "temperature": s.temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": s.top_p,
        "truncation": "disabled",
        "usage": usage,
        "user": s.user,
        "metadata": s.metadata,
    })
}

/// `POST /v1/responses`.
pub async fn responses(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, RESPONSES_FIELDS).map_err(this_api)?;
    let served = st.resolve(f.string("model")?).await?;
    refuse_by_hand(&f).map_err(this_api)?;
    let c = params::common(&f, &st.limits, served.engine.n_vocab())?;
    let max_output = f.integer("max_output_tokens", 1, i64::MAX)?;
    let conversation = conversation(&f, &st.limits)?;
    if !matches!(f.get("metadata"), None | Some(Value::Object(_))) {
        return Err(ApiError::invalid(
            "metadata",
            "'metadata' must be an object",
        ));
    }

    let permits = gen::reserve(&served, 1)?;
    let ids = gen::chat_ids(&served, conversation).await?;
    let n_ctx = served.engine.n_ctx();
    let max_tokens = match max_output {
        Some(m) => usize::try_from(m).unwrap_or(usize::MAX),
        None => n_ctx.saturating_sub(ids.len()).max(1),
    };
    if ids.len().saturating_add(max_tokens) > n_ctx {
        let mut e = ApiError::context_length(ids.len(), max_tokens, n_ctx);
        e.param = Some("input".into());
        return Err(e);
    }
    let settings = Settings {
        model: served.id.clone(),
        instructions: f.get("instructions").cloned().unwrap_or(Value::Null),
        max_output_tokens: max_output.map_or(Value::Null, Value::from),
        temperature: c.sampling.temp,
        top_p: c.sampling.top_p,
        metadata: f.get("metadata").cloned().unwrap_or_else(|| json!({})),
        user: f.get("user").cloned().unwrap_or(Value::Null),
        n_prompt: ids.len(),
    };
    let req = GenRequest {
        prompt: ids,
        max_tokens,
        sampling: c.sampling,
        stop: Vec::new(),
        logprobs: None,
        prompt_logprobs: false,
        ignore_eos: false,
        constraint: None,
        render_special: false,
    };
    let rx = gen::submit_all(&served, vec![req], permits, "input")?;
    let id = new_id("resp");
    let item_id = new_id("msg");
    let created_at = gen::unix_now();
    let mut timing = Timing::new(st.clone(), start, 1);

    if c.stream {
        let fmt = ResponseStream {
            id,
            item_id,
            created_at,
            settings,
            text: String::new(),
            seq: 0,
        };
        return Ok(gen::sse(rx, fmt, timing, 1));
    }

    let events = gen::collect(rx, &mut timing, 1).await?;
    let mut text = String::new();
    let mut outcome = (FinishReason::Stop, 0, 0);
    for ev in events.into_iter().flatten() {
        match ev {
            Event::Token { text: t, .. } => text.push_str(&t),
            Event::Done {
                finish_reason,
                usage,
                ..
            } => outcome = (finish_reason, usage.completion_tokens, usage.cached_tokens),
            Event::PromptLogprobs(_) | Event::Error(_) => {}
        }
    }
    let out = Outcome {
        text: &text,
        finish: outcome.0,
        output_tokens: outcome.1,
        cached: outcome.2,
    };
    Ok(axum::Json(response_json(
        &id,
        created_at,
        &settings,
        &item_id,
        Some(&out),
    ))
    .into_response())
}

/// The Responses stream: response.created, response.in_progress, response.output_item.added,
/// response.content_part.added, response.output_text.delta per piece of text,
/// response.output_text.done, response.content_part.done, response.output_item.done, then
/// response.completed or response.incomplete; every event numbered by `sequence_number`.
struct ResponseStream {
    id: String,
    item_id: String,
    created_at: u64,
    settings: Settings,
    text: String,
    seq: u64,
}

impl ResponseStream {
    fn ev(&mut self, mut v: Value) -> Value {
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        v
    }

    fn part_event(&mut self, ty: &str, part: Value) -> Value {
        let v = json!({"type": ty, "item_id": self.item_id, "output_index": 0,
                       "content_index": 0, "part": part});
        self.ev(v)
    }
}

impl StreamFormat for ResponseStream {
    const NAMED_EVENTS: bool = true;
    const DONE_MARKER: bool = false;

    fn error(&mut self, message: &str) -> Value {
        let v = json!({"type": "error", "code": "server_error", "message": message, "param": null});
        self.ev(v)
    }

    fn start(&mut self) -> Vec<Value> {
        let resp = response_json(
            &self.id,
            self.created_at,
            &self.settings,
            &self.item_id,
            None,
        );
        let item = message_item(&self.item_id, "in_progress", Vec::new());
        vec![
            self.ev(json!({"type": "response.created", "response": resp})),
            self.ev(json!({"type": "response.in_progress", "response": resp})),
            self.ev(json!({"type": "response.output_item.added", "output_index": 0, "item": item})),
            self.part_event("response.content_part.added", output_part("")),
        ]
    }

    fn event(&mut self, _index: usize, ev: Event) -> Vec<Value> {
        match ev {
            Event::Token { text, .. } if !text.is_empty() => {
                self.text.push_str(&text);
                let v = json!({"type": "response.output_text.delta", "item_id": self.item_id,
                               "output_index": 0, "content_index": 0, "delta": text,
                               "logprobs": []});
                vec![self.ev(v)]
            }
            Event::Done {
                finish_reason,
                usage,
                ..
            } => {
                let text = std::mem::take(&mut self.text);
                let out = Outcome {
                    text: &text,
                    finish: finish_reason,
                    output_tokens: usage.completion_tokens,
                    cached: usage.cached_tokens,
                };
                let resp = response_json(
                    &self.id,
                    self.created_at,
                    &self.settings,
                    &self.item_id,
                    Some(&out),
                );
                let item = resp["output"][0].clone();
                let done = json!({"type": "response.output_text.done", "item_id": self.item_id,
                                  "output_index": 0, "content_index": 0, "text": text,
                                  "logprobs": []});
                let last = match finish_reason {
                    FinishReason::Length => "response.incomplete",
                    FinishReason::Stop => "response.completed",
                };
                vec![
                    self.ev(done),
                    self.part_event("response.content_part.done", output_part(&text)),
                    self.ev(json!({"type": "response.output_item.done", "output_index": 0, "item": item})),
                    self.ev(json!({"type": last, "response": resp})),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<Value> {
        Vec::new()
    }
}
