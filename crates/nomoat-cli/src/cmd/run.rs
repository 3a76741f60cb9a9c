//! `nomoat run [MODEL] [PROMPT]`: complete a prompt (streamed to stdout), or chat in the terminal.
//!
//! One positional argument is the model when it names one (a path, a cached or known name, an
//! `hf:` spec) and the prompt otherwise, so `nomoat run "Once upon a time"` uses the default model.
//! Interactive chat keeps the whole conversation in the chat template; the KV cache keeps the
//! common prefix, so each turn only evaluates what is new.
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use nomoat_chat::reasoning::ThinkTags;
use nomoat_chat::tools::{Delta, OutputParser, ParserConfig, ToolFormat};
use nomoat_chat::{Message, ModelTemplate, TemplateChoice};
use nomoat_engine::generate::{GenerateParams, Generation, LoadedModel, Session};
use nomoat_engine::sample::{Both, ConstraintBox, PieceFn, ThinkBudget};
use rustyline::error::ReadlineError;

use crate::constraint_args::{Constraint, ConstraintArgs};
use crate::model_arg;
use crate::sampling_args::SamplingArgs;

/// Chat with a model or complete a prompt in the terminal (default model: smollm2-135m-instruct).
///
/// Examples:
///   nomoat run                                 # interactive chat with the default model
///   nomoat run "What is the capital of France?" --chat   # one question, one answer
///   nomoat run "Once upon a time"              # complete with the default model
///   nomoat run qwen3:0.6b                      # chat with a model from `nomoat list --available`
///   nomoat run model.gguf                      # chat with a local file
///   nomoat run hf:ORG/REPO/FILE.gguf "Hello" --chat
///
/// In the chat: /help, /reset (forget the conversation), /system TEXT (set the system prompt),
/// /exit (or Ctrl-D). Ctrl-C stops the current answer.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model (a .gguf path, a cached name, hf:ORG/REPO/FILE.gguf), or the prompt if it is not one
    #[arg(value_name = "MODEL")]
    pub first: Option<String>,
    /// Prompt: complete it and exit (without one: interactive chat)
    #[arg(value_name = "PROMPT")]
    pub second: Option<String>,
    /// Model, as an option (then the positional argument is the prompt)
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Prompt, as an option
    #[arg(short, long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Send the prompt through the model's chat template as a user message
    #[arg(long)]
    pub chat: bool,
    /// System prompt for the chat template
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Tokens to generate per answer (default: 256 for a prompt, up to the context in chat)
    #[arg(short = 'n', long = "n-predict", value_name = "N")]
    pub n_predict: Option<usize>,
    /// Context size in tokens
    #[arg(short = 'c', long = "ctx", default_value_t = 4096, value_name = "N")]
    pub ctx: usize,
    /// Threads (default: physical cores)
    #[arg(short, long, value_name = "N")]
    pub threads: Option<usize>,
    /// Prompt tokens per forward pass
    #[arg(
        short = 'b',
        long = "batch-size",
        default_value_t = 512,
        value_name = "N"
    )]
    pub batch: usize,
    /// Stop when this text appears (repeatable)
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Keep generating past end-of-generation tokens
    #[arg(long)]
    pub ignore_eos: bool,
    /// Chat template instead of the model's: a built-in name (chatml, gemma, llama2, llama3,
    /// mistral, phi3) or a Jinja file
    #[arg(long, value_name = "NAME|FILE")]
    pub chat_template: Option<String>,
    /// Print the prompt exactly as the model receives it (after the chat template) to stderr,
    /// between lines of dashes, before generating
    #[arg(long)]
    pub print_prompt: bool,
    /// Hide the model's reasoning (<think>…</think>) instead of showing it dimmed
    #[arg(long)]
    pub hide_thinking: bool,
    /// End the model's reasoning block after N tokens (-1: no limit; 0: close it at once)
    #[arg(
        long,
        default_value_t = -1,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub reasoning_budget: i64,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub constraint: ConstraintArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (model, prompt) = split_positionals(&args)?;
    let path = model_arg::resolve(model.as_deref())?;
    let threads = args.threads.unwrap_or_else(nomoat_backend::default_threads);
    let lm = Arc::new(LoadedModel::load(&path, threads)?);
    let constraint = args.constraint.compile(&lm)?;
    let mut session = Session::new(lm.clone(), args.ctx, args.batch)?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrl_c(cancel.clone());
    let c = constraint.as_ref();
    let piece: PieceFn = {
        let lm = lm.clone();
        Arc::new(move |id| {
            String::from_utf8_lossy(&lm.tokenizer.token_to_piece(id, true)).into_owned()
        })
    };
    match prompt {
        Some(p) => complete(&args, &lm, &mut session, &p, cancel, c, piece),
        None => chat(&args, &lm, &mut session, cancel, c, piece),
    }
}

