//! [`ChatTemplate`]: compile once (syntax checked), render per request in the sandbox.
use std::sync::Arc;

use minijinja::machinery::{CodeGenerator, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::ErrorKind;
use serde_json::{Map, Value as Json};

use crate::error::{Limit, TemplateError};
use crate::message::Message;
use crate::sandbox::{self, Budget, Cause, Limits};
use crate::{clock, constfold, env};

const TEMPLATE_NAME: &str = "chat_template";

/// The inputs of one render, as `apply_chat_template` takes them.
#[derive(Debug, Clone, Default)]
pub struct RenderRequest {
    pub messages: Vec<Message>,
    pub add_generation_prompt: bool,
    pub bos_token: String,
    pub eos_token: String,
    /// Tool definitions; `None` is passed to the template as `tools = None`, as transformers does.
    pub tools: Option<Json>,
    /// More template variables (`enable_thinking`, `documents`, `date_string`, ...). They never
    /// replace the variables above.
    pub extra: Map<String, Json>,
    /// Unix seconds for `strftime_now`; `None`: `SOURCE_DATE_EPOCH`, else the clock.
    pub now: Option<i64>,
}

/// A compiled chat template.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: Arc<str>,
    limits: Limits,
}

impl ChatTemplate {
    /// Checks the source's size and syntax with the default [`Limits`].
    pub fn new(source: &str) -> Result<ChatTemplate, TemplateError> {
        ChatTemplate::with_limits(source, Limits::default())
    }

    /// Checks the source's size and syntax.
    pub fn with_limits(source: &str, limits: Limits) -> Result<ChatTemplate, TemplateError> {
        if source.len() > limits.max_template_bytes {
            return Err(TemplateError::Limit(Limit::TemplateSize {
                len: source.len(),
                max: limits.max_template_bytes,
            }));
        }
        let source = generation_tags_to_if(source);
        compile(&source, limits.max_value_bytes)?;
        Ok(ChatTemplate {
            source: source.into(),
            limits,
        })
    }

    /// The template text (after the `{% generation %}` rewrite).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The limits renders run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Renders the prompt. Never panics on any template or input.
    pub fn render(&self, req: &RenderRequest) -> Result<String, TemplateError> {
        let mut ctx = Map::new();
        ctx.insert(
            "messages".into(),
            Json::Array(req.messages.iter().map(Message::to_template_json).collect()),
        );
        ctx.insert("tools".into(), req.tools.clone().unwrap_or(Json::Null));
        ctx.insert("documents".into(), Json::Null);
        ctx.insert(
            "add_generation_prompt".into(),
            Json::Bool(req.add_generation_prompt),
        );
        ctx.insert("bos_token".into(), Json::String(req.bos_token.clone()));
        ctx.insert("eos_token".into(), Json::String(req.eos_token.clone()));
        for (k, v) in &req.extra {
            if !ctx.contains_key(k) || (k == "documents") {
                ctx.insert(k.clone(), v.clone());
            }
        }
        self.render_value(Value::from_serialize(&ctx), req.now)
    }

    /// Renders with an arbitrary root context (for callers that build their own variables).
    pub fn render_context(&self, ctx: &Json, now: Option<i64>) -> Result<String, TemplateError> {
        self.render_value(Value::from_serialize(ctx), now)
    }

    fn render_value(&self, root: Value, now: Option<i64>) -> Result<String, TemplateError> {
        let (main, blocks) = compile(&self.source, self.limits.max_value_bytes)?;
        // `rewrite_all` keeps every instruction's meaning but routes operators, raw text and loop
        // sources through the budgeted functions registered by `env::build`.
        let (main, blocks) = sandbox::rewrite_all(&main, &blocks);
        let budget = Budget::new(self.limits);
        let env = env::build(&budget, now.unwrap_or_else(clock::now_unix));
        let vm = minijinja::machinery::Vm::new(&env);
        let mut out = String::new();
        let result = {
            let mut output = minijinja::machinery::make_string_output(&mut out);
            vm.eval(
                &main,
                root,
                &blocks,
                &mut output,
                minijinja::AutoEscape::None,
            )
            .map(|_| ())
        };
        match result {
            Ok(()) => Ok(out),
            Err(e) => Err(classify(&budget, &e, &self.limits)),
        }
    }
}

