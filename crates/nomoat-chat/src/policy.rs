//! The one chat-template policy: which template a model is chatted with. `nomoat run`,
//! `nomoat serve` and `nomoat template` all call [`ModelTemplate::for_model`], so they render the
//! same prompt for the same file.
//!
//! In order: an explicit choice ([`TemplateChoice`]: `--chat-template`, `--template`,
//! `--builtin`) → the file's `tokenizer.chat_template` → the built-in chosen by the model's name
//! and architecture ([`Builtin::detect`]) → the built-in chosen by the vocabulary's special
//! tokens ([`Builtin::detect_from_tokens`]) → [`ChatError::NoTemplate`]. There is deliberately no
//! silent last resort: a wrong template gives fluent nonsense, an error says what to pass.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::builtin::Builtin;
use crate::error::TemplateError;
use crate::message::Message;
use crate::template::{ChatTemplate, RenderRequest};

/// A template given explicitly, overriding the model's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateChoice {
    Builtin(Builtin),
    /// Jinja source read from `path`.
    File {
        path: PathBuf,
        source: String,
    },
}

impl TemplateChoice {
    /// A command-line value: the name of a built-in (`chatml`, `gemma`, ...) or a path to a
    /// Jinja file.
    pub fn from_arg(arg: &str) -> Result<TemplateChoice, ChatError> {
        if let Some(b) = Builtin::from_name(arg) {
            return Ok(TemplateChoice::Builtin(b));
        }
        TemplateChoice::from_file(Path::new(arg))
    }

    /// The Jinja file at `path`.
    pub fn from_file(path: &Path) -> Result<TemplateChoice, ChatError> {
        match std::fs::read_to_string(path) {
            Ok(source) => Ok(TemplateChoice::File {
                path: path.to_path_buf(),
                source,
            }),
            Err(source) => Err(ChatError::ReadTemplate {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The built-in named `name`, or an error listing the names.
    pub fn builtin(name: &str) -> Result<TemplateChoice, ChatError> {
        Builtin::from_name(name)
            .map(TemplateChoice::Builtin)
            .ok_or_else(|| ChatError::UnknownBuiltin {
                name: name.to_string(),
            })
    }
}

/// Where the template in use came from (for banners and error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateOrigin {
    /// A built-in asked for by name.
    ChosenBuiltin(Builtin),
    /// A Jinja file given explicitly.
    ChosenFile(PathBuf),
    /// The model file's `tokenizer.chat_template`.
    File,
    /// A built-in chosen by `general.architecture` / `general.name`.
    BuiltinByName(Builtin),
    /// A built-in chosen by the vocabulary's special tokens.
    BuiltinByVocab(Builtin),
}

impl fmt::Display for TemplateOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateOrigin::ChosenBuiltin(b) => write!(f, "built-in template '{}'", b.name()),
            TemplateOrigin::ChosenFile(p) => write!(f, "template {}", p.display()),
            TemplateOrigin::File => f.write_str("the model file's chat template"),
            TemplateOrigin::BuiltinByName(b) => write!(
                f,
                "built-in template '{}' (chosen by the model's name and architecture; the file has none)",
                b.name()
            ),
            TemplateOrigin::BuiltinByVocab(b) => write!(
                f,
                "built-in template '{}' (chosen by the vocabulary's special tokens; the file has none)",
                b.name()
            ),
        }
    }
}

/// Why no template could be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(
        "the model has no chat template and no built-in one fits it (architecture `{arch}`{}); \
         pass one (--chat-template NAME|FILE.jinja; built-ins: {}) or complete a prompt without \
         the chat format",
        name.as_deref().map(|n| format!(", name {n:?}")).unwrap_or_default(),
        builtin_names()
    )]
    NoTemplate { arch: String, name: Option<String> },
    #[error(
        "unknown built-in template {name:?}; choose one of {}",
        builtin_names()
    )]
    UnknownBuiltin { name: String },
    #[error("cannot read template {}: {source}", path.display())]
    ReadTemplate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the model's metadata: {0}")]
    Metadata(#[from] nomoat_gguf::GgufError),
    #[error("`{key}` = {id} is not a token of the vocabulary ({n_vocab} tokens)")]
    BadSpecialToken {
        key: &'static str,
        id: u32,
        n_vocab: usize,
    },
    #[error("in {origin}: {source}")]
    Compile {
        origin: TemplateOrigin,
        #[source]
        source: TemplateError,
    },
}

fn builtin_names() -> String {
    Builtin::ALL.map(Builtin::name).join(", ")
}

/// What the policy reads from a model file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelHints<'a> {
    /// `tokenizer.chat_template`.
    pub chat_template: Option<&'a str>,
    /// `general.architecture`.
    pub arch: &'a str,
    /// `general.name`.
    pub name: Option<&'a str>,
    /// Text of the BOS token (`bos_token` in templates; empty when the model has none).
    pub bos_token: &'a str,
    /// Text of the EOS token.
    pub eos_token: &'a str,
}

/// A model's chat template with its BOS/EOS texts: what turns messages into the prompt text.
#[derive(Debug, Clone)]
pub struct ModelTemplate {
    pub template: ChatTemplate,
    pub origin: TemplateOrigin,
    pub bos_token: String,
    pub eos_token: String,
}

/// A rendered conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPrompt {
    pub text: String,
    /// Whether tokenizing `text` should still add BOS: false when the template wrote it
    /// (templates usually do; a second one would change the output).
    pub add_bos: bool,
}

