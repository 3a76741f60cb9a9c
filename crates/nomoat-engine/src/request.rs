//! What goes into the token loop (a [`GenRequest`]) and what comes out of it ([`Event`]s), for
//! both drivers: the server's engine thread and the CLI's single-sequence
//! [`crate::generate::Session`].

pub use crate::sample::{ConstraintBox, SamplingParams};
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
    /// Keep generating past end-of-generation tokens (they are then decoded like any other
    /// token; generation ends on the limit or a stop string). llama-server's `ignore_eos`.
    pub ignore_eos: bool,
    /// A grammar the output must follow (JSON schema, regex, …): masks the logits before every
    /// other sampler; generation ends when it is complete.
    pub constraint: Option<ConstraintBox>,
    /// Decode control tokens as their text (`<|python_tag|>`, `[TOOL_CALLS]`, harmony's
    /// `<|channel|>`) instead of dropping them: the tool-call parsers must see those markers.
    /// End-of-generation tokens never have text.
    pub render_special: bool,
}

impl GenRequest {
    /// A request for `prompt` with default sampling and nothing else asked.
    pub fn new(prompt: Vec<u32>, max_tokens: usize, sampling: SamplingParams) -> GenRequest {
        GenRequest {
            prompt,
            max_tokens,
            sampling,
            stop: Vec::new(),
            logprobs: None,
            prompt_logprobs: false,
            ignore_eos: false,
            constraint: None,
            render_special: false,
        }
    }
}

/// Token counts of one finished request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens whose KV came from a cache (the server's prefix cache, the CLI's previous
    /// turn) instead of being computed.
    pub cached_tokens: usize,
}

/// Log-prob of one token and the top alternatives at its position (natural log, sorted best
/// first). Computed in f64 from the raw logits; the HTTP layer writes them as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f64,
    pub top: Vec<(u32, f64)>,
}

/// Why a request ended without finishing. Cloneable: one failed forward pass ends every request
/// that had rows in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(
        "the request needs {needed} KV blocks but the cache has {free}; lower max_tokens or \
         raise --ctx"
    )]
    RequestTooLarge { needed: usize, free: usize },
    #[error("out of KV cache blocks for this request; raise --ctx")]
    OutOfKvBlocks,
    /// The forward pass failed (the message of its [`crate::token_loop::StepError`]).
    #[error("{0}")]
    Forward(String),
    #[error("internal error while sampling")]
    SamplingPanicked,
    /// The output grammar failed (a bug in it, or a limit it hit).
    #[error("constrained decoding: {0}")]
    Constraint(String),
}

/// What the token loop sends back for one request, in this order: optionally
/// `PromptLogprobs`, then `Token`s, then exactly one `Done` or `Error`.
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
        /// The stop string that ended generation (`finish_reason` is then `Stop`); `None` for an
        /// end-of-generation token or the length limit.
        stop: Option<String>,
    },
    Error(EngineError),
}

/// Where a request's events go. The HTTP layer wraps a channel; the CLI collects into a
/// [`crate::generate::Generation`]. `is_closed` turns true when nobody listens any more (client
/// gone, Ctrl-C): the loop then cancels the request before sampling its next token.
pub trait EventSink {
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