/// (model, prompt) from `[MODEL] [PROMPT]`, `-m` and `-p`.
fn split_positionals(a: &Args) -> anyhow::Result<(Option<String>, Option<String>)> {
    let mut model = a.model.clone();
    let mut prompt = a.prompt.clone();
    let mut pos: Vec<String> = [&a.first, &a.second]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if model.is_none()
        && !pos.is_empty()
        && (pos.len() == 2 || model_arg::looks_like_model(&pos[0]))
    {
        model = Some(pos.remove(0));
    }
    if let Some(p) = pos.pop() {
        if prompt.is_some() || !pos.is_empty() {
            anyhow::bail!("more than one prompt given (positional and -p); give one");
        }
        prompt = Some(p);
    }
    Ok((model, prompt))
}

fn params(
    a: &Args,
    n_ctx: usize,
    default_n: usize,
    cancel: &Arc<AtomicBool>,
    constraint: Option<&Constraint>,
    think: Option<(&Thinking, &LoadedModel)>,
) -> anyhow::Result<GenerateParams> {
    let mut constraint = constraint.map(Constraint::fresh);
    if let (Ok(budget), Some((t, lm))) = (usize::try_from(a.reasoning_budget), think) {
        let close = lm.tokenizer.encode(&t.tags.close, false, true);
        let b = ConstraintBox(Box::new(ThinkBudget::new(
            &t.tags.open,
            &t.tags.close,
            close,
            t.piece.clone(),
            budget,
            t.starts_inside,
        )));
        constraint = Some(match constraint {
            Some(c) => ConstraintBox(Box::new(Both(c, b))),
            None => b,
        });
    }
    Ok(GenerateParams {
        max_tokens: a.n_predict.unwrap_or(default_n),
        sampling: a.sampling.params(n_ctx)?,
        stop: a.stop.clone(),
        logprobs: 0,
        echo: false,
        ignore_eos: a.ignore_eos,
        cancel: Some(cancel.clone()),
        // A fresh grammar state per reply.
        constraint,
    })
}

/// Prompt mode: stream the completion to stdout.
fn complete(
    a: &Args,
    lm: &LoadedModel,
    session: &mut Session,
    prompt: &str,
    cancel: Arc<AtomicBool>,
    constraint: Option<&Constraint>,
    piece: PieceFn,
) -> anyhow::Result<ExitCode> {
    let (tokens, think) = if a.chat {
        let t = Template::for_model(a, lm)?;
        let mut msgs = Vec::new();
        if let Some(s) = &a.system {
            msgs.push(Message::new("system", s.as_str()));
        }
        msgs.push(Message::new("user", prompt));
        let (ids, text) = t.tokens(a, lm, &msgs)?;
        (ids, t.thinking(&text, &piece, a.hide_thinking))
    } else {
        if a.print_prompt {
            print_prompt(prompt);
        }
        (lm.tokenize_prompt(prompt), None)
    };
    let p = params(
        a,
        session.n_ctx(),
        256,
        &cancel,
        constraint,
        think.as_ref().map(|t| (t, lm)),
    )?;
    let (g, _) = stream(session, &tokens, &p, think.as_ref())?;
    writeln!(std::io::stdout())?;
    report(&g);
    Ok(ExitCode::SUCCESS)
}

