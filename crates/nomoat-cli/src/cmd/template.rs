//! `nomoat template`: render a chat template for a list of messages and print the prompt exactly
//! as the model would receive it (no newline added).
//!
//! The template comes from `--template FILE`, `--builtin NAME`, or the model's
//! `tokenizer.chat_template` (or, when the file has none, the built-in template of its family).
//! `bos_token`/`eos_token` are the model's token texts unless `--bos`/`--eos` are given.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use nomoat_chat::{Builtin, ChatTemplate, Message, RenderRequest};
use serde_json::Value as Json;

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  nomoat template model.gguf --messages chat.json
  nomoat template --template tmpl.jinja --messages chat.json --bos '<s>' --eos '</s>'
  echo '[{\"role\":\"user\",\"content\":\"Hi\"}]' | nomoat template model.gguf --messages -

The messages file holds a JSON array of {\"role\": ..., \"content\": ...} objects (content may be a
string, null, or a list of parts; tool_calls, name, tool_call_id pass through), or an object with a
\"messages\" array. Rendering is sandboxed and bounded; strftime_now uses SOURCE_DATE_EPOCH if set.")]
pub struct Args {
    /// Model GGUF file (a vocab-only GGUF is enough) supplying the template and BOS/EOS texts
    #[arg(value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Jinja chat template file; overrides the model's template
    #[arg(long, value_name = "FILE.jinja", conflicts_with = "builtin")]
    template: Option<PathBuf>,
    /// Use a built-in template: gemma, llama2, llama3, chatml, mistral, phi3
    #[arg(long, value_name = "NAME")]
    builtin: Option<String>,
    /// JSON file with the messages ('-' reads standard input)
    #[arg(long, value_name = "FILE.json")]
    messages: PathBuf,
    /// JSON file with the tool definitions (an array), passed to the template as `tools`
    #[arg(long, value_name = "FILE.json")]
    tools: Option<PathBuf>,
    /// Do not append the header that starts the assistant's reply
    #[arg(long)]
    no_generation_prompt: bool,
    /// Text of `bos_token` (default: the model's BOS token text, or empty without a model)
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    bos: Option<String>,
    /// Text of `eos_token` (default: the model's EOS token text, or empty without a model)
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    eos: Option<String>,
    /// Extra template variable as NAME=JSON, e.g. --var enable_thinking=false (repeatable)
    #[arg(long = "var", value_name = "NAME=JSON")]
    vars: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = match &args.model {
        Some(path) => Some(ModelInfo::read(path)?),
        None => None,
    };
    let (source, origin) = template_source(&args, model.as_ref())?;
    let template = ChatTemplate::new(&source).with_context(|| format!("in {origin}"))?;

