//! What Ollama requests send, checked: every top-level field and every `options` key is used,
//! known to have no effect on the output (listed), or refused with a 400 that names it. The
//! tables here are the compatibility table of docs/serving.md.

use serde_json::{Map, Value};

use nomoat_chat::Message;
use nomoat_engine::sample::{entropy_seed, SamplingParams};

use super::OllamaError;
use crate::params::note_no_effect;
use crate::params::FieldStatus::{self, NoEffect, Supported, Unsupported};
use crate::pool::KeepAlive;
use crate::Limits;

/// Fields of `POST /api/chat`.
pub const CHAT_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", Supported),
    ("messages", Supported),
    ("stream", Supported),
    ("options", Supported),
    ("keep_alive", Supported),
    ("think", Supported),
    ("logprobs", Supported),
    ("top_logprobs", Supported),
    // We never drop messages to fit (a prompt that does not fit is refused) and never shift the
    // context (generation ends at it): both values give the same output whenever one is given.
    ("truncate", NoEffect),
    ("shift", NoEffect),
    ("format", Unsupported),
    ("tools", Unsupported),
];

/// Fields of `POST /api/generate`.
pub const GENERATE_FIELDS: &[(&str, FieldStatus)] = &[
    ("model", Supported),
    ("prompt", Supported),
    ("system", Supported),
    ("template", Supported),
    ("raw", Supported),
    ("context", Supported),
    ("stream", Supported),
    ("options", Supported),
    ("keep_alive", Supported),
    ("think", Supported),
    ("logprobs", Supported),
    ("top_logprobs", Supported),
    ("truncate", NoEffect),
    ("shift", NoEffect),
    ("format", Unsupported),
    ("images", Unsupported),
    ("suffix", Unsupported),
    ("width", Unsupported),
    ("height", Unsupported),
    ("steps", Unsupported),
];

/// Keys of `options` (Ollama's Modelfile parameters).
pub const OPTIONS: &[(&str, FieldStatus)] = &[
    ("temperature", Supported),
    ("top_k", Supported),
    ("top_p", Supported),
    ("min_p", Supported),
    ("typical_p", Supported),
    ("seed", Supported),
    ("num_predict", Supported),
    ("stop", Supported),
    ("repeat_penalty", Supported),
    ("repeat_last_n", Supported),
    ("presence_penalty", Supported),
    ("frequency_penalty", Supported),
    ("num_ctx", Supported),
    // How the model is run, not what it says: nomoat's own flags decide these.
    ("num_thread", NoEffect),
    ("num_gpu", NoEffect),
    ("main_gpu", NoEffect),
    ("num_batch", NoEffect),
    ("use_mmap", NoEffect),
    ("use_mlock", NoEffect),
    ("numa", NoEffect),
    ("low_vram", NoEffect),
    ("f16_kv", NoEffect),
    ("vocab_only", NoEffect),
    ("logits_all", NoEffect),
    ("embedding_only", NoEffect),
    // Only matters when the context shifts, which nomoat never does.
    ("num_keep", NoEffect),
    // Speculative decoding changes speed, not tokens.
    ("draft_num_predict", NoEffect),
    // Removed from llama.cpp; current Ollama ignores it too.
    ("penalize_newline", NoEffect),
    // Only read when `mirostat` is on, which is refused.
    ("mirostat_tau", NoEffect),
    ("mirostat_eta", NoEffect),
    ("mirostat", Unsupported),
    ("tfs_z", Unsupported),
];

/// Refuses unknown fields and unsupported fields set to anything but their neutral value.
pub fn check_fields(
    map: &Map<String, Value>,
    table: &[(&str, FieldStatus)],
    route: &str,
) -> Result<(), OllamaError> {
    for (k, v) in map {
        match table.iter().find(|(n, _)| n == k) {
            None => {
                return Err(OllamaError::bad_request(format!(
                    "unknown field '{k}' in the {route} request (see docs/serving.md for the fields nomoat takes)"
                )))
            }
            Some((_, Unsupported)) if !neutral(k, v) => {
                return Err(OllamaError::bad_request(refusal(k)))
            }
            Some((_, NoEffect)) if !v.is_null() => note_no_effect(k),
            _ => {}
        }
    }
    Ok(())
}