/// Generates, writing text to stdout as it comes: reasoning dimmed (on a terminal) or hidden,
/// per `think`. Returns the generation and the answer's content (the text without reasoning).
fn stream(
    session: &mut Session,
    tokens: &[u32],
    p: &GenerateParams,
    think: Option<&Thinking>,
) -> anyhow::Result<(Generation, String)> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let dim = stdout.is_terminal();
    let mut out = stdout.lock();
    let mut err: Option<std::io::Error> = None;
    let mut parser = think.map(|t| OutputParser::new(&t.config));
    let mut content = String::new();
    let mut in_reasoning = false;
    let mut show = |out: &mut std::io::StdoutLock<'_>,
                    deltas: Vec<Delta>,
                    content: &mut String|
     -> std::io::Result<()> {
        for d in deltas {
            match d {
                Delta::Reasoning(r) if think.is_some_and(|t| t.hide) => drop(r),
                Delta::Reasoning(r) => {
                    in_reasoning = true;
                    if dim {
                        write!(out, "\x1b[2m{r}\x1b[0m")?;
                    } else {
                        out.write_all(r.as_bytes())?;
                    }
                }
                Delta::Content(c) => {
                    if std::mem::take(&mut in_reasoning) {
                        out.write_all(b"\n\n")?;
                    }
                    out.write_all(c.as_bytes())?;
                    content.push_str(&c);
                }
                Delta::ToolCall(_) => {}
            }
        }
        out.flush()
    };
    let g = session.generate(tokens, p, &mut |t| {
        if err.is_some() {
            return;
        }
        let r = match &mut parser {
            Some(parser) => show(&mut out, parser.feed(t), &mut content),
            None => {
                content.push_str(t);
                out.write_all(t.as_bytes()).and_then(|()| out.flush())
            }
        };
        if let Err(e) = r {
            err = Some(e);
        }
    })?;
    if let (Some(parser), None) = (&mut parser, &err) {
        if let Err(e) = show(&mut out, parser.finish(), &mut content) {
            err = Some(e);
        }
    }
    match err {
        Some(e) => Err(e.into()),
        None => Ok((g, content)),
    }
}

/// How a reply's reasoning block is found and shown.
struct Thinking {
    tags: ThinkTags,
    starts_inside: bool,
    config: ParserConfig,
    piece: PieceFn,
    hide: bool,
}

/// Speed after an answer, on stderr.
fn report(g: &Generation) {
    let t = &g.timings;
    eprintln!(
        "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s{}]",
        t.prompt_evaluated,
        t.prompt_tokens_per_second(),
        t.generated,
        t.generate_tokens_per_second(),
        if g.cancelled { ", stopped" } else { "" }
    );
}

/// The model's chat template, as the one policy picks it (`ModelTemplate::from_gguf`: the same
/// for `run`, `serve` and `template`).
struct Template(ModelTemplate);

impl Template {
    fn for_model(a: &Args, lm: &LoadedModel) -> anyhow::Result<Template> {
        let choice = a
            .chat_template
            .as_deref()
            .map(TemplateChoice::from_arg)
            .transpose()?;
        let t = ModelTemplate::from_gguf(choice.as_ref(), lm.model.file().gguf())
            .context("chat mode needs a chat template")?;
        Ok(Template(t))
    }

    /// Renders `msgs` with the generation prompt and tokenizes (BOS added unless the template
    /// already wrote it); also returns the prompt text.
    fn tokens(
        &self,
        a: &Args,
        lm: &LoadedModel,
        msgs: &[Message],
    ) -> anyhow::Result<(Vec<u32>, String)> {
        let p = self.0.prompt(msgs).context("rendering the chat template")?;
        if a.print_prompt {
            print_prompt(&p.text);
        }
        Ok((lm.tokenizer.encode(&p.text, p.add_bos, true), p.text))
    }

    /// The reasoning tags of this template (`None`: it has none), and whether `prompt` already
    /// opened the block.
    fn thinking(&self, prompt: &str, piece: &PieceFn, hide: bool) -> Option<Thinking> {
        let tags = ThinkTags::detect(self.0.template.source())?;
        let starts_inside = tags.prompt_opens(prompt);
        Some(Thinking {
            config: ParserConfig {
                format: ToolFormat::Generic,
                tools: false,
                reasoning: Some(tags.clone()),
                starts_in_reasoning: starts_inside,
                id_seed: 0,
            },
            tags,
            starts_inside,
            piece: piece.clone(),
            hide,
        })
    }
}

/// `--print-prompt`: the text between two lines of dashes, on stderr.
fn print_prompt(text: &str) {
    eprintln!("----- prompt -----\n{text}\n------------------");
}

const HELP: &str = "\
/help          this help
/reset         forget the conversation (keeps the system prompt)
/system TEXT   set the system prompt and start over
/exit          quit (also Ctrl-D)
Ctrl-C stops the current answer.";

