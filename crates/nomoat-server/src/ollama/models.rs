//! Ollama's model management over the server's model pool: `GET /api/tags` (every servable
//! model), `POST /api/show` (facts from the GGUF header), `GET /api/ps` (loaded models),
//! `POST /api/pull` (NDJSON progress), `DELETE /api/delete` and `POST /api/copy` (the cache).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use nomoat_gguf::{Gguf, GgufFile, Value as Kv};
use nomoat_hub::Observer;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::options::flag;
use super::{ollama_name, rfc3339, OllamaError};
use crate::body::read_json;
use crate::pool::{ModelEntry, ModelPool, Origin};
use crate::AppState;

/// What `/api/tags`, `/api/show` and `/api/ps` read from a model file's header.
struct Facts {
    arch: String,
    parameter_count: u64,
    quantization: String,
    /// Every metadata key but the name and the chat template, with arrays of more than five
    /// values written as `[]` (all of them with `verbose`), as Ollama's `model_info`.
    info: Map<String, Value>,
    license: Option<String>,
    /// Texts of the end-of-generation tokens the file names (Ollama's `stop` parameters).
    stops: Vec<String>,
    /// The template the policy picks from the file alone (used when the model is not loaded).
    file_template: Option<String>,
    tensors: Vec<Value>,
}

/// llama.cpp's short names of `general.file_type` values, as Ollama writes
/// `quantization_level`.
fn file_type(id: u64) -> Option<&'static str> {
    Some(match id & !nomoat_gguf::describe::FILE_TYPE_GUESSED {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4",
        _ => return None,
    })
}

/// Ollama's `parameter_size`: `134.52M`, `8.0B`, `7B`.
fn human_number(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        let v = x / 1e9;
        if v.fract() == 0.0 {
            format!("{v:.0}B")
        } else {
            format!("{v:.1}B")
        }
    } else if x >= 1e6 {
        let v = x / 1e6;
        if v.fract() == 0.0 {
            format!("{v:.0}M")
        } else {
            format!("{v:.2}M")
        }
    } else if x >= 1e3 {
        format!("{:.0}K", x / 1e3)
    } else {
        n.to_string()
    }
}

fn kv_json(v: &Kv, verbose: bool) -> Value {
    match v {
        Kv::U8(x) => json!(x),
        Kv::I8(x) => json!(x),
        Kv::U16(x) => json!(x),
        Kv::I16(x) => json!(x),
        Kv::U32(x) => json!(x),
        Kv::I32(x) => json!(x),
        Kv::U64(x) => json!(x),
        Kv::I64(x) => json!(x),
        // Shortest decimal of the stored width (1e-6, not 9.99999997e-7); non-finite as text.
        Kv::F32(x) => x
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| json!(x.to_string()), Value::Number),
        Kv::F64(x) => {
            serde_json::Number::from_f64(*x).map_or_else(|| json!(x.to_string()), Value::Number)
        }
        Kv::Bool(b) => json!(b),
        Kv::String(s) => json!(s),
        Kv::Array(items) if !verbose && items.len() > 5 => json!([]),
        Kv::Array(items) => Value::Array(items.iter().map(|i| kv_json(i, verbose)).collect()),
    }
}

fn read_facts(path: &Path, verbose: bool) -> Result<Facts, String> {
    let file = GgufFile::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let g: &Gguf = file.gguf();
    let arch = g
        .opt_str("general.architecture")
        .ok()
        .flatten()
        .unwrap_or("")
        .to_string();
    let parameter_count: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let quantization = match g.opt_u64("general.file_type").ok().flatten() {
        Some(id) => file_type(id).unwrap_or("unknown").to_string(),
        // No file type recorded: the type holding most of the weights.
        None => {
            let mut by: HashMap<&'static str, u64> = HashMap::new();
            for t in g.tensors() {
                *by.entry(t.ty.name()).or_default() += t.n_bytes;
            }
            by.into_iter()
                .max_by_key(|&(_, b)| b)
                .map_or("unknown".to_string(), |(n, _)| n.to_uppercase())
        }
    };
    let mut info = Map::new();
    for (k, v) in g.metadata() {
        if k == "general.name" || k == "tokenizer.chat_template" {
            continue;
        }
        info.insert(k.clone(), kv_json(v, verbose));
    }
    info.insert("general.parameter_count".into(), json!(parameter_count));
    let tokens = g
        .opt_array("tokenizer.ggml.tokens")
        .ok()
        .flatten()
        .unwrap_or(&[]);
    let mut stops = Vec::new();
    for key in [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        if let Some(t) = g
            .opt_u32(key)
            .ok()
            .flatten()
            .and_then(|id| tokens.get(id as usize))
            .and_then(Kv::as_str)
        {
            if !stops.iter().any(|s| s == t) {
                stops.push(t.to_string());
            }
        }
    }
    let file_template = nomoat_chat::ModelTemplate::from_gguf(None, g)
        .ok()
        .map(|t| t.template.source().to_string());
    let tensors = g
        .tensors()
        .iter()
        .map(|t| json!({"name": t.name, "type": t.ty.name().to_uppercase(), "shape": t.dims}))
        .collect();
    Ok(Facts {
        arch,
        parameter_count,
        quantization,
        info,
        license: g
            .opt_str("general.license")
            .ok()
            .flatten()
            .map(str::to_string),
        stops,
        file_template,
        tensors,
    })
}

