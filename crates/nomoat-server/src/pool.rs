//! The models one server can serve, and which of them are loaded now.
//!
//! A model is known to the pool from three places, looked up in this order by the name a request
//! gives (a trailing `:latest`, as Ollama clients send it, is dropped):
//! 1. the models the server was started with (`-m`, `[[model]]` in `--config`), by id or alias;
//! 2. the `.gguf` files of `--models-dir`, by file stem;
//! 3. the model cache (`nomoat pull`), by cache name.
//!
//! A model loads on its first request (or at start for the default one) and unloads when its
//! keep-alive runs out, or to make room when `--max-loaded` or `--memory-budget` would be
//! exceeded (least recently used first, idle ones before busy ones). Each model has its own slot
//! and loads on a blocking thread with only that slot marked `Loading`, so a request for one model
//! never waits on another's load. A request holds an `Arc<Served>`: unloading drops the pool's
//! reference, and the engine stops once the last request using it is done.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use nomoat_hub::{Cache, HubError, ModelRef, Observer, Source};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::load::{load_served, EngineOptions, LoadedServed};
use crate::model::Served;

/// How long a model stays loaded after a request that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// The model's own setting, else the server's (`--keep-alive`).
    Default,
    For(Duration),
    Forever,
    /// Unload as soon as the requests using it are done (Ollama's `keep_alive: 0`).
    UnloadNow,
}

impl KeepAlive {
    /// `5m`, `90s`, `1h30m`, `2h`, `300` (seconds), `0` (unload now), `forever` / `-1` (never).
    pub fn parse(s: &str) -> Result<KeepAlive, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("forever") || t.starts_with('-') {
            return Ok(KeepAlive::Forever);
        }
        if let Ok(n) = t.parse::<f64>() {
            return KeepAlive::from_secs(n);
        }
        let mut total = 0f64;
        let mut num = String::new();
        for c in t.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let unit = match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return Err(format!("{s:?}: unknown unit {c:?} (use h, m or s)")),
            };
            let n: f64 = num
                .parse()
                .map_err(|_| format!("{s:?}: expected a number before {c:?}"))?;
            total += n * unit;
            num.clear();
        }
        if !num.is_empty() {
            return Err(format!("{s:?}: a number without a unit at the end"));
        }
        if t.is_empty() {
            return Err("an empty duration".into());
        }
        KeepAlive::from_secs(total)
    }

    /// Seconds as a keep-alive: negative is forever, 0 unloads now.
    pub fn from_secs(n: f64) -> Result<KeepAlive, String> {
        if n.is_nan() {
            return Err("not a number".into());
        }
        if n < 0.0 {
            return Ok(KeepAlive::Forever);
        }
        if n == 0.0 {
            return Ok(KeepAlive::UnloadNow);
        }
        // Past a century is forever; Duration::from_secs_f64 would panic near its limit.
        if n > 3.2e9 {
            return Ok(KeepAlive::Forever);
        }
        Ok(KeepAlive::For(Duration::from_secs_f64(n)))
    }

    /// This setting where `Default` falls back to `dflt`.
    fn or(self, dflt: KeepAlive) -> KeepAlive {
        match self {
            KeepAlive::Default => dflt,
            k => k,
        }
    }
}

/// A model the server was started with.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// The name requests use.
    pub id: String,
    /// Other names that pick it (e.g. `gpt-4o-mini` for clients that insist on one).
    pub aliases: Vec<String>,
    pub path: PathBuf,
    pub opts: EngineOptions,
    pub keep_alive: KeepAlive,
}

/// Builds a served model from a file; the real one is [`load_served`], tests give a fake.
pub type Loader =
    dyn Fn(&Path, &str, &EngineOptions) -> Result<LoadedServed, String> + Send + Sync + 'static;

/// What the pool serves and how much it may keep loaded.
pub struct PoolConfig {
    pub specs: Vec<ModelSpec>,
    /// Every `.gguf` file in it is servable by its file stem.
    pub models_dir: Option<PathBuf>,
    /// Cached models are servable by name (and `pull`, `delete`, `copy` work on it).
    pub cache: Option<Cache>,
    /// The model a request without a `model` gets; without one such requests are refused.
    pub default_model: Option<String>,
    /// Settings for models found in `models_dir` or the cache.
    pub default_opts: EngineOptions,
    /// For models whose own keep-alive is `Default`.
    pub keep_alive: KeepAlive,
    /// Models loaded at once (≥ 1).
    pub max_loaded: usize,
    /// Bytes of weights + KV cache all loaded models may take together.
    pub memory_budget: Option<u64>,
    pub loader: Arc<Loader>,
}

