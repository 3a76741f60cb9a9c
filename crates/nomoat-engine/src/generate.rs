//! Single-sequence generation for the CLI and tests (the llama2.c `generate` loop, with llama.cpp's
//! sampling): load a model ([`LoadedModel`]), open a [`Session`] (KV cache, scratch, logits), then
//! [`Session::generate`]: prompt in batches, then one token at a time with sampling, streaming the
//! text through a callback, stopping on end-of-generation tokens, stop strings or the limit.
//!
//! Once warm, the token loop allocates only the decoded text (and the log-prob lists when asked).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nomoat_gguf::{GgufError, GgufFile};
use nomoat_kernels::ThreadPool;
use nomoat_models::{Batch, KvCache, KvDtype, Model, ModelError, Scratch, SeqId};
use nomoat_tokenizer::{DecodeOptions, Tokenizer, TokenizerError};

use crate::sample::{log_softmax_top_n, SamplerChain, SamplingParams, TokenId};
use crate::stop::{FinishReason, StopStrings};

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
    #[error("forward pass: {0}")]
    Forward(#[from] ModelError),
    #[error(
        "the prompt has {prompt} tokens but the context holds {n_ctx}; shorten it or raise --ctx"
    )]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("empty prompt: give at least one token")]
    EmptyPrompt,
    #[error("token id {id} is outside the vocabulary (0..{n_vocab})")]
    BadToken { id: u32, n_vocab: usize },
}

