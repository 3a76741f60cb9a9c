//! Tools and reasoning for the chat routes: what the template is given, the grammar that keeps
//! a tool call well-formed, and the parser that turns the reply back into `content`,
//! `reasoning_content` and `tool_calls` (`nomoat_chat::tools` does the formats; this module
//! decides per request and model).
//!
//! Per request: the tool-call format is picked from the model's chat template
//! (`ToolFormat::detect`). A template that reads `tools` gets them as sent; one that does not
//! (SmolLM, Gemma, Phi, ...) gets the generic instructions in its system message and its
//! history rewritten into the generic JSON. `tool_choice` `required` and a named function are
//! enforced by grammar from the first token; `auto` by a lazy grammar that starts when the
//! model opens a call (or, for the generic format, by a grammar that allows a call or
//! `{"response": …}`).

use std::collections::HashMap;
use std::sync::Arc;

use nomoat_chat::reasoning::ThinkTags;
use nomoat_chat::tools::{
    self, Delta, GrammarOptions, ParsedOutput, ParserConfig, TemplateReads, ToolChoice, ToolDef,
    ToolFormat, ToolGrammar,
};
use nomoat_chat::Message;
use nomoat_engine::sample::{Both, ConstraintBox, ThinkBudget};
use nomoat_grammar::OutputSpec;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::gen;
use crate::model::{RenderExtras, Served};
use crate::params::{self, Fields};
use crate::structured;

/// What the request asked for.
#[derive(Debug, Clone, Default)]
pub struct ChatAsk {
    tools: Option<ToolAsk>,
    /// `chat_template_kwargs` and `reasoning_effort`, as template variables.
    vars: Map<String, Value>,
}

#[derive(Debug, Clone)]
struct ToolAsk {
    defs: Vec<ToolDef>,
    /// `tools` as sent (templates read OpenAI's shape).
    raw: Value,
    choice: ToolChoice,
    parallel: bool,
}

impl ChatAsk {
    /// Whether the reply must (or may) be a tool call, so a grammar of the tools applies.
    pub fn wants_tools(&self) -> bool {
        self.tools
            .as_ref()
            .is_some_and(|t| t.choice != ToolChoice::None)
    }
}

/// Variables the template always gets from elsewhere; `chat_template_kwargs` may not set them.
const RESERVED_VARS: &[&str] = &[
    "messages",
    "tools",
    "add_generation_prompt",
    "bos_token",
    "eos_token",
];

/// Reads `tools`, `tool_choice`, `parallel_tool_calls`, `reasoning_effort` and
/// `chat_template_kwargs`.
pub fn read(f: &Fields<'_>) -> Result<ChatAsk, ApiError> {
    let tool_err = |field: &'static str| move |e: tools::ToolError| ApiError::invalid(field, e.0);
    let defs = match f.get("tools") {
        None => Vec::new(),
        Some(v) => tools::tool_defs(v).map_err(tool_err("tools"))?,
    };
    let choice = ToolChoice::from_openai(f.get("tool_choice"), !defs.is_empty())
        .map_err(tool_err("tool_choice"))?;
    if defs.is_empty() && !matches!(choice, ToolChoice::None | ToolChoice::Auto) {
        return Err(ApiError::invalid(
            "tool_choice",
            "'tool_choice' asks for a tool call but 'tools' is empty or absent",
        ));
    }
    if let ToolChoice::Function(name) = &choice {
        if !defs.iter().any(|d| &d.name == name) {
            return Err(ApiError::invalid(
                "tool_choice",
                format!("'tool_choice' names function '{name}', which is not in 'tools'"),
            ));
        }
    }
    let parallel = f.bool("parallel_tool_calls")?.unwrap_or(true);
    let tools = (!defs.is_empty()).then(|| ToolAsk {
        defs,
        raw: f.get("tools").cloned().unwrap_or(Value::Null),
        choice,
        parallel,
    });

    let mut vars = Map::new();
    match f.get("chat_template_kwargs") {
        None => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                if RESERVED_VARS.contains(&k.as_str()) {
                    return Err(ApiError::invalid(
                        format!("chat_template_kwargs.{k}"),
                        format!("'chat_template_kwargs.{k}': '{k}' is set by the server, not by a template kwarg"),
                    ));
                }
                vars.insert(k.clone(), v.clone());
            }
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "chat_template_kwargs",
                "'chat_template_kwargs' must be an object",
            ))
        }
    }
    if let Some(effort) = f.string("reasoning_effort")? {
        if !matches!(effort, "none" | "minimal" | "low" | "medium" | "high") {
            return Err(ApiError::invalid(
                "reasoning_effort",
                format!(
                    "'reasoning_effort' must be none, minimal, low, medium or high, not '{effort}'"
                ),
            ));
        }
        vars.entry("reasoning_effort")
            .or_insert_with(|| Value::String(effort.to_string()));
    }
    Ok(ChatAsk { tools, vars })
}

/// Everything the route needs to run and answer the request.
pub struct Plan {
    pub ids: Vec<u32>,
    pub parser: ParserConfig,
    /// The tool-call grammar, when a call is to be enforced.
    pub grammar: Option<ToolGrammar>,
    /// Whether the tool parser needs control tokens as text.
    pub render_special: bool,
}

