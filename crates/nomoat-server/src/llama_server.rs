//! llama-server's native routes, in its JSON shapes: `POST /completion`, `POST /infill`,
//! `GET /props`, `GET /slots` (read-only), and vLLM's `/tokenizer_info` (what lm-eval's remote
//! tokenizer asks first). Sampling defaults are llama-server's (temperature 0.8, top-k 40,
//! top-p 0.95, min-p 0.05), not OpenAI's.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use nomoat_engine::scheduler::{Event, FinishReason, GenRequest, TokenLogprob};
use serde_json::{json, Map, Value};

use crate::body::read_json;
use crate::error::ApiError;
use crate::gen::{self, StreamFormat, Timing};
use crate::model::{ModelInfo, Served};
use crate::params::{self, FieldStatus, Fields};
use crate::AppState;

use FieldStatus::{NoEffect, Supported, Unsupported};

/// Sampling and output fields `/completion` and `/infill` share.
const GEN_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", Supported),
    ("stream", Supported),
    ("n_predict", Supported),
    ("temperature", Supported),
    ("top_k", Supported),
    ("top_p", Supported),
    ("min_p", Supported),
    ("typical_p", Supported),
    ("min_keep", Supported),
    ("repeat_penalty", Supported),
    ("repeat_last_n", Supported),
    ("presence_penalty", Supported),
    ("frequency_penalty", Supported),
    ("seed", Supported),
    ("stop", Supported),
    ("logit_bias", Supported),
    ("n_probs", Supported),
    ("ignore_eos", Supported),
    ("return_tokens", Supported),
    // The engine's prefix cache is always on; which slot runs a request changes nothing.
    ("cache_prompt", NoEffect),
    ("id_slot", NoEffect),
    // Only matters when the context is shifted, which nomoat never does (it refuses instead).
    ("n_keep", NoEffect),
    ("mirostat", Unsupported),
    ("mirostat_tau", Unsupported),
    ("mirostat_eta", Unsupported),
    ("dynatemp_range", Unsupported),
    ("dynatemp_exponent", Unsupported),
    ("xtc_probability", Unsupported),
    ("xtc_threshold", Unsupported),
    ("dry_multiplier", Unsupported),
    ("dry_base", Unsupported),
    ("dry_allowed_length", Unsupported),
    ("dry_penalty_last_n", Unsupported),
    ("dry_sequence_breakers", Unsupported),
    ("grammar", Unsupported),
    ("json_schema", Unsupported),
    ("samplers", Unsupported),
    ("post_sampling_probs", Unsupported),
    ("timings_per_token", Unsupported),
    ("response_fields", Unsupported),
    ("lora", Unsupported),
    ("n_indent", Unsupported),
    ("t_max_predict_ms", Unsupported),
];

/// llama-server's default `--batch-size` (capped by the context, as llama.cpp caps it): `/infill`
/// keeps at most 3/4 of a batch of the prefix and 1/4 of the suffix.
const N_BATCH: usize = 2048;

fn table(extra: &[(&'static str, FieldStatus)]) -> Vec<(&'static str, FieldStatus)> {
    extra.iter().chain(GEN_FIELDS).copied().collect()
}

/// A piece of a llama-server prompt: text, or a token id.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Token(u32),
}

fn token_id(v: &Value, at: &str, n_vocab: usize) -> Result<u32, ApiError> {
    v.as_u64()
        .filter(|&x| x < n_vocab as u64)
        .map(|x| x as u32)
        .ok_or_else(|| {
            ApiError::invalid(
                "prompt",
                format!("{at} = {v} is not a token id below the vocabulary size {n_vocab}"),
            )
        })
}

/// One prompt from a string or an array of token ids and strings.
fn pieces(v: &Value, at: &str, n_vocab: usize) -> Result<Vec<Piece>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![Piece::Text(s.clone())]),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, e)| match e {
                Value::String(s) => Ok(Piece::Text(s.clone())),
                _ => token_id(e, &format!("{at}[{i}]"), n_vocab).map(Piece::Token),
            })
            .collect(),
        _ => Err(ApiError::invalid(
            "prompt",
            format!("{at} must be a string or an array of token ids and strings"),
        )),
    }
}