impl PoolConfig {
    /// A pool of the given models and nothing else, loading real files.
    pub fn new(specs: Vec<ModelSpec>, default_opts: EngineOptions) -> PoolConfig {
        PoolConfig {
            default_model: specs.first().map(|s| s.id.clone()),
            specs,
            models_dir: None,
            cache: None,
            default_opts,
            keep_alive: KeepAlive::For(Duration::from_secs(300)),
            max_loaded: 2,
            memory_budget: None,
            loader: Arc::new(|path, id, opts| {
                load_served(path, id, opts).map_err(|e| e.to_string())
            }),
        }
    }
}

/// Where a model listed by the pool comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Given to the server (`-m`, `--config`).
    Configured,
    ModelsDir,
    Cache,
}

/// One servable model, as `/v1/models`, `/api/tags` and `/api/ps` show it.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub id: String,
    pub aliases: Vec<String>,
    pub path: PathBuf,
    /// File bytes.
    pub size: u64,
    /// The file's modification time.
    pub modified: SystemTime,
    pub origin: Origin,
    pub loading: bool,
    pub loaded: Option<LoadedInfo>,
}

/// A loaded model's state.
#[derive(Debug, Clone)]
pub struct LoadedInfo {
    pub since: SystemTime,
    /// When it unloads if no request comes; `None`: never.
    pub expires_at: Option<SystemTime>,
    /// Weights + KV cache.
    pub bytes: u64,
    pub n_ctx: usize,
    /// Requests using it now.
    pub in_use: usize,
}

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("model '{0}' not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot load model '{id}': {msg}")]
    Load { id: String, msg: String },
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> ApiError {
        match &e {
            PoolError::NotFound(_) => {
                let mut a = ApiError::not_found(e.to_string());
                a.code = Some("model_not_found");
                a.param = Some("model".into());
                a
            }
            PoolError::Invalid(_) => ApiError::invalid("model", e.to_string()),
            PoolError::Busy(_) => ApiError::unavailable(e.to_string(), 5),
            PoolError::Load { .. } => ApiError::internal(e.to_string()),
            PoolError::Hub(h) => match h {
                HubError::UnknownModel { .. } | HubError::NotCached { .. } => {
                    ApiError::not_found(e.to_string())
                }
                HubError::InvalidName { .. } | HubError::InvalidSpec { .. } => {
                    ApiError::invalid("model", e.to_string())
                }
                _ => ApiError::internal(e.to_string()),
            },
        }
    }
}

type LoadResult = Option<Result<Arc<Served>, String>>;

enum State {
    Unloaded,
    /// Waiters watch for `Some`.
    Loading(watch::Receiver<LoadResult>),
    Loaded(Resident),
}

struct Resident {
    served: Arc<Served>,
    bytes: u64,
    since: SystemTime,
    last_used: Instant,
    /// `None`: never expires.
    expires: Option<Instant>,
}

struct Slot {
    path: PathBuf,
    opts: EngineOptions,
    keep: KeepAlive,
    state: State,
}

/// See the module doc.
pub struct ModelPool {
    cfg: PoolConfig,
    slots: Mutex<HashMap<String, Slot>>,
    /// The keep-alive task, started with the first request (it needs the runtime).
    reaper: OnceLock<()>,
    /// The first model installed with [`ModelPool::install`], when the config names no default.
    installed_default: OnceLock<String>,
}

/// `name:latest` is `name` (Ollama clients add the tag).
fn strip_latest(name: &str) -> &str {
    name.strip_suffix(":latest").unwrap_or(name)
}

