//! OpenAI-style chat messages, as the HTTP server receives them and the templates see them.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// One chat message. Fields other than `role` and `content` (`tool_calls`, `name`,
/// `tool_call_id`, `reasoning_content`, ...) are kept in `extra`, in their original order, and
/// reach the template unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Content,
    #[serde(flatten)]
    pub extra: Map<String, Json>,
}

/// A message's `content`: a string, `null` (or absent), or a list of parts such as
/// `{"type": "text", "text": "..."}`. Parts are passed to templates as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    #[default]
    Null,
    Text(String),
    Parts(Vec<Json>),
}

impl Message {
    /// A message with string content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            role: role.into(),
            content: Content::Text(content.into()),
            extra: Map::new(),
        }
    }

    /// The JSON object a template sees, built as Hugging Face's `apply_chat_template` does:
    /// keys whose value is `null` are dropped, so `content: null` means "no `content` key".
    pub fn to_template_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("role".into(), Json::String(self.role.clone()));
        match &self.content {
            Content::Null => {}
            Content::Text(s) => {
                m.insert("content".into(), Json::String(s.clone()));
            }
            Content::Parts(p) => {
                m.insert("content".into(), Json::Array(p.clone()));
            }
        }
        for (k, v) in &self.extra {
            if !v.is_null() && k != "role" && k != "content" {
                m.insert(k.clone(), v.clone());
            }
        }
        Json::Object(m)
    }

    /// This message with list content flattened to a string (see [`Content::flatten_text`]), for
    /// templates that only handle string content.
    pub fn with_flattened_content(&self) -> Message {
        let mut m = self.clone();
        if let Some(text) = self.content.flatten_text() {
            m.content = Content::Text(text);
        }
        m
    }
}

impl Message {
    /// This message with every `tool_calls[i].function.arguments` that is a JSON string holding
    /// an object replaced by that object. OpenAI clients send arguments as strings, while most
    /// chat templates (Qwen, Hermes, Llama 3.1, ...) iterate them as a mapping; llama.cpp's server
    /// converts them the same way. Strings that are not JSON objects are left as they are.
    pub fn with_parsed_tool_arguments(&self) -> Message {
        let mut m = self.clone();
        if let Some(Json::Array(calls)) = m.extra.get_mut("tool_calls") {
            for call in calls {
                let Some(args) = call
                    .get_mut("function")
                    .and_then(|f| f.get_mut("arguments"))
                else {
                    continue;
                };
                if let Some(text) = args.as_str() {
                    if let Ok(obj @ Json::Object(_)) = serde_json::from_str::<Json>(text) {
                        *args = obj;
                    }
                }
            }
        }
        m
    }
}

impl Content {
    /// The text of the content: the string itself, or the `text` of every `{"type": "text"}`
    /// part joined with no separator (OpenAI's convention). `None` for `null` content or when a
    /// part is not text (an image, say), so callers can refuse what they cannot show.
    pub fn flatten_text(&self) -> Option<String> {
        match self {
            Content::Null => None,
            Content::Text(s) => Some(s.clone()),
            Content::Parts(parts) => {
                let mut out = String::new();
                for p in parts {
                    let is_text = p.get("type").and_then(Json::as_str) == Some("text");
                    match p.get("text").and_then(Json::as_str) {
                        Some(t) if is_text => out.push_str(t),
                        _ => return None,
                    }
                }
                Some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_messages_and_keeps_extra_fields_in_order() {
        let m: Message = serde_json::from_str(
            r#"{"role":"assistant","content":null,"tool_calls":[{"id":"1"}],"name":"x","reasoning_content":null}"#,
        )
        .unwrap();
        assert_eq!(m.content, Content::Null);
        let j = m.to_template_json();
        let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["role", "tool_calls", "name"]);
    }

    #[test]
    fn tool_arguments_strings_become_objects() {
        let m: Message = serde_json::from_str(
            r#"{"role":"assistant","content":null,"tool_calls":[
                {"function":{"name":"f","arguments":"{\"b\": 1, \"a\": [2]}"}},
                {"function":{"name":"g","arguments":"not json"}},
                {"function":{"name":"h","arguments":{"x":1}}}]}"#,
        )
        .unwrap();
        let p = m.with_parsed_tool_arguments();
        let calls = p.extra["tool_calls"].as_array().unwrap();
        assert_eq!(
            calls[0]["function"]["arguments"].to_string(),
            r#"{"b":1,"a":[2]}"#
        );
        assert_eq!(calls[1]["function"]["arguments"], "not json");
        assert_eq!(calls[2]["function"]["arguments"]["x"], 1);
    }

    #[test]
    fn content_variants() {
        let m: Message = serde_json::from_str(r#"{"role":"user"}"#).unwrap();
        assert_eq!(m.content, Content::Null);
        let m: Message = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(m.content.flatten_text().as_deref(), Some("ab"));
        assert_eq!(
            m.with_flattened_content().content,
            Content::Text("ab".into())
        );
        let img: Content =
            serde_json::from_str(r#"[{"type":"image_url","image_url":{"url":"x"}}]"#).unwrap();
        assert_eq!(img.flatten_text(), None);
        assert!(serde_json::from_str::<Message>(r#"{"role":"user","content":5}"#).is_err());
    }
}