impl ModelTemplate {
    /// Applies the policy (module doc). `tokens` are the vocabulary's token texts; they are only
    /// read when the earlier steps found nothing.
    pub fn for_model<'t>(
        choice: Option<&TemplateChoice>,
        hints: ModelHints<'_>,
        tokens: impl IntoIterator<Item = &'t str>,
    ) -> Result<ModelTemplate, ChatError> {
        let (source, origin): (&str, TemplateOrigin) = match (choice, hints.chat_template) {
            (Some(TemplateChoice::Builtin(b)), _) => {
                (b.source(), TemplateOrigin::ChosenBuiltin(*b))
            }
            (Some(TemplateChoice::File { path, source }), _) => {
                (source.as_str(), TemplateOrigin::ChosenFile(path.clone()))
            }
            (None, Some(t)) => (t, TemplateOrigin::File),
            (None, None) => {
                if let Some(b) = Builtin::detect(hints.arch, hints.name) {
                    (b.source(), TemplateOrigin::BuiltinByName(b))
                } else if let Some(b) = Builtin::detect_from_tokens(tokens) {
                    (b.source(), TemplateOrigin::BuiltinByVocab(b))
                } else {
                    return Err(ChatError::NoTemplate {
                        arch: hints.arch.to_string(),
                        name: hints.name.map(str::to_string),
                    });
                }
            }
        };
        let template = ChatTemplate::new(source).map_err(|source| ChatError::Compile {
            origin: origin.clone(),
            source,
        })?;
        Ok(ModelTemplate {
            template,
            origin,
            bos_token: hints.bos_token.to_string(),
            eos_token: hints.eos_token.to_string(),
        })
    }

    /// [`ModelTemplate::for_model`] over a GGUF's metadata (a vocab-only file is enough):
    /// `tokenizer.chat_template`, `general.architecture`, `general.name`, the BOS/EOS token
    /// texts and the token list. Every command reads the hints through here, so they agree.
    pub fn from_gguf(
        choice: Option<&TemplateChoice>,
        g: &nomoat_gguf::Gguf,
    ) -> Result<ModelTemplate, ChatError> {
        let tokens = g.opt_array("tokenizer.ggml.tokens")?.unwrap_or(&[]);
        let token_text = |key: &'static str| -> Result<&str, ChatError> {
            let Some(id) = g.opt_u32(key)? else {
                return Ok("");
            };
            tokens
                .get(id as usize)
                .and_then(|t| t.as_str())
                .ok_or(ChatError::BadSpecialToken {
                    key,
                    id,
                    n_vocab: tokens.len(),
                })
        };
        let hints = ModelHints {
            chat_template: g.opt_str("tokenizer.chat_template")?,
            arch: g.architecture()?,
            name: g.opt_str("general.name")?,
            bos_token: token_text("tokenizer.ggml.bos_token_id")?,
            eos_token: token_text("tokenizer.ggml.eos_token_id")?,
        };
        ModelTemplate::for_model(choice, hints, tokens.iter().filter_map(|t| t.as_str()))
    }

    /// The request the prompt is rendered from: `messages`, the model's BOS/EOS texts, and the
    /// header that starts the assistant's reply when `add_generation_prompt`.
    pub fn request(&self, messages: Vec<Message>, add_generation_prompt: bool) -> RenderRequest {
        RenderRequest {
            messages,
            add_generation_prompt,
            bos_token: self.bos_token.clone(),
            eos_token: self.eos_token.clone(),
            ..Default::default()
        }
    }

    /// Renders `req` and says whether BOS is still to be added when tokenizing.
    pub fn render(&self, req: &RenderRequest) -> Result<ChatPrompt, TemplateError> {
        let text = self.template.render(req)?;
        let add_bos = req.bos_token.is_empty() || !text.starts_with(&req.bos_token);
        Ok(ChatPrompt { text, add_bos })
    }

    /// The prompt for a conversation, ending where the assistant's answer starts.
    pub fn prompt(&self, messages: &[Message]) -> Result<ChatPrompt, TemplateError> {
        self.render(&self.request(messages.to_vec(), true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints<'a>(tpl: Option<&'a str>, arch: &'a str, name: Option<&'a str>) -> ModelHints<'a> {
        ModelHints {
            chat_template: tpl,
            arch,
            name,
            bos_token: "<s>",
            eos_token: "</s>",
        }
    }

    #[test]
    fn policy_order() {
        let none: [&str; 0] = [];
        let file = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}";
        let t = ModelTemplate::for_model(None, hints(Some(file), "gemma3", None), none).unwrap();
        assert_eq!(t.origin, TemplateOrigin::File);
        let p = t.prompt(&[Message::new("user", "hi")]).unwrap();
        assert_eq!(p.text, "<s>hi");
        assert!(!p.add_bos);

        let t = ModelTemplate::for_model(None, hints(None, "gemma3", None), none).unwrap();
        assert_eq!(t.origin, TemplateOrigin::BuiltinByName(Builtin::Gemma));

        let t = ModelTemplate::for_model(
            None,
            hints(None, "llama", Some("mystery")),
            ["<s>", "<|im_start|>"],
        )
        .unwrap();
        assert_eq!(t.origin, TemplateOrigin::BuiltinByVocab(Builtin::ChatMl));

        let e = ModelTemplate::for_model(None, hints(None, "llama", Some("mystery")), ["<s>"])
            .unwrap_err();
        assert!(matches!(e, ChatError::NoTemplate { .. }), "{e}");
        assert!(e.to_string().contains("--chat-template"), "{e}");

        let choice = TemplateChoice::builtin("chatml").unwrap();
        let t = ModelTemplate::for_model(Some(&choice), hints(Some(file), "gemma3", None), none)
            .unwrap();
        assert_eq!(t.origin, TemplateOrigin::ChosenBuiltin(Builtin::ChatMl));
        assert!(TemplateChoice::builtin("nope").is_err());
    }
}
