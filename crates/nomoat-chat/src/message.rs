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
