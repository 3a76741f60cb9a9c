//! Request validation: every field is either used, known to have no effect on the output, or
//! refused with a 400 that names it. Nothing is silently ignored.

use serde_json::{Map, Value};

use nomoat_engine::sample::{entropy_seed, SamplingParams};

use crate::error::ApiError;
use crate::Limits;
use nomoat_chat::{Content, Message};

/// How the server treats one request field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldStatus {
    Supported,
    /// Accepted; has no effect on the output (e.g. `user`).
    NoEffect,
    /// Refused unless absent, null, or its neutral value.
    Unsupported,
}

/// Fields of `POST /v1/chat/completions`.
pub const CHAT_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", FieldStatus::Supported),
    ("messages", FieldStatus::Supported),
    ("stream", FieldStatus::Supported),
    ("stream_options", FieldStatus::Supported),
    ("max_tokens", FieldStatus::Supported),
    ("max_completion_tokens", FieldStatus::Supported),
    ("temperature", FieldStatus::Supported),
    ("top_p", FieldStatus::Supported),
    ("n", FieldStatus::Supported),
    ("stop", FieldStatus::Supported),
    ("seed", FieldStatus::Supported),
    ("presence_penalty", FieldStatus::Supported),
    ("frequency_penalty", FieldStatus::Supported),
    ("logit_bias", FieldStatus::Supported),
    ("logprobs", FieldStatus::Supported),
    ("top_logprobs", FieldStatus::Supported),
    ("top_k", FieldStatus::Supported),
    ("min_p", FieldStatus::Supported),
    ("repeat_penalty", FieldStatus::Supported),
    ("ignore_eos", FieldStatus::Supported),
    ("user", FieldStatus::NoEffect),
    ("metadata", FieldStatus::NoEffect),
    ("store", FieldStatus::NoEffect),
    ("service_tier", FieldStatus::NoEffect),
    ("safety_identifier", FieldStatus::NoEffect),
    ("prompt_cache_key", FieldStatus::NoEffect),
    ("parallel_tool_calls", FieldStatus::Supported),
    ("cache_prompt", FieldStatus::NoEffect),
    ("keep_alive", FieldStatus::Supported),
    ("tools", FieldStatus::Supported),
    ("tool_choice", FieldStatus::Supported),
    ("chat_template_kwargs", FieldStatus::Supported),
    ("functions", FieldStatus::Unsupported),
    ("function_call", FieldStatus::Unsupported),
    ("response_format", FieldStatus::Supported),
    ("audio", FieldStatus::Unsupported),
    ("modalities", FieldStatus::Unsupported),
    ("prediction", FieldStatus::Unsupported),
    ("reasoning_effort", FieldStatus::Supported),
    ("thinking_budget", FieldStatus::Supported),
    ("verbosity", FieldStatus::Unsupported),
    ("web_search_options", FieldStatus::Unsupported),
];

/// Fields of `POST /v1/completions`.
pub const COMPLETION_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", FieldStatus::Supported),
    ("prompt", FieldStatus::Supported),
    ("stream", FieldStatus::Supported),
    ("stream_options", FieldStatus::Supported),
    ("max_tokens", FieldStatus::Supported),
    ("temperature", FieldStatus::Supported),
    ("top_p", FieldStatus::Supported),
    ("n", FieldStatus::Supported),
    ("stop", FieldStatus::Supported),
    ("seed", FieldStatus::Supported),
    ("presence_penalty", FieldStatus::Supported),
    ("frequency_penalty", FieldStatus::Supported),
    ("logit_bias", FieldStatus::Supported),
    ("logprobs", FieldStatus::Supported),
    ("echo", FieldStatus::Supported),
    ("best_of", FieldStatus::Supported),
    ("top_k", FieldStatus::Supported),
    ("min_p", FieldStatus::Supported),
    ("repeat_penalty", FieldStatus::Supported),
    ("ignore_eos", FieldStatus::Supported),
    ("user", FieldStatus::NoEffect),
    ("metadata", FieldStatus::NoEffect),
    ("store", FieldStatus::NoEffect),
    ("cache_prompt", FieldStatus::NoEffect),
    ("keep_alive", FieldStatus::Supported),
    ("response_format", FieldStatus::Supported),
    ("suffix", FieldStatus::Unsupported),
];