fn file_facts(path: &Path) -> (u64, SystemTime) {
    match std::fs::metadata(path) {
        Ok(m) => (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
        Err(_) => (0, SystemTime::UNIX_EPOCH),
    }
}

fn to_system(t: Instant) -> SystemTime {
    let now = Instant::now();
    if t >= now {
        SystemTime::now() + (t - now)
    } else {
        SystemTime::now() - (now - t)
    }
}

impl ModelPool {
    pub fn new(cfg: PoolConfig) -> ModelPool {
        ModelPool {
            cfg,
            slots: Mutex::new(HashMap::new()),
            reaper: OnceLock::new(),
            installed_default: OnceLock::new(),
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock leaves the map consistent (every change is one insert
        // or one state swap), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of the model a request without a name gets.
    pub fn default_model(&self) -> Option<&str> {
        self.cfg
            .default_model
            .as_deref()
            .or_else(|| self.installed_default.get().map(String::as_str))
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cfg.cache.as_ref()
    }

    /// Where the model called `name` is: `(id, path, settings, keep-alive, origin)`.
    fn lookup(&self, name: &str) -> Option<(String, PathBuf, EngineOptions, KeepAlive, Origin)> {
        let name = strip_latest(name);
        for s in &self.cfg.specs {
            if s.id == name || s.aliases.iter().any(|a| a == name) {
                return Some((
                    s.id.clone(),
                    s.path.clone(),
                    s.opts.clone(),
                    s.keep_alive,
                    Origin::Configured,
                ));
            }
        }
        // Installed with `set_model` (tests, embedders): no file to find again.
        if self.slots().contains_key(name) {
            let slots = self.slots();
            let s = &slots[name];
            return Some((
                name.to_string(),
                s.path.clone(),
                s.opts.clone(),
                s.keep,
                Origin::Configured,
            ));
        }
        let found = self.lookup_file(name)?;
        // The same file as a configured model is that model (one copy in memory).
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        let c = canon(&found.1);
        if let Some(s) = self
            .cfg
            .specs
            .iter()
            .find(|s| c.is_some() && canon(&s.path) == c)
        {
            return Some((
                s.id.clone(),
                s.path.clone(),
                s.opts.clone(),
                s.keep_alive,
                Origin::Configured,
            ));
        }
        Some(found)
    }

    /// A model in `--models-dir` or the cache called `name`.
    fn lookup_file(
        &self,
        name: &str,
    ) -> Option<(String, PathBuf, EngineOptions, KeepAlive, Origin)> {
        let plain = !name.is_empty()
            && !name.contains(['/', '\\'])
            && name != "."
            && name != ".."
            && !name.starts_with('.');
        if let Some(dir) = &self.cfg.models_dir {
            let p = dir.join(format!("{name}.gguf"));
            if plain && p.is_file() {
                return Some((
                    name.to_string(),
                    p,
                    self.cfg.default_opts.clone(),
                    KeepAlive::Default,
                    Origin::ModelsDir,
                ));
            }
        }
        if let Some(cache) = &self.cfg.cache {
            if cache.contains(name) {
                if let Ok(p) = cache.model_path(name) {
                    return Some((
                        name.to_string(),
                        p,
                        self.cfg.default_opts.clone(),
                        KeepAlive::Default,
                        Origin::Cache,
                    ));
                }
            }
        }
        None
    }

    /// Every servable model, sorted by id (configured ones first).
    pub fn list(&self) -> Vec<ModelEntry> {
        let mut out: Vec<ModelEntry> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        let configured: Vec<PathBuf> = self
            .cfg
            .specs
            .iter()
            .filter_map(|s| canon(&s.path))
            .collect();
        let mut push = |id: String, aliases: Vec<String>, path: PathBuf, origin: Origin| {
            // A folder or cache file that is also a configured model is listed once, as that.
            if origin != Origin::Configured && canon(&path).is_some_and(|c| configured.contains(&c))
            {
                return;
            }
            if seen.insert(id.clone()) {
                let (size, modified) = file_facts(&path);
                out.push(ModelEntry {
                    id,
                    aliases,
                    path,
                    size,
                    modified,
                    origin,
                    loading: false,
                    loaded: None,
                });
            }
        };
        for s in &self.cfg.specs {
            push(
                s.id.clone(),
                s.aliases.clone(),
                s.path.clone(),
                Origin::Configured,
            );
        }
        {
            let slots = self.slots();
            let mut extra: Vec<_> = slots
                .iter()
                .filter(|(_, s)| matches!(s.state, State::Loaded(_)))
                .map(|(id, s)| (id.clone(), s.path.clone()))
                .collect();
            extra.sort();
            for (id, path) in extra {
                push(id, Vec::new(), path, Origin::Configured);
            }
        }
        if let Some(dir) = &self.cfg.models_dir {
            let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let p = e.path();
                    let stem = p.file_name()?.to_str()?.strip_suffix(".gguf")?.to_string();
                    (!stem.is_empty() && !stem.starts_with('.') && p.is_file()).then_some((stem, p))
                })
                .collect();
            found.sort();
            for (id, p) in found {
                push(id, Vec::new(), p, Origin::ModelsDir);
            }
        }
        if let Some(cache) = &self.cfg.cache {
            for e in cache.list().unwrap_or_default() {
                if let Ok(p) = cache.model_path(&e.name) {
                    push(e.name, Vec::new(), p, Origin::Cache);
                }
            }
        }
        let slots = self.slots();
        for e in &mut out {
            if let Some(s) = slots.get(&e.id) {
                match &s.state {
                    State::Unloaded => {}
                    State::Loading(_) => e.loading = true,
                    State::Loaded(r) => e.loaded = Some(info(r)),
                }
            }
        }
        out
    }

    /// The entry `name` picks, if any.
    pub fn find(&self, name: &str) -> Option<ModelEntry> {
        let (id, ..) = self.lookup(name)?;
        self.list().into_iter().find(|e| e.id == id)
    }

    /// Loaded models, most recently used first.
    pub fn loaded(&self) -> Vec<(ModelEntry, Arc<Served>)> {
        let mut v: Vec<(Instant, String, Arc<Served>)> = self
            .slots()
            .iter()
            .filter_map(|(id, s)| match &s.state {
                State::Loaded(r) => Some((r.last_used, id.clone(), r.served.clone())),
                _ => None,
            })
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.0));
        let all = self.list();
        v.into_iter()
            .filter_map(|(_, id, s)| {
                let e = all.iter().find(|e| e.id == id)?.clone();
                Some((e, s))
            })
            .collect()
    }

    /// The default model if it is loaded.
    pub fn default_loaded(&self) -> Option<Arc<Served>> {
        let id = self.default_model()?;
        match &self.slots().get(id)?.state {
            State::Loaded(r) => Some(r.served.clone()),
            _ => None,
        }
    }

    /// A pool with nothing to serve until a model is installed (`set_model`).
    pub fn awaiting_install(&self) -> bool {
        self.cfg.specs.is_empty()
            && self.cfg.models_dir.is_none()
            && self.cfg.cache.is_none()
            && self.installed_default.get().is_none()
    }

    /// Whether the default model is loading (or has not loaded yet).
    pub fn default_pending(&self) -> bool {
        self.default_model().is_some() && self.default_loaded().is_none()
    }

    /// Installs an already-built model, loaded and never expiring; it becomes the default when
    /// there is none. Returns false if a model with that id is already loaded.
    pub fn install(&self, served: Served, bytes: u64) -> bool {
        let id = served.id.clone();
        let served_id = id.clone();
        let mut slots = self.slots();
        if matches!(slots.get(&id).map(|s| &s.state), Some(State::Loaded(_))) {
            return false;
        }
        let (path, opts) = match self.lookup_spec(&id) {
            Some(s) => (s.path.clone(), s.opts.clone()),
            None => (PathBuf::new(), self.cfg.default_opts.clone()),
        };
        slots.insert(
            id,
            Slot {
                path,
                opts,
                keep: KeepAlive::Forever,
                state: State::Loaded(Resident {
                    served: Arc::new(served),
                    bytes,
                    since: SystemTime::now(),
                    last_used: Instant::now(),
                    expires: None,
                }),
            },
        );
        drop(slots);
        if self.cfg.default_model.is_none() {
            let _ = self.installed_default.set(served_id);
        }
        true
    }

    fn lookup_spec(&self, id: &str) -> Option<&ModelSpec> {
        self.cfg.specs.iter().find(|s| s.id == id)
    }

    /// The model `name` picks (`None`/empty: the default), loading it if needed; `keep` sets how
    /// long it stays loaded after this request.
    pub async fn get(
        self: &Arc<Self>,
        name: Option<&str>,
        keep: KeepAlive,
    ) -> Result<Arc<Served>, PoolError> {
        self.start_reaper();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => self.default_model().map(str::to_string).ok_or_else(|| {
                PoolError::Invalid(
                    "'model' is required: this server has no default model (see /v1/models)".into(),
                )
            })?,
        };
        let (id, path, opts, cfg_keep, _) = self
            .lookup(&name)
            .ok_or_else(|| PoolError::NotFound(name.clone()))?;
        let dflt_keep = if Some(id.as_str()) == self.default_model() {
            KeepAlive::Forever
        } else {
            self.cfg.keep_alive
        };
        loop {
            let mut rx = {
                let mut slots = self.slots();
                let slot = slots.entry(id.clone()).or_insert_with(|| Slot {
                    path: path.clone(),
                    opts: opts.clone(),
                    keep: cfg_keep,
                    state: State::Unloaded,
                });
                match &mut slot.state {
                    State::Loaded(r) => {
                        r.last_used = Instant::now();
                        r.expires = expiry(keep.or(slot.keep).or(dflt_keep));
                        return Ok(r.served.clone());
                    }
                    State::Loading(rx) => rx.clone(),
                    State::Unloaded => {
                        let (tx, rx) = watch::channel(None);
                        slot.state = State::Loading(rx.clone());
                        self.spawn_load(id.clone(), slot.path.clone(), slot.opts.clone(), tx);
                        rx
                    }
                }
            };
            let res = match rx.wait_for(Option::is_some).await {
                Ok(v) => v.clone(),
                // The loader vanished without a word (its task panicked): try again.
                Err(_) => {
                    let mut slots = self.slots();
                    if let Some(s) = slots.get_mut(&id) {
                        if matches!(s.state, State::Loading(_)) {
                            s.state = State::Unloaded;
                        }
                    }
                    return Err(PoolError::Load {
                        id,
                        msg: "the loader stopped unexpectedly".into(),
                    });
                }
            };
            match res {
                Some(Ok(_)) => continue, // now Loaded: the next turn sets its keep-alive
                Some(Err(msg)) => return Err(PoolError::Load { id, msg }),
                None => unreachable!("wait_for returned only once the value is Some"),
            }
        }
    }

    fn spawn_load(
        self: &Arc<Self>,
        id: String,
        path: PathBuf,
        opts: EngineOptions,
        tx: watch::Sender<LoadResult>,
    ) {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let (size, _) = file_facts(&path);
            // Room by the file's size first, then again by what the model really takes (its KV
            // cache is known only once it is built).
            let res = pool
                .make_room(&id, size)
                .and_then(|evicted| {
                    drop(evicted);
                    (pool.cfg.loader)(&path, &id, &opts)
                })
                .and_then(|l| pool.make_room(&id, l.bytes).map(|evicted| (l, evicted)))
                .map(|(l, evicted)| {
                    drop(evicted);
                    l
                });
            let mut slots = pool.slots();
            let out = match res {
                Ok(l) => {
                    let served = Arc::new(l.served);
                    if let Some(s) = slots.get_mut(&id) {
                        s.state = State::Loaded(Resident {
                            served: served.clone(),
                            bytes: l.bytes,
                            since: SystemTime::now(),
                            last_used: Instant::now(),
                            // Set by the waiting request right after.
                            expires: None,
                        });
                    }
                    tracing::info!(model = %id, "loaded: {}", l.about);
                    Ok(served)
                }
                Err(msg) => {
                    if let Some(s) = slots.get_mut(&id) {
                        s.state = State::Unloaded;
                    }
                    tracing::warn!(model = %id, "load failed: {msg}");
                    Err(msg)
                }
            };
            drop(slots);
            let _ = tx.send(Some(out));
        });
    }

    /// Unloads least recently used models until one more of `incoming` bytes fits the limits.
    /// Returns the evicted models, to drop outside the lock (stopping an engine joins its thread).
    fn make_room(&self, incoming_id: &str, incoming: u64) -> Result<Vec<Arc<Served>>, String> {
        if let Some(budget) = self.cfg.memory_budget {
            if incoming > budget {
                return Err(format!(
                    "it needs {incoming} bytes alone, more than the memory budget ({budget} bytes)"
                ));
            }
        }
        let mut slots = self.slots();
        let mut evicted = Vec::new();
        loop {
            let loaded: Vec<(&String, &Resident)> = slots
                .iter()
                .filter(|(id, _)| id.as_str() != incoming_id)
                .filter_map(|(id, s)| match &s.state {
                    State::Loaded(r) => Some((id, r)),
                    _ => None,
                })
                .collect();
            let used: u64 = loaded.iter().map(|(_, r)| r.bytes).sum();
            // A model loading now counts against --max-loaded too.
            let loading = slots
                .iter()
                .filter(|(id, s)| {
                    id.as_str() != incoming_id && matches!(s.state, State::Loading(_))
                })
                .count();
            let over_count = loaded.len() + loading + 1 > self.cfg.max_loaded.max(1);
            let over_bytes = self
                .cfg
                .memory_budget
                .is_some_and(|b| used.saturating_add(incoming) > b);
            if !over_count && !over_bytes {
                return Ok(evicted);
            }
            // Idle before busy, then least recently used; a never-expiring model stays.
            let victim = loaded
                .iter()
                .filter(|(_, r)| r.expires.is_some())
                .min_by_key(|(_, r)| (Arc::strong_count(&r.served) > 1, r.last_used))
                .map(|(id, _)| (*id).clone());
            let Some(victim) = victim else {
                return Err(format!(
                    "no room: {} model(s) are loaded and kept loaded (--max-loaded {}, memory budget {})",
                    loaded.len(),
                    self.cfg.max_loaded,
                    self.cfg
                        .memory_budget
                        .map_or_else(|| "none".to_string(), |b| format!("{b} bytes"))
                ));
            };
            if let Some(s) = slots.get_mut(&victim) {
                if let State::Loaded(r) = std::mem::replace(&mut s.state, State::Unloaded) {
                    tracing::info!(model = %victim, "unloaded to make room for {incoming_id}");
                    evicted.push(r.served);
                }
            }
        }
    }

    /// Unloads `name` now (requests using it finish first). True if it was loaded.
    pub fn unload(&self, name: &str) -> bool {
        let Some((id, ..)) = self.lookup(name) else {
            return false;
        };
        let old = {
            let mut slots = self.slots();
            match slots.get_mut(&id) {
                Some(s) if matches!(s.state, State::Loaded(_)) => {
                    match std::mem::replace(&mut s.state, State::Unloaded) {
                        State::Loaded(r) => Some(r.served),
                        _ => None,
                    }
                }
                _ => None,
            }
        };
        let was = old.is_some();
        drop_later(old.into_iter().collect());
        was
    }

    /// Unloads every model whose keep-alive ran out.
    fn reap(&self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        {
            let mut slots = self.slots();
            for (id, s) in slots.iter_mut() {
                let expired =
                    matches!(&s.state, State::Loaded(r) if r.expires.is_some_and(|t| t <= now));
                if expired {
                    if let State::Loaded(r) = std::mem::replace(&mut s.state, State::Unloaded) {
                        tracing::info!(model = %id, "unloaded (keep-alive ran out)");
                        gone.push(r.served);
                    }
                }
            }
        }
        drop_later(gone);
    }

    fn start_reaper(self: &Arc<Self>) {
        let weak: Weak<ModelPool> = Arc::downgrade(self);
        self.reaper.get_or_init(|| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(p) => p.reap(),
                        None => return,
                    }
                }
            });
        });
    }

    /// Every loaded model, for shutdown.
    pub fn all_loaded(&self) -> Vec<Arc<Served>> {
        self.slots()
            .values()
            .filter_map(|s| match &s.state {
                State::Loaded(r) => Some(r.served.clone()),
                _ => None,
            })
            .collect()
    }

    /// Fetches `spec` (a catalog name or `hf:ORG/REPO/FILE.gguf`) into the cache (blocking).
    pub fn pull(&self, spec: &str, obs: &mut dyn Observer) -> Result<ModelEntry, PoolError> {
        let cache = self.cfg.cache.as_ref().ok_or_else(|| {
            PoolError::Invalid("this server has no model cache to pull into".into())
        })?;
        let r = ModelRef::parse(strip_latest(spec))?;
        if let ModelRef::Path(_) = r {
            return Err(PoolError::Invalid(format!(
                "{spec:?} is a path; pull takes a model name or hf:ORG/REPO/FILE.gguf"
            )));
        }
        let pulled = cache.pull(&r, obs)?;
        self.find(&pulled.entry.name)
            .ok_or(PoolError::NotFound(pulled.entry.name))
    }

    /// Removes a cached model (unloading it first). Models given to the server or found in
    /// `--models-dir` are the operator's files and are not deleted.
    pub fn delete(&self, name: &str) -> Result<(), PoolError> {
        let (id, _, _, _, origin) = self
            .lookup(name)
            .ok_or_else(|| PoolError::NotFound(name.to_string()))?;
        if origin != Origin::Cache {
            return Err(PoolError::Invalid(format!(
                "model '{id}' is a file the server was given, not a cached model; it is not deleted"
            )));
        }
        let cache = self
            .cfg
            .cache
            .as_ref()
            .ok_or(PoolError::NotFound(id.clone()))?;
        self.unload(&id);
        self.slots().remove(&id);
        cache.remove(&id)?;
        Ok(())
    }

    /// Copies model `src` into the cache as `dst` (a new cache name).
    pub fn copy(&self, src: &str, dst: &str) -> Result<(), PoolError> {
        let cache = self.cfg.cache.as_ref().ok_or_else(|| {
            PoolError::Invalid("this server has no model cache to copy into".into())
        })?;
        let (_, path, ..) = self
            .lookup(src)
            .ok_or_else(|| PoolError::NotFound(src.to_string()))?;
        let dst = strip_latest(dst);
        nomoat_hub::spec::validate_name(dst)?;
        if self.lookup(dst).is_some() {
            return Err(PoolError::Invalid(format!("model '{dst}' already exists")));
        }
        cache.install(
            dst,
            &[Source::File(path)],
            None,
            None,
            &mut nomoat_hub::Silent,
        )?;
        Ok(())
    }
}