fn neutral(k: &str, v: &Value) -> bool {
    match (k, v) {
        (_, Value::Null) => true,
        ("format" | "suffix", Value::String(s)) => s.is_empty(),
        ("tools" | "images", Value::Array(a)) => a.is_empty(),
        ("mirostat", v) => v.as_f64() == Some(0.0),
        ("tfs_z", v) => v.as_f64() == Some(1.0),
        _ => false,
    }
}

fn refusal(k: &str) -> String {
    let why = match k {
        "format" => "JSON mode and JSON-schema output (constrained decoding) are not supported yet",
        "tools" => "tool calling is not supported yet",
        "images" => "nomoat's models take text only",
        "suffix" => "fill-in-the-middle is not supported on /api/generate",
        "width" | "height" | "steps" => "nomoat does not generate images",
        "mirostat" => "mirostat sampling is not implemented (leave it at 0)",
        "tfs_z" => "tail-free sampling is not implemented (leave it at 1)",
        _ => "it is not supported",
    };
    format!("'{k}' is not supported by nomoat: {why}; remove it")
}

/// Sampling and limits from `options`, on Ollama's defaults (temperature 0.8, top_k 40,
/// top_p 0.9, repeat_last_n 64, no penalties, a random seed, no token limit).
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// Tokens to generate at most; `None`: until the context is full.
    pub num_predict: Option<usize>,
    /// The request's context size (prompt + answer), at most the server's for this model.
    pub num_ctx: Option<usize>,
}

fn number(o: &Map<String, Value>, k: &str, lo: f64, hi: f64) -> Result<Option<f64>, OllamaError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let x = v.as_f64().ok_or_else(|| {
                OllamaError::bad_request(format!("option '{k}' must be a number, got {v}"))
            })?;
            if !(lo..=hi).contains(&x) {
                return Err(OllamaError::bad_request(format!(
                    "option '{k}' must be between {lo} and {hi}, got {x}"
                )));
            }
            Ok(Some(x))
        }
    }
}

