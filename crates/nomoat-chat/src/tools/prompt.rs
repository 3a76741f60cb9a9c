//! Tools for templates that know nothing of them (SmolLM, Gemma, Phi, most base-model
//! templates): the tool list and the [`ToolFormat::Generic`](super::ToolFormat::Generic) reply
//! shape go into the system message, and earlier calls and results are written into the
//! history as that same JSON, so the model sees its own format on every turn.

use serde_json::{json, Value};

use super::{ToolChoice, ToolDef};
use crate::message::{Content, Message};

/// What a template's source reads, so only what it cannot show is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateReads {
    /// The template reads the `tools` variable.
    pub tools: bool,
    /// The template writes assistant `tool_calls`.
    pub tool_calls: bool,
    /// The template has a branch for `tool` messages (else they become `user` messages).
    pub tool_role: bool,
}

impl TemplateReads {
    pub fn of(source: &str) -> TemplateReads {
        TemplateReads {
            tools: source.contains("tools"),
            tool_calls: source.contains("tool_calls"),
            tool_role: source.contains("'tool'") || source.contains("\"tool\""),
        }
    }
}

/// The system text for the generic format: the tools as JSON and the exact reply shape.
pub fn generic_instructions(tools: &[ToolDef], choice: &ToolChoice, parallel: bool) -> String {
    let list: Vec<Value> = tools
        .iter()
        .map(|t| {
            let mut v = json!({"name": t.name, "parameters": t.parameters});
            if let Some(d) = &t.description {
                v["description"] = json!(d);
            }
            v
        })
        .collect();
    let list = serde_json::to_string_pretty(&list).unwrap_or_default();
    // One call in the example either way: with `, ...` in it a small model copies the
    // ellipsis and repeats its call until max_tokens.
    let call = if parallel {
        "{\"tool_calls\": [{\"name\": \"TOOL_NAME\", \"arguments\": {...}}]}\n\
         Add more calls to the list only when the request needs several different calls."
    } else {
        r#"{"tool_calls": [{"name": "TOOL_NAME", "arguments": {...}}]}"#
    };
    let how = match choice {
        ToolChoice::Function(name) => {
            format!("You must call the tool `{name}`. Reply with only this JSON object:\n{call}")
        }
        ToolChoice::Required => {
            format!("You must call a tool. Reply with only this JSON object:\n{call}")
        }
        ToolChoice::Auto | ToolChoice::None => format!(
            "To call tools, reply with only this JSON object:\n{call}\n\
             To answer without a tool, reply with only:\n{{\"response\": \"your answer\"}}"
        ),
    };
    format!("You can use these tools:\n{list}\n\n{how}")
}

/// `system` with the tool instructions added: appended to the first system message, or a new
/// system message in front.
pub fn with_instructions(messages: &[Message], instructions: &str) -> Vec<Message> {
    let mut out = messages.to_vec();
    match out.first_mut() {
        Some(m) if m.role == "system" => {
            let text = m.content.flatten_text().unwrap_or_default();
            m.content = Content::Text(if text.is_empty() {
                instructions.to_string()
            } else {
                format!("{text}\n\n{instructions}")
            });
        }
        _ => out.insert(0, Message::new("system", instructions)),
    }
    out
}

/// The history as a template that cannot show tool traffic should see it: assistant
/// `tool_calls` become the generic JSON as content (when the template does not write them),
/// `tool` messages become `{"tool_response": …}` content (as `user` messages when the template
/// has no `tool` branch).
pub fn generic_history(messages: &[Message], reads: TemplateReads) -> Vec<Message> {
    messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m.role == "assistant" && !reads.tool_calls {
                if let Some(Value::Array(calls)) = m.extra.remove("tool_calls") {
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|c| {
                            let f = c.get("function").unwrap_or(c);
                            let args = match f.get("arguments") {
                                Some(Value::String(s)) => {
                                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                                }
                                Some(v) => v.clone(),
                                None => json!({}),
                            };
                            json!({"name": f.get("name").cloned().unwrap_or(Value::Null), "arguments": args})
                        })
                        .collect();
                    let prior = m.content.flatten_text().unwrap_or_default();
                    let call_json = one_line(&json!({"tool_calls": calls}));
                    m.content = Content::Text(if prior.is_empty() {
                        call_json
                    } else {
                        format!("{prior}\n{call_json}")
                    });
                }
            } else if m.role == "tool" && !reads.tool_calls {
                let id = m.extra.remove("tool_call_id");
                let name = m.extra.remove("name");
                let mut resp = json!({"content": m.content.flatten_text().unwrap_or_default()});
                if let Some(n) = name {
                    resp["name"] = n;
                }
                if let Some(i) = id {
                    resp["tool_call_id"] = i;
                }
                m.content = Content::Text(one_line(&json!({"tool_response": resp})));
                if !reads.tool_role {
                    m.role = "user".into();
                }
            }
            m
        })
        .collect()
}

/// JSON on one line with `", "` and `": "`: the layout the generic grammar enforces, so the
/// model sees its past calls written the way it must write the next one.
fn one_line(v: &Value) -> String {
    struct Spaced;
    impl serde_json::ser::Formatter for Spaced {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
    // Writing a Value to a Vec cannot fail.
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Vec<ToolDef> {
        vec![ToolDef {
            name: "get_weather".into(),
            description: Some("Weather in a city".into()),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }]
    }

    #[test]
    fn instructions_name_tools_and_shape() {
        let s = generic_instructions(&defs(), &ToolChoice::Auto, true);
        assert!(s.contains("\"get_weather\"") && s.contains("Weather in a city"));
        assert!(s.contains("\"response\"") && s.contains("\"tool_calls\""));
        let s = generic_instructions(&defs(), &ToolChoice::Function("get_weather".into()), false);
        assert!(s.contains("must call the tool `get_weather`") && !s.contains("\"response\""));
    }

    #[test]
    fn system_message_is_extended_or_added() {
        let m = with_instructions(&[Message::new("user", "hi")], "TOOLS");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, "system");
        let m = with_instructions(
            &[
                Message::new("system", "Be brief."),
                Message::new("user", "hi"),
            ],
            "TOOLS",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].content, Content::Text("Be brief.\n\nTOOLS".into()));
    }

    #[test]
    fn history_becomes_generic_json() {
        let mut a = Message {
            role: "assistant".into(),
            content: Content::Null,
            extra: Default::default(),
        };
        a.extra.insert(
            "tool_calls".into(),
            json!([{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]),
        );
        let mut t = Message::new("tool", "18C");
        t.extra.insert("tool_call_id".into(), json!("call_1"));
        let reads = TemplateReads::of("{{ message['role'] }} {{ message['content'] }}");
        let out = generic_history(&[a, t], reads);
        assert_eq!(
            out[0].content,
            Content::Text(
                r#"{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}"#
                    .into()
            )
        );
        assert!(!out[0].extra.contains_key("tool_calls"));
        assert_eq!(out[1].role, "user");
        assert_eq!(
            out[1].content,
            Content::Text(
                r#"{"tool_response": {"content": "18C", "tool_call_id": "call_1"}}"#.into()
            )
        );
    }
}