tokio::task_local! {
    /// Fields of this request that were accepted but change nothing, gathered by [`Fields::new`]
    /// and sent back in the `x-nomoat-no-effect` header (see `lib.rs`).
    pub static NO_EFFECT: std::cell::RefCell<Vec<String>>;
}

/// Notes that `field` was accepted without effect (outside a request scope it is a no-op).
pub fn note_no_effect(field: &str) {
    let _ = NO_EFFECT.try_with(|v| {
        let mut v = v.borrow_mut();
        if !v.iter().any(|f| f == field) {
            v.push(field.to_string());
        }
    });
}

/// Checked accessors over the request object (`null` counts as absent).
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Refuse unknown fields and unsupported fields that are set.
    pub fn new(
        map: &'a Map<String, Value>,
        table: &[(&str, FieldStatus)],
    ) -> Result<Self, ApiError> {
        for (k, v) in map {
            match table.iter().find(|(name, _)| name == k) {
                None => {
                    let mut e = ApiError::invalid(
                        k.clone(),
                        format!("Unrecognized request argument supplied: {k}"),
                    );
                    e.code = Some("unknown_parameter");
                    return Err(e);
                }
                Some((_, FieldStatus::Unsupported)) if !is_neutral(k, v) => {
                    return Err(ApiError::unsupported(k))
                }
                Some((_, FieldStatus::NoEffect)) if !v.is_null() => note_no_effect(k),
                _ => {}
            }
        }
        Ok(Fields { map })
    }

    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    pub fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(k, format!("'{k}' must be a boolean"))),
        }
    }

    pub fn string(&self, k: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(k, format!("'{k}' must be a string"))),
        }
    }

    /// A finite number in `[lo, hi]`.
    pub fn number(&self, k: &str, lo: f64, hi: f64) -> Result<Option<f32>, ApiError> {
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        let x = v
            .as_f64()
            .ok_or_else(|| ApiError::invalid(k, format!("'{k}' must be a number")))?;
        if !x.is_finite() || x < lo || x > hi {
            return Err(ApiError::invalid(
                k,
                format!("'{k}' must be between {lo} and {hi}, got {x}"),
            ));
        }
        Ok(Some(x as f32))
    }

    /// A whole number in `[lo, hi]`.
    pub fn integer(&self, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        let range = || {
            ApiError::invalid(
                k,
                format!("'{k}' must be an integer between {lo} and {hi}, got {v}"),
            )
        };
        let x = match (v.as_i64(), v.as_u64()) {
            (Some(i), _) => i,
            (None, Some(_)) => return Err(range()),
            _ => {
                return Err(ApiError::invalid(
                    k,
                    format!("'{k}' must be an integer, got {v}"),
                ))
            }
        };
        if x < lo || x > hi {
            return Err(range());
        }
        Ok(Some(x))
    }
}