fn integer(o: &Map<String, Value>, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, OllamaError> {
    let Some(x) = number(o, k, lo as f64, hi as f64)? else {
        return Ok(None);
    };
    if x.fract() != 0.0 {
        return Err(OllamaError::bad_request(format!(
            "option '{k}' must be a whole number, got {x}"
        )));
    }
    Ok(Some(x as i64))
}

/// Parses `options` (absent or null: the defaults).
pub fn parse_options(v: Option<&Value>, limits: &Limits) -> Result<GenOptions, OllamaError> {
    let empty = Map::new();
    let o = match v {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(OllamaError::bad_request("'options' must be an object")),
    };
    for (k, v) in o {
        match OPTIONS.iter().find(|(n, _)| n == k) {
            None => {
                return Err(OllamaError::bad_request(format!(
                    "unknown option '{k}' (see docs/serving.md for the options nomoat takes)"
                )))
            }
            Some((_, Unsupported)) if !neutral(k, v) => {
                return Err(OllamaError::bad_request(format!("option {}", refusal(k))))
            }
            Some((_, NoEffect)) if !v.is_null() => note_no_effect(&format!("options.{k}")),
            _ => {}
        }
    }
    let mut s = SamplingParams {
        temp: 0.8,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.0,
        typical_p: 1.0,
        repeat_penalty: 1.0,
        repeat_last_n: 64,
        presence_penalty: 0.0,
        frequency_penalty: 0.0,
        min_keep: 0,
        seed: 0,
        logit_bias: Vec::new(),
    };
    if let Some(x) = number(o, "temperature", 0.0, 100.0)? {
        s.temp = x as f32;
    }
    // Above the vocabulary size it keeps every token, like 0.
    if let Some(x) = integer(o, "top_k", 0, i64::from(i32::MAX))? {
        s.top_k = x as i32;
    }
    if let Some(x) = number(o, "top_p", 0.0, 1.0)? {
        s.top_p = x as f32;
    }
    if let Some(x) = number(o, "min_p", 0.0, 1.0)? {
        s.min_p = x as f32;
    }
    if let Some(x) = number(o, "typical_p", 0.0, 1.0)? {
        s.typical_p = x as f32;
    }
    if let Some(x) = number(o, "repeat_penalty", 0.0, 10.0)? {
        if x == 0.0 {
            return Err(OllamaError::bad_request(
                "option 'repeat_penalty' must be above 0 (1 turns it off)",
            ));
        }
        s.repeat_penalty = x as f32;
    }
    let num_ctx = integer(o, "num_ctx", 1, i64::from(u32::MAX))?.map(|n| n as usize);
    // -1 is "the whole context", as Ollama (llama.cpp) reads it; the window is capped at the
    // request's context once that is known (`cap_to_context`: the sampler allocates it).
    if let Some(n) = integer(o, "repeat_last_n", -1, i64::from(u32::MAX))? {
        s.repeat_last_n = if n < 0 { usize::MAX } else { n as usize };
    }
    if let Some(x) = number(o, "presence_penalty", -2.0, 2.0)? {
        s.presence_penalty = x as f32;
    }
    if let Some(x) = number(o, "frequency_penalty", -2.0, 2.0)? {
        s.frequency_penalty = x as f32;
    }
    // Ollama's default -1 (and any negative) is a random seed.
    s.seed = match integer(o, "seed", i64::MIN, i64::MAX)? {
        None => entropy_seed(),
        Some(n) if n < 0 => entropy_seed(),
        Some(n) => n as u64,
    };
    // 0, -1 (until the end) and -2 (fill the context) all run until the context is full.
    let num_predict = match integer(o, "num_predict", -2, i64::MAX)? {
        Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => None,
    };
    let stop = stops(o.get("stop"), limits)?;
    Ok(GenOptions {
        sampling: s,
        stop,
        num_predict,
        num_ctx,
    })
}

impl GenOptions {
    /// Penalty windows longer than the request's context mean the whole context.
    pub fn cap_to_context(&mut self, n_ctx: usize) {
        self.sampling.repeat_last_n = self.sampling.repeat_last_n.min(n_ctx);
    }
}

fn stops(v: Option<&Value>, limits: &Limits) -> Result<Vec<String>, OllamaError> {
    let list: Vec<String> = match v {
        None | Some(Value::Null) => Vec::new(),
        // Ollama's Modelfile form allows one string; clients send a list.
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    OllamaError::bad_request("option 'stop' must be a list of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(OllamaError::bad_request(
                "option 'stop' must be a list of strings",
            ))
        }
    };
    let total: usize = list.iter().map(String::len).sum();
    if list.len() > limits.max_stop
        || list.iter().any(|s| s.len() > limits.max_stop_bytes)
        || total > 4 * limits.max_stop_bytes
    {
        return Err(OllamaError::bad_request(format!(
            "option 'stop': at most {} strings of at most {} bytes each",
            limits.max_stop, limits.max_stop_bytes
        )));
    }
    if list.iter().any(String::is_empty) {
        return Err(OllamaError::bad_request(
            "option 'stop' must not hold an empty string",
        ));
    }
    Ok(list)
}

/// `keep_alive`: a number of seconds or a duration string (`5m`, `1h30m`, `0`, `-1`); negative
/// is forever, 0 unloads after the request.
pub fn keep_alive(v: Option<&Value>) -> Result<KeepAlive, OllamaError> {
    let r = match v {
        None | Some(Value::Null) => return Ok(KeepAlive::Default),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| "not a number".to_string())
            .and_then(KeepAlive::from_secs),
        Some(Value::String(s)) => KeepAlive::parse(s),
        Some(other) => Err(format!("{other} is neither a number nor a duration string")),
    };
    r.map_err(|e| OllamaError::bad_request(format!("invalid 'keep_alive': {e}")))
}

