//! `nomoat template`: render a chat template for a list of messages and print the prompt exactly
//! as the model would receive it (no newline added).
//!
//! The template comes from `--template FILE` or `--builtin NAME`, else from the model by the one
//! policy `run` and `serve` use too (`nomoat_chat::ModelTemplate::from_gguf`: the file's
//! `tokenizer.chat_template`, else a built-in chosen by its name, else by its vocabulary's
//! special tokens), so this prints exactly the prompt they would feed the model.
//! `bos_token`/`eos_token` are the model's token texts unless `--bos`/`--eos` are given.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use nomoat_chat::{Message, ModelHints, ModelTemplate, RenderRequest, TemplateChoice};
use serde_json::Value as Json;

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  nomoat template model.gguf --messages chat.json
  nomoat template smollm2-135m-instruct --messages chat.json
  nomoat template --template tmpl.jinja --messages chat.json --bos '<s>' --eos '</s>'
  echo '[{\"role\":\"user\",\"content\":\"Hi\"}]' | nomoat template model.gguf --messages -

The messages file holds a JSON array of {\"role\": ..., \"content\": ...} objects (content may be a
string, null, or a list of parts; tool_calls, name, tool_call_id pass through), or an object with a
\"messages\" array. Rendering is sandboxed and bounded; strftime_now uses SOURCE_DATE_EPOCH if set.")]
pub struct Args {
    /// Model supplying the template and BOS/EOS texts: a GGUF file (a vocab-only GGUF is enough),
    /// a cached or known model name, or hf:ORG/REPO/FILE.gguf (fetched if not cached)
    #[arg(value_name = "MODEL")]
    model: Option<String>,
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
    let choice = match (&args.template, &args.builtin) {
        (Some(path), _) => Some(TemplateChoice::from_file(path)?),
        (None, Some(name)) => Some(TemplateChoice::builtin(name)?),
        (None, None) => None,
    };
    let template = match &args.model {
        Some(arg) => {
            let path = if Path::new(arg).exists() {
                PathBuf::from(arg)
            } else {
                crate::model_arg::resolve(Some(arg))?
            };
            let path = path.as_path();
            let file = nomoat_gguf::GgufFile::open(path)
                .with_context(|| format!("cannot read model {}", path.display()))?;
            ModelTemplate::from_gguf(choice.as_ref(), file.gguf())
                .with_context(|| format!("{}", path.display()))?
        }
        None => {
            if choice.is_none() {
                bail!("no template: give a MODEL, --template FILE.jinja or --builtin NAME");
            }
            let none: [&str; 0] = [];
            ModelTemplate::for_model(choice.as_ref(), ModelHints::default(), none)?
        }
    };
    let origin = template.origin.to_string();

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
    let req = RenderRequest {
        bos_token: args.bos.unwrap_or(template.bos_token.clone()),
        eos_token: args.eos.unwrap_or(template.eos_token.clone()),
        tools,
        extra,
        ..template.request(messages, !args.no_generation_prompt)
    };
    let prompt = template
        .render(&req)
        .with_context(|| format!("rendering {origin}"))?
        .text;
    let mut out = std::io::stdout().lock();
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
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