/// `prompt` as llama-server reads it: a string, an array of token ids and strings (one mixed
/// prompt), or an array of those (several prompts; more than one result is answered as an
/// array, as llama-server does).
fn prompts(f: &Fields<'_>, max: usize, n_vocab: usize) -> Result<Vec<Vec<Piece>>, ApiError> {
    let v = f
        .get("prompt")
        .ok_or_else(|| ApiError::invalid("prompt", "'prompt' is required"))?;
    match v {
        Value::Array(a) if a.is_empty() => {
            Err(ApiError::invalid("prompt", "'prompt' must not be empty"))
        }
        // No token id at the top level: a list of prompts.
        Value::Array(a) if !a.iter().any(Value::is_number) => {
            if a.len() > max {
                return Err(ApiError::invalid(
                    "prompt",
                    format!(
                        "'prompt' holds {} prompts; at most {max} are allowed",
                        a.len()
                    ),
                ));
            }
            a.iter()
                .enumerate()
                .map(|(i, p)| pieces(p, &format!("prompt[{i}]"), n_vocab))
                .collect()
        }
        _ => Ok(vec![pieces(v, "prompt", n_vocab)?]),
    }
}

/// Token ids of a mixed prompt as llama-server makes them: BOS (when the model adds one) only
/// before a leading text piece; special-token text is parsed.
fn tokenize_pieces(served: &Served, p: &[Piece]) -> Vec<u32> {
    let mut ids = Vec::new();
    for (i, piece) in p.iter().enumerate() {
        match piece {
            Piece::Text(t) => ids.extend(served.text.tokenize(t, i == 0, true)),
            Piece::Token(t) => ids.push(*t),
        }
    }
    ids
}

/// What a request asks of generation, with llama-server's defaults.
struct Settings {
    common: params::Common,
    /// `-1`: until end of generation or the context is full.
    n_predict: i64,
    n_probs: usize,
    return_tokens: bool,
}

fn settings(f: &Fields<'_>, st: &AppState, served: &Served) -> Result<Settings, ApiError> {
    let mut common = params::common(f, &st.limits, served.engine.n_vocab())?;
    let s = &mut common.sampling;
    if f.get("temperature").is_none() {
        s.temp = 0.8;
    }
    if f.get("top_k").is_none() {
        s.top_k = 40;
    }
    if f.get("top_p").is_none() {
        s.top_p = 0.95;
    }
    if f.get("min_p").is_none() {
        s.min_p = 0.05;
    }
    if let Some(p) = f.number("typical_p", 0.0, 1.0)? {
        s.typical_p = p;
    }
    if let Some(k) = f.integer("min_keep", 0, 1 << 20)? {
        s.min_keep = k as usize;
    }
    if let Some(n) = f.integer("repeat_last_n", -1, 1 << 20)? {
        // -1: the whole context, as in llama-server; a longer window sees no more tokens.
        let n_ctx = served.engine.n_ctx();
        s.repeat_last_n = usize::try_from(n).map_or(n_ctx, |n| n.min(n_ctx));
    }
    let n_predict = f.integer("n_predict", -1, i64::MAX)?.unwrap_or(-1);
    let n_probs = f
        .integer("n_probs", 0, st.limits.max_top_logprobs as i64)?
        .unwrap_or(0) as usize;
    let return_tokens = f.bool("return_tokens")?.unwrap_or(false);
    Ok(Settings {
        common,
        n_predict,
        n_probs,
        return_tokens,
    })
}

