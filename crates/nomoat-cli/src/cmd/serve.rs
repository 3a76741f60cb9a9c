//! `nomoat serve`: the HTTP APIs (see docs/serving.md and docs/openai-compat.md).
//!
//! The address is bound and printed first (`listening on http://ADDR`), then the default model
//! loads; `/health` answers 503 until it is ready. Other models (more `-m`, `--models-dir`, the
//! cache) load on their first request and unload after their keep-alive. SIGINT/SIGTERM stop
//! admitting, let running requests finish for a few seconds, cancel the rest and exit.
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nomoat_engine::scheduler::{Pooling, SchedulerConfig};
use nomoat_hub::{Cache, ModelRef};
use nomoat_server::{
    AppState, EngineOptions, KeepAlive, Limits, ModelSpec, PoolConfig, ServerConfig,
};
use serde::Deserialize;

const DEFAULT_PARALLEL: u64 = 4;
const DEFAULT_CTX: u64 = 8192;
const DEFAULT_BATCH: u64 = 256;
const DEFAULT_PORT: u16 = 8080;
const DEFAULT_MAX_LOADED: usize = 2;

#[derive(clap::Args)]
pub struct Args {
    /// A model to serve: a GGUF path, a cached name or hf:ORG/REPO/FILE.gguf, optionally
    /// NAME=MODEL to choose the name requests use. Repeat for several; the first is the default
    /// (loaded at start, kept loaded), the others load on first request [default: the default
    /// smollm2-135m-instruct, fetched if not cached]
    #[arg(short, long = "model", value_name = "MODEL")]
    models: Vec<String>,
    /// Also serve every .gguf file in this folder, by file name without .gguf (loaded on first
    /// request)
    #[arg(long, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// Models loaded at once; loading one more unloads the least recently used [default: 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    max_loaded: Option<u64>,
    /// Weights + KV cache all loaded models may take together, e.g. 8GB, 512MiB [default: no
    /// limit]
    #[arg(long, value_name = "SIZE")]
    memory_budget: Option<String>,
    /// How long a model other than the default stays loaded after its last request: 5m, 1h,
    /// 90s, 0 (unload when idle), forever [default: 5m]
    #[arg(long, value_name = "DURATION")]
    keep_alive: Option<String>,
    /// TOML file with any of these flags (kebab-case keys) and [[model]] tables with per-model
    /// settings; flags given on the command line win (see docs/serving.md)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (use 0.0.0.0 to accept other machines, ideally with --api-key)
    /// [default: 127.0.0.1]
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks a free one (the bound address is printed) [default: 8080]
    #[arg(long)]
    port: Option<u16>,
    /// Sequences generated together per model (continuous batching) [default: 4]
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..=256))]
    parallel: Option<u64>,
    /// KV cache size in tokens per model, shared by its sequences; one request may use up to
    /// this many (capped by the model's training context) [default: 8192]
    #[arg(short = 'c', long, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    ctx: Option<u64>,
    /// CPU threads for the forward pass [default: all cores]
    #[arg(short = 't', long)]
    threads: Option<usize>,
    /// Requests that may wait for a free sequence before new ones get 503 [default: 4 × --parallel]
    #[arg(long)]
    queue: Option<usize>,
    /// Tokens per forward pass (decode tokens plus prompt chunks): lower keeps streams smoother
    /// while long prompts are processed [default: 256]
    #[arg(short = 'b', long, value_parser = clap::value_parser!(u64).range(1..=8192))]
    batch: Option<u64>,
    /// Require this key (`Authorization: Bearer KEY` or `x-api-key`) on every route but /health
    #[arg(long, value_name = "KEY", conflicts_with = "api_key_file")]
    api_key: Option<String>,
    /// Read the API key from the first line of this file
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<PathBuf>,
    /// A browser origin allowed to call the API (CORS), e.g. https://app.example; repeat for
    /// several, or * for any [default: pages on localhost / 127.0.0.1 / [::1], any port]
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Close reasoning blocks (<think>…</think>) after N tokens in chat requests that do not
    /// set `thinking_budget` (-1: no limit; 0: close them at once)
    #[arg(
        long,
        default_value_t = -1,
        value_name = "N",
        allow_negative_numbers = true
    )]
    reasoning_budget: i64,
    /// Name of the first model in /v1/models and requests [default: from the model]
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

