//! Grammars (Lark, in llguidance's syntax) of a valid tool call per format, for constrained
//! decoding of `tool_choice` `required`, a named function, and `auto` (lazy: free text until a
//! trigger, then the grammar from the trigger on).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::ToolFormat;

/// Refused tool input; the message names the field, for a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

/// One entry of OpenAI's `tools` array.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// The JSON schema of the arguments (`{"type": "object", "properties": {}}` when absent).
    pub parameters: Value,
}

/// Longest accepted function name, and its characters: OpenAI's rule.
const MAX_NAME_LEN: usize = 64;

/// Reads OpenAI's `tools` array: `[{"type": "function", "function": {"name", "description",
/// "parameters", "strict"}}]`. Names are 1–64 of `[A-Za-z0-9_-]` and unique; `strict` has no
/// effect (every constrained call matches its schema).
pub fn tool_defs(tools: &Value) -> Result<Vec<ToolDef>, ToolError> {
    let Some(list) = tools.as_array() else {
        return Err(ToolError("`tools` must be an array".into()));
    };
    let mut defs: Vec<ToolDef> = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let field = |k: &str| format!("`tools[{i}].{k}`");
        match t.get("type").and_then(Value::as_str) {
            Some("function") => {}
            _ => return Err(ToolError(format!("{} must be \"function\"", field("type")))),
        }
        let Some(f) = t.get("function").and_then(Value::as_object) else {
            return Err(ToolError(format!(
                "{} must be an object",
                field("function")
            )));
        };
        let name = match f.get("name").and_then(Value::as_str) {
            Some(n) if valid_name(n) => n.to_owned(),
            _ => {
                return Err(ToolError(format!(
                    "{} must be 1 to {MAX_NAME_LEN} characters of a-z, A-Z, 0-9, _ and -",
                    field("function.name")
                )))
            }
        };
        if defs.iter().any(|d| d.name == name) {
            return Err(ToolError(format!(
                "{} `{name}` is declared twice",
                field("function.name")
            )));
        }
        let description = match f.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ToolError(format!(
                    "{} must be a string",
                    field("function.description")
                )))
            }
        };
        let parameters = match f.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => {
                return Err(ToolError(format!(
                    "{} must be an object",
                    field("function.parameters")
                )))
            }
        };
        defs.push(ToolDef {
            name,
            description,
            parameters,
        });
    }
    Ok(defs)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NAME_LEN
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// OpenAI's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

impl ToolChoice {
    /// Reads `tool_choice`: `"none"`, `"auto"`, `"required"` or
    /// `{"type": "function", "function": {"name": …}}`. Absent means `auto` when there are
    /// tools and `none` otherwise (OpenAI's default).
    pub fn from_openai(v: Option<&Value>, have_tools: bool) -> Result<ToolChoice, ToolError> {
        match v {
            None | Some(Value::Null) => {
                Ok(if have_tools { ToolChoice::Auto } else { ToolChoice::None })
            }
            Some(Value::String(s)) => match s.as_str() {
                "none" => Ok(ToolChoice::None),
                "auto" => Ok(ToolChoice::Auto),
                "required" => Ok(ToolChoice::Required),
                other => Err(ToolError(format!(
                    "`tool_choice` must be \"none\", \"auto\", \"required\" or a function, not {other:?}"
                ))),
            },
            Some(Value::Object(o)) => {
                let name = o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .filter(|_| o.get("type").and_then(Value::as_str) == Some("function"));
                match name {
                    Some(n) => Ok(ToolChoice::Function(n.to_owned())),
                    None => Err(ToolError(
                        "`tool_choice` object must be {\"type\": \"function\", \"function\": {\"name\": …}}"
                            .into(),
                    )),
                }
            }
            Some(_) => Err(ToolError("`tool_choice` must be a string or an object".into())),
        }
    }
}

/// How to write the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarOptions {
    /// OpenAI's `parallel_tool_calls` (default true): more than one call allowed.
    pub parallel_tool_calls: bool,
    /// Ids of the format's markers that are special (control) tokens in this vocabulary
    /// (see [`ToolFormat::markers`]); they are written `<[id]>` so the grammar matches the
    /// token and not its text. A marker not listed is written `<|…|>` (a special token by name,
    /// llguidance resolves it) when it has that shape, else as text.
    pub special_tokens: HashMap<String, u32>,
}

impl Default for GrammarOptions {
    /// OpenAI's defaults: parallel calls allowed; no special-token ids.
    fn default() -> Self {
        GrammarOptions {
            parallel_tool_calls: true,
            special_tokens: HashMap::new(),
        }
    }
}

/// Where a lazy grammar starts: when the generated text contains `text` (at its very start
/// only, when `at_start`), outside a Markdown code fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub text: String,
    pub at_start: bool,
}

