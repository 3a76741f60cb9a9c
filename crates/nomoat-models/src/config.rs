//! Hyperparameters read from GGUF metadata, with llama.cpp's key names and defaults.
//!
//! [`ModelConfig::from_gguf`] reads and sanity-checks every hyperparameter, collecting all errors
//! rather than stopping at the first. Limits are checked before anything is sized from a value.

use nomoat_backend::RopeMode;
use nomoat_gguf::{Gguf, Value};

use crate::registry::ArchDef;
use crate::ModelError;

/// Largest accepted training context length (tokens). Anything sized from the context (KV cache) is
/// also clamped separately by the runtime.
pub const MAX_CTX_TRAIN: u64 = 1 << 24;
/// Largest accepted embedding width, FFN width and vocabulary size.
pub const MAX_EMBD: u64 = 1 << 16;
pub const MAX_FF: u64 = 1 << 20;
pub const MAX_VOCAB: u64 = 1 << 22;
pub const MAX_LAYERS: u64 = 1024;
pub const MAX_HEADS: u64 = 1024;
/// Largest head dimension (the attention kernel's stack buffers).
pub const MAX_HEAD_DIM: u64 = nomoat_backend::MAX_HEAD_DIM as u64;

/// An architecture nomoat runs: a handle on its entry in the registry (`crate::registry`).
#[derive(Clone, Copy)]
pub struct Arch(&'static ArchDef);

impl Arch {
    /// From `general.architecture`.
    pub fn from_name(name: &str) -> Option<Arch> {
        crate::registry::find(name).map(Arch)
    }

    /// The GGUF name, also the key prefix (`llama.context_length`, ...).
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// RoPE pair ordering (adjacent pairs for LLaMA, NeoX halves for most others).
    pub fn rope_mode(self) -> RopeMode {
        self.0.rope_mode
    }

    /// Every architecture this build runs, by GGUF name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        crate::registry::ARCHITECTURES.iter().map(|d| d.name)
    }

    pub(crate) fn def(self) -> &'static ArchDef {
        self.0
    }
}

impl PartialEq for Arch {
    fn eq(&self, other: &Arch) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Arch {}

impl std::fmt::Debug for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

/// How RoPE frequencies are scaled for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (`rope.scaling.type = linear`).
    Linear {
        factor: f32,
    },
    /// Llama 3.1: per-frequency divisors (from `rope_freqs.weight` when the file has it, else
    /// computed from these numbers).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_ctx: u32,
    },
}

/// RoPE settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    pub mode: RopeMode,
    /// Rotated dims per head (`rope.dimension_count`, default the key head dim).
    pub n_rot: usize,
    /// `rope.freq_base` (default 10000).
    pub freq_base: f32,
    /// Gemma 3's sliding-window layers: `rope.freq_base_swa`, default 10000.
    pub freq_base_swa: f32,
    pub scaling: RopeScaling,
}

/// Token ids with a role, all checked to lie in the vocabulary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub eot: Option<u32>,
}

/// Everything the forward pass needs to know about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Per-head dims of K (and Q) and of V: `attention.key_length` / `value_length`, else
    /// `n_embd / n_head`.
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    pub n_ff: usize,
    pub n_ctx_train: u32,
    pub norm_eps: f32,
    pub rope: RopeConfig,
    /// `attention.sliding_window` (0 = none).
    pub sliding_window: u32,
    /// Per layer: does it use the sliding window (and the SWA RoPE base)?
    pub swa_layers: Vec<bool>,
    /// Multiplies `q·k` (1/sqrt(head_dim_k) unless the architecture says otherwise).
    pub attn_scale: f32,
    /// `final_logit_softcapping`: logits = c·tanh(logits/c).
    pub final_logit_softcap: Option<f32>,
    /// `attn_logit_softcapping`.
    pub attn_logit_softcap: Option<f32>,
    /// No `output.weight`: the LM head is `token_embd` (filled in by validation).
    pub tied_output: bool,
    pub special: SpecialTokens,
}

