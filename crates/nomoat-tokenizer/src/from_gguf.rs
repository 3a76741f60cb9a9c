//! Reading `tokenizer.ggml.*` from a parsed GGUF file into [`VocabParts`].

use std::borrow::Cow;

use nomoat_gguf::{Gguf, Value};

use crate::error::TokenizerError;
use crate::vocab::VocabParts;

fn wrong(key: &'static str, expected: &'static str) -> TokenizerError {
    TokenizerError::WrongType { key, expected }
}

fn opt_str(g: &Gguf, key: &'static str) -> Result<Option<String>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(key, "string")),
    }
}

fn opt_bool(g: &Gguf, key: &'static str) -> Result<Option<bool>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong(key, "bool")),
    }
}

fn opt_id(g: &Gguf, key: &'static str) -> Result<Option<u64>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| wrong(key, "non-negative integer")),
    }
}

fn opt_array<'a>(g: &'a Gguf, key: &'static str) -> Result<Option<&'a [Value]>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong(key, "array")),
    }
}

fn str_array<'a>(a: &'a [Value], key: &'static str) -> Result<Vec<Cow<'a, str>>, TokenizerError> {
    a.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Cow::Borrowed(s.as_str())),
            _ => Err(wrong(key, "array of strings")),
        })
        .collect()
}

impl<'a> VocabParts<'a> {
    /// Reads the tokenizer keys of `g` (no validation beyond types: see [`crate::Vocab::from_parts`]).
    pub fn from_gguf(g: &'a Gguf) -> Result<VocabParts<'a>, TokenizerError> {
        const TOKENS: &str = "tokenizer.ggml.tokens";
        const SCORES: &str = "tokenizer.ggml.scores";
        const TYPES: &str = "tokenizer.ggml.token_type";
        const MERGES: &str = "tokenizer.ggml.merges";
        let model = opt_str(g, "tokenizer.ggml.model")?
            .ok_or(TokenizerError::MissingKey("tokenizer.ggml.model"))?;
        let tokens = str_array(
            opt_array(g, TOKENS)?.ok_or(TokenizerError::MissingKey(TOKENS))?,
            TOKENS,
        )?;
        let scores = match opt_array(g, SCORES)? {
            None => None,
            Some(a) => Some(
                a.iter()
                    .map(|v| match v {
                        Value::F32(x) => Ok(*x),
                        Value::I32(x) => Ok(*x as f32),
                        _ => Err(wrong(SCORES, "array of f32")),
                    })
                    .collect::<Result<Vec<f32>, _>>()?,
            ),
        };
        let token_types = match opt_array(g, TYPES)? {
            None => None,
            Some(a) => Some(
                a.iter()
                    .map(|v| match v {
                        Value::I32(x) => Ok(*x),
                        _ => Err(wrong(TYPES, "array of i32")),
                    })
                    .collect::<Result<Vec<i32>, _>>()?,
            ),
        };
        let merges = match opt_array(g, MERGES)? {
            None => None,
            Some(a) => Some(str_array(a, MERGES)?),
        };
        let fim = |new: &'static str, old: &'static str| -> Result<Option<u64>, TokenizerError> {
            Ok(opt_id(g, new)?.or(opt_id(g, old)?))
        };
        Ok(VocabParts {
            model,
            pre: opt_str(g, "tokenizer.ggml.pre")?,
            tokens,
            scores,
            token_types,
            merges,
            bos: opt_id(g, "tokenizer.ggml.bos_token_id")?,
            eos: opt_id(g, "tokenizer.ggml.eos_token_id")?,
            eot: opt_id(g, "tokenizer.ggml.eot_token_id")?,
            eom: opt_id(g, "tokenizer.ggml.eom_token_id")?,
            unk: opt_id(g, "tokenizer.ggml.unknown_token_id")?,
            sep: opt_id(g, "tokenizer.ggml.seperator_token_id")?,
            pad: opt_id(g, "tokenizer.ggml.padding_token_id")?,
            mask: opt_id(g, "tokenizer.ggml.mask_token_id")?,
            // llama.cpp reads the deprecated prefix/suffix/middle keys after the new ones.
            fim_pre: fim(
                "tokenizer.ggml.prefix_token_id",
                "tokenizer.ggml.fim_pre_token_id",
            )?,
            fim_suf: fim(
                "tokenizer.ggml.suffix_token_id",
                "tokenizer.ggml.fim_suf_token_id",
            )?,
            fim_mid: fim(
                "tokenizer.ggml.middle_token_id",
                "tokenizer.ggml.fim_mid_token_id",
            )?,
            fim_pad: opt_id(g, "tokenizer.ggml.fim_pad_token_id")?,
            fim_rep: opt_id(g, "tokenizer.ggml.fim_rep_token_id")?,
            fim_sep: opt_id(g, "tokenizer.ggml.fim_sep_token_id")?,
            add_bos: opt_bool(g, "tokenizer.ggml.add_bos_token")?,
            add_eos: opt_bool(g, "tokenizer.ggml.add_eos_token")?,
            add_sep: opt_bool(g, "tokenizer.ggml.add_sep_token")?,
            add_space_prefix: opt_bool(g, "tokenizer.ggml.add_space_prefix")?,
            general_name: opt_str(g, "general.name")?,
        })
    }
}
