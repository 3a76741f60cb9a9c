//! What chat and completions share: reserving places, submitting choices to the engine, the
//! event channel back, timing metrics, and turning events into SSE.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use nomoat_engine::scheduler::{EngineError, Event, EventSink, GenRequest, Permit, SubmitError};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::error::ApiError;
use nomoat_chat::Message;

use crate::model::{RenderExtras, Served, TextError};
use crate::AppState;

/// Routes one choice's events into the request's channel; the receiver dropping (client gone)
/// shows as `is_closed`, which makes the engine cancel the choice.
struct ChanSink {
    index: usize,
    tx: UnboundedSender<(usize, Event)>,
}

impl EventSink for ChanSink {
    fn send(&mut self, ev: Event) -> bool {
        self.tx.send((self.index, ev)).is_ok()
    }
    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short random-looking id (`chatcmpl-…`): time and a counter, hex.
pub fn new_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{prefix}-{:016x}{:04x}", t, n & 0xffff)
}

/// 503 when the queue is full (before any tokenizing).
pub fn reserve(served: &Served, n: usize) -> Result<Vec<Permit>, ApiError> {
    let cap = served.engine.capacity();
    if n > cap {
        // Waiting would never help: say so instead of a 503 the client would retry forever.
        return Err(ApiError::invalid(
            "n",
            format!("the request needs {n} sequences (prompts × n) but this server runs at most {cap} at once"),
        ));
    }
    served.engine.try_reserve(n).ok_or_else(|| {
        ApiError::unavailable(
            "The server is busy (request queue full) or shutting down; retry shortly",
            1,
        )
    })
}

/// The prompt ids of a conversation (validated messages) through the model's chat template,
/// rendered and tokenized off the async threads. Every chat-shaped API (OpenAI chat, Ollama
/// chat, Anthropic messages, Responses) builds its prompt here.
pub async fn chat_ids(served: &Arc<Served>, messages: Vec<Message>) -> Result<Vec<u32>, ApiError> {
    Ok(chat_prompt(served, messages, RenderExtras::default())
        .await?
        .0)
}

/// [`chat_ids`] with tools and template variables; also returns the rendered text (whether
/// it ends inside an open reasoning block decides how the reply is parsed).
pub async fn chat_prompt(
    served: &Arc<Served>,
    messages: Vec<Message>,
    extras: RenderExtras,
) -> Result<(Vec<u32>, String), ApiError> {
    let text = served.text.clone();
    tokio::task::spawn_blocking(move || -> Result<(Vec<u32>, String), ApiError> {
        let prompt = text
            .render_chat_with(&messages, &extras)
            .map_err(|e| match e {
                TextError::NoTemplate(e) => ApiError::invalid("messages", e.to_string()),
                TextError::Render(e) => {
                    ApiError::invalid("messages", format!("chat template: {e}"))
                }
            })?;
        let ids = text.tokenize(&prompt.text, prompt.add_bos, true);
        Ok((ids, prompt.text))
    })
    .await
    .map_err(|_| ApiError::internal("internal error while rendering the prompt"))?
}

pub fn submit_error(e: SubmitError, param: &str) -> ApiError {
    match e {
        SubmitError::Stopped => ApiError::unavailable("the server is shutting down", 5),
        SubmitError::TooLong {
            prompt,
            max_tokens,
            n_ctx,
        } => {
            let mut e = ApiError::context_length(prompt, max_tokens, n_ctx);
            e.param = Some(param.to_string());
            e
        }
        other => ApiError::invalid(param, other.to_string()),
    }
}

/// Validate every choice first, then submit them all; events arrive tagged with the choice index.
pub fn submit_all(
    served: &Served,
    reqs: Vec<GenRequest>,
    permits: Vec<Permit>,
    param: &str,
) -> Result<UnboundedReceiver<(usize, Event)>, ApiError> {
    for r in &reqs {
        served
            .engine
            .validate(r)
            .map_err(|e| submit_error(e, param))?;
    }
    let (tx, rx) = unbounded_channel();
    for (index, (req, permit)) in reqs.into_iter().zip(permits).enumerate() {
        let sink = ChanSink {
            index,
            tx: tx.clone(),
        };
        served
            .engine
            .submit(req, Box::new(sink), permit)
            .map_err(|e| submit_error(e, param))?;
    }
    Ok(rx)
}

