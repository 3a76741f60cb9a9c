//! `POST /v1/completions`: text prompts or token ids, `echo` with prompt log-probs (how
//! lm-evaluation-harness scores), `max_tokens` 0 allowed.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use nomoat_engine::scheduler::{Event, GenRequest, TokenLogprob};
use serde_json::{json, Map, Value};

use crate::body::read_json;
use crate::error::ApiError;
use crate::gen::{self, StreamFormat, Timing};
use crate::model::Served;
use crate::params::{self, Fields, PromptInput, COMPLETION_FIELDS};
use crate::structured;
use crate::AppState;

/// The legacy `logprobs` object: parallel lists over tokens.
#[derive(Default)]
struct LegacyLogprobs {
    tokens: Vec<String>,
    token_logprobs: Vec<Option<f32>>,
    top_logprobs: Vec<Option<Map<String, Value>>>,
    text_offset: Vec<usize>,
    offset: usize,
}

impl LegacyLogprobs {
    fn new(offset: usize) -> Self {
        LegacyLogprobs {
            offset,
            ..Default::default()
        }
    }

    fn push(&mut self, served: &Served, id: u32, lp: Option<&TokenLogprob>) {
        let piece = served.piece(id);
        self.text_offset.push(self.offset);
        self.offset += piece.len();
        self.tokens.push(piece);
        // Computed in f64; the API has always written them as f32.
        self.token_logprobs.push(lp.map(|l| l.logprob as f32));
        self.top_logprobs.push(lp.map(|l| {
            l.top
                .iter()
                .map(|&(t, v)| (served.piece(t), json!(v as f32)))
                .collect()
        }));
    }

    fn json(&self) -> Value {
        json!({
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        })
    }
}

struct Prompt {
    ids: Vec<u32>,
    /// The text `echo` repeats.
    text: String,
}

pub async fn completions(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, COMPLETION_FIELDS)?;
    let served = st
        .resolve_keep(f.string("model")?, params::keep_alive(&f)?)
        .await?;
    let c = params::common(&f, &st.limits, served.engine.n_vocab())?;
    let inputs = params::prompts(&f, &st.limits)?;
    let max_tokens = f.integer("max_tokens", 0, i64::MAX)?.unwrap_or(16);
    let max_tokens = usize::try_from(max_tokens).unwrap_or(usize::MAX);
    let echo = f.bool("echo")?.unwrap_or(false);
    let logprobs = f
        .integer("logprobs", 0, st.limits.max_top_logprobs as i64)?
        .map(|n| n as usize);
    if let Some(b) = f.integer("best_of", 1, st.limits.max_n as i64)? {
        if b as usize != c.n {
            return Err(ApiError::invalid(
                "best_of",
                "'best_of' other than 'n' is not supported (no server-side ranking)",
            ));
        }
    }
    let n_choices = inputs.len() * c.n;

    let permits = gen::reserve(&served, n_choices)?;

    let text = served.text.clone();
    let prompts = tokio::task::spawn_blocking(move || -> Result<Vec<Prompt>, ApiError> {
        inputs
            .into_iter()
            .map(|p| match p {
                PromptInput::Text(t) => {
                    let ids = text.tokenize(&t, true, true);
                    Ok(Prompt { ids, text: t })
                }
                PromptInput::Tokens(ids) => Ok(Prompt {
                    text: text.detokenize(&ids),
                    ids,
                }),
            })
            .collect()
    })
    .await
    .map_err(|_| ApiError::internal("internal error while tokenizing the prompt"))??;

    let n_ctx = served.engine.n_ctx();
    for p in &prompts {
        if p.ids.len().saturating_add(max_tokens) > n_ctx {
            let mut e = ApiError::context_length(p.ids.len(), max_tokens, n_ctx);
            e.param = Some("prompt".into());
            return Err(e);
        }
    }
    let compiled = match structured::parse(f.get("response_format"))? {
        Some(spec) => Some(structured::compile(&served, spec).await?),
        None => None,
    };
    let mut constraints = structured::constraints(compiled.as_ref(), n_choices).into_iter();
    let mut reqs = Vec::with_capacity(n_choices);
    for p in &prompts {
        for j in 0..c.n {
            let mut sampling = c.sampling.clone();
            sampling.seed = sampling.seed.wrapping_add(j as u64);
            reqs.push(GenRequest {
                prompt: p.ids.clone(),
                max_tokens,
                sampling,
                stop: c.stop.clone(),
                logprobs,
                prompt_logprobs: echo && logprobs.is_some(),
                ignore_eos: c.ignore_eos,
                constraint: constraints.next().flatten(),
                render_special: false,
            });
        }
    }
    let rx = gen::submit_all(&served, reqs, permits, "prompt")?;
    let id = gen::new_id("cmpl");
    let created = gen::unix_now();
    let n_prompt_total: usize = prompts.iter().map(|p| p.ids.len()).sum();
    let mut timing = Timing::new(st.clone(), start, n_choices);

    if c.stream {
        let fmt = CompletionStream {
            served: served.clone(),
            id,
            created,
            n: c.n,
            prompts,
            echo,
            logprobs: logprobs.is_some(),
            include_usage: c.include_usage,
            n_prompt: n_prompt_total,
            completion: 0,
            cached: 0,
            offsets: vec![0; n_choices],
        };
        return Ok(gen::sse(rx, fmt, timing, n_choices));
    }

    let events = gen::collect(rx, &mut timing, n_choices).await?;
    let mut choices = Vec::with_capacity(n_choices);
    let (mut completion, mut cached) = (0, 0);
    for (index, evs) in events.into_iter().enumerate() {
        let prompt = &prompts[index / c.n];
        let mut text = if echo {
            prompt.text.clone()
        } else {
            String::new()
        };
        let mut lps = LegacyLogprobs::new(0);
        let mut finish = "length";
        for ev in evs {
            match ev {
                Event::PromptLogprobs(plp) => {
                    for (k, &tid) in prompt.ids.iter().enumerate() {
                        lps.push(&served, tid, plp.get(k).and_then(Option::as_ref));
                    }
                }
                Event::Token {
                    id: tid,
                    text: t,
                    logprob,
                } => {
                    text.push_str(&t);
                    // The end-of-generation token keeps its entry (as OpenAI and vLLM): lm-eval
                    // drops the last entry as the generated one, so leaving it out would drop a
                    // prompt token from the score.
                    if logprobs.is_some() {
                        lps.push(&served, tid, logprob.as_ref());
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
                Event::Error(_) => {}
            }
        }
        choices.push(json!({
            "text": text,
            "index": index,
            "logprobs": if logprobs.is_some() { lps.json() } else { Value::Null },
            "finish_reason": finish,
        }));
    }
    Ok(axum::Json(json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": served.id,
        "choices": choices,
        "usage": gen::usage_json(n_prompt_total, completion, cached),
    }))
    .into_response())
}

