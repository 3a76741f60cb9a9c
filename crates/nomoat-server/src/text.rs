//! [`ModelText`] over a real model: its tokenizer and the chat template the one policy picks
//! (`nomoat_chat::ModelTemplate::for_model`: an explicit choice, the file's, a built-in by name,
//! a built-in by vocabulary). A model with none still serves completions; chat requests then get
//! the policy's error.

use std::sync::Arc;

use nomoat_chat::{ChatError, ChatPrompt, Message, ModelTemplate, TemplateChoice};
use nomoat_engine::generate::LoadedModel;
use nomoat_tokenizer::DecodeOptions;

use crate::model::{ModelInfo, ModelText, RenderExtras, TextError};

pub struct TokenizerText {
    lm: Arc<LoadedModel>,
    template: Result<ModelTemplate, Arc<ChatError>>,
    /// Built on the first constrained request (the token trie of a 262k vocabulary takes a
    /// moment), then shared.
    grammars: std::sync::OnceLock<Result<Arc<nomoat_grammar::Grammars>, String>>,
}

impl TokenizerText {
    /// The model's text side; `choice` overrides the template (`--chat-template`). A template
    /// that does not compile is an error; a model without any template is not (see the module
    /// doc).
    pub fn new(
        lm: Arc<LoadedModel>,
        choice: Option<&TemplateChoice>,
    ) -> Result<TokenizerText, ChatError> {
        let template = match ModelTemplate::from_gguf(choice, lm.model.file().gguf()) {
            Ok(t) => Ok(t),
            Err(e @ ChatError::NoTemplate { .. }) => Err(Arc::new(e)),
            Err(e) => return Err(e),
        };
        Ok(TokenizerText {
            lm,
            template,
            grammars: std::sync::OnceLock::new(),
        })
    }

    /// Where the template came from, for the startup message.
    pub fn template_origin(&self) -> String {
        match &self.template {
            Ok(t) => t.origin.to_string(),
            Err(_) => "no chat template (chat requests are refused; give --chat-template)".into(),
        }
    }
}

impl ModelText for TokenizerText {
    fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.lm.tokenizer.encode(text, add_special, parse_special)
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

    fn render_chat(&self, messages: &[Message]) -> Result<ChatPrompt, TextError> {
        let t = self
            .template
            .as_ref()
            .map_err(|e| TextError::NoTemplate(e.clone()))?;
        Ok(t.prompt(messages)?)
    }

    fn render_chat_with(
        &self,
        messages: &[Message],
        extras: &RenderExtras,
    ) -> Result<ChatPrompt, TextError> {
        let t = self
            .template
            .as_ref()
            .map_err(|e| TextError::NoTemplate(e.clone()))?;
        let mut req = t.request(messages.to_vec(), true);
        req.tools = extras.tools.clone();
        req.extra = extras.vars.clone();
        Ok(t.render(&req)?)
    }

    fn grammars(&self) -> Result<Arc<nomoat_grammar::Grammars>, String> {
        self.grammars
            .get_or_init(|| {
                nomoat_grammar::Grammars::new(&self.lm.tokenizer)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    fn info(&self) -> ModelInfo {
        let v = self.lm.tokenizer.vocab();
        let sp = v.special();
        ModelInfo {
            path: Some(self.lm.path.display().to_string()),
            chat_template: self
                .template
                .as_ref()
                .ok()
                .map(|t| t.template.source().to_string()),
            add_bos: v.add_bos(),
            bos: sp.bos,
            eos: sp.eos,
            pad: sp.pad,
            unk: sp.unk,
            fim_pre: sp.fim_pre,
            fim_suf: sp.fim_suf,
            fim_mid: sp.fim_mid,
            fim_rep: sp.fim_rep,
            fim_sep: sp.fim_sep,
        }
    }
}