/// llama-server's spellings of what the shared parser reads: `seed: -1` means a random seed (as
/// an absent one), and `logit_bias` may be a list of `[id, bias]` pairs (`false` bans the token)
/// instead of an object. Other list shapes (token text keys) are left for the parser to refuse.
fn llama_spellings(map: &mut Map<String, Value>) {
    if map.get("seed").and_then(Value::as_i64) == Some(-1) {
        map.remove("seed");
    }
    if let Some(Value::Array(pairs)) = map.get("logit_bias") {
        let as_object: Option<Map<String, Value>> = pairs
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([Value::Number(id), Value::Bool(false)]) if id.is_u64() => {
                    Some((id.to_string(), json!(-100)))
                }
                Some([Value::Number(id), b @ Value::Number(_)]) if id.is_u64() => {
                    Some((id.to_string(), b.clone()))
                }
                _ => None,
            })
            .collect();
        if let Some(o) = as_object {
            map.insert("logit_bias".into(), Value::Object(o));
        }
    }
}

fn generation_settings(s: &Settings, served: &Served) -> Value {
    let p = &s.common.sampling;
    json!({
        "n_ctx": served.engine.n_ctx(),
        "n_predict": s.n_predict,
        "seed": p.seed,
        "temperature": p.temp,
        "top_k": p.top_k,
        "top_p": p.top_p,
        "min_p": p.min_p,
        "typical_p": p.typical_p,
        "min_keep": p.min_keep,
        "repeat_last_n": p.repeat_last_n,
        "repeat_penalty": p.repeat_penalty,
        "presence_penalty": p.presence_penalty,
        "frequency_penalty": p.frequency_penalty,
        "logit_bias": p.logit_bias.iter().map(|&(t, b)| json!([t, b])).collect::<Vec<_>>(),
        "n_probs": s.n_probs,
        "ignore_eos": s.common.ignore_eos,
        "stop": s.common.stop,
        "stream": s.common.stream,
        "samplers": ["penalties", "top_k", "typ_p", "top_p", "min_p", "temperature"],
    })
}

/// Settings a route would use for a request that sets nothing (for `/props` and `/slots`).
fn default_settings(st: &AppState, served: &Served) -> Result<Settings, ApiError> {
    let empty = Map::new();
    let f = Fields::new(&empty, &[])?;
    let mut s = settings(&f, st, served)?;
    s.common.sampling.seed = u64::from(u32::MAX);
    Ok(s)
}

fn prob_json(served: &Served, id: u32, logprob: f64) -> Map<String, Value> {
    let bytes = served.text.token_bytes(id);
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert(
        "token".into(),
        json!(String::from_utf8_lossy(&bytes).into_owned()),
    );
    m.insert("bytes".into(), json!(bytes));
    m.insert("logprob".into(), json!(logprob as f32));
    m
}

/// One `completion_probabilities` entry: the chosen token and the top `n_probs`.
fn probs_entry(served: &Served, lp: &TokenLogprob, n_probs: usize) -> Value {
    let mut m = prob_json(served, lp.id, lp.logprob);
    let top: Vec<Value> = lp
        .top
        .iter()
        .take(n_probs)
        .map(|&(t, v)| Value::Object(prob_json(served, t, v)))
        .collect();
    m.insert("top_logprobs".into(), json!(top));
    Value::Object(m)
}

/// Why generation stopped, as llama-server says it: `eos`, `word` (with the stop string) or
/// `limit`.
fn stop_type(
    served: &Served,
    s: &Settings,
    ids: &[u32],
    content: &str,
    finish: FinishReason,
) -> (&'static str, String) {
    if finish == FinishReason::Length {
        return ("limit", String::new());
    }
    if !s.common.ignore_eos && ids.last().is_some_and(|&t| served.text.is_eog(t)) {
        return ("eos", String::new());
    }
    // A stop string ended it; the engine never emits it, so find the one that follows the
    // content in the raw text of the generated tokens.
    let raw: Vec<u8> = ids
        .iter()
        .flat_map(|&t| served.text.token_bytes(t))
        .collect();
    let raw = String::from_utf8_lossy(&raw);
    let tail = raw.get(content.len().min(raw.len())..).unwrap_or(&raw);
    let word = s
        .common
        .stop
        .iter()
        .filter_map(|w| {
            tail.find(w.as_str())
                .map(|at| (at, std::cmp::Reverse(w.len()), w))
        })
        .min()
        .map(|(_, _, w)| w.clone())
        .unwrap_or_default();
    ("word", word)
}

