//! The vocabulary: token texts, scores, attributes, merges, special ids and flags, with llama.cpp's
//! defaults and fix-ups (`llama_vocab::impl::load`), validated as hostile input.

use std::borrow::Cow;

use crate::error::TokenizerError;
use crate::map::{MergeMap, TokenMap};
use crate::presets::{self, PreType};
use crate::unicode;

/// Most tokens a vocabulary may have (ids must fit llama.cpp's `int32`; real vocabularies have < 1 M).
pub const MAX_TOKENS: usize = 1 << 24;
/// Longest token text accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 1 << 16;
/// Most merges accepted.
pub const MAX_MERGES: usize = 1 << 24;

/// Token attribute bits (llama.cpp's `llama_token_attr`).
pub mod attr {
    pub const UNDEFINED: u16 = 0;
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const NORMALIZED: u16 = 1 << 6;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
    pub const SINGLE_WORD: u16 = 1 << 9;
}

/// `tokenizer.ggml.token_type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    fn attr(t: i32) -> u16 {
        match t {
            1 => attr::NORMAL,
            2 => attr::UNKNOWN,
            3 => attr::CONTROL,
            4 => attr::USER_DEFINED,
            5 => attr::UNUSED,
            6 => attr::BYTE,
            _ => attr::UNDEFINED,
        }
    }
}

/// The tokenizer algorithm of a vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabKind {
    /// SentencePiece-style score merging with byte fallback (`tokenizer.ggml.model = llama`).
    Spm,
    /// Byte-level BPE (`gpt2`) or, with `escape_whitespaces`, Gemma 4's `▁` BPE (`gemma4`).
    Bpe,
}

/// Everything read from `tokenizer.ggml.*`, before validation. Absent keys are `None`. Texts
/// borrow from the GGUF metadata when read from a file (no copy per token).
#[derive(Clone, Debug, Default)]
pub struct VocabParts<'a> {
    /// `tokenizer.ggml.model`.
    pub model: String,
    /// `tokenizer.ggml.pre`.
    pub pre: Option<String>,
    pub tokens: Vec<Cow<'a, str>>,
    pub scores: Option<Vec<f32>>,
    pub token_types: Option<Vec<i32>>,
    pub merges: Option<Vec<Cow<'a, str>>>,
    pub bos: Option<u64>,
    pub eos: Option<u64>,
    pub eot: Option<u64>,
    pub eom: Option<u64>,
    pub unk: Option<u64>,
    pub sep: Option<u64>,
    pub pad: Option<u64>,
    pub mask: Option<u64>,
    pub fim_pre: Option<u64>,
    pub fim_suf: Option<u64>,
    pub fim_mid: Option<u64>,
    pub fim_pad: Option<u64>,
    pub fim_rep: Option<u64>,
    pub fim_sep: Option<u64>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_sep: Option<bool>,
    pub add_space_prefix: Option<bool>,
    /// `general.name` (llama.cpp sets per-token strip attributes for Phi-3 by name).
    pub general_name: Option<String>,
}

/// Special token ids (`None` = the vocabulary has none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
    /// The newline token (llama.cpp's `linefeed_id`), when found.
    pub newline: Option<u32>,
}

