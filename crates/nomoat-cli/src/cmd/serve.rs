//! `nomoat serve`: the OpenAI-compatible HTTP API (see docs/serving.md and docs/openai-compat.md).
//!
//! The address is bound and printed first (`listening on http://ADDR`), then the model loads;
//! `/health` answers 503 until it is ready. SIGINT/SIGTERM stop admitting, let running requests
//! finish for a few seconds, cancel the rest and exit.
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use nomoat_engine::scheduler::{Pooling, SchedulerConfig};
use nomoat_hub::ModelRef;
use nomoat_server::{AppState, EngineOptions, Limits, ServerConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Model: a GGUF path, a cached name, or hf:ORG/REPO/FILE.gguf [default: gemma3-270m,
    /// fetched if not cached]
    #[arg(short, long, value_name = "MODEL")]
    model: Option<String>,
    /// Address to listen on (use 0.0.0.0 to accept other machines, ideally with --api-key)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one (the bound address is printed)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Sequences generated together (continuous batching)
    #[arg(short = 'n', long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    parallel: u64,
    /// KV cache size in tokens, shared by all sequences; one request may use up to this many
    /// (capped by the model's training context)
    #[arg(short = 'c', long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    ctx: u64,
    /// CPU threads for the forward pass [default: all cores]
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
    /// Requests that may wait for a free sequence before new ones get 503 [default: 4 × --parallel]
    #[arg(long)]
    queue: Option<usize>,
    /// Tokens per forward pass (decode tokens plus prompt chunks): lower keeps streams smoother
    /// while long prompts are processed
    #[arg(short = 'b', long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=8192))]
    batch: u64,
    /// Require this key (`Authorization: Bearer KEY`) on every route but /health
    #[arg(long, value_name = "KEY", conflicts_with = "api_key_file")]
    api_key: Option<String>,
    /// Read the API key from the first line of this file
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<PathBuf>,
    /// Model name reported by /v1/models and accepted in requests [default: from the model]
    #[arg(long)]
    alias: Option<String>,
    /// Chat template instead of the model's: a built-in name (chatml, gemma, llama2, llama3,
    /// mistral, phi3) or a Jinja file [default: the model's, else a built-in chosen by its name or
    /// vocabulary; without one, chat requests are refused]
    #[arg(long, value_name = "NAME|FILE")]
    chat_template: Option<String>,
    /// How /v1/embeddings and /api/embed pool the token states into one vector: mean, cls
    /// (first token) or last [default: the model file's pooling_type, else mean]
    #[arg(long, value_name = "mean|cls|last", value_parser = parse_pooling)]
    pooling: Option<Pooling>,
}

fn parse_pooling(s: &str) -> Result<Pooling, String> {
    s.parse()
}

fn api_key(args: &Args) -> Result<Option<String>> {
    if let Some(k) = &args.api_key {
        if k.is_empty() {
            bail!("--api-key is empty");
        }
        return Ok(Some(k.clone()));
    }
    let Some(path) = &args.api_key_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API key file {}", path.display()))?;
    let key = text.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        bail!("the API key file {} is empty", path.display());
    }
    Ok(Some(key))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let key = api_key(&args)?;
    let spec = args
        .model
        .clone()
        .unwrap_or_else(|| crate::model_arg::DEFAULT_NAME.to_string());
    let mref = ModelRef::parse(&spec).with_context(|| format!("model {spec:?}"))?;
    let path = crate::model_arg::resolve(Some(&spec))?;
    let id = args.alias.clone().unwrap_or_else(|| match &mref {
        ModelRef::Path(p) => p
            .file_stem()
            .map_or_else(|| spec.clone(), |s| s.to_string_lossy().into_owned()),
        other => other.cache_name().unwrap_or_else(|| spec.clone()),
    });
    let parallel = args.parallel as usize;
    let chat_template = args
        .chat_template
        .as_deref()
        .map(nomoat_chat::TemplateChoice::from_arg)
        .transpose()?;
    let opts = EngineOptions {
        n_threads: args.threads,
        kv_tokens: args.ctx as usize,
        n_ctx: args.ctx as usize,
        sched: SchedulerConfig {
            max_running: parallel,
            queue_capacity: args.queue.unwrap_or(4 * parallel),
            step_tokens: args.batch as usize,
            ..Default::default()
        },
        chat_template,
        pooling: args.pooling,
    };
    let cfg = ServerConfig {
        api_key: key,
        ..Default::default()
    };
    let host_is_loopback = args.host == "localhost"
        || args
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !host_is_loopback && cfg.api_key.is_none() {
        eprintln!(
            "warning: listening on {} without --api-key: anyone who can reach it can use it",
            args.host
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr: SocketAddr = listener.local_addr()?;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();

        let state = AppState::new(cfg, Limits::default());
        let app = nomoat_server::router(state.clone());
        let loader = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                eprintln!("loading {}", path.display());
                let (served, about) = nomoat_server::load_served(&path, &id, &opts)?;
                eprintln!("model {id} ready: {about}");
                state.set_model(served);
                Ok(())
            })
        };
        let server = tokio::spawn(nomoat_server::serve(
            listener,
            app,
            state.clone(),
            nomoat_server::shutdown_signal(),
        ));
        match loader.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => bail!("model loading panicked: {e}"),
        }
        server.await.context("server task")??;
        eprintln!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