/// `think`: `false` (or absent) is fine; asking a model to think is refused as Ollama refuses it
/// for a model without reasoning (nomoat runs none as a thinking model yet).
pub fn think(v: Option<&Value>, model: &str) -> Result<(), OllamaError> {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(()),
        Some(Value::Bool(true)) => Err(not_thinking(model)),
        Some(Value::String(s)) if matches!(s.as_str(), "low" | "medium" | "high" | "max") => {
            Err(not_thinking(model))
        }
        Some(other) => Err(OllamaError::bad_request(format!(
            "invalid 'think' value {other}: use true, false, \"low\", \"medium\", \"high\" or \"max\""
        ))),
    }
}

fn not_thinking(model: &str) -> OllamaError {
    OllamaError::bad_request(format!("\"{model}\" does not support thinking"))
}

/// `stream` (Ollama's default is true).
pub fn stream(map: &Map<String, Value>) -> Result<bool, OllamaError> {
    flag(map, "stream", true)
}

pub fn flag(map: &Map<String, Value>, k: &str, default: bool) -> Result<bool, OllamaError> {
    match map.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(OllamaError::bad_request(format!("'{k}' must be a boolean"))),
    }
}

pub fn string<'a>(map: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, OllamaError> {
    match map.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(OllamaError::bad_request(format!("'{k}' must be a string"))),
    }
}

/// `model`, required as Ollama requires it.
pub fn model(map: &Map<String, Value>) -> Result<&str, OllamaError> {
    match string(map, "model")? {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(OllamaError::bad_request("model is required")),
    }
}

/// `logprobs` / `top_logprobs` (0..=20, as Ollama) → the engine's setting.
pub fn logprobs(map: &Map<String, Value>, limits: &Limits) -> Result<Option<usize>, OllamaError> {
    let on = flag(map, "logprobs", false)?;
    let top = match map.get("top_logprobs") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|&n| n as usize <= limits.max_top_logprobs)
            .ok_or_else(|| {
                OllamaError::bad_request(format!(
                    "top_logprobs must be between 0 and {}",
                    limits.max_top_logprobs
                ))
            })? as usize,
    };
    Ok(on.then_some(top))
}

