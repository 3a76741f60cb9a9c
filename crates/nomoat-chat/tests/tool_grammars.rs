//! The tool-call grammars compile in llguidance and accept exactly the calls they promise, over
//! a byte-level vocabulary with the formats' markers as special tokens.
use std::collections::HashMap;
use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use nomoat_chat::tools::{tool_defs, tool_grammar, GrammarOptions, ToolChoice, ToolFormat};
use serde_json::json;

/// Special tokens after the 256 byte tokens, in id order; the last one is EOS.
const SPECIALS: [&str; 11] = [
    "<|python_tag|>",
    "[TOOL_CALLS]",
    "[ARGS]",
    "<|start|>",
    "<|channel|>",
    "<|constrain|>",
    "<|message|>",
    "<|end|>",
    "<|call|>",
    "<|return|>",
    "<|eos|>",
];

fn env() -> TokEnv {
    let mut words: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for s in SPECIALS {
        // toktrie marks special tokens with a leading 0xFF byte.
        let mut w = vec![0xFF];
        w.extend_from_slice(s.as_bytes());
        words.push(w);
    }
    let info = TokRxInfo {
        vocab_size: words.len() as u32,
        tok_eos: words.len() as u32 - 1,
        tok_bos: None,
        tok_pad: None,
        tok_unk: None,
        tok_end_of_turn: None,
    };
    Arc::new(ApproximateTokEnv::new(TokTrie::from(&info, &words)))
}

fn special_ids() -> HashMap<String, u32> {
    SPECIALS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), 256 + i as u32))
        .collect()
}

/// Tokens of `text`, markers in `specials` as their token, everything else byte by byte.
fn tokenize(text: &str, specials: &HashMap<String, u32>) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (s, id) in specials {
            if let Some(r) = rest.strip_prefix(s.as_str()) {
                out.push(*id);
                rest = r;
                continue 'outer;
            }
        }
        out.push(rest.as_bytes()[0] as u32);
        rest = &rest[1..];
    }
    out
}

/// `{"a":1,"b":[2,3]}` → `{"a": 1, "b": [2, 3]}` (no string in these tests holds `"`, `:` or `,`).
fn spaced(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut in_str = false;
    for c in text.chars() {
        out.push(c);
        match c {
            '"' => in_str = !in_str,
            ':' | ',' if !in_str => out.push(' '),
            _ => {}
        }
    }
    out
}

struct Check {
    factory: ParserFactory,
    specials: HashMap<String, u32>,
}

impl Check {
    fn new() -> Check {
        let mut factory = ParserFactory::new_simple(&env()).expect("factory");
        factory.set_stderr_log_level(0);
        Check {
            factory,
            specials: special_ids(),
        }
    }

    /// Whether the grammar accepts `text` as a whole reply, its JSON laid out the grammars'
    /// one way: `text` is written compact and gets a space after each `:` and `,` outside
    /// strings.
    fn accepts(&self, lark: &str, text: &str) -> bool {
        self.accepts_exactly(lark, &spaced(text))
    }

    /// Whether the grammar accepts exactly `text` as a whole reply.
    fn accepts_exactly(&self, lark: &str, text: &str) -> bool {
        let parser = self
            .factory
            .create_parser(TopLevelGrammar::from_lark(lark.to_owned()));
        let mut m = Matcher::new(parser);
        assert!(
            !m.is_error(),
            "grammar compiles: {:?}\n{lark}",
            m.get_error()
        );
        for t in tokenize(text, &self.specials) {
            if m.consume_tokens(&[t]).is_err() || m.is_error() {
                return false;
            }
        }
        m.is_accepting().unwrap_or(false)
    }
}

fn tools() -> Vec<nomoat_chat::tools::ToolDef> {
    tool_defs(&json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["location"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_time"}}
    ]))
    .unwrap()
}

fn grammar(format: ToolFormat, choice: ToolChoice, parallel: bool, specials: bool) -> String {
    let opts = GrammarOptions {
        parallel_tool_calls: parallel,
        special_tokens: if specials {
            special_ids()
        } else {
            HashMap::new()
        },
    };
    tool_grammar(format, &tools(), &choice, &opts)
        .unwrap()
        .unwrap()
        .lark
}

const W: &str = r#"{"location":"Paris","unit":"c"}"#;