/// Values of unsupported fields that request the default behaviour anyway.
fn is_neutral(k: &str, v: &Value) -> bool {
    match (k, v) {
        (_, Value::Null) => true,
        ("tools" | "functions", Value::Array(a)) => a.is_empty(),
        ("tool_choice" | "function_call", Value::String(s)) => s == "none" || s == "auto",
        ("response_format", Value::Object(o)) => {
            o.get("type").and_then(Value::as_str) == Some("text")
        }
        ("modalities", Value::Array(a)) => a.iter().all(|m| m.as_str() == Some("text")),
        ("suffix", Value::String(s)) => s.is_empty(),
        // llama-server's samplers nomoat does not have, at their off values.
        (
            "mirostat" | "dynatemp_range" | "xtc_probability" | "dry_multiplier",
            Value::Number(n),
        ) => n.as_f64() == Some(0.0),
        ("grammar" | "json_schema", Value::String(s)) => s.is_empty(),
        ("json_schema", Value::Object(o)) => o.is_empty(),
        ("post_sampling_probs" | "timings_per_token", Value::Bool(b)) => !b,
        ("lora" | "response_fields", Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// `keep_alive` (Ollama's, also accepted on the OpenAI routes): seconds as a number (negative:
/// forever, 0: unload when done) or a duration string such as `"5m"`.
pub fn keep_alive(f: &Fields<'_>) -> Result<crate::KeepAlive, ApiError> {
    let bad = |why: String| ApiError::invalid("keep_alive", format!("'keep_alive': {why}"));
    match f.get("keep_alive") {
        None => Ok(crate::KeepAlive::Default),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| bad("not a number".into()))
            .and_then(|x| crate::KeepAlive::from_secs(x).map_err(bad)),
        Some(Value::String(s)) => crate::KeepAlive::parse(s).map_err(bad),
        Some(_) => Err(bad(
            "must be a number of seconds or a duration like \"5m\"".into()
        )),
    }
}

/// Settings shared by both endpoints.
#[derive(Debug, Clone)]
pub struct Common {
    pub model: Option<String>,
    pub stream: bool,
    pub include_usage: bool,
    pub n: usize,
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    /// nomoat extension (as llama-server): keep generating past end-of-generation tokens.
    pub ignore_eos: bool,
}

pub fn common(f: &Fields<'_>, limits: &Limits, n_vocab: usize) -> Result<Common, ApiError> {
    let model = f.string("model")?.map(str::to_string);
    let stream = f.bool("stream")?.unwrap_or(false);
    let include_usage = match f.get("stream_options") {
        None => false,
        Some(Value::Object(o)) => {
            if !stream {
                return Err(ApiError::invalid(
                    "stream_options",
                    "'stream_options' is only allowed when 'stream' is true",
                ));
            }
            for k in o.keys() {
                if k != "include_usage" && k != "continuous_usage_stats" {
                    return Err(ApiError::invalid(
                        format!("stream_options.{k}"),
                        format!("Unrecognized stream option: {k}"),
                    ));
                }
            }
            if o.get("continuous_usage_stats")
                .is_some_and(|v| v.as_bool() == Some(true))
            {
                return Err(ApiError::unsupported(
                    "stream_options.continuous_usage_stats",
                ));
            }
            match o.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ApiError::invalid(
                        "stream_options.include_usage",
                        "'include_usage' must be a boolean",
                    ))
                }
            }
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "stream_options",
                "'stream_options' must be an object",
            ))
        }
    };
    let n = f.integer("n", 1, limits.max_n as i64)?.unwrap_or(1) as usize;
    let stop = stops(f, limits)?;
    let mut sampling = SamplingParams {
        temp: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        typical_p: 1.0,
        repeat_penalty: 1.0,
        repeat_last_n: 64,
        presence_penalty: 0.0,
        frequency_penalty: 0.0,
        min_keep: 0,
        seed: 0,
        logit_bias: Vec::new(),
    };
    if let Some(t) = f.number("temperature", 0.0, 2.0)? {
        sampling.temp = t;
    }
    if let Some(p) = f.number("top_p", 0.0, 1.0)? {
        sampling.top_p = p;
    }
    if let Some(p) = f.number("presence_penalty", -2.0, 2.0)? {
        sampling.presence_penalty = p;
    }
    if let Some(p) = f.number("frequency_penalty", -2.0, 2.0)? {
        sampling.frequency_penalty = p;
    }
    if let Some(k) = f.integer("top_k", 0, n_vocab as i64)? {
        sampling.top_k = k as i32;
    }
    if let Some(p) = f.number("min_p", 0.0, 1.0)? {
        sampling.min_p = p;
    }
    if let Some(p) = f.number("repeat_penalty", 0.0, 10.0)? {
        if p == 0.0 {
            return Err(ApiError::invalid(
                "repeat_penalty",
                "'repeat_penalty' must be above 0",
            ));
        }
        sampling.repeat_penalty = p;
    }
    sampling.seed = match f.get("seed") {
        None => entropy_seed(),
        Some(v) => match (v.as_u64(), v.as_i64()) {
            (Some(u), _) => u,
            // Negative seeds are valid in the OpenAI API; use their two's-complement bits.
            (None, Some(i)) => i as u64,
            _ => return Err(ApiError::invalid("seed", "'seed' must be an integer")),
        },
    };
    sampling.logit_bias = logit_bias(f, limits, n_vocab)?;
    let ignore_eos = f.bool("ignore_eos")?.unwrap_or(false);
    Ok(Common {
        model,
        stream,
        include_usage,
        n,
        stop,
        sampling,
        ignore_eos,
    })
}

