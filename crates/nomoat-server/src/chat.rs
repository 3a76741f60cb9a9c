//! `POST /v1/chat/completions`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use nomoat_engine::scheduler::{Event, GenRequest, TokenLogprob};
use serde_json::{json, Value};

use crate::body::read_json;
use crate::error::ApiError;
use crate::gen::{self, StreamFormat, Timing};
use crate::model::Served;
use crate::params::{self, Fields, CHAT_FIELDS};
use crate::structured;
use crate::AppState;

/// One token in the chat `logprobs.content` shape.
pub fn logprob_entry(served: &Served, lp: &TokenLogprob) -> Value {
    // Computed in f64; the API has always written them as f32.
    let entry = |id: u32, logprob: f64| {
        let logprob = logprob as f32;
        let bytes = served.text.token_bytes(id);
        json!({
            "token": String::from_utf8_lossy(&bytes),
            "logprob": logprob,
            "bytes": bytes,
        })
    };
    let mut e = entry(lp.id, lp.logprob);
    e["top_logprobs"] = Value::Array(lp.top.iter().map(|&(id, l)| entry(id, l)).collect());
    e
}

pub async fn chat_completions(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, CHAT_FIELDS)?;
    let served = st
        .resolve_keep(f.string("model")?, params::keep_alive(&f)?)
        .await?;
    let c = params::common(&f, &st.limits, served.engine.n_vocab())?;
    let messages = params::messages(&f, &st.limits)?;
    let max_tokens = match f.integer("max_completion_tokens", 1, i64::MAX)? {
        Some(m) => Some(m),
        None => f.integer("max_tokens", 1, i64::MAX)?,
    };
    let logprobs = f.bool("logprobs")?.unwrap_or(false);
    let top_logprobs = f.integer("top_logprobs", 0, st.limits.max_top_logprobs as i64)?;
    if top_logprobs.is_some() && !logprobs {
        return Err(ApiError::invalid(
            "top_logprobs",
            "'top_logprobs' needs 'logprobs' set to true",
        ));
    }

    // Queue place first: a full server refuses before rendering or tokenizing anything.
    let permits = gen::reserve(&served, c.n)?;

    let spec = structured::parse(f.get("response_format"))?;
    let ids = gen::chat_ids(&served, messages).await?;
    let compiled = match spec {
        Some(spec) => Some(structured::compile(&served, spec).await?),
        None => None,
    };
    let mut constraints = structured::constraints(compiled.as_ref(), c.n).into_iter();

    let n_ctx = served.engine.n_ctx();
    let max_tokens = match max_tokens {
        Some(m) => usize::try_from(m).unwrap_or(usize::MAX),
        None => n_ctx.saturating_sub(ids.len()).max(1),
    };
    if ids.len().saturating_add(max_tokens) > n_ctx {
        return Err(ApiError::context_length(ids.len(), max_tokens, n_ctx));
    }
    let n_prompt = ids.len();
    let reqs = (0..c.n)
        .map(|j| {
            let mut sampling = c.sampling.clone();
            sampling.seed = sampling.seed.wrapping_add(j as u64);
            GenRequest {
                prompt: ids.clone(),
                max_tokens,
                sampling,
                stop: c.stop.clone(),
                logprobs: logprobs.then(|| top_logprobs.unwrap_or(0) as usize),
                prompt_logprobs: false,
                ignore_eos: c.ignore_eos,
                constraint: constraints.next().flatten(),
            }
        })
        .collect();
    let rx = gen::submit_all(&served, reqs, permits, "messages")?;
    let id = gen::new_id("chatcmpl");
    let created = gen::unix_now();
    let mut timing = Timing::new(st.clone(), start, c.n);

    if c.stream {
        let fmt = ChatStream {
            served: served.clone(),
            id,
            created,
            n: c.n,
            include_usage: c.include_usage,
            logprobs,
            n_prompt,
            completion: 0,
            cached: 0,
        };
        return Ok(gen::sse(rx, fmt, timing, c.n));
    }

    let events = gen::collect(rx, &mut timing, c.n).await?;
    let mut choices = Vec::with_capacity(c.n);
    let (mut completion, mut cached) = (0, 0);
    for (index, evs) in events.into_iter().enumerate() {
        let mut content = String::new();
        let mut lps = Vec::new();
        let mut finish = "stop";
        for ev in evs {
            match ev {
                Event::Token { id, text, logprob } => {
                    content.push_str(&text);
                    if let Some(lp) = logprob.filter(|_| !served.text.is_eog(id)) {
                        lps.push(logprob_entry(&served, &lp));
                    }
                }
                Event::Done {
                    finish_reason,
                    usage,
                    ..
                } => {
                    finish = finish_reason.as_str();
                    completion += usage.completion_tokens;
                    cached = cached.max(usage.cached_tokens);
                }
                Event::PromptLogprobs(_) | Event::Error(_) => {}
            }
        }
        choices.push(json!({
            "index": index,
            "message": {"role": "assistant", "content": content},
            "logprobs": if logprobs { json!({"content": lps}) } else { Value::Null },
            "finish_reason": finish,
        }));
    }
    Ok(axum::Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": served.id,
        "choices": choices,
        "usage": gen::usage_json(n_prompt, completion, cached),
    }))
    .into_response())
}

struct ChatStream {
    served: Arc<Served>,
    id: String,
    created: u64,
    n: usize,
    include_usage: bool,
    logprobs: bool,
    n_prompt: usize,
    completion: usize,
    cached: usize,
}

impl ChatStream {
    fn chunk(&self, choices: Vec<Value>) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.served.id,
            "choices": choices,
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }
}

impl StreamFormat for ChatStream {
    fn start(&mut self) -> Vec<Value> {
        (0..self.n)
            .map(|i| {
                self.chunk(vec![json!({
                    "index": i,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": Value::Null,
                    "finish_reason": Value::Null,
                })])
            })
            .collect()
    }

    fn event(&mut self, index: usize, ev: Event) -> Vec<Value> {
        match ev {
            Event::Token { id, text, logprob } => {
                let lp = logprob
                    .filter(|_| self.logprobs && !self.served.text.is_eog(id))
                    .map(|lp| json!({"content": [logprob_entry(&self.served, &lp)]}));
                if text.is_empty() && lp.is_none() {
                    return Vec::new();
                }
                vec![self.chunk(vec![json!({
                    "index": index,
                    "delta": {"content": text},
                    "logprobs": lp.unwrap_or(Value::Null),
                    "finish_reason": Value::Null,
                })])]
            }
            Event::Done {
                finish_reason,
                usage,
                ..
            } => {
                self.completion += usage.completion_tokens;
                self.cached = self.cached.max(usage.cached_tokens);
                vec![self.chunk(vec![json!({
                    "index": index,
                    "delta": {},
                    "logprobs": Value::Null,
                    "finish_reason": finish_reason.as_str(),
                })])]
            }
            Event::PromptLogprobs(_) | Event::Error(_) => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<Value> {
        if !self.include_usage {
            return Vec::new();
        }
        let mut c = self.chunk(Vec::new());
        c["usage"] = gen::usage_json(self.n_prompt, self.completion, self.cached);
        vec![c]
    }
}
