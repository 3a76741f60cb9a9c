//! Single-sequence generation for the CLI and tests: load a model ([`LoadedModel`]), open a
//! [`Session`] (one sequence in a paged KV cache of its own), then [`Session::generate`].
//!
//! The session is the single-sequence driver of the one token loop ([`crate::token_loop`]):
//! every step it feeds its [`Sequence`] a chunk (at most `n_batch` tokens; the prompt in chunks,
//! then one token at a time), runs the [`Step`] and hands the logits to
//! [`Sequence::advance`], which samples, decodes, checks stops and limits exactly as the server
//! does. The events are collected into a [`Generation`] and the text streamed to a callback.
//! Between calls the KV cache keeps the sequence, so the next prompt only evaluates the tokens
//! after its longest common prefix with the cached ones (a chat's next turn).
//!
//! [`Session::eval`] feeds raw tokens through the same [`Step`] (perplexity, bench).
//!
//! Once warm, the token loop allocates only the decoded text (and the log-prob lists when asked).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nomoat_gguf::{GgufError, GgufFile};
use nomoat_models::{KvError, LoadOptions, Model, ModelError, SeqId};
use nomoat_tokenizer::{Tokenizer, TokenizerError};

use crate::paged::{PagedRunner, TokenizerVocab};
use crate::request::{Event, EventSink, GenRequest};
use crate::runner::{ModelRunner, Vocab};
use crate::sample::{SamplingParams, TokenId};
use crate::stop::FinishReason;
use crate::token_loop::{Outcome, Sequence, Step, StepError};

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: GgufError,
    },
    #[error("{}: {source}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: ModelError,
    },
    #[error("{}: tokenizer: {source}", path.display())]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: TokenizerError,
    },
    #[error("cannot set up the KV cache: {0}")]
    Setup(#[from] ModelError),
    #[error("KV cache: {0}")]
    Kv(#[from] KvError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(
        "the prompt has {prompt} tokens but the context holds {n_ctx}; shorten it or raise --ctx"
    )]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("empty prompt: give at least one token")]
    EmptyPrompt,
    #[error("token id {id} is outside the vocabulary (0..{n_vocab})")]
    BadToken { id: u32, n_vocab: usize },
}

/// A model file opened for generation: the model (weights on its compute backend) and the
/// tokenizer.
pub struct LoadedModel {
    pub path: PathBuf,
    pub model: Model,
    pub tokenizer: Tokenizer,
}

impl LoadedModel {
    /// Maps, validates and prepares `path`, with `n_threads` worker threads.
    pub fn load(path: &Path, n_threads: usize) -> Result<LoadedModel, GenerateError> {
        let file = GgufFile::open(path).map_err(|source| GenerateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let tokenizer =
            Tokenizer::from_gguf(file.gguf()).map_err(|source| GenerateError::Tokenizer {
                path: path.to_path_buf(),
                source,
            })?;
        let opts = LoadOptions {
            threads: n_threads.max(1),
            ..LoadOptions::default()
        };
        let model = Model::load(Arc::new(file), opts).map_err(|source| GenerateError::Model {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(LoadedModel {
            path: path.to_path_buf(),
            model,
            tokenizer,
        })
    }

    pub fn n_vocab(&self) -> usize {
        self.model.config().n_vocab
    }

    /// The file's `tokenizer.chat_template`, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.model
            .file()
            .gguf()
            .opt_str("tokenizer.chat_template")
            .ok()
            .flatten()
    }

    /// A metadata string (`general.name`, `general.license`, ...), if present.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.model.file().gguf().opt_str(key).ok().flatten()
    }

    /// Text to ids with the model's BOS rule (`add_special`), special tokens written as text
    /// (`<start_of_turn>`) parsed, as llama.cpp's tools do for prompts.
    pub fn tokenize_prompt(&self, text: &str) -> Vec<TokenId> {
        self.tokenizer.encode(text, true, true)
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Tokens to generate at most (0: only evaluate the prompt).
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// Top log-probs to report per generated step (0: none).
    pub logprobs: usize,
    /// Also report log-probs for the prompt positions (evaluates the whole prompt, no cache reuse).
    pub echo: bool,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// Set from elsewhere (Ctrl-C) to end generation after the current token.
    pub cancel: Option<Arc<AtomicBool>>,
    /// A grammar the output must follow (`--json-schema`, `--grammar`).
    pub constraint: Option<crate::request::ConstraintBox>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            logprobs: 0,
            echo: false,
            ignore_eos: false,
            cancel: None,
            constraint: None,
        }
    }
}

/// Wall-clock times of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub prompt_ms: f64,
    pub generate_ms: f64,
    /// Prompt tokens actually evaluated (the rest came from the cache).
    pub prompt_evaluated: usize,
    pub generated: usize,
}

impl Timings {
    pub fn prompt_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_evaluated, self.prompt_ms)
    }
    pub fn generate_tokens_per_second(&self) -> f64 {
        per_second(self.generated, self.generate_ms)
    }
}