/// `--config` file: the flags, plus `[[model]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    parallel: Option<u64>,
    ctx: Option<u64>,
    threads: Option<usize>,
    queue: Option<usize>,
    batch: Option<u64>,
    api_key: Option<String>,
    api_key_file: Option<PathBuf>,
    chat_template: Option<String>,
    pooling: Option<String>,
    models_dir: Option<PathBuf>,
    max_loaded: Option<u64>,
    memory_budget: Option<String>,
    keep_alive: Option<String>,
    #[serde(default)]
    cors_origin: Vec<String>,
    /// Name of the model requests without `model` get [default: the first one].
    default_model: Option<String>,
    #[serde(default)]
    model: Vec<ModelTable>,
}

/// One `[[model]]` table: what to load and its own settings (unset ones come from the flags).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ModelTable {
    /// GGUF path, cached name or hf: spec.
    model: String,
    /// Name requests use [default: the cache name or file stem].
    name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    parallel: Option<u64>,
    ctx: Option<u64>,
    threads: Option<usize>,
    queue: Option<usize>,
    batch: Option<u64>,
    chat_template: Option<String>,
    pooling: Option<String>,
    keep_alive: Option<String>,
}

fn read_config(path: &Path) -> Result<FileConfig> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    if meta.len() > 1 << 20 {
        bail!(
            "the config file {} is {} bytes; the limit is 1 MiB",
            path.display(),
            meta.len()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

fn read_key_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API key file {}", path.display()))?;
    let key = text.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        bail!("the API key file {} is empty", path.display());
    }
    Ok(key)
}

fn api_key(args: &Args, file: &FileConfig) -> Result<Option<String>> {
    if let Some(k) = &args.api_key {
        if k.is_empty() {
            bail!("--api-key is empty");
        }
        return Ok(Some(k.clone()));
    }
    if let Some(p) = &args.api_key_file {
        return read_key_file(p).map(Some);
    }
    if let Some(k) = &file.api_key {
        if k.is_empty() {
            bail!("api-key in the config file is empty");
        }
        return Ok(Some(k.clone()));
    }
    file.api_key_file.as_deref().map(read_key_file).transpose()
}

/// `8GB`, `512MiB`, `1.5G`, `1000000` (bytes).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("{s:?}: expected a number then a unit such as GB or MiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        u => bail!("{s:?}: unknown unit {u:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"),
    };
    let v = n * mult;
    if !v.is_finite() || !(1.0..=1.8e19).contains(&v) {
        bail!("{s:?}: out of range");
    }
    Ok(v as u64)
}

fn keep_alive_arg(what: &str, s: &str) -> Result<KeepAlive> {
    KeepAlive::parse(s).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// `NAME=MODEL` or `MODEL`.
fn split_named(arg: &str) -> (Option<&str>, &str) {
    match arg.split_once('=') {
        Some((n, m))
            if !n.is_empty()
                && !m.is_empty()
                && !n.contains(['/', '\\'])
                && !n.ends_with(".gguf") =>
        {
            (Some(n), m)
        }
        _ => (None, arg),
    }
}

/// The name a model argument gets when none is given: its cache name or file stem.
fn default_id(spec: &str) -> Result<String> {
    let mref = ModelRef::parse(spec).with_context(|| format!("model {spec:?}"))?;
    Ok(match &mref {
        ModelRef::Path(p) => p
            .file_stem()
            .map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned()),
        other => other.cache_name().unwrap_or_else(|| spec.to_string()),
    })
}

/// Settings one model runs with.
struct Knobs {
    parallel: u64,
    ctx: u64,
    threads: usize,
    queue: Option<usize>,
    batch: u64,
    chat_template: Option<String>,
    pooling: Option<Pooling>,
}

