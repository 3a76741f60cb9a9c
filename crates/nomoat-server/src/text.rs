//! [`ModelText`] over a real model: its tokenizer and chat template (the file's
//! `tokenizer.chat_template`, else the built-in template of its family, else ChatML).

use std::sync::Arc;

use nomoat_chat::{Builtin, ChatTemplate, Content, Message, RenderRequest};
use nomoat_engine::generate::LoadedModel;
use nomoat_tokenizer::DecodeOptions;
use serde_json::{Map, Value};

use crate::model::{ChatMessage, ModelText};

pub struct TokenizerText {
    lm: Arc<LoadedModel>,
    template: ChatTemplate,
    /// Where the template came from, for the startup message.
    pub template_origin: String,
    bos_text: String,
    eos_text: String,
}

impl TokenizerText {
    pub fn new(lm: Arc<LoadedModel>) -> Result<TokenizerText, String> {
        let arch = lm
            .meta_str("general.architecture")
            .unwrap_or("")
            .to_string();
        let name = lm.meta_str("general.name").map(str::to_string);
        let (source, origin) = match lm.chat_template() {
            Some(t) => (t.to_string(), "the model file's chat template".to_string()),
            None => {
                let b = Builtin::detect(&arch, name.as_deref()).unwrap_or(Builtin::ChatMl);
                (
                    b.source().to_string(),
                    format!("built-in template '{}'", b.name()),
                )
            }
        };
        let template = ChatTemplate::new(&source).map_err(|e| format!("chat template: {e}"))?;
        let text_of = |id: Option<u32>| {
            id.map(|i| lm.tokenizer.vocab().token_text(i).to_string())
                .unwrap_or_default()
        };
        let bos_text = text_of(lm.tokenizer.bos());
        let eos_text = text_of(lm.tokenizer.eos());
        Ok(TokenizerText {
            lm,
            template,
            template_origin: origin,
            bos_text,
            eos_text,
        })
    }
}

impl ModelText for TokenizerText {
    fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, String> {
        Ok(self.lm.tokenizer.encode(text, add_special, parse_special))
    }

    fn detokenize(&self, ids: &[u32]) -> String {
        let opts = DecodeOptions {
            remove_special: false,
            unparse_special: true,
        };
        String::from_utf8_lossy(&self.lm.tokenizer.detokenize(ids, opts)).into_owned()
    }

    fn token_bytes(&self, id: u32) -> Vec<u8> {
        self.lm.tokenizer.token_to_piece(id, true)
    }

    fn is_eog(&self, id: u32) -> bool {
        self.lm.tokenizer.is_eog(id)
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<(String, bool), String> {
        let messages = messages
            .iter()
            .map(|m| {
                let mut extra = Map::new();
                if let Some(n) = &m.name {
                    extra.insert("name".into(), Value::String(n.clone()));
                }
                if let Some(t) = &m.tool_calls {
                    extra.insert("tool_calls".into(), t.clone());
                }
                if let Some(t) = &m.tool_call_id {
                    extra.insert("tool_call_id".into(), Value::String(t.clone()));
                }
                Message {
                    role: m.role.clone(),
                    content: m.content.clone().map_or(Content::Null, Content::Text),
                    extra,
                }
            })
            .collect();
        let req = RenderRequest {
            messages,
            add_generation_prompt: true,
            bos_token: self.bos_text.clone(),
            eos_token: self.eos_text.clone(),
            ..Default::default()
        };
        let prompt = self.template.render(&req).map_err(|e| e.to_string())?;
        // Templates usually write BOS themselves; do not add a second one.
        let has_bos = !self.bos_text.is_empty() && prompt.starts_with(&self.bos_text);
        Ok((prompt, !has_bos))
    }
}