/// Records time to first token and inter-token latency, and token totals.
pub struct Timing {
    st: Arc<AppState>,
    start: Instant,
    first: Vec<Option<Instant>>,
    last: Vec<Option<Instant>>,
}

impl Timing {
    pub fn new(st: Arc<AppState>, start: Instant, n: usize) -> Self {
        Timing {
            st,
            start,
            first: vec![None; n],
            last: vec![None; n],
        }
    }

    /// When the request started, and when choice `index` got its first and its latest token
    /// (llama-server's prompt and generation `timings`).
    pub fn spans(&self, index: usize) -> (Instant, Option<Instant>, Option<Instant>) {
        let at = |v: &[Option<Instant>]| v.get(index).copied().flatten();
        (self.start, at(&self.first), at(&self.last))
    }

    pub fn observe(&mut self, index: usize, ev: &Event) {
        match ev {
            Event::Token { .. } => {
                let now = Instant::now();
                if let Some(slot) = self.last.get_mut(index) {
                    match slot {
                        None => {
                            self.st.metrics.ttft.observe(now - self.start);
                            self.first[index] = Some(now);
                        }
                        Some(prev) => self.st.metrics.itl.observe(now - *prev),
                    }
                    *slot = Some(now);
                }
            }
            Event::Done { usage, .. } => {
                use std::sync::atomic::Ordering::Relaxed;
                self.st
                    .metrics
                    .prompt_tokens
                    .fetch_add(usage.prompt_tokens as u64, Relaxed);
                self.st
                    .metrics
                    .generated_tokens
                    .fetch_add(usage.completion_tokens as u64, Relaxed);
            }
            _ => {}
        }
    }
}

/// Turns one request's events into SSE `data:` payloads.
pub trait StreamFormat: Send + 'static {
    /// Whether every event also gets an `event:` line, named by its payload's `type` field
    /// (Anthropic, Responses); OpenAI chat and completions chunks have none.
    const NAMED_EVENTS: bool = false;
    /// Whether the stream ends with `data: [DONE]` (OpenAI chat and completions only;
    /// llama-server's native routes end with their `stop: true` chunk instead).
    const DONE_MARKER: bool = true;
    /// The payload sent when generation fails after the stream started; the stream then ends.
    fn error(&mut self, message: &str) -> Value {
        ApiError::internal(message).body()
    }
    /// Chunks before any event (e.g. the assistant role).
    fn start(&mut self) -> Vec<Value>;
    fn event(&mut self, index: usize, ev: Event) -> Vec<Value>;
    /// Chunks after every choice is done (e.g. usage).
    fn end(&mut self) -> Vec<Value>;
}

struct StreamState<F: StreamFormat> {
    rx: UnboundedReceiver<(usize, Event)>,
    fmt: F,
    timing: Timing,
    queue: VecDeque<SseEvent>,
    remaining: usize,
    ended: bool,
}

/// One payload as an SSE event of format `F`.
fn sse_event<F: StreamFormat>(data: &Value) -> SseEvent {
    let ev = SseEvent::default().data(data.to_string());
    match data.get("type").and_then(Value::as_str) {
        Some(name) if F::NAMED_EVENTS => ev.event(name),
        _ => ev,
    }
}