/// Renders and tokenizes the conversation with what `ask` adds, and works out how the reply is
/// constrained and parsed.
pub async fn prepare(
    served: &Arc<Served>,
    messages: Vec<Message>,
    ask: &ChatAsk,
) -> Result<Plan, ApiError> {
    let source = served.text.chat_template().unwrap_or_default();
    let format = ToolFormat::detect(&source);
    let reads = TemplateReads::of(&source);
    let tool_ask = ask.tools.as_ref().filter(|t| t.choice != ToolChoice::None);

    // Variables the template never reads change nothing: say so (x-nomoat-no-effect).
    for k in ask.vars.keys() {
        if !source.contains(k.as_str()) {
            if k == "reasoning_effort" {
                params::note_no_effect("reasoning_effort");
            } else {
                params::note_no_effect(&format!("chat_template_kwargs.{k}"));
            }
        }
    }

    let mut messages: Vec<Message> = messages
        .iter()
        .map(Message::with_parsed_tool_arguments)
        .collect();
    let mut extras = RenderExtras {
        tools: None,
        vars: ask.vars.clone(),
    };
    if format == ToolFormat::Generic {
        messages = tools::generic_history(&messages, reads);
    }
    if let Some(t) = tool_ask {
        if format == ToolFormat::Generic && !reads.tools {
            let text = tools::generic_instructions(&t.defs, &t.choice, t.parallel);
            messages = tools::with_instructions(&messages, &text);
        } else {
            extras.tools = Some(t.raw.clone());
        }
    }

    let grammar = match tool_ask {
        Some(t) => {
            let opts = GrammarOptions {
                parallel_tool_calls: t.parallel,
                special_tokens: special_markers(served, format),
            };
            tools::tool_grammar(format, &t.defs, &t.choice, &opts)
                .map_err(|e| ApiError::invalid("tool_choice", e.0))?
        }
        None => None,
    };

    let (ids, prompt) = gen::chat_prompt(served, messages, extras).await?;
    let reasoning = ThinkTags::detect(&source);
    let starts_in_reasoning = reasoning.as_ref().is_some_and(|r| r.prompt_opens(&prompt));
    let parser = ParserConfig {
        format,
        tools: tool_ask.is_some(),
        reasoning,
        starts_in_reasoning,
        id_seed: nomoat_engine::sample::entropy_seed(),
    };
    Ok(Plan {
        ids,
        render_special: tool_ask.is_some() || format == ToolFormat::Harmony,
        parser,
        grammar,
    })
}

/// The format's markers that are single special tokens of this vocabulary (the grammar must
/// name those by id).
fn special_markers(served: &Served, format: ToolFormat) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for &m in format.markers() {
        let special = served.text.tokenize(m, false, true);
        if let [id] = special[..] {
            if served.text.tokenize(m, false, false) != special {
                out.insert(m.to_string(), id);
            }
        }
    }
    out
}

/// One constraint per choice for the tool grammar (lazy for `auto`).
pub async fn constraints(
    served: &Arc<Served>,
    grammar: &ToolGrammar,
    n: usize,
) -> Result<Vec<Option<ConstraintBox>>, ApiError> {
    let compiled =
        structured::compile_as(served, OutputSpec::Lark(grammar.lark.clone()), "tools").await?;
    if grammar.lazy {
        let triggers: Vec<nomoat_grammar::Trigger> = grammar
            .triggers
            .iter()
            .map(|t| nomoat_grammar::Trigger {
                text: t.text.clone(),
                at_start: t.at_start,
            })
            .collect();
        return Ok((0..n)
            .map(|_| Some(compiled.lazy_constraint(&triggers)))
            .collect());
    }
    Ok((0..n).map(|_| Some(compiled.constraint())).collect())
}

/// Adds a [`ThinkBudget`](nomoat_engine::sample::ThinkBudget) to every choice's constraint when
/// the request set `thinking_budget` and the model's template has reasoning tags: the tags are
/// spotted in the text, the close tag is forced as the tokenizer writes it (special tokens
/// parsed).
pub fn with_thinking_budget(
    served: &Arc<Served>,
    constraints: Vec<Option<ConstraintBox>>,
    parser: &ParserConfig,
    budget: Option<usize>,
) -> Vec<Option<ConstraintBox>> {
    let (Some(budget), Some(tags)) = (budget, parser.reasoning.as_ref()) else {
        if budget.is_some() {
            params::note_no_effect("thinking_budget");
        }
        return constraints;
    };
    let close = served.text.tokenize(&tags.close, false, true);
    let text = served.clone();
    let piece: nomoat_engine::sample::PieceFn = Arc::new(move |id| text.piece(id));
    constraints
        .into_iter()
        .map(|c| {
            let b = ConstraintBox(Box::new(ThinkBudget::new(
                &tags.open,
                &tags.close,
                close.clone(),
                piece.clone(),
                budget,
                parser.starts_in_reasoning,
            )));
            Some(match c {
                Some(c) => ConstraintBox(Box::new(Both(c, b))),
                None => b,
            })
        })
        .collect()
}

/// OpenAI's `message` for a parsed reply.
pub fn message_json(p: &ParsedOutput) -> Value {
    let mut m = json!({
        "role": "assistant",
        "content": if p.content.is_empty() && !p.tool_calls.is_empty() {
            Value::Null
        } else {
            Value::String(p.content.clone())
        },
    });
    if !p.reasoning_content.is_empty() {
        m["reasoning_content"] = json!(p.reasoning_content);
    }
    if !p.tool_calls.is_empty() {
        m["tool_calls"] = p
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect();
    }
    m
}

/// OpenAI's `delta` for one parser delta.
pub fn delta_json(d: &Delta) -> Value {
    match d {
        Delta::Reasoning(t) => json!({"reasoning_content": t}),
        Delta::Content(t) => json!({"content": t}),
        Delta::ToolCall(c) => {
            let mut call = json!({"index": c.index, "function": {"arguments": c.arguments}});
            if let Some(id) = &c.id {
                call["id"] = json!(id);
                call["type"] = json!("function");
            }
            if let Some(name) = &c.name {
                call["function"]["name"] = json!(name);
            }
            json!({"tool_calls": [call]})
        }
    }
}
