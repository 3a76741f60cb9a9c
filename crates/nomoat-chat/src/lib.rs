//! nomoat-chat: Hugging Face chat templates rendered with minijinja in a sandbox.
//!
//! - [`ChatTemplate::new`] checks a template's size and syntax; [`ChatTemplate::render`] renders a
//!   [`RenderRequest`] byte for byte as transformers' `apply_chat_template` does (jinja2 with
//!   `trim_blocks`, `lstrip_blocks`, loop controls, Python string/dict methods, HF's `tojson`,
//!   `raise_exception` and `strftime_now`).
//! - Every render is bounded by [`Limits`]: fuel, output size, value size, recursion. No loader
//!   is configured, so `include`/`import`/`extends` cannot read files.
//! - [`ModelTemplate::for_model`] is the one policy that picks a model's template (explicit
//!   choice → the file's → built-in by name → built-in by vocabulary → [`ChatError`]); `run`,
//!   `serve` and `template` all use it.
#![forbid(unsafe_code)]

mod builtin;
pub mod clock;
mod constfold;
mod env;
mod error;
mod message;
mod policy;
mod pyfmt;
mod pymethods;
pub mod reasoning;
mod sandbox;
mod template;
pub mod tools;

pub use builtin::{builtin_for, Builtin};
pub use error::{Limit, TemplateError};
pub use message::{Content, Message};
pub use policy::{
    ChatError, ChatPrompt, ModelHints, ModelTemplate, TemplateChoice, TemplateOrigin,
};
pub use sandbox::Limits;
pub use template::{ChatTemplate, RenderRequest};

/// Renders `source` with `req`, for fuzzing: any template text and input must return, never
/// panic or exhaust memory.
pub fn render_str(source: &str, req: &RenderRequest) -> Result<String, TemplateError> {
    ChatTemplate::new(source)?.render(req)
}