/// An SSE response fed by the engine: `data: {chunk}` per event (with `event: TYPE` for
/// [`StreamFormat::NAMED_EVENTS`]), `data: [DONE]` at the end for [`StreamFormat::DONE_MARKER`],
/// or the format's error payload and close if generation fails after the stream started.
pub fn sse<F: StreamFormat>(
    rx: UnboundedReceiver<(usize, Event)>,
    mut fmt: F,
    timing: Timing,
    n_choices: usize,
) -> Response {
    let queue: VecDeque<SseEvent> = fmt.start().iter().map(sse_event::<F>).collect();
    let state = StreamState {
        rx,
        fmt,
        timing,
        queue,
        remaining: n_choices,
        ended: false,
    };
    let s = stream::unfold(state, |mut s| async move {
        loop {
            if let Some(ev) = s.queue.pop_front() {
                return Some((Ok::<_, Infallible>(ev), s));
            }
            if s.ended {
                return None;
            }
            if s.remaining == 0 {
                s.queue.extend(s.fmt.end().iter().map(sse_event::<F>));
                if F::DONE_MARKER {
                    s.queue.push_back(SseEvent::default().data("[DONE]"));
                }
                s.ended = true;
                continue;
            }
            match s.rx.recv().await {
                None => {
                    let e = s.fmt.error("the engine stopped");
                    s.queue.push_back(sse_event::<F>(&e));
                    s.ended = true;
                }
                Some((_, Event::Error(e))) => {
                    let e = s.fmt.error(&e.to_string());
                    s.queue.push_back(sse_event::<F>(&e));
                    s.ended = true;
                }
                Some((i, ev)) => {
                    s.timing.observe(i, &ev);
                    if matches!(ev, Event::Done { .. }) {
                        s.remaining -= 1;
                    }
                    let chunks = s.fmt.event(i, ev);
                    s.queue.extend(chunks.iter().map(sse_event::<F>));
                }
            }
        }
    });
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Every event of every choice, for a non-streaming response. The first error aborts (the
/// other choices are cancelled when the receiver is dropped).
pub async fn collect(
    mut rx: UnboundedReceiver<(usize, Event)>,
    timing: &mut Timing,
    n_choices: usize,
) -> Result<Vec<Vec<Event>>, ApiError> {
    let mut out: Vec<Vec<Event>> = vec![Vec::new(); n_choices];
    let mut remaining = n_choices;
    while remaining > 0 {
        match rx.recv().await {
            None => return Err(ApiError::internal("the engine stopped")),
            Some((_, Event::Error(EngineError::ShuttingDown))) => {
                return Err(ApiError::unavailable(
                    EngineError::ShuttingDown.to_string(),
                    5,
                ));
            }
            Some((_, Event::Error(e))) => return Err(ApiError::internal(e.to_string())),
            Some((i, ev)) => {
                timing.observe(i, &ev);
                if matches!(ev, Event::Done { .. }) {
                    remaining -= 1;
                }
                if let Some(v) = out.get_mut(i) {
                    v.push(ev);
                }
            }
        }
    }
    Ok(out)
}

/// The OpenAI `usage` object.
pub fn usage_json(prompt: usize, completion: usize, cached: usize) -> Value {
    serde_json::json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// [`ndjson`]'s pump: like the SSE one, queueing lines instead of SSE events.
struct NdjsonState<F: StreamFormat> {
    rx: UnboundedReceiver<(usize, Event)>,
    fmt: F,
    timing: Timing,
    queue: VecDeque<String>,
    remaining: usize,
    ended: bool,
}

/// A newline-delimited JSON response fed by the engine (Ollama's streaming framing): one
/// object per line, `application/x-ndjson`, nothing after the last object. If generation fails
/// after the stream started, `error(message)` is written as the last line (Ollama's
/// `{"error": "..."}`) and the stream ends.
pub fn ndjson<F: StreamFormat>(
    rx: UnboundedReceiver<(usize, Event)>,
    mut fmt: F,
    timing: Timing,
    n_choices: usize,
    error: fn(&str) -> Value,
) -> Response {
    let queue: VecDeque<String> = fmt.start().into_iter().map(|v| v.to_string()).collect();
    let state = NdjsonState {
        rx,
        fmt,
        timing,
        queue,
        remaining: n_choices,
        ended: false,
    };
    let s = stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(mut line) = s.queue.pop_front() {
                line.push('\n');
                return Some((Ok::<_, Infallible>(line), s));
            }
            if s.ended {
                return None;
            }
            if s.remaining == 0 {
                s.queue
                    .extend(s.fmt.end().into_iter().map(|v| v.to_string()));
                s.ended = true;
                continue;
            }
            match s.rx.recv().await {
                None => {
                    s.queue.push_back(error("the engine stopped").to_string());
                    s.ended = true;
                }
                Some((_, Event::Error(e))) => {
                    s.queue.push_back(error(&e.to_string()).to_string());
                    s.ended = true;
                }
                Some((i, ev)) => {
                    s.timing.observe(i, &ev);
                    if matches!(ev, Event::Done { .. }) {
                        s.remaining -= 1;
                    }
                    let chunks = s.fmt.event(i, ev);
                    s.queue.extend(chunks.into_iter().map(|v| v.to_string()));
                }
            }
        }
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(s),
    )
        .into_response()
}
