//! `POST /api/chat` and `POST /api/generate`: NDJSON chunks (`done: false`) then a final object
//! (`done: true`, `done_reason`, token counts and durations in nanoseconds), or one object with
//! `stream: false`. An empty `messages` / `prompt` loads the model (or unloads it with
//! `keep_alive: 0`) and answers at once, as Ollama does.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use nomoat_engine::scheduler::{Event, FinishReason, GenRequest, Usage};
use serde_json::{json, Map, Value};

use super::options::{self, GenOptions, CHAT_FIELDS, GENERATE_FIELDS};
use super::{now, OllamaError};
use crate::body::read_json;
use crate::chat::logprob_entry;
use crate::gen::{self, StreamFormat, Timing};
use crate::model::Served;
use crate::pool::KeepAlive;
use crate::AppState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    /// `context`: whether the final object carries the token ids of the exchange (not in raw
    /// mode, as Ollama).
    Generate {
        context: bool,
    },
}

pub async fn chat(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OllamaError> {
    let start = Instant::now();
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    options::check_fields(&map, CHAT_FIELDS, "/api/chat")?;
    let name = options::model(&map)?.to_string();
    let stream = options::stream(&map)?;
    let keep = options::keep_alive(map.get("keep_alive"))?;
    options::think(map.get("think"), &name)?;
    let messages = options::messages(map.get("messages"), &st.limits)?;
    let logprobs = options::logprobs(&map, &st.limits)?;
    let opts = options::parse_options(map.get("options"), &st.limits)?;
    if messages.is_empty() {
        return load_or_unload(&st, &name, keep, Kind::Chat).await;
    }
    let served = st.resolve_keep(Some(&name), keep).await?;
    let loaded = Instant::now();
    let permits = gen::reserve(&served, 1)?;
    let ids = gen::chat_ids(&served, messages).await?;
    let job = Job {
        name,
        ids,
        opts,
        logprobs,
        stream,
        kind: Kind::Chat,
        start,
        loaded,
    };
    job.run(st, served, permits).await
}

pub async fn generate(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OllamaError> {
    let start = Instant::now();
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    options::check_fields(&map, GENERATE_FIELDS, "/api/generate")?;
    let name = options::model(&map)?.to_string();
    let stream = options::stream(&map)?;
    let keep = options::keep_alive(map.get("keep_alive"))?;
    options::think(map.get("think"), &name)?;
    let prompt = options::string(&map, "prompt")?.unwrap_or("").to_string();
    let system = options::string(&map, "system")?.map(str::to_string);
    let template = options::string(&map, "template")?.map(str::to_string);
    let raw = options::flag(&map, "raw", false)?;
    let context = match map.get("context") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => {
            return Err(OllamaError::bad_request(
                "'context' must be a list of token ids",
            ))
        }
    };
    let logprobs = options::logprobs(&map, &st.limits)?;
    let opts = options::parse_options(map.get("options"), &st.limits)?;
    if raw && (template.is_some() || system.is_some() || context.is_some()) {
        return Err(OllamaError::bad_request(
            "raw mode does not support template, system, or context",
        ));
    }
    if prompt.is_empty() {
        return load_or_unload(&st, &name, keep, Kind::Generate { context: false }).await;
    }
    let served = st.resolve_keep(Some(&name), keep).await?;
    let loaded = Instant::now();
    if let Some(t) = &template {
        if served.text.chat_template().as_deref() != Some(t.as_str()) {
            return Err(OllamaError::bad_request(
                "'template' differs from the model's template: nomoat renders prompts with the \
                 model's own chat template (the one /api/show returns); remove 'template', or \
                 send the whole prompt with raw: true",
            ));
        }
    }
    let n_vocab = served.engine.n_vocab();
    let context: Vec<u32> = context
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .filter(|&x| x < n_vocab as u64)
                .map(|x| x as u32)
                .ok_or_else(|| {
                    OllamaError::bad_request(format!(
                        "context[{i}] = {v} is not a token id of this model (below {n_vocab})"
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    let permits = gen::reserve(&served, 1)?;
    let ids = if raw {
        let text = served.text.clone();
        tokio::task::spawn_blocking(move || text.tokenize(&prompt, true, true))
            .await
            .map_err(|_| OllamaError::internal("internal error while tokenizing the prompt"))?
    } else {
        let mut messages = Vec::with_capacity(2);
        if let Some(s) = system {
            messages.push(nomoat_chat::Message::new("system", s));
        }
        messages.push(nomoat_chat::Message::new("user", prompt));
        // As Ollama: the previous exchange's tokens, then this turn rendered on its own.
        let mut ids = context;
        ids.extend(gen::chat_ids(&served, messages).await?);
        ids
    };
    let job = Job {
        name,
        ids,
        opts,
        logprobs,
        stream,
        kind: Kind::Generate { context: !raw },
        start,
        loaded,
    };
    job.run(st, served, permits).await
}

/// An empty conversation: load the model (`done_reason: "load"`), or with `keep_alive: 0`
/// unload it (`"unload"`).
async fn load_or_unload(
    st: &AppState,
    name: &str,
    keep: KeepAlive,
    kind: Kind,
) -> Result<Response, OllamaError> {
    let reason = if keep == KeepAlive::UnloadNow {
        if st.pool().find(name).is_none() {
            return Err(OllamaError::not_found(name));
        }
        st.pool().unload(name);
        "unload"
    } else {
        st.resolve_keep(Some(name), keep).await?;
        "load"
    };
    let mut v = json!({"model": name, "created_at": now()});
    match kind {
        Kind::Chat => v["message"] = json!({"role": "assistant", "content": ""}),
        Kind::Generate { .. } => v["response"] = json!(""),
    }
    v["done"] = json!(true);
    v["done_reason"] = json!(reason);
    Ok(axum::Json(v).into_response())
}

struct Job {
    /// The name as the request gave it (Ollama answers with it).
    name: String,
    ids: Vec<u32>,
    opts: GenOptions,
    logprobs: Option<usize>,
    stream: bool,
    kind: Kind,
    start: Instant,
    loaded: Instant,
}

impl Job {
    async fn run(
        self,
        st: Arc<AppState>,
        served: Arc<Served>,
        permits: Vec<nomoat_engine::scheduler::Permit>,
    ) -> Result<Response, OllamaError> {
        let mut n_ctx = served.engine.n_ctx();
        if let Some(n) = self.opts.num_ctx {
            if n > n_ctx {
                return Err(OllamaError::bad_request(format!(
                    "num_ctx {n} is more than this server's context for the model ({n_ctx} \
                     tokens; nomoat serve --ctx sets it)"
                )));
            }
            n_ctx = n;
        }
        let n_prompt = self.ids.len();
        if n_prompt >= n_ctx {
            return Err(OllamaError::bad_request(format!(
                "the prompt is {n_prompt} tokens, which does not fit the context of {n_ctx} \
                 tokens (nomoat does not truncate prompts): shorten it"
            )));
        }
        let mut opts = self.opts.clone();
        opts.cap_to_context(n_ctx);
        let room = n_ctx - n_prompt;
        let max_tokens = opts.num_predict.map_or(room, |n| n.min(room));
        let req = GenRequest {
            prompt: self.ids.clone(),
            max_tokens,
            sampling: opts.sampling,
            stop: opts.stop,
            logprobs: self.logprobs,
            prompt_logprobs: false,
            ignore_eos: false,
            constraint: None,
            render_special: false,
        };
        let param = match self.kind {
            Kind::Chat => "messages",
            Kind::Generate { .. } => "prompt",
        };
        let rx = gen::submit_all(&served, vec![req], permits, param)?;
        let submitted = Instant::now();
        let timing = Timing::new(st, self.start, 1);
        let fmt = OllamaFormat {
            served,
            job: self,
            submitted,
            first_token: None,
            text: String::new(),
            lps: Vec::new(),
        };
        if fmt.job.stream {
            return Ok(gen::ndjson(rx, fmt, timing, 1, OllamaError::line));
        }
        collect(rx, fmt, timing).await
    }
}

/// The non-streaming answer: every chunk's text joined into one final object.
async fn collect(
    rx: tokio::sync::mpsc::UnboundedReceiver<(usize, Event)>,
    mut fmt: OllamaFormat,
    mut timing: Timing,
) -> Result<Response, OllamaError> {
    let events = gen::collect(rx, &mut timing, 1).await?;
    let mut last = None;
    for ev in events.into_iter().flatten() {
        match ev {
            Event::Done {
                finish_reason,
                usage,
                ..
            } => last = Some((finish_reason, usage)),
            other => {
                fmt.event(0, other);
            }
        }
    }
    let (finish, usage) =
        last.ok_or_else(|| OllamaError::internal("generation ended without a result"))?;
    let text = std::mem::take(&mut fmt.text);
    let mut v = fmt.head(&text, false);
    fmt.finish(&mut v, finish, &usage, &text);
    if fmt.job.logprobs.is_some() {
        v["logprobs"] = Value::Array(std::mem::take(&mut fmt.lps));
    }
    Ok(axum::Json(v).into_response())
}

struct OllamaFormat {
    served: Arc<Served>,
    job: Job,
    submitted: Instant,
    first_token: Option<Instant>,
    /// The answer so far (for `context`, and the non-streaming answer).
    text: String,
    /// Log-probs not yet sent (non-streaming: all of them).
    lps: Vec<Value>,
}

impl OllamaFormat {
    /// The fields every object has: model, time, the text, `done`.
    fn head(&self, text: &str, done_false: bool) -> Value {
        let mut v = Map::new();
        v.insert("model".into(), json!(self.job.name));
        v.insert("created_at".into(), json!(now()));
        match self.job.kind {
            Kind::Chat => {
                v.insert(
                    "message".into(),
                    json!({"role": "assistant", "content": text}),
                );
            }
            Kind::Generate { .. } => {
                v.insert("response".into(), json!(text));
            }
        }
        v.insert("done".into(), json!(!done_false));
        Value::Object(v)
    }

    /// The final object's statistics (durations in nanoseconds) and, for generate, `context`.
    fn finish(&self, v: &mut Value, finish: FinishReason, usage: &Usage, answer: &str) {
        let now = Instant::now();
        let ns = |d: std::time::Duration| d.as_nanos() as u64;
        let first = self.first_token.unwrap_or(now);
        v["done_reason"] = json!(finish.as_str());
        v["total_duration"] = json!(ns(now - self.job.start));
        v["load_duration"] = json!(ns(self.job.loaded - self.job.start));
        v["prompt_eval_count"] = json!(usage.prompt_tokens);
        v["prompt_eval_duration"] = json!(ns(first.saturating_duration_since(self.submitted)));
        v["eval_count"] = json!(usage.completion_tokens);
        v["eval_duration"] = json!(ns(now.saturating_duration_since(first)));
        if self.job.kind == (Kind::Generate { context: true }) {
            // As Ollama: the prompt's tokens and the answer's text tokenized again, to send
            // back as `context` next turn. Bounded by the context size.
            let mut ctx = self.job.ids.clone();
            ctx.extend(self.served.text.tokenize(answer, false, false));
            v["context"] = json!(ctx);
        }
    }
}

impl StreamFormat for OllamaFormat {
    fn start(&mut self) -> Vec<Value> {
        Vec::new()
    }

    fn event(&mut self, _index: usize, ev: Event) -> Vec<Value> {
        match ev {
            Event::Token { id, text, logprob } => {
                if self.first_token.is_none() {
                    self.first_token = Some(Instant::now());
                }
                self.text.push_str(&text);
                let lp = logprob
                    .filter(|_| self.job.logprobs.is_some() && !self.served.text.is_eog(id))
                    .map(|lp| logprob_entry(&self.served, &lp));
                if let Some(lp) = lp {
                    self.lps.push(lp);
                }
                if !self.job.stream || (text.is_empty() && self.lps.is_empty()) {
                    return Vec::new();
                }
                let mut v = self.head(&text, true);
                if !self.lps.is_empty() {
                    v["logprobs"] = Value::Array(std::mem::take(&mut self.lps));
                }
                vec![v]
            }
            Event::Done {
                finish_reason,
                usage,
                ..
            } => {
                let mut v = self.head("", false);
                let answer = std::mem::take(&mut self.text);
                self.finish(&mut v, finish_reason, &usage, &answer);
                vec![v]
            }
            Event::PromptLogprobs(_) | Event::Error(_) => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<Value> {
        Vec::new()
    }
}