/// A grammar to enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolGrammar {
    /// Lark source for `llguidance::api::TopLevelGrammar::from_lark`.
    pub lark: String,
    /// False: enforce from the first token. True (`auto`): decode freely until one of
    /// `triggers` appears, then start the grammar at the trigger (feed the matcher the text
    /// from the trigger's first byte; the grammar begins with the trigger) and enforce it to
    /// the end of the reply.
    pub lazy: bool,
    pub triggers: Vec<Trigger>,
}

impl ToolFormat {
    /// The marker strings this format's grammar and parser use; the server looks up which are
    /// special tokens of the model's vocabulary for [`GrammarOptions::special_tokens`] (and must
    /// detokenize those tokens as text for the parser to see them).
    pub fn markers(self) -> &'static [&'static str] {
        match self {
            ToolFormat::Hermes => &["<tool_call>", "</tool_call>"],
            ToolFormat::Llama3 => &["<|python_tag|>"],
            ToolFormat::Mistral => &["[TOOL_CALLS]"],
            ToolFormat::MistralArgs => &["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"],
            ToolFormat::Harmony => &[
                "<|start|>",
                "<|channel|>",
                "<|constrain|>",
                "<|message|>",
                "<|end|>",
                "<|call|>",
                "<|return|>",
            ],
            ToolFormat::Generic => &[],
        }
    }
}

/// The grammar for `choice` over `tools` in `format`; `None` for `none`. `auto` is lazy for
/// every format with a marker that opens a call; [`ToolFormat::Generic`] has none, so its
/// `auto` grammar is enforced from the first token and allows either the calls object or
/// `{"response": "TEXT"}` (a plain answer), as llama.cpp's generic handler does: a model
/// without a native format only calls tools reliably when the reply's shape is fixed.
pub fn tool_grammar(
    format: ToolFormat,
    tools: &[ToolDef],
    choice: &ToolChoice,
    opts: &GrammarOptions,
) -> Result<Option<ToolGrammar>, ToolError> {
    let (selected, parallel): (Vec<&ToolDef>, bool) = match choice {
        ToolChoice::None => return Ok(None),
        ToolChoice::Auto | ToolChoice::Required => {
            (tools.iter().collect(), opts.parallel_tool_calls)
        }
        ToolChoice::Function(name) => match tools.iter().find(|t| &t.name == name) {
            Some(t) => (vec![t], false),
            None => {
                return Err(ToolError(format!(
                    "`tool_choice` names function `{name}`, which is not in `tools`"
                )))
            }
        },
    };
    if selected.is_empty() {
        return Err(ToolError(
            "`tool_choice` requires a call but `tools` is empty".into(),
        ));
    }
    let w = Writer { opts };
    let lark = match format {
        ToolFormat::Hermes => w.per_tool(&selected, parallel, "\"\\n\"", |t| {
            format!(
                "{} \"\\n\" %json{} \"\\n\" {}",
                w.tok("<tool_call>"),
                compact(&named_object(t, "arguments")),
                w.tok("</tool_call>")
            )
        }),
        ToolFormat::Llama3 => {
            let body = w.per_tool(&selected, parallel, "\"; \"", |t| {
                format!("%json{}", compact(&named_object(t, "parameters")))
            });
            // `<|python_tag|>` may open the reply (Llama 3.1's format for tool calls).
            body.replacen(
                "start: calls",
                &format!("start: {}? calls", w.tok("<|python_tag|>")),
                1,
            )
        }
        ToolFormat::Mistral => {
            let mut array = json!({
                "type": "array",
                "items": {"anyOf": selected.iter().map(|t| named_object(t, "arguments")).collect::<Vec<_>>()},
                "minItems": 1,
            });
            if !parallel {
                array["maxItems"] = json!(1);
            }
            format!(
                "start: {} %json{}\n",
                w.tok("[TOOL_CALLS]"),
                compact(&array)
            )
        }
        ToolFormat::MistralArgs => w.per_tool(&selected, parallel, "", |t| {
            format!(
                "{} {} {} %json{}",
                w.tok("[TOOL_CALLS]"),
                lark_str(&t.name),
                w.tok("[ARGS]"),
                compact(&closed(&t.parameters))
            )
        }),
        // A harmony turn ends at `<|call|>`: one call per reply.
        ToolFormat::Harmony => w.per_tool(&selected, false, "", |t| {
            format!(
                "{} {} {} \"json\" {} %json{} {}",
                w.tok("<|channel|>"),
                lark_str(&format!("commentary to=functions.{} ", t.name)),
                w.tok("<|constrain|>"),
                w.tok("<|message|>"),
                compact(&closed(&t.parameters)),
                w.tok("<|call|>")
            )
        }),
        ToolFormat::Generic => {
            let mut array = json!({
                "type": "array",
                "items": {"anyOf": selected.iter().map(|t| named_object(t, "arguments")).collect::<Vec<_>>()},
                "minItems": 1,
            });
            if !parallel {
                array["maxItems"] = json!(1);
            }
            let calls = json!({
                "type": "object",
                "properties": {"tool_calls": array},
                "required": ["tool_calls"],
                "additionalProperties": false,
            });
            let schema = if *choice == ToolChoice::Auto {
                let answer = json!({
                    "type": "object",
                    "properties": {"response": {"type": "string"}},
                    "required": ["response"],
                    "additionalProperties": false,
                });
                json!({"anyOf": [calls, answer]})
            } else {
                calls
            };
            format!("start: %json{}\n", compact(&schema))
        }
    };
    let lazy = *choice == ToolChoice::Auto && format != ToolFormat::Generic;
    let triggers = if lazy { triggers(format) } else { Vec::new() };
    Ok(Some(ToolGrammar {
        lark,
        lazy,
        triggers,
    }))
}

