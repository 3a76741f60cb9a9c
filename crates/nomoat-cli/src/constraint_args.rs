//! Structured-output flags shared by `run` and `generate`: the reply is forced, token by token,
//! to follow a JSON schema, a Lark grammar, a regex or any JSON object (the same engine as the
//! server's `response_format`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use nomoat_engine::generate::LoadedModel;
use nomoat_engine::sample::ConstraintBox;
use nomoat_grammar::{Compiled, Grammars, OutputSpec, MAX_SPEC_BYTES};

#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Structured output (enforced token by token; pick one)")]
#[group(id = "constraint", multiple = false)]
pub struct ConstraintArgs {
    /// The reply is JSON that validates against this JSON Schema file
    #[arg(long, value_name = "FILE")]
    pub json_schema: Option<PathBuf>,
    /// The reply follows this grammar file (llguidance's Lark syntax; `%json{…}` embeds a schema)
    #[arg(long, value_name = "FILE")]
    pub grammar: Option<PathBuf>,
    /// The whole reply matches this regular expression
    #[arg(long, value_name = "RE")]
    pub regex: Option<String>,
    /// The reply is a JSON object (any keys)
    #[arg(long)]
    pub json_object: bool,
}

/// A compiled constraint, ready to hand a fresh state to each reply.
pub struct Constraint(Compiled);

impl Constraint {
    pub fn fresh(&self) -> ConstraintBox {
        self.0.constraint()
    }
}

impl ConstraintArgs {
    /// What the flags ask for (`None`: free text). Files are read with the grammar engine's size
    /// limit checked first.
    pub fn spec(&self) -> anyhow::Result<Option<OutputSpec>> {
        if let Some(p) = &self.json_schema {
            let text = read_limited(p, "--json-schema")?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("--json-schema {}: not JSON", p.display()))?;
            return Ok(Some(OutputSpec::JsonSchema(v)));
        }
        if let Some(p) = &self.grammar {
            return Ok(Some(OutputSpec::Lark(read_limited(p, "--grammar")?)));
        }
        if let Some(re) = &self.regex {
            return Ok(Some(OutputSpec::Regex(re.clone())));
        }
        Ok(self.json_object.then_some(OutputSpec::JsonObject))
    }

    /// Compiles the spec on the model's vocabulary; `None` when no flag was given.
    pub fn compile(&self, lm: &LoadedModel) -> anyhow::Result<Option<Constraint>> {
        let Some(spec) = self.spec()? else {
            return Ok(None);
        };
        let grammars = Grammars::new(&lm.tokenizer)?;
        let compiled = grammars
            .compile(&spec)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.flag()))?;
        Ok(Some(Constraint(compiled)))
    }

    fn flag(&self) -> &'static str {
        match () {
            _ if self.json_schema.is_some() => "--json-schema",
            _ if self.grammar.is_some() => "--grammar",
            _ if self.regex.is_some() => "--regex",
            _ => "--json-object",
        }
    }
}

fn read_limited(path: &Path, flag: &str) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{flag} {}", path.display()))?
        .len();
    if len > MAX_SPEC_BYTES as u64 {
        anyhow::bail!(
            "{flag} {}: {len} bytes; the limit is {MAX_SPEC_BYTES}",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("{flag} {}", path.display()))
}
