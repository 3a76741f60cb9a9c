//! Constrained decoding: an output specification (JSON schema, any JSON object, a regex, a Lark
//! grammar) compiled once per request into a token mask the engine applies before sampling
//! (`nomoat_engine::sample::Constraint`), so the output always parses.
//!
//! The grammar engine is llguidance (MIT; what OpenAI, vLLM, SGLang and llama.cpp use): a lexer
//! over the token trie and an Earley parser, computing the set of allowed tokens per step in tens
//! of microseconds. What nomoat adds is the bridge to its tokenizer ([`Grammars::new`] builds the
//! trie from the vocabulary once per model), the mapping of every end-of-generation token to the
//! grammar's end, and errors that say what was wrong with a schema.
//!
//! Limits: llguidance's [`ParserLimits`] defaults (grammar size 500k symbols, 50k Earley items and
//! 200k lexer fuel per token mask, 250k lexer states), plus [`MAX_SPEC_BYTES`] on the input.

use std::sync::Arc;

use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::{Matcher, ParserFactory};
use nomoat_engine::sample::{Constraint, ConstraintBox};
use nomoat_tokenizer::{attr, Tokenizer};
use serde_json::Value;
use toktrie::{ApproximateTokEnv, TokRxInfo, TokTrie};

/// Largest schema / grammar / regex text accepted (bytes).
pub const MAX_SPEC_BYTES: usize = 256 << 10;

/// What the output must be.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputSpec {
    /// Any JSON object (`response_format: {"type": "json_object"}`).
    JsonObject,
    /// JSON matching this schema (`json_schema`); llguidance's subset of JSON Schema.
    JsonSchema(Value),
    /// A grammar in llguidance's Lark syntax (may embed `%json{…}` schemas).
    Lark(String),
    /// Text matching this regex (whole output).
    Regex(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GrammarError {
    /// The schema, grammar or regex is not usable; the message says why (for a schema: which
    /// keyword is not supported).
    #[error("{0}")]
    Invalid(String),
    #[error("the {what} is {got} bytes; the limit is {limit}")]
    TooLarge {
        what: &'static str,
        got: usize,
        limit: usize,
    },
    /// The vocabulary could not be turned into a token trie.
    #[error("cannot set up constrained decoding for this vocabulary: {0}")]
    Vocabulary(String),
}

/// Per-model state: the token trie and llguidance's parser factory. Build once, share.
pub struct Grammars {
    factory: Arc<ParserFactory>,
    eog: Arc<[u32]>,
}

impl std::fmt::Debug for Grammars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grammars").field("eog", &self.eog).finish()
    }
}

/// The bytes the grammar sees for each token: its text for normal, byte and user-defined tokens;
/// control, unknown and unused tokens are "special" (toktrie's 0xFF marker before their name),
/// so no grammar can spell them as text.
fn token_words(tok: &Tokenizer) -> Vec<Vec<u8>> {
    let v = tok.vocab();
    (0..tok.n_vocab() as u32)
        .map(|id| {
            let a = v.attr(id);
            let piece = tok.piece_bytes(id, true);
            if a & (attr::CONTROL | attr::UNKNOWN | attr::UNUSED) != 0 || piece.is_empty() {
                let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                w.extend_from_slice(v.token_text(id).as_bytes());
                w
            } else {
                piece.to_vec()
            }
        })
        .collect()
}

impl Grammars {
    /// The grammar side of a model's vocabulary (a few hundred milliseconds for a 262k
    /// vocabulary; done once per model).
    pub fn new(tok: &Tokenizer) -> Result<Grammars, GrammarError> {
        let n = u32::try_from(tok.n_vocab())
            .map_err(|_| GrammarError::Vocabulary("vocabulary too large".into()))?;
        let eog: Vec<u32> = tok.eog_ids().to_vec();
        let eos = tok.eos().or_else(|| eog.first().copied()).ok_or_else(|| {
            GrammarError::Vocabulary(
                "the vocabulary has no end-of-generation token, so a grammar could never end"
                    .into(),
            )
        })?;
        let mut info = TokRxInfo::new(n, eos);
        info.tok_bos = tok.bos();
        let words = token_words(tok);
        let mut ends = eog.clone();
        if !ends.contains(&eos) {
            ends.push(eos);
        }
        let trie = TokTrie::from(&info, &words).with_eos_tokens(&ends);
        let env: toktrie::TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory =
            ParserFactory::new_simple(&env).map_err(|e| GrammarError::Vocabulary(e.to_string()))?;
        factory.quiet();
        *factory.limits_mut() = ParserLimits::default();
        Ok(Grammars {
            factory: Arc::new(factory),
            eog: ends.into(),
        })
    }