fn chat(
    a: &Args,
    lm: &LoadedModel,
    session: &mut Session,
    cancel: Arc<AtomicBool>,
    constraint: Option<&Constraint>,
    piece: PieceFn,
) -> anyhow::Result<ExitCode> {
    let t = Template::for_model(a, lm)?;
    let name = lm
        .meta_str("general.name")
        .map(str::to_string)
        .unwrap_or_else(|| lm.path.display().to_string());
    eprintln!(
        "Chatting with {name} ({}, context {} tokens), using {}.\nType /help for commands, /exit or Ctrl-D to quit.",
        lm.model.config().arch.name(),
        session.n_ctx(),
        t.0.origin
    );
    let mut system = a.system.clone();
    let mut msgs: Vec<Message> = Vec::new();
    let mut rl = rustyline::DefaultEditor::new().context("terminal line editor")?;
    let history = nomoat_hub::cache::default_home().join("history.txt");
    let _ = rl.load_history(&history);
    loop {
        let line = match rl.readline(">>> ") {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                eprintln!("(Ctrl-D or /exit to quit)");
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("reading the terminal"),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(line);
        if let Some(cmd) = line.strip_prefix('/') {
            let (name, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
            match name {
                "help" | "?" => eprintln!("{HELP}"),
                "exit" | "quit" | "bye" => break,
                "reset" | "clear" => {
                    msgs.clear();
                    eprintln!("(conversation forgotten)");
                }
                "system" => {
                    let s = rest.trim();
                    system = (!s.is_empty()).then(|| s.to_string());
                    msgs.clear();
                    eprintln!(
                        "(system prompt {}; conversation restarted)",
                        if system.is_some() { "set" } else { "cleared" }
                    );
                }
                _ => eprintln!("unknown command /{name}; /help lists them"),
            }
            continue;
        }
        msgs.push(Message::new("user", line));
        let mut all = Vec::with_capacity(msgs.len() + 1);
        if let Some(s) = &system {
            all.push(Message::new("system", s.as_str()));
        }
        all.extend(msgs.iter().cloned());
        let (tokens, text) = t.tokens(a, lm, &all)?;
        let think = t.thinking(&text, &piece, a.hide_thinking);
        let room = session.n_ctx().saturating_sub(tokens.len());
        if room == 0 {
            msgs.pop();
            eprintln!(
                "(the conversation no longer fits in the context of {} tokens: /reset, or start with a larger --ctx)",
                session.n_ctx()
            );
            continue;
        }
        cancel.store(false, Ordering::Relaxed);
        let p = params(
            a,
            session.n_ctx(),
            room,
            &cancel,
            constraint,
            think.as_ref().map(|t| (t, lm)),
        )?;
        let (g, content) = stream(session, &tokens, &p, think.as_ref())?;
        writeln!(std::io::stdout())?;
        report(&g);
        // The answer without its reasoning goes into the history, as the templates expect.
        msgs.push(Message::new("assistant", content.trim().to_string()));
    }
    let _ = std::fs::create_dir_all(history.parent().unwrap_or(std::path::Path::new(".")));
    let _ = rl.save_history(&history);
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C sets `flag` (the current answer stops) instead of ending the program. The line
/// editor reads Ctrl-C as a key while it waits for input, so this only acts during an answer.
fn install_ctrl_c(flag: Arc<AtomicBool>) {
    let started = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    flag.store(true, Ordering::Relaxed);
                }
            });
        });
    if let Err(e) = started {
        tracing::warn!("Ctrl-C handler not installed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    fn split(args: &[&str]) -> anyhow::Result<(Option<String>, Option<String>)> {
        let t = T::try_parse_from(std::iter::once("run").chain(args.iter().copied()))?;
        split_positionals(&t.a)
    }

    #[test]
    fn one_positional_is_a_prompt_unless_it_names_a_model() {
        let s = |v: Option<&str>| v.map(str::to_string);
        assert_eq!(
            split(&["Once upon a time"]).unwrap(),
            (None, s(Some("Once upon a time")))
        );
        assert_eq!(split(&["x.gguf"]).unwrap(), (s(Some("x.gguf")), None));
        assert_eq!(
            split(&["gemma3-270m"]).unwrap(),
            (s(Some("gemma3-270m")), None)
        );
        assert_eq!(
            split(&["m.gguf", "Hi"]).unwrap(),
            (s(Some("m.gguf")), s(Some("Hi")))
        );
        assert_eq!(
            split(&["-m", "m.gguf", "Hi"]).unwrap(),
            (s(Some("m.gguf")), s(Some("Hi")))
        );
        assert_eq!(split(&[]).unwrap(), (None, None));
        assert!(split(&["-p", "a", "b"]).is_err());
    }
}