impl Knobs {
    fn options(&self) -> Result<EngineOptions> {
        let parallel = self.parallel as usize;
        let chat_template = self
            .chat_template
            .as_deref()
            .map(nomoat_chat::TemplateChoice::from_arg)
            .transpose()?;
        Ok(EngineOptions {
            n_threads: self.threads,
            kv_tokens: self.ctx as usize,
            n_ctx: self.ctx as usize,
            sched: SchedulerConfig {
                max_running: parallel,
                queue_capacity: self.queue.unwrap_or(4 * parallel),
                step_tokens: self.batch as usize,
                ..Default::default()
            },
            chat_template,
            pooling: self.pooling,
        })
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = match &args.config {
        Some(p) => read_config(p)?,
        None => FileConfig::default(),
    };
    let key = api_key(&args, &file)?;
    let host = args
        .host
        .clone()
        .or(file.host.clone())
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(file.port).unwrap_or(DEFAULT_PORT);
    let base = Knobs {
        parallel: args.parallel.or(file.parallel).unwrap_or(DEFAULT_PARALLEL),
        ctx: args.ctx.or(file.ctx).unwrap_or(DEFAULT_CTX),
        threads: args.threads.or(file.threads).unwrap_or(0),
        queue: args.queue.or(file.queue),
        batch: args.batch.or(file.batch).unwrap_or(DEFAULT_BATCH),
        chat_template: args.chat_template.clone().or(file.chat_template.clone()),
        pooling: match (args.pooling, &file.pooling) {
            (Some(p), _) => Some(p),
            (None, Some(s)) => Some(
                s.parse()
                    .map_err(|e: String| anyhow::anyhow!("pooling in the config file: {e}"))?,
            ),
            (None, None) => None,
        },
    };
    for (what, v) in [("parallel", base.parallel), ("batch", base.batch)] {
        if v == 0 {
            bail!("{what} must be at least 1");
        }
    }
    let keep_alive = match args.keep_alive.as_deref().or(file.keep_alive.as_deref()) {
        Some(s) => keep_alive_arg("--keep-alive", s)?,
        None => KeepAlive::For(std::time::Duration::from_secs(300)),
    };

    // The models: command line first (they replace the file's), else the file's, else the
    // default catalog model unless a models folder is given.
    let mut specs: Vec<ModelSpec> = Vec::new();
    if !args.models.is_empty() {
        for (i, arg) in args.models.iter().enumerate() {
            let (name, spec) = split_named(arg);
            let id = match (name, i, &args.alias) {
                (Some(n), _, _) => n.to_string(),
                (None, 0, Some(a)) => a.clone(),
                _ => default_id(spec)?,
            };
            let path = crate::model_arg::resolve(Some(spec))?;
            specs.push(ModelSpec {
                id,
                aliases: Vec::new(),
                path,
                opts: base.options()?,
                keep_alive: KeepAlive::Default,
            });
        }
    } else if !file.model.is_empty() {
        for (i, t) in file.model.iter().enumerate() {
            let id = match (&t.name, i, &args.alias) {
                (Some(n), _, _) => n.clone(),
                (None, 0, Some(a)) => a.clone(),
                _ => default_id(&t.model)?,
            };
            let knobs = Knobs {
                parallel: t.parallel.unwrap_or(base.parallel),
                ctx: t.ctx.unwrap_or(base.ctx),
                threads: t.threads.unwrap_or(base.threads),
                queue: t.queue.or(base.queue),
                batch: t.batch.unwrap_or(base.batch),
                chat_template: t.chat_template.clone().or(base.chat_template.clone()),
                pooling: match &t.pooling {
                    Some(s) => Some(s.parse().map_err(|e: String| {
                        anyhow::anyhow!("pooling of model {}: {e}", t.model)
                    })?),
                    None => base.pooling,
                },
            };
            let keep = match &t.keep_alive {
                Some(s) => keep_alive_arg(&format!("keep-alive of model {id}"), s)?,
                None => KeepAlive::Default,
            };
            let path = crate::model_arg::resolve(Some(&t.model))?;
            specs.push(ModelSpec {
                id,
                aliases: t.aliases.clone(),
                path,
                opts: knobs.options()?,
                keep_alive: keep,
            });
        }
    } else if args.models_dir.is_none() && file.models_dir.is_none() {
        let spec = crate::model_arg::DEFAULT_NAME;
        specs.push(ModelSpec {
            id: args.alias.clone().unwrap_or_else(|| spec.to_string()),
            aliases: Vec::new(),
            path: crate::model_arg::resolve(Some(spec))?,
            opts: base.options()?,
            keep_alive: KeepAlive::Default,
        });
    }
    let mut ids = std::collections::HashSet::new();
    for s in &specs {
        for n in std::iter::once(&s.id).chain(&s.aliases) {
            if !ids.insert(n.clone()) {
                bail!("two models are called {n:?}; give each its own NAME=MODEL");
            }
        }
    }
    let default_model = match &file.default_model {
        Some(d) if args.models.is_empty() => {
            if !ids.contains(d) {
                bail!("default-model {d:?} is not one of the [[model]] names");
            }
            Some(d.clone())
        }
        _ => specs.first().map(|s| s.id.clone()),
    };
    let models_dir = args.models_dir.clone().or(file.models_dir.clone());
    if let Some(d) = &models_dir {
        if !d.is_dir() {
            bail!("--models-dir {}: not a folder", d.display());
        }
    }
    let memory_budget = args
        .memory_budget
        .as_deref()
        .or(file.memory_budget.as_deref())
        .map(|s| parse_size(s).context("--memory-budget"))
        .transpose()?;
    let max_loaded = args
        .max_loaded
        .or(file.max_loaded)
        .map_or(DEFAULT_MAX_LOADED, |n| n as usize);
    if max_loaded == 0 {
        bail!("max-loaded must be at least 1");
    }

    let loader = Arc::new(
        |path: &Path,
         id: &str,
         opts: &EngineOptions|
         -> Result<nomoat_server::LoadedServed, String> {
            eprintln!("loading {id} from {}", path.display());
            let l = nomoat_server::load_served(path, id, opts).map_err(|e| e.to_string())?;
            eprintln!("model {id} ready: {}", l.about);
            Ok(l)
        },
    );
    let pool = PoolConfig {
        default_model,
        specs,
        models_dir,
        cache: Some(Cache::from_env()),
        default_opts: base.options()?,
        keep_alive,
        max_loaded,
        memory_budget,
        loader,
    };

    let cors_origins = if args.cors_origins.is_empty() {
        file.cors_origin.clone()
    } else {
        args.cors_origins.clone()
    };
    for o in &cors_origins {
        let ok = o == "*"
            || ((o.starts_with("http://") || o.starts_with("https://"))
                && !o.contains(char::is_whitespace));
        if !ok {
            bail!("--cors-origin {o:?}: expected * or an origin such as https://app.example");
        }
    }
    let cfg = ServerConfig {
        api_key: key,
        cors_origins,
        reasoning_budget: usize::try_from(args.reasoning_budget).ok(),
        ..Default::default()
    };
    let host_is_loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !host_is_loopback && cfg.api_key.is_none() {
        eprintln!(
            "warning: listening on {host} without --api-key: anyone who can reach it can use it"
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port}"))?;
        let addr: SocketAddr = listener.local_addr()?;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();

        let state = AppState::with_pool(cfg, Limits::default(), pool);
        let app = nomoat_server::router(state.clone());
        let server = tokio::spawn(nomoat_server::serve(
            listener,
            app,
            state.clone(),
            nomoat_server::shutdown_signal(),
        ));
        // The default model loads now (so /health tells when the server is ready); a failure
        // here ends the server, as a bad -m should.
        if state.pool().default_model().is_some() {
            if let Err(e) = state.pool().get(None, KeepAlive::Forever).await {
                bail!("{e}");
            }
        }
        server.await.context("server task")??;
        eprintln!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8GB").unwrap(), 8_000_000_000);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("GB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("1e30").is_err());
    }

    #[test]
    fn named_models() {
        assert_eq!(split_named("chat=a.gguf"), (Some("chat"), "a.gguf"));
        assert_eq!(split_named("a.gguf"), (None, "a.gguf"));
        assert_eq!(split_named("dir/x=y.gguf"), (None, "dir/x=y.gguf"));
        assert_eq!(split_named("=a.gguf"), (None, "=a.gguf"));
    }

    #[test]
    fn config_file_refuses_unknown_keys() {
        let c: Result<FileConfig, _> = toml::from_str("prot = 1\n");
        assert!(c.is_err());
        let c: FileConfig = toml::from_str(
            "port = 9000\nkeep-alive = \"10m\"\n[[model]]\nmodel = \"a.gguf\"\nname = \"chat\"\naliases = [\"gpt-4o-mini\"]\nctx = 2048\n",
        )
        .unwrap();
        assert_eq!(c.port, Some(9000));
        assert_eq!(c.model.len(), 1);
        assert_eq!(c.model[0].aliases, vec!["gpt-4o-mini".to_string()]);
    }
}