impl ModelConfig {
    /// Width of Q (all heads).
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim_k
    }
    /// Width of K (all KV heads).
    pub fn k_dim(&self) -> usize {
        self.n_head_kv * self.head_dim_k
    }
    /// Width of V (all KV heads).
    pub fn v_dim(&self) -> usize {
        self.n_head_kv * self.head_dim_v
    }
    /// Width of the attention output before `attn_output`.
    pub fn attn_out_dim(&self) -> usize {
        self.n_head * self.head_dim_v
    }

    /// Reads and checks the hyperparameters of a file (not its tensors: see
    /// [`crate::validate()`]). `n_vocab` is the length of `tokenizer.ggml.tokens`, else
    /// `token_embd.weight`'s row count.
    pub fn from_gguf(g: &Gguf) -> Result<ModelConfig, Vec<ModelError>> {
        match Self::read(g) {
            (Some(cfg), errs) if errs.is_empty() => Ok(cfg),
            (_, errs) => Err(errs),
        }
    }

    /// All hyperparameter problems, and the config when its shape is usable (only special-token
    /// problems, if any), so validation can go on to check the tensors.
    pub(crate) fn read(g: &Gguf) -> (Option<ModelConfig>, Vec<ModelError>) {
        let mut r = Reader {
            g,
            arch: "",
            errs: Vec::new(),
        };
        let arch_name = match g.architecture() {
            Ok(a) => a.to_owned(),
            Err(e) => return (None, vec![ModelError::from_lookup(e)]),
        };
        let Some(arch) = Arch::from_name(&arch_name) else {
            return (
                None,
                vec![ModelError::UnknownArchitecture {
                    arch: arch_name,
                    known: Arch::names().collect::<Vec<_>>().join(", "),
                }],
            );
        };
        let a = arch.name();
        r.arch = a;
        let k = |s: &str| format!("{a}.{s}");

        let n_embd = r.req_int(&k("embedding_length"), MAX_EMBD);
        let n_layer = r.req_int(&k("block_count"), MAX_LAYERS);
        let n_head = r.req_int(&k("attention.head_count"), MAX_HEADS);
        let n_head_kv = r
            .opt_int(&k("attention.head_count_kv"), MAX_HEADS)
            .or(n_head);
        let n_ff = r.req_int(&k("feed_forward_length"), MAX_FF);
        let n_ctx_train = r.req_int(&k("context_length"), MAX_CTX_TRAIN);
        let norm_eps = r.req_f32(&k("attention.layer_norm_rms_epsilon"), 0.0, 1.0, true);

        let key_len = r.opt_int(&k("attention.key_length"), MAX_HEAD_DIM);
        let val_len = r.opt_int(&k("attention.value_length"), MAX_HEAD_DIM);
        let mut head_dim = |explicit: Option<u64>, key: &str| -> Option<u64> {
            if explicit.is_some() {
                return explicit;
            }
            let (e, h) = (n_embd?, n_head?);
            if e % h != 0 {
                r.errs.push(ModelError::Inconsistent(format!(
                    "{a}.embedding_length {e} is not divisible by {a}.attention.head_count {h}, and {key} is absent"
                )));
                return None;
            }
            let d = e / h;
            if d > MAX_HEAD_DIM {
                r.errs.push(ModelError::Inconsistent(format!(
                    "head dimension {e}/{h} = {d} is above the limit {MAX_HEAD_DIM}"
                )));
                return None;
            }
            Some(d)
        };
        let hdk = head_dim(key_len, &k("attention.key_length"));
        let hdv = head_dim(val_len, &k("attention.value_length"));
        if let (Some(h), Some(kv)) = (n_head, n_head_kv) {
            if h % kv != 0 {
                r.errs.push(ModelError::Inconsistent(format!(
                    "{a}.attention.head_count {h} is not a multiple of {a}.attention.head_count_kv {kv}"
                )));
            }
        }

        // RoPE.
        let n_rot = r.opt_int(&k("rope.dimension_count"), MAX_HEAD_DIM).or(hdk);
        if let (Some(nr), Some(d)) = (n_rot, hdk) {
            if nr > d || nr % 2 != 0 {
                r.errs.push(ModelError::Inconsistent(format!(
                    "{a}.rope.dimension_count {nr} must be even and at most the head dimension {d}"
                )));
            }
        }
        let freq_base = r
            .opt_f32(&k("rope.freq_base"), 0.0, 1e12)
            .unwrap_or(10000.0);
        let freq_base_swa = r
            .opt_f32(&k("rope.freq_base_swa"), 0.0, 1e12)
            .unwrap_or(10000.0);
        let scaling = r.rope_scaling(a);

        let attn_scale = hdk.map_or(1.0, |d| 1.0 / (d as f32).sqrt());
        let final_logit_softcap = r.opt_f32(&k("final_logit_softcapping"), 0.0, 1e6);
        let attn_logit_softcap = r.opt_f32(&k("attn_logit_softcapping"), 0.0, 1e6);

        // Vocabulary size: the tokenizer's token list, else token_embd's rows.
        let n_vocab = match g.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => Some(a.len() as u64),
            Some(v) => {
                r.errs.push(ModelError::WrongType {
                    key: "tokenizer.ggml.tokens".into(),
                    expected: "array of strings".into(),
                    found: v.describe_type(),
                });
                None
            }
            None => g.tensor("token_embd.weight").map(|t| t.n_rows()),
        };
        let n_vocab = match n_vocab {
            Some(0) | None => {
                r.errs.push(ModelError::MissingKey {
                    key: "tokenizer.ggml.tokens".into(),
                });
                None
            }
            Some(n) if n > MAX_VOCAB => {
                r.errs.push(ModelError::BadValue {
                    key: "tokenizer.ggml.tokens".into(),
                    value: n.to_string(),
                    reason: format!("vocabulary above the limit of {MAX_VOCAB}"),
                });
                None
            }
            Some(n) => Some(n as usize),
        };
        let shape_ok = r.errs.is_empty();
        let special = r.special_tokens(n_vocab);
        if !shape_ok {
            return (None, r.errs);
        }
        // Every required value is Some here: a None always pushed an error.
        let (
            Some(n_vocab),
            Some(n_embd),
            Some(n_layer),
            Some(n_head),
            Some(n_head_kv),
            Some(hdk),
            Some(hdv),
            Some(n_ff),
            Some(n_ctx_train),
            Some(norm_eps),
            Some(n_rot),
        ) = (
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            hdk,
            hdv,
            n_ff,
            n_ctx_train,
            norm_eps,
            n_rot,
        )
        else {
            r.errs.push(ModelError::Inconsistent(
                "hyperparameters incomplete".into(),
            ));
            return (None, r.errs);
        };
        let cfg = ModelConfig {
            arch,
            n_vocab,
            n_embd: n_embd as usize,
            n_layer: n_layer as usize,
            n_head: n_head as usize,
            n_head_kv: n_head_kv as usize,
            head_dim_k: hdk as usize,
            head_dim_v: hdv as usize,
            n_ff: n_ff as usize,
            n_ctx_train: n_ctx_train as u32,
            norm_eps,
            rope: RopeConfig {
                mode: arch.rope_mode(),
                n_rot: n_rot as usize,
                freq_base,
                freq_base_swa,
                scaling,
            },
            sliding_window: 0,
            swa_layers: vec![false; n_layer as usize],
            attn_scale,
            final_logit_softcap,
            attn_logit_softcap,
            tied_output: g.tensor("output.weight").is_none(),
            special,
        };
        let mut cfg = cfg;
        (arch.def().hparams)(&mut r, &mut cfg);
        (Some(cfg), r.errs)
    }
}