/// A validated vocabulary.
#[derive(Clone, Debug)]
pub struct Vocab {
    pub(crate) kind: VocabKind,
    pub(crate) model: String,
    pub(crate) pre: String,
    pub(crate) pre_type: PreType,
    /// All token texts, concatenated; token `i` is `text[off[i]..off[i + 1]]`.
    text: String,
    off: Vec<u32>,
    pub(crate) scores: Vec<f32>,
    pub(crate) attrs: Vec<u16>,
    pub(crate) map: TokenMap,
    pub(crate) merges: MergeMap,
    pub(crate) special: SpecialIds,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    pub(crate) add_sep: bool,
    pub(crate) add_space_prefix: bool,
    pub(crate) ignore_merges: bool,
    pub(crate) clean_spaces: bool,
    pub(crate) escape_whitespaces: bool,
    pub(crate) byte_encode: bool,
    pub(crate) eog: Vec<u32>,
    /// Control, user-defined and unknown tokens, longest text first (llama.cpp's
    /// `cache_special_tokens`; ties keep id order).
    pub(crate) special_cache: Vec<u32>,
    /// `<0xXX>` byte tokens (SPM and Gemma 4) or GPT-2 byte characters (byte-level BPE).
    pub(crate) byte_tokens: [Option<u32>; 256],
    /// Piece of every token with `special = true` (llama.cpp's `cache_token_to_piece`).
    piece_buf: Vec<u8>,
    piece_off: Vec<u32>,
}

fn check_id(
    key: &'static str,
    v: Option<u64>,
    n: usize,
) -> Result<Option<Option<u32>>, TokenizerError> {
    match v {
        None => Ok(None),
        Some(id) if (id as usize) < n && id < u64::from(u32::MAX) => Ok(Some(Some(id as u32))),
        Some(id) => Err(TokenizerError::SpecialIdOutOfRange {
            key,
            id,
            n_tokens: n,
        }),
    }
}

impl Vocab {
    /// Reads and validates the `tokenizer.ggml.*` keys of a GGUF file.
    pub fn from_gguf(g: &nomoat_gguf::Gguf) -> Result<Vocab, TokenizerError> {
        Vocab::from_parts(VocabParts::from_gguf(g)?)
    }

    /// Validates `parts` and builds the vocabulary with llama.cpp's defaults for absent keys.
    pub fn from_parts(p: VocabParts<'_>) -> Result<Vocab, TokenizerError> {
        let n = p.tokens.len();
        if n == 0 {
            return Err(TokenizerError::Empty);
        }
        if n > MAX_TOKENS {
            return Err(TokenizerError::TooManyTokens { n, max: MAX_TOKENS });
        }
        // Model type and the defaults it implies.
        let (kind, mut pre) = match p.model.as_str() {
            "llama" => (VocabKind::Spm, "default".to_string()),
            "gpt2" => (
                VocabKind::Bpe,
                p.pre
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "default".into()),
            ),
            "gemma4" => (VocabKind::Bpe, "gemma4".to_string()),
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };
        let mut sp = SpecialIds::default();
        let (add_bos, mut add_space_prefix, mut clean_spaces);
        let (mut ignore_merges, mut escape_ws, mut byte_encode) = (false, true, true);
        let pre_type;
        clean_spaces = false;
        add_space_prefix = false;
        match kind {
            VocabKind::Spm => {
                sp.bos = Some(1);
                sp.eos = Some(2);
                sp.unk = Some(0);
                add_bos = true;
                add_space_prefix = true;
                pre_type = PreType::Default;
                if let Some(pname) = &p.pre {
                    pre = pname.clone();
                }
            }
            VocabKind::Bpe => {
                if p.model == "gpt2" {
                    sp.bos = Some(11);
                    sp.eos = Some(11);
                }
                let cfg = presets::lookup(&pre)
                    .ok_or_else(|| TokenizerError::UnknownPreTokenizer(pre.clone()))?;
                pre_type = cfg.pre_type;
                clean_spaces = cfg.clean_spaces;
                ignore_merges = cfg.ignore_merges;
                add_bos = cfg.add_bos;
                escape_ws = cfg.escape_whitespaces;
                if cfg.bos_null {
                    sp.bos = None;
                }
                byte_encode = presets::expressions(pre_type).1;
            }
        }
        let add_space_prefix = p.add_space_prefix.unwrap_or(add_space_prefix);
        // Defaults that do not fit this vocabulary are dropped, as llama.cpp does.
        for d in [&mut sp.bos, &mut sp.eos, &mut sp.unk] {
            if d.is_some_and(|id| id as usize >= n) {
                *d = None;
            }
        }

