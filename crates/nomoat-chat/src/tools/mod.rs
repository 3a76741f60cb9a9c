//! Tool calls in a model's generated text: parse them into OpenAI `content` + `tool_calls`
//! (whole or streamed), and build the grammar that makes a call well-formed.
//!
//! - [`ToolFormat`] is the syntax a template family uses; [`ToolFormat::detect`] picks it from
//!   the chat template's source, [`ToolFormat::from_name`] is the explicit override.
//! - [`OutputParser`] is fed the generated text delta by delta and returns [`Delta`]s: reasoning,
//!   content, and tool calls in the shape of OpenAI's `delta.tool_calls`. [`parse_output`] is
//!   the same parser fed the whole text at once, so streaming and non-streaming always agree.
//! - [`tool_grammar`] builds the Lark (llguidance) grammar of a valid call for `tool_choice`
//!   `required`, a named function, or `auto` (lazy, with its trigger strings).
//!
//! Formats per family are described in `docs/tools.md`.

mod grammar;
mod harmony;
mod json_scan;
mod markers;
mod prompt;

use serde_json::Value;

use crate::reasoning::{ThinkSplitter, ThinkTags};

pub use grammar::{
    tool_defs, tool_grammar, GrammarOptions, ToolChoice, ToolDef, ToolError, ToolGrammar, Trigger,
};
pub use prompt::{generic_history, generic_instructions, with_instructions, TemplateReads};

/// The tool-call syntax of a template family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolFormat {
    /// Hermes 2 Pro / Hermes 3, Qwen 2.5, QwQ, Qwen3:
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, one tag per call.
    Hermes,
    /// Llama 3.1 / 3.2 / 3.3: a JSON object `{"name": …, "parameters": {…}}` (or
    /// `{"type": "function", …}`) as the whole reply, optionally after `<|python_tag|>`;
    /// several calls are separated by `;`.
    Llama3,
    /// Mistral Nemo and earlier: `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`.
    Mistral,
    /// Mistral Small 3.2, Devstral, Ministral 3 (tokenizer v11+):
    /// `[TOOL_CALLS]name[ARGS]{…}` (optionally `[CALL_ID]id` before `[ARGS]`), one per call.
    MistralArgs,
    /// gpt-oss harmony: `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>`;
    /// the analysis channel is reasoning, the final channel is content.
    Harmony,
    /// Templates with no native format: the reply is one JSON object, either
    /// `{"tool_calls": [{"name": …, "arguments": {…}}, …]}`, `{"name": …, "arguments": {…}}`,
    /// or `{"response": "text"}`; anything else is plain content.
    Generic,
}

impl ToolFormat {
    /// All formats, for listing and tests.
    pub const ALL: [ToolFormat; 6] = [
        ToolFormat::Hermes,
        ToolFormat::Llama3,
        ToolFormat::Mistral,
        ToolFormat::MistralArgs,
        ToolFormat::Harmony,
        ToolFormat::Generic,
    ];

    /// The name used in configuration and docs (`hermes`, `llama3`, `mistral`, `mistral-args`,
    /// `harmony`, `generic`).
    pub fn name(self) -> &'static str {
        match self {
            ToolFormat::Hermes => "hermes",
            ToolFormat::Llama3 => "llama3",
            ToolFormat::Mistral => "mistral",
            ToolFormat::MistralArgs => "mistral-args",
            ToolFormat::Harmony => "harmony",
            ToolFormat::Generic => "generic",
        }
    }

    /// The explicit override: the inverse of [`ToolFormat::name`].
    pub fn from_name(name: &str) -> Option<ToolFormat> {
        ToolFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Picks the format from a chat template's source text by the markers it writes.
    /// Templates whose `<tool_call>` holds XML (`<function=…>`, GLM's `<arg_key>`) rather than
    /// JSON are not Hermes; they get [`ToolFormat::Generic`] until they have a parser.
    pub fn detect(template: &str) -> ToolFormat {
        if template.contains("<|channel|>") && template.contains("<|message|>") {
            ToolFormat::Harmony
        } else if template.contains("[TOOL_CALLS]") {
            if template.contains("[ARGS]") {
                ToolFormat::MistralArgs
            } else {
                ToolFormat::Mistral
            }
        } else if template.contains("<tool_call>") {
            if template.contains("<function=") || template.contains("<arg_key>") {
                ToolFormat::Generic
            } else {
                ToolFormat::Hermes
            }
        } else if template.contains("<|python_tag|>")
            || (template.contains("<|start_header_id|>") && template.contains("\"parameters\""))
        {
            ToolFormat::Llama3
        } else {
            ToolFormat::Generic
        }
    }
}

impl std::fmt::Display for ToolFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One complete tool call, as OpenAI's `message.tool_calls[i]` (`type` is always `function`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text of the arguments object, as OpenAI's `function.arguments`.
    pub arguments: String,
}