/// Reads keys, pushing an error for each problem and returning `None` for unusable values.
/// Architectures' hyperparameter hooks get one to read their own keys.
pub(crate) struct Reader<'a> {
    g: &'a Gguf,
    /// The architecture's key prefix.
    arch: &'static str,
    errs: Vec<ModelError>,
}

impl Reader<'_> {
    /// `ARCH.name`, the architecture's key for `name`.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.arch)
    }

    fn bad(&mut self, key: &str, value: impl ToString, reason: impl Into<String>) {
        self.errs.push(ModelError::BadValue {
            key: key.to_owned(),
            value: value.to_string(),
            reason: reason.into(),
        });
    }

    /// An optional integer in `1..=max`.
    pub(crate) fn opt_int(&mut self, key: &str, max: u64) -> Option<u64> {
        let v = self.g.get(key)?;
        if !v.is_integer() {
            self.errs.push(ModelError::WrongType {
                key: key.to_owned(),
                expected: "integer".into(),
                found: v.describe_type(),
            });
            return None;
        }
        match v.as_u64() {
            Some(0) => {
                self.bad(key, 0, "must be at least 1");
                None
            }
            Some(n) if n <= max => Some(n),
            Some(n) => {
                self.bad(key, n, format!("above the limit of {max}"));
                None
            }
            None => {
                self.bad(key, v, "must be a positive integer");
                None
            }
        }
    }

    /// A required integer in `1..=max`.
    pub(crate) fn req_int(&mut self, key: &str, max: u64) -> Option<u64> {
        if !self.g.contains_key(key) {
            self.errs.push(ModelError::MissingKey {
                key: key.to_owned(),
            });
            return None;
        }
        self.opt_int(key, max)
    }

    /// An optional finite float in `(lo, hi]`.
    pub(crate) fn opt_f32(&mut self, key: &str, lo: f32, hi: f32) -> Option<f32> {
        let v = self.g.get(key)?;
        let f = match *v {
            Value::F32(f) => f,
            Value::F64(f) => f as f32,
            _ => {
                self.errs.push(ModelError::WrongType {
                    key: key.to_owned(),
                    expected: "f32".into(),
                    found: v.describe_type(),
                });
                return None;
            }
        };
        if !f.is_finite() || f <= lo || f > hi {
            self.bad(key, f, format!("must be a finite number in ({lo}, {hi}]"));
            return None;
        }
        Some(f)
    }

    pub(crate) fn req_f32(&mut self, key: &str, lo: f32, hi: f32, required: bool) -> Option<f32> {
        if required && !self.g.contains_key(key) {
            self.errs.push(ModelError::MissingKey {
                key: key.to_owned(),
            });
            return None;
        }
        self.opt_f32(key, lo, hi)
    }

    pub(crate) fn opt_string(&mut self, key: &str) -> Option<String> {
        match self.g.opt_str(key) {
            Ok(s) => s.map(str::to_owned),
            Err(e) => {
                self.errs.push(ModelError::from_lookup(e));
                None
            }
        }
    }

    fn rope_scaling(&mut self, a: &str) -> RopeScaling {
        let ty_key = format!("{a}.rope.scaling.type");
        let ty = self.opt_string(&ty_key);
        let factor_key = format!("{a}.rope.scaling.factor");
        let factor = self
            .opt_f32(&factor_key, 0.0, 1e6)
            .or_else(|| self.opt_f32(&format!("{a}.rope.scale_linear"), 0.0, 1e6));
        match ty.as_deref() {
            None | Some("none") => match (ty.is_none(), factor) {
                // Older files carry only `rope.scale_linear` / a factor without a type.
                (true, Some(f)) if f != 1.0 => RopeScaling::Linear { factor: f },
                _ => RopeScaling::None,
            },
            Some("linear") => match factor {
                Some(f) => RopeScaling::Linear { factor: f },
                None => RopeScaling::None,
            },
            Some("llama3") => {
                let orig = self
                    .opt_int(
                        &format!("{a}.rope.scaling.original_context_length"),
                        MAX_CTX_TRAIN,
                    )
                    .unwrap_or(8192) as u32;
                let low = self
                    .opt_f32(&format!("{a}.rope.scaling.low_freq_factor"), 0.0, 1e6)
                    .unwrap_or(1.0);
                let high = self
                    .opt_f32(&format!("{a}.rope.scaling.high_freq_factor"), 0.0, 1e6)
                    .unwrap_or(4.0);
                if high <= low {
                    self.bad(
                        &format!("{a}.rope.scaling.high_freq_factor"),
                        high,
                        "must be above low_freq_factor",
                    );
                }
                RopeScaling::Llama3 {
                    factor: factor.unwrap_or(8.0),
                    low_freq_factor: low,
                    high_freq_factor: high,
                    original_ctx: orig,
                }
            }
            Some(other) => {
                self.errs.push(ModelError::Unsupported(format!(
                    "RoPE scaling type `{other}` ({ty_key})"
                )));
                RopeScaling::None
            }
        }
    }

    /// Gemma 3's per-layer sliding-window flags: an explicit `sliding_window_pattern` (a period n:
    /// layer il is local unless il % n == n-1; or an array of bools), else llama.cpp's built-in
    /// period of 6.
    pub(crate) fn swa_pattern(&mut self, key: &str, layers: &mut [bool]) {
        let period = match self.g.get(key) {
            None => 6,
            Some(Value::Array(a)) => {
                if a.len() != layers.len() {
                    self.bad(
                        key,
                        format!("array of {}", a.len()),
                        format!("needs one flag per layer ({})", layers.len()),
                    );
                    return;
                }
                for (flag, v) in layers.iter_mut().zip(a) {
                    match v.as_bool() {
                        Some(b) => *flag = b,
                        None => {
                            self.bad(key, v, "array must hold booleans");
                            return;
                        }
                    }
                }
                return;
            }
            Some(_) => match self.opt_int(key, MAX_LAYERS) {
                Some(n) => n as usize,
                None => return,
            },
        };
        for (il, flag) in layers.iter_mut().enumerate() {
            *flag = il % period < period - 1;
        }
    }

    fn special_tokens(&mut self, n_vocab: Option<usize>) -> SpecialTokens {
        let mut get = |name: &str| -> Option<u32> {
            let key = format!("tokenizer.ggml.{name}_token_id");
            let v = self.g.get(&key)?;
            let Some(id) = v.as_u64().filter(|_| v.is_integer()) else {
                // Some converters write -1 for "none".
                if v.as_i64() == Some(-1) {
                    return None;
                }
                self.bad(&key, v, "must be a token id");
                return None;
            };
            match n_vocab {
                Some(n) if id >= n as u64 => {
                    self.errs.push(ModelError::SpecialTokenOutOfRange {
                        key,
                        id,
                        n_vocab: n,
                    });
                    None
                }
                _ => u32::try_from(id).ok(),
            }
        };
        let s = SpecialTokens {
            bos: get("bos"),
            eos: get("eos"),
            unk: get("unknown"),
            pad: get("padding"),
            eot: get("eot"),
        };
        for name in [
            "seperator",
            "sep",
            "cls",
            "mask",
            "eom",
            "fim_pre",
            "fim_suf",
            "fim_mid",
        ] {
            get(name);
        }
        s
    }
}