fn timings(
    prompt_n: usize,
    predicted_n: usize,
    spans: (Instant, Option<Instant>, Option<Instant>),
) -> Value {
    let (start, first, last) = spans;
    let ms = |a: Instant, b: Option<Instant>| b.map_or(0.0, |b| (b - a).as_secs_f64() * 1e3);
    let prompt_ms = ms(start, first);
    let predicted_ms = first.map_or(0.0, |f| ms(f, last));
    let per = |ms: f64, n: usize| if n == 0 { 0.0 } else { ms / n as f64 };
    let rate = |ms: f64, n: usize| if ms <= 0.0 { 0.0 } else { n as f64 * 1e3 / ms };
    json!({
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": per(prompt_ms, prompt_n),
        "prompt_per_second": rate(prompt_ms, prompt_n),
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": per(predicted_ms, predicted_n),
        "predicted_per_second": rate(predicted_ms, predicted_n),
    })
}

/// What one prompt produced so far.
#[derive(Default)]
struct Output {
    content: String,
    ids: Vec<u32>,
    probs: Vec<Value>,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Shared between the non-streaming answer and the final streamed chunk.
struct Job {
    served: Arc<Served>,
    settings: Settings,
    n_prompt: Vec<usize>,
    start: Instant,
}

impl Job {
    fn final_json(
        &self,
        index: usize,
        out: &Output,
        content: &str,
        finish: FinishReason,
        usage: nomoat_engine::scheduler::Usage,
        with_probs: bool,
    ) -> Value {
        let (stop_type, stopping_word) =
            stop_type(&self.served, &self.settings, &out.ids, &out.content, finish);
        let mut v = json!({
            "index": index,
            "content": content,
            "tokens": if self.settings.return_tokens { json!(out.ids) } else { json!([]) },
            "stop": true,
            "model": self.served.id,
            "tokens_predicted": usage.completion_tokens,
            "tokens_evaluated": usage.prompt_tokens,
            "generation_settings": generation_settings(&self.settings, &self.served),
            "has_new_line": out.content.contains('\n'),
            "truncated": false,
            "stop_type": stop_type,
            "stopping_word": stopping_word,
            "tokens_cached": usage.cached_tokens,
            "timings": timings(
                usage.prompt_tokens.saturating_sub(usage.cached_tokens),
                usage.completion_tokens,
                (self.start, out.first, out.last),
            ),
        });
        if with_probs && self.settings.n_probs > 0 {
            v["completion_probabilities"] = json!(out.probs);
        }
        v
    }
}

/// Submit one request per prompt and answer in llama-server's shape (an array when the request
/// held several prompts).
async fn run(
    st: Arc<AppState>,
    job: Job,
    prompts: Vec<Vec<u32>>,
    permits: Vec<nomoat_engine::scheduler::Permit>,
) -> Result<Response, ApiError> {
    let served = job.served.clone();
    let n_ctx = served.engine.n_ctx();
    let s = &job.settings;
    let mut reqs = Vec::with_capacity(prompts.len());
    for p in &prompts {
        let max_tokens = if s.n_predict < 0 {
            n_ctx.saturating_sub(p.len())
        } else {
            usize::try_from(s.n_predict).unwrap_or(usize::MAX)
        };
        if p.len() >= n_ctx || p.len().saturating_add(max_tokens) > n_ctx {
            let mut e = ApiError::context_length(p.len(), max_tokens, n_ctx);
            e.param = Some("prompt".into());
            return Err(e);
        }
        reqs.push(GenRequest {
            prompt: p.clone(),
            max_tokens,
            sampling: s.common.sampling.clone(),
            stop: s.common.stop.clone(),
            logprobs: (s.n_probs > 0).then_some(s.n_probs),
            prompt_logprobs: false,
            ignore_eos: s.common.ignore_eos,
            constraint: None,
            render_special: false,
        });
    }
    let n = reqs.len();
    let rx = gen::submit_all(&served, reqs, permits, "prompt")?;
    let mut timing = Timing::new(st, job.start, n);
    if s.common.stream {
        let fmt = LlamaStream {
            outputs: (0..n).map(|_| Output::default()).collect(),
            job,
        };
        return Ok(gen::sse(rx, fmt, timing, n));
    }
    let events = gen::collect(rx, &mut timing, n).await?;
    let mut results = Vec::with_capacity(n);
    for (index, evs) in events.into_iter().enumerate() {
        let (_, first, last) = timing.spans(index);
        let mut out = Output {
            first,
            last,
            ..Output::default()
        };
        let mut done = None;
        for ev in evs {
            match ev {
                Event::Token { id, text, logprob } => {
                    out.content.push_str(&text);
                    out.ids.push(id);
                    if let Some(lp) = &logprob {
                        out.probs
                            .push(probs_entry(&served, lp, job.settings.n_probs));
                    }
                }
                Event::Done {
                    finish_reason,
                    usage,
                    ..
                } => done = Some((finish_reason, usage)),
                Event::PromptLogprobs(_) | Event::Error(_) => {}
            }
        }
        let (finish, usage) =
            done.ok_or_else(|| ApiError::internal("generation ended without a result"))?;
        let content = out.content.clone();
        results.push(job.final_json(index, &out, &content, finish, usage, true));
    }
    let body = if results.len() > 1 {
        Value::Array(results)
    } else {
        results.pop().unwrap_or(Value::Null)
    };
    Ok(axum::Json(body).into_response())
}

/// Streaming as llama-server: a chunk per token with its text, then the full result with
/// `stop: true`; no `[DONE]`.
struct LlamaStream {
    job: Job,
    outputs: Vec<Output>,
}

impl StreamFormat for LlamaStream {
    fn start(&mut self) -> Vec<Value> {
        Vec::new()
    }

