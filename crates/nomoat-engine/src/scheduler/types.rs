//! What goes into the engine loop (a [`GenRequest`]) and what comes out of it ([`Event`]s).

pub use crate::sample::SamplingParams;
pub use crate::stop::FinishReason;

/// One generation request. The prompt is already tokenized (and rendered, for chat).
#[derive(Debug, Clone)]
pub struct GenRequest {
    pub prompt: Vec<u32>,
    /// Tokens to generate at most; 0 is allowed (echo + logprobs scoring).
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Stop strings: generation ends before the first occurrence, which is never emitted.
    pub stop: Vec<String>,
    /// Top-n log-probs per generated token (`None` = no log-probs at all, `Some(0)` = only the
    /// chosen token's).
    pub logprobs: Option<usize>,
    /// Also send the log-probs of the prompt tokens (entry i predicts prompt token i + 1).
    pub prompt_logprobs: bool,
}

/// Token counts of one finished request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens whose KV came from the prefix cache instead of being computed.
    pub cached_tokens: usize,
}

/// Log-prob of one token and the top alternatives at its position (natural log, sorted best first).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

/// What the engine sends back for one request, in this order: optionally `PromptLogprobs`, then
/// `Token`s, then exactly one `Done` or `Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Prompt log-probs: one entry per prompt token; the first is `None` (nothing predicts it).
    PromptLogprobs(Vec<Option<TokenLogprob>>),
    /// One generated token. `text` is the new text it completes: possibly empty (an incomplete
    /// UTF-8 sequence, or text held back because it may start a stop string), possibly more than
    /// this token's piece (held-back text released).
    Token {
        id: u32,
        text: String,
        logprob: Option<TokenLogprob>,
    },
    Done {
        finish_reason: FinishReason,
        usage: Usage,
    },
    Error(String),
}

/// Where a request's events go. The HTTP layer wraps a channel; `is_closed` turns true when the
/// client is gone, and the engine then cancels the request and frees its blocks.
pub trait EventSink: Send {
    /// Deliver one event; `false` when the receiver is gone.
    fn send(&mut self, ev: Event) -> bool;
    fn is_closed(&self) -> bool;
}

impl EventSink for std::sync::mpsc::Sender<Event> {
    fn send(&mut self, ev: Event) -> bool {
        std::sync::mpsc::Sender::send(self, ev).is_ok()
    }
    /// A std sender cannot tell without sending; cancellation is then seen on the next token.
    fn is_closed(&self) -> bool {
        false
    }
}