/// A fragment of a tool call, as OpenAI's `delta.tool_calls[i]`: the first fragment of a call
/// carries `id` and `name` (and empty `arguments`), later ones only `arguments` text to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: usize,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// What one [`OutputParser::feed`] produced, in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// Text for `reasoning_content`.
    Reasoning(String),
    /// Text for `content`.
    Content(String),
    ToolCall(ToolCallDelta),
}

/// The parsed reply: what goes into OpenAI's `message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedOutput {
    pub reasoning_content: String,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
}

impl ParsedOutput {
    /// Accumulates a delta the way a streaming client does.
    pub fn apply(&mut self, delta: &Delta) {
        match delta {
            Delta::Reasoning(t) => self.reasoning_content.push_str(t),
            Delta::Content(t) => self.content.push_str(t),
            Delta::ToolCall(d) => {
                if d.index == self.tool_calls.len() {
                    self.tool_calls.push(ToolCall {
                        id: d.id.clone().unwrap_or_default(),
                        name: d.name.clone().unwrap_or_default(),
                        arguments: String::new(),
                    });
                }
                if let Some(call) = self.tool_calls.get_mut(d.index) {
                    call.arguments.push_str(&d.arguments);
                }
            }
        }
    }

    /// `"tool_calls"` when there are calls, else `None` (the caller's own reason stands).
    pub fn finish_reason(&self) -> Option<&'static str> {
        (!self.tool_calls.is_empty()).then_some("tool_calls")
    }
}

/// How to parse one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParserConfig {
    pub format: ToolFormat,
    /// Parse tool calls at all (false when the request had no `tools` or `tool_choice: none`):
    /// then the text is content (and reasoning). Harmony's channels are parsed either way.
    pub tools: bool,
    /// Reasoning tags to split off first; `None` for no reasoning. Ignored for Harmony, whose
    /// analysis channel is the reasoning.
    pub reasoning: Option<ThinkTags>,
    /// The rendered prompt already opened the reasoning block (e.g. DeepSeek-R1's
    /// `<｜Assistant｜><think>\n`): the output starts inside it. See [`ThinkTags::prompt_opens`].
    pub starts_in_reasoning: bool,
    /// Seed of the call ids: call `i` of a reply gets `call_id(format, seed, i)`.
    pub id_seed: u64,
}

impl ParserConfig {
    /// Format and reasoning tags from a template's source, tools on, no open reasoning.
    pub fn for_template(template: &str, id_seed: u64) -> ParserConfig {
        ParserConfig {
            format: ToolFormat::detect(template),
            tools: true,
            reasoning: ThinkTags::detect(template),
            starts_in_reasoning: false,
            id_seed,
        }
    }
}

/// The id of call `index` in a reply: `call_` and 24 characters [a-z0-9] derived from `seed`
/// and `index`, except for Mistral formats, whose templates refuse any id that is not exactly
/// 9 alphanumeric characters.
pub fn call_id(format: ToolFormat, seed: u64, index: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        // splitmix64: a fixed, well-mixed sequence from the seed.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let len = match format {
        ToolFormat::Mistral | ToolFormat::MistralArgs => 9,
        _ => 24,
    };
    let id: String = (0..len)
        .map(|_| ALPHABET[(next() % 36) as usize] as char)
        .collect();
    match format {
        ToolFormat::Mistral | ToolFormat::MistralArgs => id,
        _ => format!("call_{id}"),
    }
}

/// An event of the tool stage before ids and indices are assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Reasoning(String),
    Content(String),
    Call { name: String, arguments: String },
}

enum ToolStage {
    Plain,
    Markers(markers::MarkerParser),
    Harmony(harmony::HarmonyParser),
}