    fn event(&mut self, index: usize, ev: Event) -> Vec<Value> {
        let Some(out) = self.outputs.get_mut(index) else {
            return Vec::new();
        };
        match ev {
            Event::Token { id, text, logprob } => {
                let now = Instant::now();
                out.first.get_or_insert(now);
                out.last = Some(now);
                out.content.push_str(&text);
                out.ids.push(id);
                let probs = logprob
                    .as_ref()
                    .map(|lp| probs_entry(&self.job.served, lp, self.job.settings.n_probs));
                if text.is_empty() && probs.is_none() {
                    return Vec::new();
                }
                let mut c = json!({
                    "index": index,
                    "content": text,
                    "tokens": if self.job.settings.return_tokens { json!([id]) } else { json!([]) },
                    "stop": false,
                    "tokens_predicted": out.ids.len(),
                    "tokens_evaluated": self.job.n_prompt.get(index).copied().unwrap_or(0),
                });
                if let Some(p) = probs {
                    c["completion_probabilities"] = json!([p]);
                }
                vec![c]
            }
            Event::Done {
                finish_reason,
                usage,
                ..
            } => vec![self
                .job
                .final_json(index, out, "", finish_reason, usage, false)],
            Event::PromptLogprobs(_) | Event::Error(_) => Vec::new(),
        }
    }

    const DONE_MARKER: bool = false;