type FactsCache = Mutex<HashMap<PathBuf, (u64, SystemTime, Arc<Facts>)>>;

/// Non-verbose facts, kept per file until its size or time changes (listing many models then
/// reads each header once).
fn facts(e: &ModelEntry) -> Option<Arc<Facts>> {
    static CACHE: OnceLock<FactsCache> = OnceLock::new();
    const MAX_ENTRIES: usize = 256;
    let cache = CACHE.get_or_init(Default::default);
    let key = e.path.clone();
    if let Some((size, modified, f)) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        if *size == e.size && *modified == e.modified {
            return Some(f.clone());
        }
    }
    let f = Arc::new(read_facts(&e.path, false).ok()?);
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= MAX_ENTRIES {
        c.clear();
    }
    c.insert(key, (e.size, e.modified, f.clone()));
    Some(f)
}

fn details(f: Option<&Facts>) -> Value {
    let (family, size, quant) = match f {
        Some(f) => (
            f.arch.clone(),
            human_number(f.parameter_count),
            f.quantization.clone(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": if family.is_empty() { Value::Null } else { json!([family]) },
        "parameter_size": size,
        "quantization_level": quant,
    })
}

/// The file's sha256 when the cache recorded it; otherwise an identifier of the file (sha256 of
/// its path, size and time), since hashing every model on each listing would take minutes.
fn digest(e: &ModelEntry, cache_shas: &HashMap<String, String>) -> String {
    if e.origin == Origin::Cache {
        if let Some(s) = cache_shas.get(&e.id).filter(|s| !s.is_empty()) {
            return s.clone();
        }
    }
    let t = e
        .modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let h = Sha256::digest(format!("nomoat:{}:{}:{t}", e.path.display(), e.size));
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn cache_shas(pool: &ModelPool) -> HashMap<String, String> {
    pool.cache()
        .and_then(|c| c.list().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.sha256))
        .collect()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, OllamaError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| OllamaError::internal("internal error while reading the models"))
}

fn model_field(map: &Map<String, Value>) -> Result<String, OllamaError> {
    // `name` is the older spelling Ollama still accepts.
    for k in ["model", "name"] {
        match map.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.is_empty() => return Ok(s.clone()),
            Some(_) => {
                return Err(OllamaError::bad_request(format!(
                    "'{k}' must be a model name"
                )))
            }
        }
    }
    Err(OllamaError::bad_request("model is required"))
}

