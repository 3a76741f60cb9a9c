//! nomoat-server: the OpenAI-compatible HTTP API over the engine (axum on tokio; the engine
//! runs on its own thread).
//!
//! - [`router`] builds every route over an [`AppState`]; [`serve`] runs it with timeouts and
//!   graceful shutdown. The model is installed with [`AppState::set_model`] once loaded
//!   (`/health` answers 503 until then).
//! - Errors are OpenAI-shaped ([`ApiError`]); every request field is used, known to be
//!   harmless, or refused by name ([`params`]).
#![forbid(unsafe_code)]

mod anthropic;
mod auth;
mod body;
mod chat;
mod completions;
mod error;
mod gen;
mod load;
mod metrics;
mod misc;
mod model;
pub mod params;
mod responses;
mod serve;
mod text;
mod web;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::constant_time_eq;
pub use error::ApiError;
pub use load::{load_served, EngineOptions, LoadError};
pub use metrics::Metrics;
pub use model::{ModelText, Served, TextError};
pub use serve::{serve, shutdown_signal};
pub use text::TokenizerText;

/// Transport limits and the API key.
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
    model: OnceLock<Arc<Served>>,
}

impl AppState {
    pub fn new(cfg: ServerConfig, limits: Limits) -> Arc<Self> {
        Arc::new(AppState {
            cfg,
            limits,
            metrics: Metrics::default(),
            model: OnceLock::new(),
        })
    }

    /// Install the loaded model; requests before this get 503. Returns false if a model was
    /// already installed (the new one is dropped).
    pub fn set_model(&self, m: Served) -> bool {
        self.model.set(Arc::new(m)).is_ok()
    }

    pub fn model(&self) -> Option<&Arc<Served>> {
        self.model.get()
    }

    /// The model a request names (`None` or `""`: the default one), ready to generate. Every
    /// route goes through here, so naming a model the server does not have is a 404 everywhere.
    pub async fn resolve(&self, name: Option<&str>) -> Result<Arc<Served>, ApiError> {
        let m = self
            .model
            .get()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("Loading model", 2))?;
        match name {
            None => Ok(m),
            Some(n) if n.is_empty() || n == m.id => Ok(m),
            Some(n) => Err(ApiError::model_not_found(n, &m.id)),
        }
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

/// Every route, with auth, request counting and panic isolation.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/responses", post(responses::responses))
        .route("/v1/models", get(misc::models))
        .route("/v1/models/{id}", get(misc::model))
        .route("/health", get(misc::health))
        .route("/metrics", get(misc::metrics))
        .route("/tokenize", post(misc::tokenize))
        .route("/detokenize", post(misc::detokenize))
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
        .layer(CatchPanicLayer::custom(misc::panic_response))
        // The chat page (after the layers: it loads without the API key; see web.rs).
        .merge(web::routes())
        .with_state(state)
}