fn info(r: &Resident) -> LoadedInfo {
    LoadedInfo {
        since: r.since,
        expires_at: r.expires.map(to_system),
        bytes: r.bytes,
        n_ctx: r.served.engine.n_ctx(),
        // The pool's own reference is not a request.
        in_use: Arc::strong_count(&r.served).saturating_sub(1),
    }
}

fn expiry(k: KeepAlive) -> Option<Instant> {
    match k {
        KeepAlive::Forever | KeepAlive::Default => None,
        KeepAlive::UnloadNow => Some(Instant::now()),
        KeepAlive::For(d) => Instant::now().checked_add(d),
    }
}

/// Drops unloaded models on a blocking thread: an engine's drop joins its thread.
fn drop_later(v: Vec<Arc<Served>>) {
    if v.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn_blocking(move || drop(v));
        }
        Err(_) => drop(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_parses_ollama_and_cli_forms() {
        assert_eq!(
            KeepAlive::parse("5m"),
            Ok(KeepAlive::For(Duration::from_secs(300)))
        );
        assert_eq!(
            KeepAlive::parse("1h30m"),
            Ok(KeepAlive::For(Duration::from_secs(5400)))
        );
        assert_eq!(
            KeepAlive::parse("90"),
            Ok(KeepAlive::For(Duration::from_secs(90)))
        );
        assert_eq!(KeepAlive::parse("0"), Ok(KeepAlive::UnloadNow));
        assert_eq!(KeepAlive::parse("0s"), Ok(KeepAlive::UnloadNow));
        assert_eq!(KeepAlive::parse("-1"), Ok(KeepAlive::Forever));
        assert_eq!(KeepAlive::parse("-1m"), Ok(KeepAlive::Forever));
        assert_eq!(KeepAlive::parse("forever"), Ok(KeepAlive::Forever));
        assert!(KeepAlive::parse("5x").is_err());
        assert!(KeepAlive::parse("m").is_err());
        assert!(KeepAlive::parse("5m3").is_err());
        assert!(KeepAlive::parse("").is_err());
        assert_eq!(KeepAlive::parse("1e300"), Ok(KeepAlive::Forever));
    }

    #[test]
    fn latest_tag_is_the_bare_name() {
        assert_eq!(strip_latest("smollm2:latest"), "smollm2");
        assert_eq!(strip_latest("qwen3:0.6b"), "qwen3:0.6b");
    }
}