fn only(map: &Map<String, Value>, allowed: &[&str], route: &str) -> Result<(), OllamaError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(OllamaError::bad_request(format!(
            "unknown field '{k}' in the {route} request (it takes {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `GET /api/tags`: every model the server can serve, loaded or not.
pub async fn tags(State(st): State<Arc<AppState>>) -> Result<Response, OllamaError> {
    let pool = st.pool().clone();
    let models = blocking(move || {
        let shas = cache_shas(&pool);
        pool.list()
            .iter()
            .map(|e| {
                let f = facts(e);
                let name = ollama_name(&e.id);
                json!({
                    "name": name,
                    "model": name,
                    "modified_at": rfc3339(e.modified),
                    "size": e.size,
                    "digest": digest(e, &shas),
                    "details": details(f.as_deref()),
                })
            })
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(axum::Json(json!({ "models": models })).into_response())
}

/// `GET /api/ps`: the loaded models, most recently used first; `size_vram` is 0 (CPU only).
pub async fn ps(State(st): State<Arc<AppState>>) -> Result<Response, OllamaError> {
    let pool = st.pool().clone();
    let models = blocking(move || {
        let shas = cache_shas(&pool);
        pool.loaded()
            .iter()
            .filter_map(|(e, served)| {
                let l = e.loaded.as_ref()?;
                let name = ollama_name(&e.id);
                // A model that never unloads: the latest time clients parse.
                let expires = l
                    .expires_at
                    .unwrap_or(UNIX_EPOCH + Duration::from_secs(253_402_300_799));
                Some(json!({
                    "name": name,
                    "model": name,
                    "size": l.bytes,
                    "digest": digest(e, &shas),
                    "details": details(facts(e).as_deref()),
                    "expires_at": rfc3339(expires),
                    "size_vram": 0,
                    "context_length": served.engine.n_ctx(),
                }))
            })
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(axum::Json(json!({ "models": models })).into_response())
}

/// `POST /api/show {"model", "verbose"}`: details, `model_info` (the GGUF metadata), the chat
/// template, Modelfile-style `parameters`, tensors and capabilities. Does not load the model.
pub async fn show(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OllamaError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    only(&map, &["model", "name", "verbose"], "/api/show")?;
    let name = model_field(&map)?;
    let verbose = flag(&map, "verbose", false)?;
    let pool = st.pool().clone();
    let e = pool
        .find(&name)
        .ok_or_else(|| OllamaError::not_found(&name))?;
    let served = pool
        .loaded()
        .into_iter()
        .find(|(l, _)| l.id == e.id)
        .map(|(_, s)| s);
    let path = e.path.clone();
    let f = blocking(move || read_facts(&path, verbose))
        .await?
        .map_err(OllamaError::internal)?;
    let template = match &served {
        Some(s) => s.text.chat_template(),
        None => f.file_template.clone(),
    }
    .unwrap_or_default();
    let mut params = Vec::new();
    if let Some(s) = &served {
        params.push(format!("{:<30} {}", "num_ctx", s.engine.n_ctx()));
    }
    for s in &f.stops {
        params.push(format!("{:<30} {}", "stop", json!(s)));
    }
    let mut modelfile = format!(
        "# Modelfile generated by nomoat (for reference: nomoat serves GGUF files and does not \
         read Modelfiles)\nFROM {}\n",
        e.path.display()
    );
    if !template.is_empty() {
        modelfile.push_str(&format!("TEMPLATE \"\"\"{template}\"\"\"\n"));
    }
    for s in &f.stops {
        modelfile.push_str(&format!("PARAMETER stop {}\n", json!(s)));
    }
    let mut v = json!({
        "modelfile": modelfile,
        "parameters": params.join("\n"),
        "template": template,
        "details": details(Some(&f)),
        "model_info": f.info,
        "tensors": f.tensors,
        "capabilities": ["completion"],
        "modified_at": rfc3339(e.modified),
    });
    if let Some(l) = &f.license {
        v["license"] = json!(l);
    }
    Ok(axum::Json(v).into_response())
}

enum PullMsg {
    Line(Value),
    Fail(OllamaError),
}

/// Pull progress as Ollama's NDJSON status lines (at most one progress line per 250 ms).
struct PullObserver {
    tx: UnboundedSender<PullMsg>,
    name: String,
    digest: String,
    label: String,
    total: Option<u64>,
    completed: u64,
    last_sent: Option<Instant>,
    transferred: bool,
}

impl PullObserver {
    fn progress(&mut self, force: bool) {
        if !force
            && self
                .last_sent
                .is_some_and(|t| t.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        self.last_sent = Some(Instant::now());
        let mut v = json!({
            "status": format!("{} {}", self.label, self.name),
            "digest": self.digest,
            "completed": self.completed,
        });
        if let Some(t) = self.total {
            v["total"] = json!(t);
        }
        let _ = self.tx.send(PullMsg::Line(v));
    }
}

impl Observer for PullObserver {
    fn note(&mut self, msg: &str) {
        let _ = self.tx.send(PullMsg::Line(json!({"status": msg.trim()})));
    }
    fn begin(&mut self, label: &str, total: Option<u64>) {
        self.label = label.to_string();
        self.total = total;
        self.completed = 0;
        self.transferred = true;
        self.progress(true);
    }
    fn advance(&mut self, bytes: u64) {
        self.completed = self.completed.saturating_add(bytes);
        self.progress(false);
    }
    fn end(&mut self) {
        self.progress(true);
    }
}

/// `POST /api/pull {"model", "stream", "insecure"}`: fetches a catalog name or
/// `hf:ORG/REPO/FILE.gguf` into the cache. `insecure` has no effect (sources are fixed).
pub async fn pull(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OllamaError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    only(&map, &["model", "name", "stream", "insecure"], "/api/pull")?;
    let name = model_field(&map)?;
    let stream = flag(&map, "stream", true)?;
    if flag(&map, "insecure", false)? {
        crate::params::note_no_effect("insecure");
    }
    let (tx, mut rx) = unbounded_channel::<PullMsg>();
    let pool = st.pool().clone();
    let digest = nomoat_hub::catalog::find(name.strip_suffix(":latest").unwrap_or(&name))
        .and_then(|k| k.pinned)
        .map_or_else(|| name.clone(), |p| format!("sha256:{}", p.sha256));
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(PullMsg::Line(json!({"status": "pulling manifest"})));
        let mut obs = PullObserver {
            tx: tx.clone(),
            name: name.clone(),
            digest,
            label: String::new(),
            total: None,
            completed: 0,
            last_sent: None,
            transferred: false,
        };
        match pool.pull(&name, &mut obs) {
            Ok(e) => {
                if !obs.transferred {
                    // Already cached: one complete progress line, as Ollama sends for a layer
                    // it already has.
                    obs.label = "pulling".into();
                    obs.total = Some(e.size);
                    obs.completed = e.size;
                    obs.progress(true);
                } else {
                    if obs.total.is_none() {
                        // The source gave no size up front: now it is known.
                        obs.total = Some(e.size);
                        obs.completed = e.size;
                        obs.progress(true);
                    }
                    let _ = tx.send(PullMsg::Line(json!({"status": "verifying sha256 digest"})));
                    let _ = tx.send(PullMsg::Line(json!({"status": "writing manifest"})));
                }
                let _ = tx.send(PullMsg::Line(json!({"status": "success"})));
            }
            Err(e) => {
                let _ = tx.send(PullMsg::Fail(OllamaError::from(e)));
            }
        }
    });
    if !stream {
        let mut last = None;
        while let Some(m) = rx.recv().await {
            match m {
                PullMsg::Line(v) => last = Some(v),
                PullMsg::Fail(e) => return Err(e),
            }
        }
        return last
            .map(|v| axum::Json(v).into_response())
            .ok_or_else(|| OllamaError::internal("the pull stopped unexpectedly"));
    }
    let s = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        let (v, more) = match rx.recv().await? {
            PullMsg::Line(v) => (v, true),
            PullMsg::Fail(e) => (OllamaError::line(&e.message), false),
        };
        let mut line = v.to_string();
        line.push('\n');
        Some((Ok::<_, std::convert::Infallible>(line), more.then_some(rx)))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(s),
    )
        .into_response())
}

/// `DELETE /api/delete {"model"}`: removes a cached model (200, empty body; 404 if unknown).
pub async fn delete(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OllamaError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    only(&map, &["model", "name"], "/api/delete")?;
    let name = model_field(&map)?;
    let pool = st.pool().clone();
    blocking(move || pool.delete(&name)).await??;
    Ok(().into_response())
}

/// `POST /api/copy {"source", "destination"}`: copies a model into the cache under a new name.
pub async fn copy(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OllamaError> {
    let map = read_json(&headers, body, st.cfg.max_body_bytes, st.cfg.body_timeout).await?;
    only(&map, &["source", "destination"], "/api/copy")?;
    let field = |k: &str| match map.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(OllamaError::bad_request(format!(
            "'{k}' (a model name) is required"
        ))),
    };
    let (src, dst) = (field("source")?, field("destination")?);
    let pool = st.pool().clone();
    blocking(move || pool.copy(&src, &dst)).await??;
    Ok(().into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sizes_as_ollama_writes_them() {
        assert_eq!(human_number(134_515_008), "134.52M");
        assert_eq!(human_number(8_030_261_248), "8.0B");
        assert_eq!(human_number(7_000_000_000), "7B");
        assert_eq!(human_number(42_000), "42K");
        assert_eq!(file_type(15), Some("Q4_K_M"));
        assert_eq!(file_type(1024 + 7), Some("Q8_0"));
        assert_eq!(file_type(4), None);
    }
}
