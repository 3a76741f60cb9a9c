//! API key check (every route but `/health`), in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// Equal strings, in time that depends only on the lengths (not on where they differ).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// The key a request presents: `Authorization: Bearer KEY`, or `X-Api-Key: KEY`.
fn presented(req: &Request) -> Option<&[u8]> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.as_bytes();
        let prefix = b"Bearer ";
        if v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return Some(&v[prefix.len()..]);
        }
        return None;
    }
    req.headers().get("x-api-key").map(|v| v.as_bytes())
}

pub async fn require_key(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(key) = st.cfg.api_key.as_deref() else {
        return next.run(req).await;
    };
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    match presented(&req) {
        Some(k) if constant_time_eq(k, key.as_bytes()) => next.run(req).await,
        _ => {
            st.metrics.count_request("auth", 401);
            if crate::anthropic::is_anthropic_path(req.uri().path()) {
                return crate::anthropic::AnthropicError(ApiError::unauthorized()).into_response();
            }
            if req.uri().path().starts_with("/api/") {
                // Ollama's clients read `error` as a string.
                return crate::ollama::unauthorized();
            }
            ApiError::unauthorized().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
