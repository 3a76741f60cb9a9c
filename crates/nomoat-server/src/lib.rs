//! nomoat-server: the OpenAI-compatible HTTP API over the engine (axum on tokio; the engine
//! runs on its own thread).
//!
//! - [`router`] builds every route over an [`AppState`]; [`serve`] runs it with timeouts and
//!   graceful shutdown. The models live in a [`ModelPool`] (many per server, loaded on first use,
//!   unloaded after their keep-alive or to make room); every route gets its model with
//!   [`AppState::resolve`]. `/health` answers 503 until the default model is loaded.
//! - Errors are OpenAI-shaped ([`ApiError`]); every request field is used, known to be
//!   harmless, or refused by name ([`params`]).
#![forbid(unsafe_code)]

mod agent;
mod anthropic;
mod auth;
mod body;
mod chat;
mod completions;
mod cors;
mod embeddings;
mod error;
mod gen;
mod llama_server;
mod load;
mod metrics;
mod misc;
mod model;
mod ollama;
pub mod params;
pub mod pool;
mod responses;
mod serve;
mod structured;
mod text;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::constant_time_eq;
pub use error::ApiError;
pub use load::{load_served, EngineOptions, LoadError, LoadedServed};
pub use metrics::Metrics;
pub use model::{ModelInfo, ModelText, Served, TextError};
pub use pool::{KeepAlive, ModelPool, ModelSpec, PoolConfig};
pub use serve::{serve, shutdown_signal};
pub use text::TokenizerText;

/// Transport limits, the API key and server-wide request defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Required on every route but `/health` when set.
    pub api_key: Option<String>,
    /// Bodies above this get 413 before parsing.
    pub max_body_bytes: usize,
    /// Request line + headers.
    pub max_header_bytes: usize,
    /// Time to receive the request headers; also how long an idle keep-alive connection stays.
    pub header_timeout: Duration,
    /// Time to receive the whole body.
    pub body_timeout: Duration,
    /// On shutdown, how long in-flight requests may take before they are cancelled.
    pub shutdown_grace: Duration,
    /// Browser origins allowed to call the API (CORS): exact origins such as
    /// `https://app.example`, or `*` for any. Empty: pages served from localhost only.
    pub cors_origins: Vec<String>,
    /// `thinking_budget` of chat requests that do not set one (`None`: no limit).
    pub reasoning_budget: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_key: None,
            max_body_bytes: 8 << 20,
            max_header_bytes: 16 << 10,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            cors_origins: Vec::new(),
            reasoning_budget: None,
        }
    }
}

/// Caps on request contents.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_n: usize,
    pub max_top_logprobs: usize,
    pub max_stop: usize,
    pub max_stop_bytes: usize,
    pub max_logit_bias: usize,
    pub max_messages: usize,
    /// Prompts in one completions request.
    pub max_prompts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_n: 8,
            max_top_logprobs: 20,
            max_stop: 16,
            max_stop_bytes: 1024,
            max_logit_bias: 300,
            max_messages: 4096,
            max_prompts: 64,
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    pub cfg: ServerConfig,
    pub limits: Limits,
    pub metrics: Metrics,
    pool: Arc<ModelPool>,
}

impl AppState {
    /// A server with no models yet: install one with [`AppState::set_model`] (tests, embedders).
    pub fn new(cfg: ServerConfig, limits: Limits) -> Arc<Self> {
        let opts = EngineOptions {
            n_threads: 0,
            kv_tokens: 4096,
            n_ctx: 4096,
            sched: Default::default(),
            chat_template: None,
            pooling: None,
        };
        AppState::with_pool(cfg, limits, PoolConfig::new(Vec::new(), opts))
    }

    /// A server over the models `pool` describes (`nomoat serve`).
    pub fn with_pool(cfg: ServerConfig, limits: Limits, pool: PoolConfig) -> Arc<Self> {
        Arc::new(AppState {
            cfg,
            limits,
            metrics: Metrics::default(),
            pool: Arc::new(ModelPool::new(pool)),
        })
    }

    /// Install a loaded model, kept loaded for good; the first one becomes the default unless
    /// the pool names one. Returns false if a model with its id is already loaded.
    pub fn set_model(&self, m: Served) -> bool {
        self.pool.install(m, 0)
    }

    /// The default model, if it is loaded.
    pub fn model(&self) -> Option<Arc<Served>> {
        self.pool.default_loaded()
    }

    pub fn pool(&self) -> &Arc<ModelPool> {
        &self.pool
    }

    /// The model a request names (`None` or `""`: the default one), loaded if it was not. Every
    /// route goes through here, so naming a model the server does not have is a 404 everywhere.
    pub async fn resolve(&self, name: Option<&str>) -> Result<Arc<Served>, ApiError> {
        self.resolve_keep(name, KeepAlive::Default).await
    }

    /// [`AppState::resolve`] with a keep-alive for the model (Ollama's `keep_alive`).
    pub async fn resolve_keep(
        &self,
        name: Option<&str>,
        keep: KeepAlive,
    ) -> Result<Arc<Served>, ApiError> {
        if self.pool.awaiting_install() {
            return Err(ApiError::unavailable("Loading model", 2));
        }
        Ok(self.pool.get(name, keep).await?)
    }
}

async fn count_requests(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let resp = next.run(req).await;
    st.metrics.count_request(&route, resp.status().as_u16());
    resp
}

/// Sends back the request's accepted-without-effect fields (see [`params::note_no_effect`]).
async fn no_effect_header(req: Request, next: Next) -> Response {
    params::NO_EFFECT
        .scope(std::cell::RefCell::new(Vec::new()), async move {
            let mut resp = next.run(req).await;
            let fields = params::NO_EFFECT.with(|v| v.borrow().join(", "));
            if let (false, Ok(v)) = (fields.is_empty(), HeaderValue::from_str(&fields)) {
                resp.headers_mut().insert(NO_EFFECT_HEADER, v);
            }
            resp
        })
        .await
}

/// Lists the request fields that were accepted but changed nothing.
pub const NO_EFFECT_HEADER: &str = "x-nomoat-no-effect";

/// Every route, with auth, request counting and panic isolation.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/api/embed", post(embeddings::ollama_embed))
        .route("/api/embeddings", post(embeddings::ollama_embeddings))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/responses", post(responses::responses))
        .route("/v1/models", get(misc::models))
        .route("/v1/models/{id}", get(misc::model))
        .route("/health", get(misc::health))
        .route("/metrics", get(misc::metrics))
        .route("/tokenize", post(misc::tokenize))
        .route("/detokenize", post(misc::detokenize))
        .route("/completion", post(llama_server::completion))
        .route("/completions", post(llama_server::completion))
        .route("/infill", post(llama_server::infill))
        .route("/props", get(llama_server::props))
        .route("/slots", get(llama_server::slots))
        .route(
            "/tokenizer_info",
            get(llama_server::tokenizer_info).post(llama_server::tokenizer_info_post),
        )
        .merge(ollama::routes())
        .fallback(misc::not_found)
        .method_not_allowed_fallback(misc::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(no_effect_header))
        .layer(CatchPanicLayer::custom(misc::panic_response))
        // The chat page (after the layers: it loads without the API key; see web.rs).
        .merge(web::routes())
        .layer(cors::layer(&state.cfg))
        .with_state(state)
}