    let (messages, file_tools) = read_messages(&args.messages)?;
    let tools = match &args.tools {
        Some(path) => Some(read_json(path)?),
        None => file_tools,
    };
    let mut extra = serde_json::Map::new();
    for var in &args.vars {
        let (name, value) = var
            .split_once('=')
            .with_context(|| format!("--var {var:?}: expected NAME=JSON"))?;
        let value: Json = serde_json::from_str(value).with_context(|| {
            format!("--var {name}: the value is not JSON (quote strings: '\"text\"')")
        })?;
        extra.insert(name.to_owned(), value);
    }
    let model_bos = model.as_ref().and_then(|m| m.bos.clone());
    let model_eos = model.as_ref().and_then(|m| m.eos.clone());
    let req = RenderRequest {
        messages,
        add_generation_prompt: !args.no_generation_prompt,
        bos_token: args.bos.or(model_bos).unwrap_or_default(),
        eos_token: args.eos.or(model_eos).unwrap_or_default(),
        tools,
        extra,
        now: None,
    };
    let prompt = template
        .render(&req)
        .with_context(|| format!("rendering {origin}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What `template` needs from a GGUF.
struct ModelInfo {
    path: PathBuf,
    arch: String,
    name: Option<String>,
    chat_template: Option<String>,
    /// A built-in family recognised from the vocabulary's special tokens.
    token_family: Option<Builtin>,
    bos: Option<String>,
    eos: Option<String>,
}

impl ModelInfo {
    fn read(path: &Path) -> Result<ModelInfo> {
        let file = nomoat_gguf::GgufFile::open(path)
            .with_context(|| format!("cannot read model {}", path.display()))?;
        let g = file.gguf();
        let token_text = |key: &str| -> Result<Option<String>> {
            let Some(id) = g.opt_u32(key)? else {
                return Ok(None);
            };
            let Some(tokens) = g.opt_array("tokenizer.ggml.tokens")? else {
                return Ok(None);
            };
            let text = tokens
                .get(id as usize)
                .and_then(|t| t.as_str())
                .with_context(|| {
                    format!(
                        "{key} = {id} is not a token of the vocabulary ({} tokens)",
                        tokens.len()
                    )
                })?;
            Ok(Some(text.to_owned()))
        };
        Ok(ModelInfo {
            path: path.to_owned(),
            arch: g.architecture()?.to_owned(),
            name: g.opt_str("general.name")?.map(str::to_owned),
            chat_template: g.opt_str("tokenizer.chat_template")?.map(str::to_owned),
            token_family: match g.opt_array("tokenizer.ggml.tokens")? {
                Some(tokens) => {
                    Builtin::detect_from_tokens(tokens.iter().filter_map(|t| t.as_str()))
                }
                None => None,
            },
            bos: token_text("tokenizer.ggml.bos_token_id")?,
            eos: token_text("tokenizer.ggml.eos_token_id")?,
        })
    }
}

/// The template text and a description of where it came from (for error messages).
fn template_source(args: &Args, model: Option<&ModelInfo>) -> Result<(String, String)> {
    if let Some(path) = &args.template {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read template {}", path.display()))?;
        return Ok((text, format!("template {}", path.display())));
    }
    if let Some(name) = &args.builtin {
        let b = Builtin::from_name(name).with_context(|| {
            let names: Vec<_> = Builtin::ALL.iter().map(|b| b.name()).collect();
            format!(
                "unknown built-in template {name:?}; choose one of {}",
                names.join(", ")
            )
        })?;
        return Ok((b.source().to_owned(), format!("built-in template {name}")));
    }
    let Some(m) = model else {
        bail!("no template: give a MODEL, --template FILE.jinja or --builtin NAME");
    };
    if let Some(t) = &m.chat_template {
        return Ok((
            t.clone(),
            format!("the chat template of {}", m.path.display()),
        ));
    }
    match Builtin::detect(&m.arch, m.name.as_deref()).or(m.token_family) {
        Some(b) => Ok((
            b.source().to_owned(),
            format!("built-in template {} (chosen for {})", b.name(), m.path.display()),
        )),
        None => bail!(
            "{} has no chat template and its family ({}{}) has no built-in one; pass --template FILE.jinja or --builtin NAME",
            m.path.display(),
            m.arch,
            m.name.as_deref().map(|n| format!(", {n:?}")).unwrap_or_default()
        ),
    }
}

fn read_text(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_json(path: &Path) -> Result<Json> {
    serde_json::from_str(&read_text(path)?)
        .with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Messages as an array, or an object with `messages` (and optionally `tools`).
fn read_messages(path: &Path) -> Result<(Vec<Message>, Option<Json>)> {
    let json = read_json(path)?;
    let (list, tools) = match json {
        Json::Array(_) => (json, None),
        Json::Object(mut o) => {
            let list = o.remove("messages").with_context(|| {
                format!(
                    "{}: expected an array of messages or an object with \"messages\"",
                    path.display()
                )
            })?;
            (list, o.remove("tools").filter(|t| !t.is_null()))
        }
        _ => bail!("{}: expected an array of messages", path.display()),
    };
    let messages: Vec<Message> = serde_json::from_value(list).with_context(|| {
        format!(
            "{}: each message needs a \"role\" string and a \"content\" that is a string, null or a list of parts",
            path.display()
        )
    })?;
    Ok((messages, tools))
}