struct CompletionStream {
    served: Arc<Served>,
    id: String,
    created: u64,
    n: usize,
    prompts: Vec<Prompt>,
    echo: bool,
    logprobs: bool,
    include_usage: bool,
    n_prompt: usize,
    completion: usize,
    cached: usize,
    /// Text offset of each choice so far (for `text_offset`).
    offsets: Vec<usize>,
}

impl CompletionStream {
    fn chunk(&self, index: usize, text: &str, lp: Value, finish: Value) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.served.id,
            "choices": [{"text": text, "index": index, "logprobs": lp, "finish_reason": finish}],
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }
}

impl StreamFormat for CompletionStream {
    fn start(&mut self) -> Vec<Value> {
        if !self.echo || self.logprobs {
            // With log-probs the echoed prompt goes out with them (PromptLogprobs).
            return Vec::new();
        }
        let n_choices = self.prompts.len() * self.n;
        (0..n_choices)
            .map(|i| {
                let t = self.prompts[i / self.n].text.clone();
                self.offsets[i] = t.len();
                self.chunk(i, &t, Value::Null, Value::Null)
            })
            .collect()
    }

    fn event(&mut self, index: usize, ev: Event) -> Vec<Value> {
        let Some(prompt) = self.prompts.get(index / self.n.max(1)) else {
            return Vec::new();
        };
        match ev {
            Event::PromptLogprobs(plp) => {
                let mut lps = LegacyLogprobs::new(0);
                for (k, &tid) in prompt.ids.iter().enumerate() {
                    lps.push(&self.served, tid, plp.get(k).and_then(Option::as_ref));
                }
                let text = prompt.text.clone();
                self.offsets[index] = lps.offset;
                vec![self.chunk(index, &text, lps.json(), Value::Null)]
            }
            Event::Token { id, text, logprob } => {
                let lp = if self.logprobs {
                    let mut lps = LegacyLogprobs::new(self.offsets[index]);
                    lps.push(&self.served, id, logprob.as_ref());
                    self.offsets[index] = lps.offset;
                    lps.json()
                } else {
                    Value::Null
                };
                if text.is_empty() && lp.is_null() {
                    return Vec::new();
                }
                vec![self.chunk(index, &text, lp, Value::Null)]
            }
            Event::Done {
                finish_reason,
                usage,
                ..
            } => {
                self.completion += usage.completion_tokens;
                self.cached = self.cached.max(usage.cached_tokens);
                vec![self.chunk(index, "", Value::Null, json!(finish_reason.as_str()))]
            }
            Event::Error(_) => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<Value> {
        if !self.include_usage {
            return Vec::new();
        }
        vec![json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.served.id,
            "choices": [],
            "usage": gen::usage_json(self.n_prompt, self.completion, self.cached),
        })]
    }
}