fn stops(f: &Fields<'_>, limits: &Limits) -> Result<Vec<String>, ApiError> {
    let list: Vec<String> = match f.get("stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => {
            if a.len() > limits.max_stop {
                return Err(ApiError::invalid(
                    "stop",
                    format!(
                        "'stop' has {} strings; at most {} are allowed",
                        a.len(),
                        limits.max_stop
                    ),
                ));
            }
            a.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::invalid("stop", "'stop' must hold strings"))
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "'stop' must be a string or an array of strings",
            ))
        }
    };
    let total: usize = list.iter().map(String::len).sum();
    if list.iter().any(|s| s.len() > limits.max_stop_bytes) || total > 4 * limits.max_stop_bytes {
        return Err(ApiError::invalid(
            "stop",
            format!(
                "stop strings are limited to {} bytes each and {} in total",
                limits.max_stop_bytes,
                4 * limits.max_stop_bytes
            ),
        ));
    }
    Ok(list)
}

fn logit_bias(
    f: &Fields<'_>,
    limits: &Limits,
    n_vocab: usize,
) -> Result<Vec<(u32, f32)>, ApiError> {
    let Some(v) = f.get("logit_bias") else {
        return Ok(Vec::new());
    };
    let Value::Object(o) = v else {
        return Err(ApiError::invalid(
            "logit_bias",
            "'logit_bias' must be an object of token id → bias",
        ));
    };
    if o.len() > limits.max_logit_bias {
        return Err(ApiError::invalid(
            "logit_bias",
            format!(
                "'logit_bias' has {} entries; at most {} are allowed",
                o.len(),
                limits.max_logit_bias
            ),
        ));
    }
    let mut out = Vec::with_capacity(o.len());
    for (k, b) in o {
        let id: u32 = k
            .parse()
            .ok()
            .filter(|&id: &u32| (id as usize) < n_vocab)
            .ok_or_else(|| {
                ApiError::invalid(
                    "logit_bias",
                    format!("logit_bias key '{k}' is not a token id below the vocabulary size {n_vocab}"),
                )
            })?;
        let b = b
            .as_f64()
            .filter(|b| b.is_finite() && (-100.0..=100.0).contains(b))
            .ok_or_else(|| {
                ApiError::invalid(
                    "logit_bias",
                    format!(
                        "logit_bias value for token {id} must be a number between -100 and 100"
                    ),
                )
            })?;
        out.push((id, b as f32));
    }
    Ok(out)
}

/// `messages` of a chat request, validated (every field named in errors) and parsed into the
/// chat crate's [`Message`]: `developer` becomes `system`, text parts are joined with newlines
/// into string content, `refusal` is dropped; `name`, `tool_calls` and `tool_call_id` reach the
/// template as sent.
pub fn messages(f: &Fields<'_>, limits: &Limits) -> Result<Vec<Message>, ApiError> {
    let Some(Value::Array(list)) = f.get("messages") else {
        return Err(ApiError::invalid(
            "messages",
            "'messages' is required and must be an array",
        ));
    };
    if list.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "'messages' must not be empty",
        ));
    }
    if list.len() > limits.max_messages {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "'messages' has {} entries; at most {} are allowed",
                list.len(),
                limits.max_messages
            ),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect()
}

