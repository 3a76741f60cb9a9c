//! Ollama's native API (`/api/...`, the routes and JSON shapes of Ollama's `docs/api.md`), so
//! the `ollama` Python and npm clients work unchanged:
//!
//! - [`generate`]: `POST /api/chat` and `POST /api/generate`, streaming NDJSON by default.
//! - [`models`]: `GET /api/tags`, `POST /api/show`, `GET /api/ps`, `POST /api/pull`,
//!   `DELETE /api/delete`, `POST /api/copy`, over the server's [`crate::pool::ModelPool`].
//! - [`options`]: the request fields and `options` every route shares, each used, known to have
//!   no effect, or refused by name.
//! - `GET /api/version`; `HEAD /` is answered by the web page's `GET /` route.
//!
//! Errors are Ollama's `{"error": "..."}` with Ollama's statuses ([`OllamaError`]).

mod generate;
mod models;
pub(crate) mod options;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// The Ollama version `/api/version` reports: the release the Ollama clients of this time
/// expect (tools compare it against a minimum before using newer routes). The server is nomoat;
/// `nomoat_version` in the same answer says which.
pub const OLLAMA_VERSION: &str = "0.32.15";

/// The Ollama routes (merged into [`crate::router`] inside its auth and counting layers).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/chat", post(generate::chat))
        .route("/api/generate", post(generate::generate))
        .route("/api/tags", get(models::tags))
        .route("/api/show", post(models::show))
        .route("/api/ps", get(models::ps))
        .route("/api/pull", post(models::pull))
        .route("/api/delete", delete(models::delete))
        .route("/api/copy", post(models::copy))
        .route("/api/version", get(version))
}

/// `GET /api/version` (and `HEAD`, which axum answers from the `GET` route).
async fn version() -> Response {
    axum::Json(json!({
        "version": OLLAMA_VERSION,
        "nomoat_version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// The 401 of a `/api/...` route when the server has a key: Ollama-shaped, with the same
/// `WWW-Authenticate` as the OpenAI routes.
pub fn unauthorized() -> Response {
    let e = ApiError::unauthorized();
    let mut r = OllamaError::from(e).into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// An error in Ollama's shape: `{"error": "message"}` with the status (and `Retry-After` on 503).
#[derive(Debug)]
pub struct OllamaError {
    pub status: StatusCode,
    pub message: String,
    retry_after: Option<u32>,
}

impl OllamaError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        OllamaError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(model: &str) -> Self {
        OllamaError {
            status: StatusCode::NOT_FOUND,
            message: format!("model '{model}' not found"),
            retry_after: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        OllamaError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The line an NDJSON stream ends with when it fails part-way.
    pub fn line(message: &str) -> Value {
        json!({ "error": message })
    }
}

impl From<ApiError> for OllamaError {
    fn from(e: ApiError) -> Self {
        OllamaError {
            status: e.status,
            message: e.message,
            retry_after: e.retry_after,
        }
    }
}

impl From<crate::pool::PoolError> for OllamaError {
    fn from(e: crate::pool::PoolError) -> Self {
        OllamaError::from(ApiError::from(e))
    }
}

impl IntoResponse for OllamaError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(Self::line(&self.message))).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// The name Ollama clients see for a model id: Ollama names always carry a tag, so a bare id
/// gets `:latest` (which the pool drops again when a request names it).
pub fn ollama_name(id: &str) -> String {
    if id.contains(':') {
        id.to_string()
    } else {
        format!("{id}:latest")
    }
}

/// RFC 3339 in UTC with microseconds (`2024-06-04T14:38:31.837530Z`), as Ollama writes times.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn now() -> String {
    rfc3339(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_717_511_911_837_530);
        assert_eq!(rfc3339(t), "2024-06-04T14:38:31.837530Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn names_carry_a_tag() {
        assert_eq!(
            ollama_name("smollm2-135m-instruct"),
            "smollm2-135m-instruct:latest"
        );
        assert_eq!(ollama_name("qwen3:0.6b"), "qwen3:0.6b");
    }
}