    /// Compiles `spec`; the result hands out one [`ConstraintBox`] per sequence.
    pub fn compile(&self, spec: &OutputSpec) -> Result<Compiled, GrammarError> {
        let grammar = match spec {
            OutputSpec::JsonObject => TopLevelGrammar::from_json_schema(bounded_whitespace(
                serde_json::json!({"type": "object"}),
            )),
            OutputSpec::JsonSchema(s) => {
                let len = s.to_string().len();
                check_len("JSON schema", len)?;
                if !s.is_object() && !s.is_boolean() {
                    return Err(GrammarError::Invalid(
                        "a JSON schema is an object (or true/false)".into(),
                    ));
                }
                TopLevelGrammar::from_json_schema(bounded_whitespace(s.clone()))
            }
            OutputSpec::Lark(g) => {
                check_len("grammar", g.len())?;
                TopLevelGrammar::from_lark(g.clone())
            }
            OutputSpec::Regex(r) => {
                check_len("regex", r.len())?;
                TopLevelGrammar::from_regex(r)
            }
        };
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| GrammarError::Invalid(e.to_string()))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(GrammarError::Invalid(e));
        }
        Ok(Compiled {
            matcher,
            eog: self.eog.clone(),
        })
    }
}

/// Whitespace between JSON tokens, at most this much per gap: pretty-printed output stays
/// possible (models write better JSON the way they saw it), but a model cannot wander into an
/// endless run of blanks, which llguidance's default (`[ \t\n\r]+`) would allow.
pub const JSON_WHITESPACE: &str = r"[\x20\x0A\x0D\x09]{1,24}";

/// The schema with nomoat's whitespace bound, unless it sets its own `x-guidance` options.
fn bounded_whitespace(mut schema: Value) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.entry("x-guidance")
            .or_insert_with(|| serde_json::json!({"whitespace_pattern": JSON_WHITESPACE}));
        return schema;
    }
    // `true` / `false`: any value / nothing.
    match schema {
        Value::Bool(true) => {
            serde_json::json!({"x-guidance": {"whitespace_pattern": JSON_WHITESPACE}})
        }
        other => other,
    }
}

fn check_len(what: &'static str, got: usize) -> Result<(), GrammarError> {
    if got > MAX_SPEC_BYTES {
        return Err(GrammarError::TooLarge {
            what,
            got,
            limit: MAX_SPEC_BYTES,
        });
    }
    Ok(())
}

/// A compiled output spec in its initial state.
pub struct Compiled {
    matcher: Matcher,
    eog: Arc<[u32]>,
}

impl Compiled {
    /// A fresh constraint for one sequence.
    pub fn constraint(&self) -> ConstraintBox {
        ConstraintBox(Box::new(Guided {
            matcher: self.matcher.deep_clone(),
            eog: self.eog.clone(),
        }))
    }
}

/// One sequence's grammar state.
struct Guided {
    matcher: Matcher,
    /// Every end-of-generation id; the grammar treats them all as its end.
    eog: Arc<[u32]>,
}

impl Constraint for Guided {
    fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
        let vob = self.matcher.compute_mask().map_err(|e| e.to_string())?;
        if vob.is_zero() {
            return Err("the grammar allows no token here".into());
        }
        let words = vob.as_slice();
        for (w, chunk) in logits.chunks_mut(32).enumerate() {
            let bits = words.get(w).copied().unwrap_or(0);
            if bits == u32::MAX {
                continue;
            }
            for (b, l) in chunk.iter_mut().enumerate() {
                if bits & (1 << b) == 0 {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, token: u32) -> Result<bool, String> {
        self.matcher
            .consume_token(token)
            .map_err(|e| e.to_string())?;
        Ok(self.eog.contains(&token) || self.matcher.is_stopped())
    }

    fn fork(&self) -> Box<dyn Constraint> {
        Box::new(Guided {
            matcher: self.matcher.deep_clone(),
            eog: self.eog.clone(),
        })
    }
}

/// Where a lazy constraint starts: when the generated text contains `text` (only at its very
/// start, after whitespace, when `at_start`), outside a Markdown code fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub text: String,
    pub at_start: bool,
}

/// Most bytes of output a lazy constraint keeps to look for its trigger; past this it stops
/// looking (the reply is free text) rather than grow without bound.
const MAX_LAZY_BYTES: usize = 1 << 20;

impl Compiled {
    /// A constraint that lets the model write freely until one of `triggers` appears in its
    /// output, then enforces the grammar from the trigger's first byte (the grammar must begin
    /// with the trigger) to the end. The text from the trigger on is fed to the grammar: as the
    /// tokens that were generated when the trigger starts a token, else re-tokenized from the
    /// trigger's byte; if the grammar refuses it, the reply stays unconstrained.
    pub fn lazy_constraint(&self, triggers: &[Trigger]) -> ConstraintBox {
        ConstraintBox(Box::new(Lazy {
            start: Some(self.matcher.deep_clone()),
            active: None,
            eog: self.eog.clone(),
            triggers: triggers.to_vec().into(),
            text: Vec::new(),
            tokens: Vec::new(),
            fences: 0,
            fence_scan: 0,
        }))
    }
}

/// One sequence's lazy grammar: waiting for a trigger (`start` holds the grammar's initial
/// state), then enforcing (`active`); both `None` once it gave up.
struct Lazy {
    start: Option<Matcher>,
    active: Option<Guided>,
    eog: Arc<[u32]>,
    triggers: Arc<[Trigger]>,
    /// Output so far (special tokens as their text).
    text: Vec<u8>,
    /// (token, offset of its first byte in `text`) for every accepted token.
    tokens: Vec<(u32, usize)>,
    /// Code fences (```) seen in `text[..fence_scan]`.
    fences: usize,
    fence_scan: usize,
}

impl Lazy {
    /// The earliest trigger occurrence that ends in the newest token (its bytes start at
    /// `old_len`), outside a code fence.
    fn find_trigger(&mut self, old_len: usize) -> Option<usize> {
        let mut best: Option<usize> = None;
        let triggers = self.triggers.clone();
        for t in triggers.iter() {
            let pat = t.text.as_bytes();
            if pat.is_empty() || pat.len() > self.text.len() {
                continue;
            }
            let from = old_len.saturating_sub(pat.len() - 1);
            let mut p = from;
            while p + pat.len() <= self.text.len() {
                if &self.text[p..p + pat.len()] == pat
                    && (!t.at_start || self.text[..p].iter().all(u8::is_ascii_whitespace))
                    && !self.in_fence(p)
                {
                    best = Some(best.map_or(p, |b| b.min(p)));
                    break;
                }
                p += 1;
            }
        }
        best
    }

