//! The served model as the HTTP layer sees it: the engine, plus the text side (tokenizer and chat
//! template) behind [`ModelText`], so router tests can run on a fake model.

use std::sync::Arc;

use nomoat_chat::{ChatError, ChatPrompt, Message, TemplateError};
use nomoat_engine::scheduler::Engine;

/// Why the text side could not make a prompt.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The model has no usable chat template (see `nomoat_chat::ModelTemplate::for_model`).
    #[error(transparent)]
    NoTemplate(#[from] Arc<ChatError>),
    #[error(transparent)]
    Render(#[from] TemplateError),
}

/// Tokenizer and chat template of the served model.
pub trait ModelText: Send + Sync + 'static {
    /// Token ids of `text`; `add_special` adds BOS (etc.) as the model wants, `parse_special`
    /// turns special-token text like `<|im_end|>` into its id.
    fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32>;
    /// Text of a token sequence (special tokens rendered as their text).
    fn detokenize(&self, ids: &[u32]) -> String;
    /// Bytes of one token, as it contributes to the output text.
    fn token_bytes(&self, id: u32) -> Vec<u8>;
    fn is_eog(&self, id: u32) -> bool;
    /// The prompt for a conversation (validated messages, see `params::messages`), ending where
    /// the assistant's answer starts; and whether tokenizing it should still add BOS (false when
    /// the template already wrote it).
    fn render_chat(&self, messages: &[Message]) -> Result<ChatPrompt, TextError>;
    /// [`ModelText::render_chat`] with the request's `tools` and extra template variables
    /// (`chat_template_kwargs`, `reasoning_effort`). Fakes without a template engine render the
    /// messages alone.
    fn render_chat_with(
        &self,
        messages: &[Message],
        extras: &RenderExtras,
    ) -> Result<ChatPrompt, TextError> {
        let _ = extras;
        self.render_chat(messages)
    }
    /// What llama-server's `/props` and `/infill` and vLLM's `/tokenizer_info` report: file,
    /// template and special tokens. The default (nothing known) suits fakes without them.
    fn info(&self) -> ModelInfo {
        ModelInfo::default()
    }
    /// The grammar side of the vocabulary, for `response_format` and tool calls (built once per
    /// model, on first use). Fakes without a real vocabulary say why not.
    fn grammars(&self) -> Result<Arc<nomoat_grammar::Grammars>, String> {
        Err("this model has no vocabulary for grammars".into())
    }
    /// Source of the chat template in use (Ollama's `/api/show` `template`), if there is one.
    fn chat_template(&self) -> Option<String> {
        self.info().chat_template
    }
}

/// What a chat request gives the template besides its messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderExtras {
    /// OpenAI's `tools` array as sent, for the template's `tools` variable.
    pub tools: Option<serde_json::Value>,
    /// More variables (`enable_thinking`, `reasoning_effort`, ...); never replace `messages`,
    /// `tools`, `bos_token`, `eos_token` or `add_generation_prompt`.
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// The served file, its chat template source and its special token ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    pub path: Option<String>,
    pub chat_template: Option<String>,
    /// Whether tokenizing with `add_special` starts with BOS.
    pub add_bos: bool,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub pad: Option<u32>,
    pub unk: Option<u32>,
    /// Fill-in-the-middle tokens (from the GGUF keys, or found by their text as llama.cpp does).
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// A loaded model ready to serve.
pub struct Served {
    /// The name `/v1/models` lists and requests may name.
    pub id: String,
    /// Unix seconds the model was loaded.
    pub created: u64,
    pub engine: Engine,
    pub text: Arc<dyn ModelText>,
}

impl Served {
    pub fn piece(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.text.token_bytes(id)).into_owned()
    }
}