fn per_second(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// `(token, natural log-probability)`, most likely first.
pub type TopLogprobs = Vec<(TokenId, f64)>;

/// The result of [`Session::generate`].
#[derive(Debug, Clone)]
pub struct Generation {
    pub prompt_tokens: Vec<TokenId>,
    /// Generated ids, including a final end-of-generation token or the token that completed a
    /// stop string.
    pub tokens: Vec<TokenId>,
    /// Generated text, without end-of-generation tokens and without the stop string.
    pub text: String,
    pub finish: FinishReason,
    /// Ended by [`GenerateParams::cancel`].
    pub cancelled: bool,
    /// With `echo`: entry `i` is the distribution predicting prompt token `i + 1`.
    pub prompt_logprobs: Vec<TopLogprobs>,
    /// One entry per generated token, when `logprobs > 0`.
    pub logprobs: Vec<TopLogprobs>,
    pub timings: Timings,
}

/// One sequence in a KV cache of its own, and the reusable buffers of its steps.
pub struct Session {
    lm: Arc<LoadedModel>,
    runner: PagedRunner,
    vocab: TokenizerVocab,
    seq: SeqId,
    step: Step,
    /// Ids whose K/V are in the cache, in order.
    cached: Vec<TokenId>,
    n_ctx: usize,
    n_batch: usize,
    /// Rows of logits one forward call may produce (bounds the logits buffer on big vocabularies).
    max_logit_rows: usize,
}

/// Logits buffers are capped at this many bytes per forward call.
const LOGITS_BUDGET_BYTES: usize = 128 << 20;

impl Session {
    /// A session holding up to `n_ctx` tokens, evaluating prompts `n_batch` tokens per forward.
    pub fn new(
        lm: Arc<LoadedModel>,
        n_ctx: usize,
        n_batch: usize,
    ) -> Result<Session, GenerateError> {
        let n_ctx = n_ctx.max(1);
        let n_batch = n_batch.clamp(1, n_ctx);
        let n_vocab = lm.n_vocab();
        let mut runner = PagedRunner::new(lm.clone(), n_ctx, n_ctx, n_batch)?;
        let seq = runner
            .alloc_seq()
            .ok_or(KvError::BadGeometry("no sequence slot".into()))?;
        let max_logit_rows = (LOGITS_BUDGET_BYTES / (4 * n_vocab.max(1))).clamp(1, n_batch);
        Ok(Session {
            vocab: TokenizerVocab { lm: lm.clone() },
            runner,
            seq,
            step: Step::new(),
            cached: Vec::with_capacity(n_ctx),
            n_ctx,
            n_batch,
            max_logit_rows,
            lm,
        })
    }

    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.lm
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Tokens currently in the cache.
    pub fn cached(&self) -> &[TokenId] {
        &self.cached
    }

    /// Bytes of the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.runner.kv_bytes()
    }

    /// Empties the cache.
    pub fn clear(&mut self) -> Result<(), GenerateError> {
        self.truncate(0)
    }

    /// Keeps the first `len` cached tokens.
    pub fn truncate(&mut self, len: usize) -> Result<(), GenerateError> {
        let len = len.min(self.cached.len());
        self.runner.truncate(self.seq, len)?;
        self.cached.truncate(len);
        Ok(())
    }

    /// Appends `tokens` to the sequence, through the same [`Step`] as generation (at most
    /// `n_batch` tokens and `max_logit_rows` wanted rows per forward). `on_row(i, logits)` is
    /// called, in order, for every `i` in `want` (indices into `tokens`; `logits` is one row of
    /// n_vocab floats).
    pub fn eval(
        &mut self,
        tokens: &[TokenId],
        want: Range<usize>,
        on_row: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<(), GenerateError> {
        let n_vocab = self.lm.n_vocab();
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(GenerateError::BadToken { id, n_vocab });
        }
        if self.cached.len() + tokens.len() > self.n_ctx {
            return Err(GenerateError::PromptTooLong {
                prompt: self.cached.len() + tokens.len(),
                n_ctx: self.n_ctx,
            });
        }
        let mut start = 0;
        while start < tokens.len() {
            // Up to n_batch tokens, and no more wanted rows than the logits budget allows.
            self.step.clear();
            let mut end = start;
            while end < tokens.len() && end - start < self.n_batch {
                let w = want.contains(&end);
                if w && self.step.n_rows() == self.max_logit_rows {
                    break;
                }
                let pos = (self.cached.len() + end - start) as u32;
                self.step.push_token(tokens[end], pos, self.seq, w);
                end += 1;
            }
            let result = self.step.forward(&mut self.runner);
            if result.is_err() {
                // The KV may hold part of the chunk: forget the sequence rather than guess.
                self.clear()?;
            }
            result?;
            self.cached.extend_from_slice(&tokens[start..end]);
            let mut row = 0;
            for i in start..end {
                if want.contains(&i) {
                    on_row(i, self.step.row(row, n_vocab));
                    row += 1;
                }
            }
            start = end;
        }
        Ok(())
    }

    /// Generates a continuation of `prompt`. The cache keeps its longest common prefix with the
    /// prompt (so a chat's next turn only evaluates the new tokens). `on_text` receives the text
    /// as it becomes final (never part of a stop string).
    pub fn generate(
        &mut self,
        prompt: &[TokenId],
        p: &GenerateParams,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, GenerateError> {
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if prompt.len() > self.n_ctx {
            return Err(GenerateError::PromptTooLong {
                prompt: prompt.len(),
                n_ctx: self.n_ctx,
            });
        }
        let n_vocab = self.lm.n_vocab();
        if let Some(&id) = prompt.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(GenerateError::BadToken { id, n_vocab });
        }
        let req = GenRequest {
            prompt: prompt.to_vec(),
            max_tokens: p.max_tokens,
            sampling: p.sampling.clone(),
            stop: p.stop.clone(),
            logprobs: (p.logprobs > 0).then_some(p.logprobs),
            prompt_logprobs: p.echo,
            ignore_eos: p.ignore_eos,
            constraint: p.constraint.clone(),
            render_special: false,
        };
        let mut seq = {
            let decoder = self.vocab.decoder(req.render_special);
            Sequence::new(req, n_vocab, decoder)
        };

        // Prompt: reuse the cached prefix, but always evaluate at least the last token (its
        // logits start generation), and everything with echo (every position's logits).
        let t0 = Instant::now();
        let reuse = if p.echo {
            0
        } else {
            common_prefix(&self.cached, prompt).min(prompt.len() - 1)
        };
        self.truncate(reuse)?;
        seq.set_reused(reuse);
        let mut sink = Collect {
            out: Generation {
                prompt_tokens: prompt.to_vec(),
                tokens: Vec::with_capacity(p.max_tokens.min(self.n_ctx)),
                text: String::new(),
                finish: FinishReason::Length,
                cancelled: false,
                prompt_logprobs: Vec::new(),
                logprobs: Vec::new(),
                timings: Timings {
                    prompt_evaluated: prompt.len() - reuse,
                    ..Timings::default()
                },
            },
            on_text,
            cancel: p.cancel.as_deref(),
        };
        let mut t1: Option<Instant> = None;
        let outcome = loop {
            self.step.clear();
            let n = seq.chunk_len(self.n_batch, self.max_logit_rows);
            if n == 0 {
                // Not reachable (a finished sequence is not stepped again); end cleanly.
                break Outcome::Finished;
            }
            let p = self.step.push_chunk(0, &seq, self.seq, n);
            let result = self.step.forward(&mut self.runner);
            if result.is_err() {
                self.cached.clear();
                self.runner.truncate(self.seq, 0)?;
            }
            result?;
            self.cached
                .extend_from_slice(&seq.tokens()[seq.n_computed()..seq.n_computed() + n]);
            if t1.is_none() && seq.n_computed() + n >= seq.n_prompt() {
                sink.out.timings.prompt_ms = ms_since(t0);
                t1 = Some(Instant::now());
            }
            let rows = self.step.rows(&p, n_vocab);
            match seq.advance(n, rows, n_vocab, self.n_ctx, &self.vocab, &mut sink) {
                Outcome::Continue => {}
                done => break done,
            }
        };
        let Collect {
            out: mut g,
            on_text,
            ..
        } = sink;
        if outcome == Outcome::Cancelled {
            // Ctrl-C: keep what was said, release what the stop strings held back.
            g.cancelled = true;
            g.finish = FinishReason::Stop;
            let before = g.text.len();
            seq.finish_text(&mut g.text);
            if g.text.len() > before {
                on_text(&g.text[before..]);
            }
        }
        g.timings.generate_ms = t1.map_or(0.0, ms_since);
        g.timings.generated = g.tokens.len();
        Ok(g)
    }
}

/// The single-sequence driver's [`EventSink`]: builds the [`Generation`], streams the text, and
/// reports Ctrl-C as a closed sink.
struct Collect<'a> {
    out: Generation,
    on_text: &'a mut dyn FnMut(&str),
    cancel: Option<&'a AtomicBool>,
}

impl EventSink for Collect<'_> {
    fn send(&mut self, ev: Event) -> bool {
        match ev {
            Event::PromptLogprobs(lp) => {
                // Entry 0 predicts nothing; entry i + 1 predicts prompt token i + 1.
                self.out.prompt_logprobs = lp
                    .into_iter()
                    .skip(1)
                    .map(|e| e.map(|t| t.top).unwrap_or_default())
                    .collect();
            }
            Event::Token { id, text, logprob } => {
                self.out.tokens.push(id);
                if let Some(lp) = logprob {
                    self.out.logprobs.push(lp.top);
                }
                if !text.is_empty() {
                    self.out.text.push_str(&text);
                    (self.on_text)(&text);
                }
            }
            Event::Done { finish_reason, .. } => self.out.finish = finish_reason,
            Event::Error(_) => {}
        }
        true
    }

    fn is_closed(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn common_prefix(a: &[TokenId], b: &[TokenId]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
