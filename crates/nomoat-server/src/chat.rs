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
use crate::AppState;
use crate::{agent, structured};
use nomoat_chat::tools::{self, OutputParser};

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

    let ask = agent::read(&f)?;
    // nomoat extra: end the reasoning block after this many tokens (-1: no limit).
    let budget = match f.integer("thinking_budget", -1, i64::from(u32::MAX))? {
        Some(b) => usize::try_from(b).ok(),
        None => st.cfg.reasoning_budget,
    };
    let spec = structured::parse(f.get("response_format"))?;
    if spec.is_some() && ask.wants_tools() {
        return Err(ApiError::invalid(
            "response_format",
            "'response_format' cannot be combined with 'tools' unless 'tool_choice' is \"none\": \
             both would constrain the same reply",
        ));
    }

    // Queue place first: a full server refuses before rendering or tokenizing anything.
    let permits = gen::reserve(&served, c.n)?;

    let plan = agent::prepare(&served, messages, &ask).await?;
    let ids = plan.ids;
    let constraints = match (&plan.grammar, spec) {
        (Some(g), _) => agent::constraints(&served, g, c.n).await?,
        (None, Some(spec)) => {
            let compiled = structured::compile(&served, spec).await?;
            structured::constraints(Some(&compiled), c.n)
        }
        (None, None) => structured::constraints(None, c.n),
    };
    let parser = plan.parser;
    let constraints = agent::with_thinking_budget(&served, constraints, &parser, budget);
    let mut constraints = constraints.into_iter();

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
                render_special: plan.render_special,
            }
        })
        .collect();
    let rx = gen::submit_all(&served, reqs, permits, "messages")?;
    let id = gen::new_id("chatcmpl");
    let created = gen::unix_now();
    let mut timing = Timing::new(st.clone(), start, c.n);

    if c.stream {
        let fmt = ChatStream {
            parsers: (0..c.n).map(|_| OutputParser::new(&parser)).collect(),
            called: vec![false; c.n],
            pending: vec![Vec::new(); c.n],
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
        let parsed = tools::parse_output(&parser, &content);
        // Cut by max_tokens stays "length" (the calls before the cut are still returned).
        let finish = match finish {
            "length" => "length",
            _ => parsed.finish_reason().unwrap_or(finish),
        };
        choices.push(json!({
            "index": index,
            "message": agent::message_json(&parsed),
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
    /// Per choice: the reply parser, whether it produced a call, and log-probs of tokens
    /// whose text the parser still holds (sent with the next chunk).
    parsers: Vec<OutputParser>,
    called: Vec<bool>,
    pending: Vec<Vec<Value>>,
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
    /// One chunk per parser delta; held log-probs go with the first.
    fn deltas(&mut self, index: usize, deltas: Vec<tools::Delta>) -> Vec<Value> {
        let mut out = Vec::with_capacity(deltas.len());
        for d in deltas {
            if matches!(d, tools::Delta::ToolCall(_)) {
                self.called[index] = true;
            }
            let lps = std::mem::take(&mut self.pending[index]);
            out.push(self.chunk(vec![json!({
                "index": index,
                "delta": agent::delta_json(&d),
                "logprobs": if lps.is_empty() { Value::Null } else { json!({"content": lps}) },
                "finish_reason": Value::Null,
            })]));
        }
        out
    }

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
        if index >= self.parsers.len() {
            return Vec::new();
        }
        match ev {
            Event::Token { id, text, logprob } => {
                if let Some(lp) = logprob.filter(|_| self.logprobs && !self.served.text.is_eog(id))
                {
                    self.pending[index].push(logprob_entry(&self.served, &lp));
                }
                let deltas = self.parsers[index].feed(&text);
                self.deltas(index, deltas)
            }
            Event::Done {
                finish_reason,
                usage,
                ..
            } => {
                self.completion += usage.completion_tokens;
                self.cached = self.cached.max(usage.cached_tokens);
                let deltas = self.parsers[index].finish();
                let mut out = self.deltas(index, deltas);
                let lps = std::mem::take(&mut self.pending[index]);
                // Cut by max_tokens stays "length", calls or not: the reply is incomplete.
                let finish = match finish_reason.as_str() {
                    "length" => "length",
                    _ if self.called[index] => "tool_calls",
                    other => other,
                };
                out.push(self.chunk(vec![json!({
                    "index": index,
                    "delta": {},
                    "logprobs": if lps.is_empty() { Value::Null } else { json!({"content": lps}) },
                    "finish_reason": finish,
                })]));
                out
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