    fn end(&mut self) -> Vec<Value> {
        Vec::new()
    }
}

/// `POST /completion`.
pub async fn completion(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let mut map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    llama_spellings(&mut map);
    let fields = table(&[("prompt", Supported)]);
    let f = Fields::new(&map, &fields)?;
    let served = st.resolve(f.string("model")?).await?;
    let settings = settings(&f, &st, &served)?;
    let inputs = prompts(&f, st.limits.max_prompts, served.engine.n_vocab())?;
    let permits = gen::reserve(&served, inputs.len())?;
    let sv = served.clone();
    let ids = tokio::task::spawn_blocking(move || {
        inputs
            .iter()
            .map(|p| tokenize_pieces(&sv, p))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| ApiError::internal("internal error while tokenizing the prompt"))?;
    if ids.iter().any(Vec::is_empty) {
        return Err(ApiError::invalid("prompt", "the prompt has no tokens"));
    }
    let job = Job {
        n_prompt: ids.iter().map(Vec::len).collect(),
        served,
        settings,
        start,
    };
    run(st, job, ids, permits).await
}

/// One `input_extra` chunk: `{"text": str, "filename": str}`.
fn extra_chunks(f: &Fields<'_>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(v) = f.get("input_extra") else {
        return Ok(Vec::new());
    };
    let Value::Array(a) = v else {
        return Err(ApiError::invalid(
            "input_extra",
            "'input_extra' must be an array of {\"text\", \"filename\"} objects",
        ));
    };
    a.iter()
        .enumerate()
        .map(|(i, c)| {
            let at = |k: &str| format!("input_extra[{i}].{k}");
            let Value::Object(o) = c else {
                return Err(ApiError::invalid(
                    format!("input_extra[{i}]"),
                    "each chunk must be an object with 'text' and optionally 'filename'",
                ));
            };
            for k in o.keys() {
                if k != "text" && k != "filename" {
                    return Err(ApiError::invalid(
                        at(k),
                        format!("Unrecognized chunk field: {k}"),
                    ));
                }
            }
            let s = |k: &str, default: &str| match o.get(k) {
                None | Some(Value::Null) => Ok(default.to_string()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(ApiError::invalid(at(k), format!("'{k}' must be a string"))),
            };
            Ok((s("text", "")?, s("filename", "tmp")?))
        })
        .collect()
}

/// The fill-in-the-middle prompt, laid out as llama-server does (repo-level pattern):
/// `[FIM_REP]myproject\n[FIM_SEP]file\nchunk…[FIM_SEP]filename\n` (or a text separator before
/// each chunk when the model has no FIM_SEP), then BOS, `[FIM_PRE]prefix prompt[FIM_SUF]suffix
/// [FIM_MID]`. The prefix keeps its last 3/4 of a batch, the suffix its first 1/4 (less the
/// prompt), the extra context what the context leaves after a batch and twice `n_predict`.
#[allow(clippy::too_many_arguments)]
fn fim_prompt(
    served: &Served,
    info: &ModelInfo,
    (pre, suf, mid): (u32, u32, u32),
    prefix: &str,
    suffix: &str,
    extra: &[(String, String)],
    prompt: &str,
    n_predict: i64,
) -> Vec<u32> {
    let tok = |s: &str| served.text.tokenize(s, false, false);
    let mut prefix_ids = tok(prefix);
    let mut suffix_ids = tok(suffix);
    let prompt_ids = served.text.tokenize(prompt, false, true);
    let mut extra_ids = Vec::new();
    if let Some(rep) = info.fim_rep {
        extra_ids.push(rep);
        extra_ids.extend(tok("myproject\n"));
    }
    for (text, filename) in extra {
        match info.fim_sep {
            Some(sep) => {
                extra_ids.push(sep);
                extra_ids.extend(tok(&format!("{filename}\n")));
            }
            None => extra_ids.extend(tok("\n\n--- snippet ---\n\n")),
        }
        extra_ids.extend(tok(text));
    }
    if let Some(sep) = info.fim_sep {
        extra_ids.push(sep);
        extra_ids.extend(tok("filename\n"));
    }
    let n_ctx = served.engine.n_ctx();
    let n_batch = N_BATCH.min(n_ctx);
    let n_prefix = prefix_ids.len().min(3 * (n_batch / 4));
    let n_suffix = suffix_ids
        .len()
        .min((n_batch / 4).saturating_sub(2 + prompt_ids.len()));
    let room = n_ctx as i64 - n_batch as i64 - 2 * n_predict;
    let n_extra = (room.max(0) as usize).min(extra_ids.len());
    prefix_ids.drain(..prefix_ids.len() - n_prefix);
    suffix_ids.truncate(n_suffix);

    let mut ids = Vec::with_capacity(n_extra + n_prefix + n_suffix + prompt_ids.len() + 4);
    ids.extend_from_slice(&extra_ids[extra_ids.len() - n_extra..]);
    if info.add_bos {
        ids.extend(info.bos);
    }
    ids.push(pre);
    ids.extend(prefix_ids);
    ids.extend(prompt_ids);
    ids.push(suf);
    ids.extend(suffix_ids);
    ids.push(mid);
    ids
}

/// `POST /infill`: code completion between `input_prefix` and `input_suffix`.
pub async fn infill(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let mut map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    llama_spellings(&mut map);
    let fields = table(&[
        ("input_prefix", Supported),
        ("input_suffix", Supported),
        ("input_extra", Supported),
        ("prompt", Supported),
    ]);
    let f = Fields::new(&map, &fields)?;
    let served = st.resolve(f.string("model")?).await?;
    let info = served.text.info();
    let (Some(pre), Some(suf), Some(mid)) = (info.fim_pre, info.fim_suf, info.fim_mid) else {
        return Err(ApiError::bad_request(format!(
            "model '{}' has no fill-in-the-middle tokens (prefix, suffix and middle are needed); \
             /infill needs a code model that has them",
            served.id
        )));
    };
    let settings = settings(&f, &st, &served)?;
    let prefix = f.string("input_prefix")?.unwrap_or_default().to_string();
    let suffix = f.string("input_suffix")?.unwrap_or_default().to_string();
    let prompt = f.string("prompt")?.unwrap_or_default().to_string();
    let extra = extra_chunks(&f)?;
    let permits = gen::reserve(&served, 1)?;
    let sv = served.clone();
    let n_predict = settings.n_predict;
    let ids = tokio::task::spawn_blocking(move || {
        fim_prompt(
            &sv,
            &info,
            (pre, suf, mid),
            &prefix,
            &suffix,
            &extra,
            &prompt,
            n_predict,
        )
    })
    .await
    .map_err(|_| ApiError::internal("internal error while tokenizing the prompt"))?;
    let job = Job {
        n_prompt: vec![ids.len()],
        served,
        settings,
        start,
    };
    run(st, job, vec![ids], permits).await
}

fn token_text(served: &Served, id: Option<u32>) -> Value {
    id.map_or(Value::Null, |t| json!(served.piece(t)))
}

/// `GET /props`: the server's defaults and model, in llama-server's shape.
pub async fn props(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let served = st.resolve(None).await?;
    let s = default_settings(&st, &served)?;
    let info = served.text.info();
    let mut v = json!({
        "default_generation_settings": {
            "n_ctx": served.engine.n_ctx(),
            "params": generation_settings(&s, &served),
        },
        "total_slots": served.engine.max_running(),
        "model_alias": served.id,
        "bos_token": token_text(&served, info.bos),
        "eos_token": token_text(&served, info.eos),
        "build_info": format!("nomoat {}", env!("CARGO_PKG_VERSION")),
        "modalities": {"vision": false, "audio": false},
    });
    if let Some(p) = info.path {
        v["model_path"] = json!(p);
    }
    if let Some(t) = info.chat_template {
        v["chat_template"] = json!(t);
    }
    Ok(axum::Json(v).into_response())
}

/// `GET /slots` (read-only; `?fail_on_no_slot=1` answers 503 when every slot is busy). nomoat
/// has no fixed slots: it decodes up to `total_slots` sequences together, so slot i is shown
/// processing while more than i sequences run.
pub async fn slots(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let mut fail_on_no_slot = false;
    for kv in q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
    {
        match kv.split_once('=').unwrap_or((kv, "")) {
            ("fail_on_no_slot", v) => fail_on_no_slot = !matches!(v, "0" | "false"),
            (k, _) => {
                return Err(ApiError::invalid(
                    k,
                    format!("Unrecognized query parameter: {k} (only fail_on_no_slot)"),
                ))
            }
        }
    }
    let served = st.resolve(None).await?;
    let s = default_settings(&st, &served)?;
    let total = served.engine.max_running();
    let running = served.engine.stats().running.min(total);
    if fail_on_no_slot && running >= total {
        return Err(ApiError::unavailable("no slot available", 1));
    }
    let params = generation_settings(&s, &served);
    let list: Vec<Value> = (0..total)
        .map(|i| {
            json!({
                "id": i,
                "n_ctx": served.engine.n_ctx(),
                "is_processing": i < running,
                "params": params,
            })
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

/// `GET /tokenizer_info` (vLLM's): the special tokens, template and length a client-side
/// tokenizer needs; lm-eval's remote tokenizer reads `eos_token` and `bos_token` from it and
/// their ids through `/tokenize`.
pub async fn tokenizer_info(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let served = st.resolve(None).await?;
    Ok(axum::Json(tokenizer_info_json(&served)).into_response())
}

/// `POST /tokenizer_info {"model"?}`: the same for a named model.
pub async fn tokenizer_info_post(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    let f = Fields::new(&map, &[("model", Supported)])?;
    let served = st.resolve(f.string("model")?).await?;
    Ok(axum::Json(tokenizer_info_json(&served)).into_response())
}

fn tokenizer_info_json(served: &Served) -> Value {
    let info = served.text.info();
    let mut v = json!({
        "tokenizer_class": "nomoat",
        "bos_token": token_text(served, info.bos),
        "eos_token": token_text(served, info.eos),
        "add_bos_token": info.add_bos,
        "model_max_length": served.engine.n_ctx(),
        "vocab_size": served.engine.n_vocab(),
    });
    if info.pad.is_some() {
        v["pad_token"] = token_text(served, info.pad);
    }
    if info.unk.is_some() {
        v["unk_token"] = token_text(served, info.unk);
    }
    if let Some(t) = info.chat_template {
        v["chat_template"] = json!(t);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Vec<Vec<Piece>>, ApiError> {
        let mut m = Map::new();
        m.insert("prompt".into(), v);
        let f = Fields::new(&m, &[("prompt", Supported)]).expect("fields");
        prompts(&f, 4, 100)
    }

    #[test]
    fn prompt_shapes() {
        use Piece::{Text, Token};
        assert_eq!(parse(json!("hi")).unwrap(), vec![vec![Text("hi".into())]]);
        assert_eq!(
            parse(json!([1, 2])).unwrap(),
            vec![vec![Token(1), Token(2)]]
        );
        assert_eq!(
            parse(json!([1, "a", 2])).unwrap(),
            vec![vec![Token(1), Text("a".into()), Token(2)]]
        );
        assert_eq!(
            parse(json!(["a", "b"])).unwrap(),
            vec![vec![Text("a".into())], vec![Text("b".into())]]
        );
        assert_eq!(
            parse(json!([[1, "x"], "b"])).unwrap(),
            vec![vec![Token(1), Text("x".into())], vec![Text("b".into())]]
        );
        assert!(parse(json!([])).is_err());
        assert!(parse(json!([100])).is_err(), "id at the vocabulary size");
        assert!(parse(json!([-1])).is_err());
        assert!(parse(json!([1.5])).is_err());
        assert!(parse(json!({"a": 1})).is_err());
        assert!(parse(json!([{"a": 1}])).is_err());
        assert!(
            parse(json!(["a", "b", "c", "d", "e"])).is_err(),
            "over the prompt limit"
        );
    }
}