/// Chat `messages` in Ollama's shape (`role`, `content`, and `images`, `thinking`,
/// `tool_calls`, `tool_name`). An empty list is allowed (load / unload the model).
pub fn messages(v: Option<&Value>, limits: &Limits) -> Result<Vec<Message>, OllamaError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(OllamaError::bad_request("'messages' must be a list")),
    };
    if list.len() > limits.max_messages {
        return Err(OllamaError::bad_request(format!(
            "'messages' has {} entries; at most {} are allowed",
            list.len(),
            limits.max_messages
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect()
}

fn message(i: usize, m: &Value) -> Result<Message, OllamaError> {
    let bad = |k: &str, why: &str| OllamaError::bad_request(format!("messages[{i}].{k}: {why}"));
    let Value::Object(o) = m else {
        return Err(OllamaError::bad_request(format!(
            "messages[{i}] must be an object"
        )));
    };
    let mut name = None;
    for (k, v) in o {
        match k.as_str() {
            "role" | "content" => {}
            "images" if neutral("images", v) => {}
            "images" => return Err(bad(k, "nomoat's models take text only")),
            "tool_calls" if neutral("tools", v) => {}
            "tool_calls" => return Err(bad(k, "tool calling is not supported yet")),
            "thinking" if v.is_null() || v.as_str() == Some("") => {}
            "thinking" => {
                return Err(bad(
                    k,
                    "the model does not think, so it cannot be given earlier thinking",
                ))
            }
            "tool_name" => match v {
                Value::Null => {}
                Value::String(s) => name = Some(s.clone()),
                _ => return Err(bad(k, "must be a string")),
            },
            _ => return Err(bad(k, "unknown message field")),
        }
    }
    let role = match o.get("role").and_then(Value::as_str) {
        Some(r @ ("system" | "user" | "assistant" | "tool")) => r,
        Some(r) => {
            return Err(bad(
                "role",
                &format!("unknown role '{r}'; use system, user, assistant or tool"),
            ))
        }
        None => return Err(bad("role", "a string 'role' is required")),
    };
    let content = match o.get("content") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad("content", "must be a string")),
    };
    let mut msg = Message::new(role, content);
    if let Some(n) = name {
        // The tool's name, where Hugging Face templates look for it.
        msg.extra.insert("name".into(), Value::String(n));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn options_map_to_sampling() {
        let o = json!({"temperature": 0, "top_k": 5, "top_p": 0.5, "min_p": 0.1, "seed": 42,
                       "num_predict": 7, "stop": ["x"], "repeat_penalty": 1.1, "num_ctx": 64,
                       "num_thread": 8, "use_mmap": true, "mirostat": 0});
        let g = parse_options(Some(&o), &Limits::default()).unwrap();
        assert_eq!(g.sampling.temp, 0.0);
        assert_eq!(g.sampling.top_k, 5);
        assert_eq!(g.sampling.seed, 42);
        assert_eq!(g.num_predict, Some(7));
        assert_eq!(g.num_ctx, Some(64));
        assert_eq!(g.stop, vec!["x".to_string()]);
        let g = parse_options(None, &Limits::default()).unwrap();
        assert_eq!(
            (g.sampling.temp, g.sampling.top_k, g.num_predict),
            (0.8, 40, None)
        );
        let g = parse_options(Some(&json!({"num_predict": -1})), &Limits::default()).unwrap();
        assert_eq!(g.num_predict, None);
    }

    #[test]
    fn bad_options_are_named() {
        let l = Limits::default();
        for (o, word) in [
            (json!({"nonsense": 1}), "nonsense"),
            (json!({"mirostat": 2}), "mirostat"),
            (json!({"tfs_z": 0.5}), "tfs_z"),
            (json!({"top_k": 1.5}), "top_k"),
            (json!({"temperature": "hot"}), "temperature"),
            (json!({"num_predict": -3}), "num_predict"),
            (json!({"stop": [1]}), "stop"),
        ] {
            let e = parse_options(Some(&o), &l).unwrap_err();
            assert!(e.message.contains(word), "{o}: {}", e.message);
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn keep_alive_forms() {
        assert_eq!(keep_alive(None).unwrap(), KeepAlive::Default);
        assert_eq!(keep_alive(Some(&json!(0))).unwrap(), KeepAlive::UnloadNow);
        assert_eq!(keep_alive(Some(&json!(-1))).unwrap(), KeepAlive::Forever);
        assert_eq!(
            keep_alive(Some(&json!("10m"))).unwrap(),
            KeepAlive::For(Duration::from_secs(600))
        );
        assert!(keep_alive(Some(&json!("soon"))).is_err());
        assert!(keep_alive(Some(&json!(true))).is_err());
    }

    #[test]
    fn think_is_refused_only_when_asked_for() {
        assert!(think(Some(&json!(false)), "m").is_ok());
        let e = think(Some(&json!(true)), "m").unwrap_err();
        assert_eq!(e.message, "\"m\" does not support thinking");
        assert!(think(Some(&json!("high")), "m").is_err());
        assert!(think(Some(&json!(3)), "m")
            .unwrap_err()
            .message
            .contains("invalid"));
    }

    #[test]
    fn messages_take_ollamas_fields() {
        let l = Limits::default();
        let m = messages(
            Some(&json!([{"role": "user", "content": "hi", "images": []},
                         {"role": "tool", "content": "11", "tool_name": "weather"}])),
            &l,
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].extra["name"], "weather");
        for bad in [
            json!([{"role": "user", "content": "hi", "images": ["aGk="]}]),
            json!([{"role": "wizard", "content": "hi"}]),
            json!([{"role": "user", "content": 3}]),
            json!([{"role": "user", "content": "x", "colour": "red"}]),
        ] {
            assert!(messages(Some(&bad), &l).is_err(), "{bad}");
        }
    }
}