fn triggers(format: ToolFormat) -> Vec<Trigger> {
    let t = |text: &str, at_start: bool| Trigger {
        text: text.to_owned(),
        at_start,
    };
    match format {
        ToolFormat::Hermes => vec![t("<tool_call>", false)],
        ToolFormat::Llama3 => vec![t("<|python_tag|>", false), t("{", true)],
        ToolFormat::Mistral | ToolFormat::MistralArgs => vec![t("[TOOL_CALLS]", false)],
        ToolFormat::Harmony => vec![t("<|channel|>commentary to=functions.", false)],
        ToolFormat::Generic => Vec::new(),
    }
}

struct Writer<'a> {
    opts: &'a GrammarOptions,
}

impl Writer<'_> {
    /// A marker as a grammar element: its special token, or its text.
    fn tok(&self, marker: &str) -> String {
        match self.opts.special_tokens.get(marker) {
            Some(id) => format!("<[{id}]>"),
            None if marker.starts_with("<|") && marker.ends_with("|>") => marker.to_owned(),
            None => lark_str(marker),
        }
    }

    /// `start: calls`, `calls` one call or (parallel) one or more joined by `sep`, a call one
    /// rule per tool.
    fn per_tool(
        &self,
        tools: &[&ToolDef],
        parallel: bool,
        sep: &str,
        call: impl Fn(&ToolDef) -> String,
    ) -> String {
        let mut out = String::from("start: calls\n");
        if parallel {
            out.push_str(&format!("calls: call ({sep} call)*\n"));
        } else {
            out.push_str("calls: call\n");
        }
        let names: Vec<String> = (0..tools.len()).map(|i| format!("call_{i}")).collect();
        out.push_str(&format!("call: {}\n", names.join(" | ")));
        for (name, t) in names.iter().zip(tools) {
            out.push_str(&format!("{name}: {}\n", call(t)));
        }
        out
    }
}

/// `{"name": NAME, KEY: parameters}` with nothing else: the JSON of one call.
fn named_object(t: &ToolDef, key: &str) -> Value {
    let mut props = Map::new();
    props.insert("name".into(), json!({"const": t.name}));
    props.insert(key.into(), closed(&t.parameters));
    json!({
        "type": "object",
        "properties": props,
        "required": ["name", key],
        "additionalProperties": false,
    })
}

/// A schema as the body of a Lark `%json`: the JSON laid out one way (`", "` between items,
/// `": "` after keys, no newlines), the way the templates' own examples write calls. Free
/// whitespace lets a small model spend its tokens on indentation and never close the call.
fn compact(v: &Value) -> String {
    let mut v = v.clone();
    if let Value::Object(o) = &mut v {
        o.insert(
            "x-guidance".into(),
            json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}),
        );
    }
    v.to_string()
}

/// The arguments' schema as the grammar enforces it: an object schema that lists `properties`
/// and says nothing of `additionalProperties` (or `patternProperties`) gets
/// `"additionalProperties": false`, so a call carries only the declared arguments, as
/// llama.cpp's tool grammars and OpenAI's strict mode have it. Objects directly under `allOf`
/// are left open (closing each part would refuse the others' properties). The template still
/// sees the schema as sent.
fn closed(schema: &Value) -> Value {
    let Value::Object(o) = schema else {
        return schema.clone();
    };
    let mut out = Map::with_capacity(o.len() + 1);
    for (k, v) in o {
        let v = match k.as_str() {
            "properties" | "$defs" | "definitions" => match v {
                Value::Object(m) => {
                    Value::Object(m.iter().map(|(n, s)| (n.clone(), closed(s))).collect())
                }
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => closed(v),
            "anyOf" | "oneOf" | "prefixItems" => match v {
                Value::Array(a) => Value::Array(a.iter().map(closed).collect()),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    if o.contains_key("properties")
        && !o.contains_key("additionalProperties")
        && !o.contains_key("patternProperties")
        && !o.contains_key("unevaluatedProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// A Lark string literal (JSON escapes, which llguidance's Lark reads).
fn lark_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}