    /// Whether byte `p` is inside a ``` fence (an odd number of fences before it).
    fn in_fence(&mut self, p: usize) -> bool {
        // Fences are counted incrementally up to the last complete position.
        let end = p.min(self.text.len());
        if end < self.fence_scan {
            let n = self.text[..end].windows(3).filter(|w| w == b"```").count();
            return n % 2 == 1;
        }
        let mut i = self.fence_scan;
        while i + 3 <= end {
            if &self.text[i..i + 3] == b"```" {
                self.fences += 1;
                i += 3;
            } else {
                i += 1;
            }
        }
        self.fence_scan = i;
        self.fences % 2 == 1
    }

    /// Starts the grammar at byte `p` of the output. False when the grammar refuses the text.
    fn start_at(&mut self, p: usize) -> bool {
        let Some(mut m) = self.start.take() else {
            return false;
        };
        let ids: Vec<u32> = match self.tokens.iter().position(|&(_, off)| off == p) {
            Some(k) => self.tokens[k..].iter().map(|&(id, _)| id).collect(),
            None => match m.tok_env() {
                Ok(env) => env.tok_trie().greedy_tokenize(&self.text[p..]),
                Err(_) => return false,
            },
        };
        if m.consume_tokens(&ids).is_err() || m.is_error() {
            return false;
        }
        self.active = Some(Guided {
            matcher: m,
            eog: self.eog.clone(),
        });
        true
    }
}

impl Constraint for Lazy {
    fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
        match &mut self.active {
            Some(g) => g.mask(logits),
            None => Ok(()),
        }
    }

    fn accept(&mut self, token: u32) -> Result<bool, String> {
        if let Some(g) = &mut self.active {
            return g.accept(token);
        }
        let Some(m) = &self.start else {
            return Ok(false);
        };
        let bytes = match m.tok_env() {
            Ok(env) => {
                let b = env.tok_trie().token(token);
                // toktrie marks special tokens with a leading 0xFF; their text follows.
                b.strip_prefix(&[0xFF]).unwrap_or(b).to_vec()
            }
            Err(_) => return Ok(false),
        };
        if self.text.len() + bytes.len() > MAX_LAZY_BYTES {
            self.start = None;
            return Ok(false);
        }
        let old_len = self.text.len();
        self.tokens.push((token, old_len));
        self.text.extend_from_slice(&bytes);
        if let Some(p) = self.find_trigger(old_len) {
            if !self.start_at(p) {
                self.start = None;
            }
            if let Some(g) = &self.active {
                return Ok(g.matcher.is_stopped());
            }
        }
        Ok(false)
    }

    fn fork(&self) -> Box<dyn Constraint> {
        Box::new(Lazy {
            start: self.start.as_ref().map(Matcher::deep_clone),
            active: self.active.as_ref().map(|g| Guided {
                matcher: g.matcher.deep_clone(),
                eog: g.eog.clone(),
            }),
            eog: self.eog.clone(),
            triggers: self.triggers.clone(),
            text: self.text.clone(),
            tokens: self.tokens.clone(),
            fences: self.fences,
            fence_scan: self.fence_scan,
        })
    }
}