type Compiled<'s> = (
    minijinja::machinery::Instructions<'s>,
    std::collections::BTreeMap<&'s str, minijinja::machinery::Instructions<'s>>,
);

/// Parses with jinja2's settings as Hugging Face uses them, and generates instructions.
// `SyntaxConfig` is a unit struct unless another crate turns on minijinja's `custom_syntax`.
#[allow(clippy::default_constructed_unit_structs)]
fn compile(source: &str, max_value: usize) -> Result<Compiled<'_>, TemplateError> {
    let ws = WhitespaceConfig {
        keep_trailing_newline: false,
        lstrip_blocks: true,
        trim_blocks: true,
    };
    let ast = minijinja::machinery::parse(source, TEMPLATE_NAME, SyntaxConfig::default(), ws)
        .map_err(|e| TemplateError::Syntax {
            message: describe(&e),
            line: e.line(),
        })?;
    constfold::check(&ast, max_value)
        .map_err(|_| TemplateError::Limit(Limit::ValueSize { max: max_value }))?;
    let mut g = CodeGenerator::new(TEMPLATE_NAME, source);
    g.compile_stmt(&ast);
    Ok(g.finish())
}

/// transformers adds a `{% generation %}…{% endgeneration %}` tag that outputs its body unchanged
/// (it marks assistant text for training masks). It behaves exactly like `{% if true %}…{% endif %}`,
/// whitespace control included, so the tag names are swapped in place (lines stay put).
fn generation_tags_to_if(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        let (before, tag) = rest.split_at(open);
        out.push_str(before);
        let body = &tag[2..];
        let marker = body.len() - body.trim_start_matches(['-', '+']).len();
        let inner = &body[marker..];
        let ws = inner.len() - inner.trim_start().len();
        let word = &inner[ws..];
        let replaced = [("endgeneration", "endif"), ("generation", "if true")]
            .into_iter()
            .find(|(kw, _)| {
                word.strip_prefix(kw).is_some_and(|after| {
                    let after = after.trim_start().trim_start_matches(['-', '+']);
                    after.starts_with("%}")
                })
            });
        match replaced {
            Some((kw, with)) => {
                out.push_str(&tag[..2 + marker + ws]);
                out.push_str(with);
                rest = &word[kw.len()..];
            }
            None => {
                out.push_str("{%");
                rest = body;
            }
        }
    }
    out.push_str(rest);
    out
}

/// minijinja's message without its location suffix.
fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn classify(budget: &Budget, e: &minijinja::Error, limits: &Limits) -> TemplateError {
    match budget.cause() {
        Some(Cause::Raised(msg)) => return TemplateError::Raised(msg),
        Some(Cause::Limit(l)) => return TemplateError::Limit(l),
        None => {}
    }
    match e.kind() {
        ErrorKind::OutOfFuel => TemplateError::Limit(Limit::Fuel { fuel: limits.fuel }),
        ErrorKind::SyntaxError => TemplateError::Syntax {
            message: describe(e),
            line: e.line(),
        },
        _ if e.detail().is_some_and(|d| d.contains("recursion limit")) => {
            TemplateError::Limit(Limit::Recursion)
        }
        ErrorKind::UndefinedError if e.detail().is_none() => TemplateError::Render {
            message: "undefined value: the template used a variable, key or attribute that does \
                      not exist (jinja2 allows printing or testing those, not using them)"
                .into(),
            line: e.line(),
        },
        _ => TemplateError::Render {
            message: describe(e),
            line: e.line(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_tag_becomes_if_true() {
        assert_eq!(
            generation_tags_to_if("a{%- generation -%}b{% endgeneration +%}{% generations %}"),
            "a{%- if true -%}b{% endif +%}{% generations %}"
        );
        assert_eq!(generation_tags_to_if("{% if x %}{%"), "{% if x %}{%");
    }
}