/// A model file opened for generation: the mapped weights, the tokenizer and a thread pool.
pub struct LoadedModel {
    pub path: PathBuf,
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub pool: ThreadPool,
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
        let model = Model::load(Arc::new(file), Default::default()).map_err(|source| {
            GenerateError::Model {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(LoadedModel {
            path: path.to_path_buf(),
            model,
            tokenizer,
            pool: ThreadPool::new(n_threads.max(1)),
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

/// One sequence's state: its KV cache, the ids it holds, and reusable buffers.
pub struct Session {
    lm: Arc<LoadedModel>,
    kv: KvCache,
    seq: SeqId,
    scratch: Scratch,
    batch: Batch,
    logits: Vec<f32>,
    /// The last row of logits of the last evaluation (n_vocab).
    last: Vec<f32>,
    /// Ids whose K/V are in the cache, in order.
    cached: Vec<TokenId>,
    n_ctx: usize,
    n_batch: usize,
    /// Rows of logits one forward call may produce (bounds the logits buffer on big vocabularies).
    max_logit_rows: usize,
}

/// Logits buffers are capped at this many bytes per forward call.
const LOGITS_BUDGET_BYTES: usize = 128 << 20;
/// KV cache block size in tokens.
const KV_BLOCK: usize = 16;

impl Session {
    /// A session holding up to `n_ctx` tokens, evaluating prompts `n_batch` tokens per forward.
    pub fn new(
        lm: Arc<LoadedModel>,
        n_ctx: usize,
        n_batch: usize,
    ) -> Result<Session, GenerateError> {
        let n_ctx = n_ctx.max(1);
        let n_batch = n_batch.clamp(1, n_ctx);
        let cfg = lm.model.config();
        let n_vocab = cfg.n_vocab;
        let mut kv = lm.model.new_kv_cache(n_ctx, KV_BLOCK, KvDtype::F16)?;
        let seq = kv.alloc_seq();
        let scratch = Scratch::new(cfg, n_batch);
        let max_logit_rows = (LOGITS_BUDGET_BYTES / (4 * n_vocab.max(1))).clamp(1, n_batch);
        Ok(Session {
            kv,
            seq,
            scratch,
            batch: Batch::new(),
            logits: Vec::new(),
            last: vec![0.0; n_vocab],
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
        self.kv.total_bytes()
    }

    /// Empties the cache.
    pub fn clear(&mut self) -> Result<(), GenerateError> {
        self.truncate(0)
    }

    /// Keeps the first `len` cached tokens.
    pub fn truncate(&mut self, len: usize) -> Result<(), GenerateError> {
        let len = len.min(self.cached.len());
        self.kv
            .truncate(self.seq, len)
            .map_err(|e| GenerateError::Forward(e.into()))?;
        self.cached.truncate(len);
        Ok(())
    }

    /// Appends `tokens` to the sequence. `on_row(i, logits)` is called, in order, for every `i`
    /// in `want` (indices into `tokens`); the logits of the last token are also kept for
    /// [`Session::last_logits`] when it is in `want`.
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
            self.batch.clear();
            let mut rows = 0;
            let mut end = start;
            while end < tokens.len() && end - start < self.n_batch {
                let w = want.contains(&end);
                if w && rows == self.max_logit_rows {
                    break;
                }
                rows += usize::from(w);
                let pos = (self.cached.len() + end - start) as u32;
                self.batch.push(tokens[end], pos, self.seq, w);
                end += 1;
            }
            self.lm.model.forward(
                &self.lm.pool,
                &self.batch,
                &mut self.kv,
                &mut self.scratch,
                &mut self.logits,
            )?;
            self.cached.extend_from_slice(&tokens[start..end]);
            let mut row = 0;
            for i in start..end {
                if want.contains(&i) {
                    let r = &self.logits[row * n_vocab..(row + 1) * n_vocab];
                    if i + 1 == tokens.len() {
                        self.last.copy_from_slice(r);
                    }
                    on_row(i, r);
                    row += 1;
                }
            }
            start = end;
        }
        Ok(())
    }

    /// The logits after the last evaluated token (valid when that token's row was wanted).
    pub fn last_logits(&self) -> &[f32] {
        &self.last
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
        let mut chain = SamplerChain::new(p.sampling.clone(), n_vocab);
        for &t in prompt {
            chain.accept(t);
        }

        // Prompt: reuse the cached prefix, but always evaluate at least the last token (its
        // logits start generation), and everything with echo (every position's logits).
        let t0 = Instant::now();
        let reuse = if p.echo {
            0
        } else {
            common_prefix(&self.cached, prompt).min(prompt.len() - 1)
        };
        self.truncate(reuse)?;
        let todo = &prompt[reuse..];
        let mut prompt_logprobs = Vec::new();
        if p.echo {
            let n = p.logprobs;
            let last = todo.len() - 1;
            self.eval(todo, 0..todo.len(), &mut |i, row| {
                if i < last {
                    let mut top = Vec::with_capacity(n);
                    log_softmax_top_n(row, n, &mut top);
                    prompt_logprobs.push(top);
                }
            })?;
        } else {
            self.eval(todo, todo.len() - 1..todo.len(), &mut |_, _| {})?;
        }
        let prompt_ms = ms_since(t0);

        let t1 = Instant::now();
        let mut stops = StopStrings::new(p.stop.iter().cloned());
        let lm = Arc::clone(&self.lm);
        let vocab = lm.tokenizer.vocab();
        let mut decoder = nomoat_tokenizer::StreamDecoder::continuing(DecodeOptions::default());
        let mut tokens = Vec::with_capacity(p.max_tokens.min(self.n_ctx));
        let mut logprobs = Vec::new();
        let mut text = String::new();
        let mut finish = FinishReason::Length;
        let mut cancelled = false;
        let mut stopped_by_string = false;
        while tokens.len() < p.max_tokens {
            if p.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                cancelled = true;
                finish = FinishReason::Stop;
                break;
            }
            if p.logprobs > 0 {
                let mut top = Vec::with_capacity(p.logprobs);
                log_softmax_top_n(&self.last, p.logprobs, &mut top);
                logprobs.push(top);
            }
            let tok = chain.sample(&self.last);
            chain.accept(tok);
            tokens.push(tok);
            if !p.ignore_eos && lm.tokenizer.is_eog(tok) {
                finish = FinishReason::Stop;
                break;
            }
            let piece = decoder.push(vocab, tok);
            let before = text.len();
            let hit = stops.push(&piece, &mut text);
            if text.len() > before {
                on_text(&text[before..]);
            }
            if hit {
                stopped_by_string = true;
                finish = FinishReason::Stop;
                break;
            }
            if tokens.len() == p.max_tokens || self.cached.len() >= self.n_ctx {
                break;
            }
            self.eval(&[tok], 0..1, &mut |_, _| {})?;
        }
        if !stopped_by_string {
            let rest = decoder.finish(vocab);
            let before = text.len();
            if stops.push(&rest, &mut text) {
                finish = FinishReason::Stop;
            } else {
                stops.flush(&mut text);
            }
            if text.len() > before {
                on_text(&text[before..]);
            }
        }
        let generate_ms = ms_since(t1);
        let generated = tokens.len();
        Ok(Generation {
            prompt_tokens: prompt.to_vec(),
            tokens,
            text,
            finish,
            cancelled,
            prompt_logprobs,
            logprobs,
            timings: Timings {
                prompt_ms,
                generate_ms,
                prompt_evaluated: todo.len(),
                generated,
            },
        })
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn common_prefix(a: &[TokenId], b: &[TokenId]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