        // Token texts into one buffer.
        let total: usize = p.tokens.iter().map(|t| t.len()).sum();
        let mut text = String::with_capacity(total);
        let mut off = Vec::with_capacity(n + 1);
        off.push(0u32);
        for (i, t) in p.tokens.iter().enumerate() {
            if t.len() > MAX_TOKEN_LEN {
                return Err(TokenizerError::TokenTooLong {
                    id: i,
                    len: t.len(),
                    max: MAX_TOKEN_LEN,
                });
            }
            if t.is_empty() {
                // llama.cpp renames empty tokens so that they stay distinct.
                text.push_str(&format!("[EMPTY_{i}]"));
            } else {
                text.push_str(t);
            }
            let end = u32::try_from(text.len())
                .map_err(|_| TokenizerError::TooManyTokens { n, max: MAX_TOKENS })?;
            off.push(end);
        }
        let tb = text.as_bytes();
        let tok = |i: u32| &tb[off[i as usize] as usize..off[i as usize + 1] as usize];
        let map =
            TokenMap::build(n, tok).map_err(|(first, id)| TokenizerError::DuplicateToken {
                id: id as usize,
                first,
                text: String::from_utf8_lossy(tok(id)).into_owned(),
            })?;

        let scores = match p.scores {
            Some(s) if s.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.scores",
                    got: s.len(),
                    n_tokens: n,
                })
            }
            Some(s) => s,
            None => vec![0.0; n],
        };
        let mut attrs: Vec<u16> = match p.token_types {
            Some(t) if t.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.token_type",
                    got: t.len(),
                    n_tokens: n,
                })
            }
            Some(t) => t.iter().map(|&v| TokenType::attr(v)).collect(),
            None => vec![attr::NORMAL; n],
        };

        // Merges → (left id, right id) → (rank, merged id).
        let merges = match (kind, p.merges) {
            (VocabKind::Spm, _) => MergeMap::default(),
            (VocabKind::Bpe, None) if pre == "kimi-k2" => MergeMap::default(),
            (VocabKind::Bpe, None) => return Err(TokenizerError::MissingMerges),
            (VocabKind::Bpe, Some(m)) => {
                if m.len() > MAX_MERGES {
                    return Err(TokenizerError::TooManyMerges {
                        n: m.len(),
                        max: MAX_MERGES,
                    });
                }
                let mut mm = MergeMap::with_capacity(m.len());
                let mut joined = Vec::with_capacity(64);
                for (rank, w) in m.iter().enumerate() {
                    let bad = |why| TokenizerError::InvalidMerge {
                        index: rank,
                        merge: w.to_string(),
                        why,
                    };
                    // llama.cpp splits at the first space after the first byte.
                    let pos = w
                        .as_bytes()
                        .iter()
                        .skip(1)
                        .position(|&b| b == b' ')
                        .map(|p| p + 1)
                        .ok_or_else(|| bad("has no space between its two parts"))?;
                    let (a, b) = (&w[..pos], &w[pos + 1..]);
                    let l = map
                        .get(a.as_bytes(), tok)
                        .ok_or_else(|| bad("names an unknown left token"))?;
                    let r = map
                        .get(b.as_bytes(), tok)
                        .ok_or_else(|| bad("names an unknown right token"))?;
                    joined.clear();
                    joined.extend_from_slice(a.as_bytes());
                    joined.extend_from_slice(b.as_bytes());
                    let id = map
                        .get(&joined, tok)
                        .ok_or_else(|| bad("makes a token that is not in the vocabulary"))?;
                    mm.insert_first(l, r, rank as u32, id);
                }
                mm
            }
        };

        // Explicit special ids (an out-of-range id is an error: the file is broken or hostile).
        macro_rules! set {
            ($field:ident, $key:literal) => {
                if let Some(v) = check_id($key, p.$field, n)? {
                    sp.$field = v;
                }
            };
        }
        set!(bos, "tokenizer.ggml.bos_token_id");
        set!(eos, "tokenizer.ggml.eos_token_id");
        set!(eot, "tokenizer.ggml.eot_token_id");
        set!(eom, "tokenizer.ggml.eom_token_id");
        set!(unk, "tokenizer.ggml.unknown_token_id");
        set!(sep, "tokenizer.ggml.seperator_token_id");
        set!(pad, "tokenizer.ggml.padding_token_id");
        set!(mask, "tokenizer.ggml.mask_token_id");
        set!(fim_pre, "tokenizer.ggml.fim_pre_token_id");
        set!(fim_suf, "tokenizer.ggml.fim_suf_token_id");
        set!(fim_mid, "tokenizer.ggml.fim_mid_token_id");
        set!(fim_pad, "tokenizer.ggml.fim_pad_token_id");
        set!(fim_rep, "tokenizer.ggml.fim_rep_token_id");
        set!(fim_sep, "tokenizer.ggml.fim_sep_token_id");

        let mut add_bos = p.add_bos.unwrap_or(add_bos);
        let add_eos = p.add_eos.unwrap_or(false);
        let add_sep = p.add_sep.unwrap_or(false);
        if pre_type == PreType::Gemma4 {
            add_bos = true;
        }
        if add_bos && sp.bos.is_none() {
            return Err(TokenizerError::MissingSpecialToken {
                key: "tokenizer.ggml.add_bos_token",
                id_key: "tokenizer.ggml.bos_token_id",
            });
        }
        if add_eos && sp.eos.is_none() {
            return Err(TokenizerError::MissingSpecialToken {
                key: "tokenizer.ggml.add_eos_token",
                id_key: "tokenizer.ggml.eos_token_id",
            });
        }

        // Text-based detection of EOT/EOM/FIM tokens; each found token becomes a control token.
        let text_str = text.as_str();
        let tstr = |i: u32| &text_str[off[i as usize] as usize..off[i as usize + 1] as usize];
        let find = |cands: &[&str]| cands.iter().find_map(|c| map.get(c.as_bytes(), tok));
        let mut force_control = Vec::new();
        let detect = |slot: &mut Option<u32>, cands: &[&str], force: &mut Vec<u32>| {
            if slot.is_none() {
                if let Some(id) = find(cands) {
                    *slot = Some(id);
                    force.push(id);
                }
            }
        };
        detect(
            &mut sp.eot,
            &[
                "<|eot_id|>",
                "<|im_end|>",
                "<|end|>",
                "<end_of_turn>",
                "<|endoftext|>",
                "<|end_of_text|>",
                "<EOT>",
                "_<EOT>",
                "[EOT]",
                "<｜end▁of▁sentence｜>",
                "<end_of_utterance>",
            ],
            &mut force_control,
        );
        detect(&mut sp.eom, &["<|eom_id|>"], &mut force_control);
        detect(
            &mut sp.fim_pre,
            &[
                "<|fim_prefix|>",
                "<fim-prefix>",
                "<fim_prefix>",
                "<｜fim▁begin｜>",
                "<PRE>",
                "▁<PRE>",
                "<|code_prefix|>",
                "<|prefix|>",
            ],
            &mut force_control,
        );
        detect(
            &mut sp.fim_suf,
            &[
                "<|fim_suffix|>",
                "<fim-suffix>",
                "<fim_suffix>",
                "<｜fim▁hole｜>",
                "<SUF>",
                "▁<SUF>",
                "<|code_suffix|>",
                "<|suffix|>",
            ],
            &mut force_control,
        );
        detect(
            &mut sp.fim_mid,
            &[
                "<|fim_middle|>",
                "<fim-middle>",
                "<fim_middle>",
                "<｜fim▁end｜>",
                "<MID>",
                "▁<MID>",
                "<|code_middle|>",
                "<|middle|>",
            ],
            &mut force_control,
        );
        detect(
            &mut sp.fim_pad,
            &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
            &mut force_control,
        );
        detect(
            &mut sp.fim_rep,
            &[
                "<|fim_repo|>",
                "<|repo_name|>",
                "<fim-repo>",
                "<REPO>",
                "<reponame>",
            ],
            &mut force_control,
        );
        detect(&mut sp.fim_sep, &["<|file_sep|>"], &mut force_control);
        for id in force_control {
            attrs[id as usize] |= attr::CONTROL;
        }
        // Control tokens named "unused…" are unused.
        for (i, a) in attrs.iter_mut().enumerate() {
            if *a & attr::CONTROL != 0 && tstr(i as u32).contains("unused") {
                *a |= attr::UNUSED;
            }
        }

        // End-of-generation set.
        let mut eog: Vec<u32> = Vec::new();
        eog.extend(sp.fim_pad);
        eog.extend(sp.fim_rep);
        eog.extend(sp.fim_sep);
        for c in [
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<|return|>",
            "<|call|>",
            "<|flush|>",
            "<|calls|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "</s>",
            "<|eom_id|>",
            "<EOT>",
            "_<EOT>",
            "[EOT]",
            "[EOS]",
            "<|end_of_text|>",
            "<end_of_utterance>",
            "<eos>",
            "<turn|>",
            "<|tool_response>",
            "<｜end▁of▁sentence｜>",
            "[e~[",
        ] {
            if let Some(id) = map.get(c.as_bytes(), tok) {
                eog.push(id);
                attrs[id as usize] |= attr::CONTROL;
            }
        }
        // gpt-oss: these are always rendered.
        for c in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = map.get(c.as_bytes(), tok) {
                attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend(sp.eos);
        eog.extend(sp.eot);
        eog.extend(sp.eom);
        eog.sort_unstable();
        eog.dedup();
        // o200k_harmony / solar-open: "<|end|>" is not an end of generation there.
        let has = |eog: &[u32], s: &str| eog.iter().any(|&id| tstr(id) == s);
        let harmony = has(&eog, "<|return|>") && has(&eog, "<|call|>") && has(&eog, "<|end|>");
        let solar = (has(&eog, "<|call|>") || has(&eog, "<|calls|>"))
            && has(&eog, "<|flush|>")
            && has(&eog, "<|end|>");
        if harmony || solar {
            if let Some(end) = eog.iter().position(|&id| tstr(id) == "<|end|>") {
                let id = eog.remove(end);
                attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        // Gemma 4: "</s>" is text, not an end of generation.
        if has(&eog, "<|tool_response>") {
            if let Some(s) = eog.iter().position(|&id| tstr(id) == "</s>") {
                let id = eog.remove(s);
                attrs[id as usize] = attr::NORMAL;
            }
        }

        // Special-token cache: longest first.
        let mut special_cache: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                attrs[i as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0
            })
            .collect();
        special_cache.sort_by_key(|&i| std::cmp::Reverse(off[i as usize + 1] - off[i as usize]));

        // Byte tokens.
        let mut byte_tokens = [None; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            *slot = if kind == VocabKind::Bpe && byte_encode {
                let c = unicode::byte_to_char_table()[b];
                let mut buf = [0u8; 4];
                map.get(c.encode_utf8(&mut buf).as_bytes(), tok)
            } else {
                let name = format!("<0x{b:02X}>");
                map.get(name.as_bytes(), tok).or_else(|| {
                    // SPM falls back to the byte itself as a one-byte token.
                    if kind == VocabKind::Spm && b < 0x80 {
                        map.get(&[b as u8], tok)
                    } else {
                        None
                    }
                })
            };
        }

        let mut v = Vocab {
            kind,
            model: p.model,
            pre,
            pre_type,
            text: String::new(),
            off: Vec::new(),
            scores,
            attrs,
            map,
            merges,
            special: sp,
            add_bos,
            add_eos,
            add_sep,
            add_space_prefix,
            ignore_merges,
            clean_spaces,
            escape_whitespaces: kind == VocabKind::Bpe && escape_ws,
            byte_encode: kind == VocabKind::Bpe && byte_encode,
            eog,
            special_cache,
            byte_tokens,
            piece_buf: Vec::new(),
            piece_off: Vec::new(),
        };
        v.text = text;
        v.off = off;
        v.build_pieces();
        v.special.newline = v.find_newline();

        // Phi-3: special tokens swallow the whitespace after them (by model name, as llama.cpp).
        let name = p.general_name.unwrap_or_default().to_lowercase();
        if name.contains("phi-3") || name.contains("phi3") {
            for &id in &v.special_cache {
                v.attrs[id as usize] |= attr::RSTRIP;
            }
            if let Some(id) = v.token_id("</s>") {
                v.attrs[id as usize] |= attr::RSTRIP;
            }
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                if let Some(id) = v.token_id(t) {
                    v.attrs[id as usize] &= !attr::RSTRIP;
                }
            }
        }
        Ok(v)
    }

    fn find_newline(&self) -> Option<u32> {
        match self.kind {
            VocabKind::Spm => self.byte_tokens[b'\n' as usize],
            VocabKind::Bpe if self.byte_encode => self.token_id("Ċ"),
            VocabKind::Bpe => self.token_id("\n").or(self.byte_tokens[b'\n' as usize]),
        }
    }

    /// Builds the `special = true` piece of every token.
    fn build_pieces(&mut self) {
        let n = self.len();
        let mut buf = Vec::with_capacity(self.text.len() + n);
        let mut off = Vec::with_capacity(n + 1);
        off.push(0u32);
        for id in 0..n as u32 {
            self.raw_piece(id, &mut buf);
            off.push(u32::try_from(buf.len()).unwrap_or(u32::MAX));
        }
        self.piece_buf = buf;
        self.piece_off = off;
    }

    /// llama.cpp's uncached `token_to_piece(special = true)`.
    fn raw_piece(&self, id: u32, out: &mut Vec<u8>) {
        let a = self.attrs[id as usize];
        let t = self.token_text(id);
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            out.extend_from_slice(t.as_bytes());
        } else if a & attr::NORMAL != 0 {
            if self.kind == VocabKind::Spm || self.escape_whitespaces {
                out.extend_from_slice(t.replace('▁', " ").as_bytes());
            } else {
                for c in t.chars() {
                    match unicode::char_to_byte(c) {
                        Some(b) => out.push(b),
                        None => {
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(b"[UNK_BYTE_0x");
                            for b in c.encode_utf8(&mut tmp).bytes() {
                                out.extend_from_slice(format!("{b:02x}").as_bytes());
                            }
                            out.extend_from_slice(t.as_bytes());
                            out.push(b']');
                        }
                    }
                }
            }
        } else if a & attr::BYTE != 0 {
            // `<0xXX>`: llama.cpp reads the two hex digits with strtol (0 when they are not hex).
            let hex = t
                .get(3..5)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            out.push(hex);
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.off.len().saturating_sub(1)
    }

    /// Always false for a built vocabulary (it has at least one token).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tokenizer algorithm.
    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    /// `tokenizer.ggml.model`.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The pre-tokenizer name in effect (`tokenizer.ggml.pre`, or llama.cpp's default for it).
    pub fn pre(&self) -> &str {
        &self.pre
    }

    /// The pre-tokenizer type in effect.
    pub fn pre_type(&self) -> PreType {
        self.pre_type
    }

    /// The text of token `id` as stored in the vocabulary (`▁` for spaces in SPM, GPT-2 byte
    /// characters in byte-level BPE). Empty for an id out of range.
    pub fn token_text(&self, id: u32) -> &str {
        let i = id as usize;
        match (self.off.get(i), self.off.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.text[a as usize..b as usize],
            _ => "",
        }
    }

    /// The id of the token whose stored text is `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.lookup(text.as_bytes())
    }

    #[inline]
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<u32> {
        let tb = self.text.as_bytes();
        let off = &self.off;
        self.map.get(key, |i| {
            &tb[off[i as usize] as usize..off[i as usize + 1] as usize]
        })
    }

    /// The score of token `id` (0 when out of range).
    pub fn score(&self, id: u32) -> f32 {
        self.scores.get(id as usize).copied().unwrap_or(0.0)
    }

    /// The attribute bits ([`attr`]) of token `id` (0 when out of range).
    pub fn attr(&self, id: u32) -> u16 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }

    /// Special token ids.
    pub fn special(&self) -> &SpecialIds {
        &self.special
    }

    /// Whether `encode(.., add_special = true)` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode(.., add_special = true)` ends with EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// `tokenizer.ggml.add_sep_token` (used by encoder models only; nomoat does not add SEP).
    pub fn add_sep(&self) -> bool {
        self.add_sep
    }

    /// Whether SPM text gets a leading space.
    pub fn add_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// Whether decoding removes spaces before punctuation (llama.cpp's `clean_spaces`).
    pub fn clean_spaces(&self) -> bool {
        self.clean_spaces
    }

    /// Number of BPE merges kept (duplicates count once).
    pub fn n_merges(&self) -> usize {
        self.merges.len()
    }

    /// End-of-generation ids, ascending.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// The cached `special = true` piece of `id` (empty when out of range).
    pub(crate) fn piece(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match (self.piece_off.get(i), self.piece_off.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.piece_buf[a as usize..b as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spm(tokens: &[&'static str]) -> VocabParts<'static> {
        VocabParts {
            model: "llama".into(),
            tokens: tokens.iter().map(|&s| s.into()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn spm_defaults_follow_llama_cpp() {
        let v = Vocab::from_parts(spm(&["<unk>", "<s>", "</s>", "a"])).unwrap();
        assert_eq!(v.special().bos, Some(1));
        assert_eq!(v.special().eos, Some(2));
        assert!(v.add_bos() && v.add_space_prefix() && !v.add_eos());
        assert_eq!(v.eog_ids(), &[2]);
    }

    #[test]
    fn hostile_vocabularies_are_rejected() {
        let mut p = spm(&["<unk>", "<s>", "</s>"]);
        p.scores = Some(vec![0.0; 2]);
        assert!(matches!(
            Vocab::from_parts(p),
            Err(TokenizerError::LengthMismatch { .. })
        ));
        let mut p = spm(&["<unk>", "<s>", "</s>"]);
        p.eos = Some(99);
        let e = Vocab::from_parts(p).unwrap_err().to_string();
        assert!(e.contains("eos_token_id = 99 is out of range"), "{e}");
        let p = spm(&["a", "b", "a"]);
        assert!(matches!(
            Vocab::from_parts(p),
            Err(TokenizerError::DuplicateToken {
                id: 2,
                first: 0,
                ..
            })
        ));
        let mut p = spm(&["a", "b"]);
        p.model = "gpt2".into();
        p.pre = Some("gpt-2".into());
        p.merges = Some(vec!["a c".into()]);
        let e = Vocab::from_parts(p).unwrap_err().to_string();
        assert!(e.contains("unknown right token"), "{e}");
        let mut p = spm(&["a", "b"]);
        p.model = "gpt2".into();
        p.pre = Some("no-such-pre".into());
        p.merges = Some(vec![]);
        assert!(matches!(
            Vocab::from_parts(p),
            Err(TokenizerError::UnknownPreTokenizer(_))
        ));
        assert!(matches!(
            Vocab::from_parts(spm(&[])),
            Err(TokenizerError::Empty)
        ));
        let mut p = spm(&["a"]);
        p.model = "t5".into();
        assert!(matches!(
            Vocab::from_parts(p),
            Err(TokenizerError::UnsupportedModel(_))
        ));
    }
}