impl ToolStage {
    fn feed(&mut self, text: &str, out: &mut Vec<Event>) {
        match self {
            ToolStage::Plain => {
                if !text.is_empty() {
                    out.push(Event::Content(text.to_owned()))
                }
            }
            ToolStage::Markers(p) => p.feed(text, out),
            ToolStage::Harmony(p) => p.feed(text, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        match self {
            ToolStage::Plain => {}
            ToolStage::Markers(p) => p.finish(out),
            ToolStage::Harmony(p) => p.finish(out),
        }
    }
}

/// The streaming parser of one reply: reasoning first, then content and tool calls.
/// It holds back only text that may still be the start of a marker (a tag, a reasoning tag, a
/// code fence) and a tool call until it is complete and valid (so a call is never retracted).
pub struct OutputParser {
    format: ToolFormat,
    seed: u64,
    think: Option<ThinkSplitter>,
    stage: ToolStage,
    calls: usize,
    finished: bool,
    /// Trailing whitespace of the content, held back while tools are on: the newline before a
    /// call (or between two) is no content. It goes out in front of the next content, or at
    /// the end when the reply made no call.
    blank: String,
}

impl OutputParser {
    pub fn new(config: &ParserConfig) -> OutputParser {
        let stage = match (config.format, config.tools) {
            (ToolFormat::Harmony, _) => ToolStage::Harmony(harmony::HarmonyParser::new()),
            (_, false) => ToolStage::Plain,
            (f, true) => ToolStage::Markers(markers::MarkerParser::new(f)),
        };
        let think = match config.format {
            ToolFormat::Harmony => None,
            _ => config
                .reasoning
                .clone()
                .map(|tags| ThinkSplitter::new(tags, config.starts_in_reasoning)),
        };
        OutputParser {
            format: config.format,
            seed: config.id_seed,
            think,
            stage,
            calls: 0,
            finished: false,
            blank: String::new(),
        }
    }

    /// Feeds the next piece of generated text; returns what can be said for sure so far.
    pub fn feed(&mut self, text: &str) -> Vec<Delta> {
        let mut events = Vec::new();
        if self.finished {
            return Vec::new();
        }
        match &mut self.think {
            Some(think) => {
                let mut split = Vec::new();
                think.feed(text, &mut split);
                self.route(split, &mut events);
            }
            None => self.stage.feed(text, &mut events),
        }
        self.deltas(events)
    }

    /// Ends the reply: releases everything held back (an unfinished call becomes content).
    pub fn finish(&mut self) -> Vec<Delta> {
        let mut events = Vec::new();
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        if let Some(think) = &mut self.think {
            let mut split = Vec::new();
            think.finish(&mut split);
            self.route(split, &mut events);
        }
        self.stage.finish(&mut events);
        let mut out = self.deltas(events);
        if self.calls == 0 && !self.blank.is_empty() {
            out.push(Delta::Content(std::mem::take(&mut self.blank)));
        }
        out
    }

    fn route(&mut self, split: Vec<Event>, events: &mut Vec<Event>) {
        for e in split {
            match e {
                Event::Content(t) => self.stage.feed(&t, events),
                other => events.push(other),
            }
        }
    }

    fn deltas(&mut self, events: Vec<Event>) -> Vec<Delta> {
        let mut out: Vec<Delta> = Vec::with_capacity(events.len());
        for e in events {
            match e {
                Event::Reasoning(t) | Event::Content(t) if t.is_empty() => {}
                Event::Reasoning(t) => match out.last_mut() {
                    Some(Delta::Reasoning(prev)) => prev.push_str(&t),
                    _ => out.push(Delta::Reasoning(t)),
                },
                Event::Content(t) if !matches!(self.stage, ToolStage::Plain) => {
                    // Trailing whitespace waits for what follows: more content, or a call
                    // (then it is dropped), wherever the deltas happened to split.
                    self.blank.push_str(&t);
                    let body = self.blank.trim_end().len();
                    if body > 0 {
                        let rest = self.blank.split_off(body);
                        let t = std::mem::replace(&mut self.blank, rest);
                        match out.last_mut() {
                            Some(Delta::Content(prev)) => prev.push_str(&t),
                            _ => out.push(Delta::Content(t)),
                        }
                    }
                }
                Event::Content(t) => match out.last_mut() {
                    Some(Delta::Content(prev)) => prev.push_str(&t),
                    _ => out.push(Delta::Content(t)),
                },
                Event::Call { name, arguments } => {
                    self.blank.clear();
                    let index = self.calls;
                    self.calls += 1;
                    out.push(Delta::ToolCall(ToolCallDelta {
                        index,
                        id: Some(call_id(self.format, self.seed, index)),
                        name: Some(name),
                        arguments: String::new(),
                    }));
                    out.push(Delta::ToolCall(ToolCallDelta {
                        index,
                        id: None,
                        name: None,
                        arguments,
                    }));
                }
            }
        }
        out
    }
}

/// Parses a whole reply: exactly what streaming it through [`OutputParser`] accumulates to.
pub fn parse_output(config: &ParserConfig, text: &str) -> ParsedOutput {
    let mut parser = OutputParser::new(config);
    let mut out = ParsedOutput::default();
    for d in parser.feed(text).iter().chain(parser.finish().iter()) {
        out.apply(d);
    }
    out
}

/// Name and OpenAI `arguments` text from a parsed call object: `name` must be a non-empty
/// string; the arguments are under one of `arg_keys` (an object, or a string holding JSON
/// text, kept as is), and `{}` when absent or null.
pub(crate) fn call_from_object(v: &Value, arg_keys: &[&str]) -> Option<(String, String)> {
    let obj = v.as_object()?;
    let name = obj.get("name")?.as_str()?;
    if name.is_empty() {
        return None;
    }
    let args = arg_keys.iter().find_map(|k| obj.get(*k));
    let arguments = match args {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::Object(_)) => serde_json::to_string(args?).ok()?,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(_)) => s.clone(),
            _ => return None,
        },
        Some(_) => return None,
    };
    Some((name.to_owned(), arguments))
}