#[test]
fn hermes_grammar() {
    let c = Check::new();
    let g = grammar(ToolFormat::Hermes, ToolChoice::Required, true, false);
    let one = format!("<tool_call>\n{{\"name\":\"get_weather\",\"arguments\":{W}}}\n</tool_call>");
    let two =
        format!("{one}\n<tool_call>\n{{\"name\":\"get_time\",\"arguments\":{{}}}}\n</tool_call>");
    assert!(c.accepts(&g, &one));
    assert!(c.accepts(&g, &two));
    assert!(!c.accepts(&g, "Sure!"));
    assert!(!c.accepts(
        &g,
        "<tool_call>\n{\"name\":\"launch\",\"arguments\":{}}\n</tool_call>"
    ));
    let bad_args =
        "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"unit\":\"c\"}}\n</tool_call>";
    assert!(!c.accepts(&g, bad_args), "required `location` is enforced");
    let extra =
        "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{\"zone\":\"utc\"}}\n</tool_call>";
    assert!(
        !c.accepts(&g, extra),
        "a schema silent on additionalProperties gets only its declared arguments"
    );
    let single = grammar(ToolFormat::Hermes, ToolChoice::Required, false, false);
    assert!(c.accepts(&single, &one) && !c.accepts(&single, &two));
    let named = grammar(
        ToolFormat::Hermes,
        ToolChoice::Function("get_time".into()),
        true,
        false,
    );
    assert!(!c.accepts(&named, &one));
}

#[test]
fn llama_grammar() {
    let c = Check::new();
    let g = grammar(ToolFormat::Llama3, ToolChoice::Required, true, true);
    let one = format!("{{\"name\":\"get_weather\",\"parameters\":{W}}}");
    assert!(c.accepts(&g, &one));
    assert!(c.accepts(&g, &format!("<|python_tag|>{one}")));
    assert!(c.accepts(
        &g,
        &format!("{one}; {{\"name\":\"get_time\",\"parameters\":{{}}}}")
    ));
    assert!(!c.accepts(
        &g,
        &format!("{{\"name\":\"get_weather\",\"arguments\":{W}}}")
    ));
}

#[test]
fn mistral_grammars() {
    let c = Check::new();
    let g = grammar(ToolFormat::Mistral, ToolChoice::Required, false, true);
    assert!(c.accepts(
        &g,
        &format!("[TOOL_CALLS][{{\"name\":\"get_weather\",\"arguments\":{W}}}]")
    ));
    let two = format!("[TOOL_CALLS][{{\"name\":\"get_weather\",\"arguments\":{W}}},{{\"name\":\"get_time\",\"arguments\":{{}}}}]");
    assert!(!c.accepts(&g, &two), "parallel_tool_calls false: one call");
    let g = grammar(ToolFormat::MistralArgs, ToolChoice::Required, true, true);
    assert!(c.accepts(
        &g,
        &format!("[TOOL_CALLS]get_weather[ARGS]{W}[TOOL_CALLS]get_time[ARGS]{{}}")
    ));
    assert!(!c.accepts(&g, "[TOOL_CALLS]get_date[ARGS]{}"));
}

#[test]
fn harmony_grammar() {
    let c = Check::new();
    for specials in [true, false] {
        let g = grammar(ToolFormat::Harmony, ToolChoice::Required, true, specials);
        let call = format!(
            "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{W}<|call|>"
        );
        assert!(c.accepts(&g, &call), "specials by id: {specials}\n{g}");
        assert!(!c.accepts(&g, "<|channel|>final<|message|>hi<|return|>"));
    }
}

#[test]
fn generic_grammar() {
    let c = Check::new();
    let g = grammar(ToolFormat::Generic, ToolChoice::Required, true, false);
    assert!(c.accepts(
        &g,
        &format!("{{\"tool_calls\":[{{\"name\":\"get_weather\",\"arguments\":{W}}}]}}")
    ));
    assert!(!c.accepts(&g, "{\"response\":\"hi\"}"));
    let compact = format!("{{\"tool_calls\":[{{\"name\":\"get_weather\",\"arguments\":{W}}}]}}");
    assert!(
        !c.accepts_exactly(&g, &compact) && !c.accepts_exactly(&g, &compact.replace(':', ":\n  ")),
        "one layout: no whitespace but the separators' single space"
    );

    // `auto`: a call, or a plain answer in `response`, and nothing else.
    let g = grammar(ToolFormat::Generic, ToolChoice::Auto, true, false);
    assert!(c.accepts(&g, "{\"response\":\"hi\"}"));
    assert!(c.accepts(
        &g,
        &format!("{{\"tool_calls\":[{{\"name\":\"get_weather\",\"arguments\":{W}}}]}}")
    ));
    assert!(!c.accepts(&g, "{\"answer\":\"hi\"}"));
    assert!(!c.accepts(&g, "hi"));
}