fn message(i: usize, m: &Value) -> Result<Message, ApiError> {
    let at = |k: &str| format!("messages[{i}].{k}");
    let Value::Object(o) = m else {
        return Err(ApiError::invalid(
            format!("messages[{i}]"),
            "each message must be an object",
        ));
    };
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "role"
                | "content"
                | "name"
                | "tool_calls"
                | "tool_call_id"
                | "refusal"
                | "reasoning_content"
        ) {
            return Err(ApiError::invalid(
                at(k),
                format!("Unrecognized message field: {k}"),
            ));
        }
    }
    let role = match o.get("role").and_then(Value::as_str) {
        Some(r @ ("system" | "user" | "assistant" | "tool")) => r.to_string(),
        Some("developer") => "system".to_string(),
        Some(r) => {
            return Err(ApiError::invalid(
                at("role"),
                format!("unknown role '{r}'; expected system, developer, user, assistant or tool"),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                at("role"),
                "each message needs a string 'role'",
            ))
        }
    };
    let content = match o.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let ty = p.get("type").and_then(Value::as_str);
                match (ty, p.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => texts.push(t.to_string()),
                    (Some("text"), None) => {
                        return Err(ApiError::invalid(
                            format!("messages[{i}].content[{j}].text"),
                            "a text part needs a string 'text'",
                        ))
                    }
                    (other, _) => {
                        return Err(ApiError::invalid(
                            format!("messages[{i}].content[{j}].type"),
                            format!(
                                "content part type {} is not supported (text only)",
                                other.map_or("(missing)".to_string(), |t| format!("'{t}'"))
                            ),
                        ))
                    }
                }
            }
            Some(texts.join("\n"))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                at("content"),
                "'content' must be a string, null, or an array of text parts",
            ))
        }
    };
    if !matches!(
        o.get("name"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) {
        return Err(ApiError::invalid(at("name"), "'name' must be a string"));
    }
    let tool_calls = o.get("tool_calls").filter(|v| !v.is_null()).cloned();
    if tool_calls.as_ref().is_some_and(|t| !t.is_array())
        || (tool_calls.is_some() && role != "assistant")
    {
        return Err(ApiError::invalid(
            at("tool_calls"),
            "'tool_calls' must be an array, on assistant messages only",
        ));
    }
    if !matches!(
        o.get("tool_call_id"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) {
        return Err(ApiError::invalid(
            at("tool_call_id"),
            "'tool_call_id' must be a string",
        ));
    }
    if content.is_none() && tool_calls.is_none() && role != "assistant" {
        return Err(ApiError::invalid(
            at("content"),
            format!("a {role} message needs 'content'"),
        ));
    }
    // Everything is checked: parse the chat crate's type, then normalise role and content.
    let mut msg: Message = serde_json::from_value(Value::Object(o.clone()))
        .map_err(|e| ApiError::invalid(format!("messages[{i}]"), format!("bad message: {e}")))?;
    msg.role = role;
    msg.content = content.map_or(Content::Null, Content::Text);
    msg.extra.retain(|k, v| k != "refusal" && !v.is_null());
    Ok(msg)
}

/// A completions prompt: texts or token-id lists.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptInput {
    Text(String),
    Tokens(Vec<u32>),
}

/// `prompt` of a completions request: a string, an array of strings, an array of token ids,
/// or an array of token-id arrays.
pub fn prompts(f: &Fields<'_>, limits: &Limits) -> Result<Vec<PromptInput>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "prompt",
            "'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays",
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
                            "prompt",
                            format!(
                                "{at}[{i}] = {v} is not a valid token id (a non-negative integer)"
                            ),
                        )
                    })
            })
            .collect()
    };
    let out = match f.get("prompt") {
        None => return Err(ApiError::invalid("prompt", "'prompt' is required")),
        Some(Value::String(s)) => vec![PromptInput::Text(s.clone())],
        Some(Value::Array(a)) if a.is_empty() => return Err(bad()),
        Some(Value::Array(a)) => match &a[0] {
            Value::String(_) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|s| PromptInput::Text(s.to_string()))
                        .ok_or_else(bad)
                })
                .collect::<Result<_, _>>()?,
            Value::Number(_) => vec![PromptInput::Tokens(ids(a, "prompt")?)],
            Value::Array(_) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Array(inner) => {
                        ids(inner, &format!("prompt[{i}]")).map(PromptInput::Tokens)
                    }
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    if out.len() > limits.max_prompts {
        return Err(ApiError::invalid(
            "prompt",
            format!(
                "'prompt' holds {} prompts; at most {} are allowed",
                out.len(),
                limits.max_prompts
            ),
        ));
    }
    Ok(out)
}
