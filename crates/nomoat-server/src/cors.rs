//! CORS: which browser pages may call the API. Preflights are answered here, before the API key
//! check (a browser sends no credentials on a preflight); the real request still needs the key.
//! By default only pages on this machine (`localhost`, `127.0.0.1`, `[::1]`, any port, http or
//! https) are allowed; `--cors-origin` replaces that with exact origins or `*`.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::ServerConfig;

/// Whether `origin` is a page on this machine (`http(s)://localhost`, `127.0.0.1`, `[::1]`,
/// any port).
fn is_local_origin(origin: &[u8]) -> bool {
    let Ok(o) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some(rest) = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix("[::1]") {
        Some(after) => return after.is_empty() || is_port(after),
        None => rest.split(':').next().unwrap_or(""),
    };
    let after = &rest[host.len()..];
    matches!(host, "localhost" | "127.0.0.1") && (after.is_empty() || is_port(after))
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// CORS: preflights answered before auth, the allowed origins from the config.
pub fn layer(cfg: &ServerConfig) -> CorsLayer {
    let origins = if cfg.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let allowed: Vec<Vec<u8>> = cfg
            .cors_origins
            .iter()
            .map(|o| o.trim_end_matches('/').as_bytes().to_vec())
            .collect();
        AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            let o = origin.as_bytes();
            if allowed.is_empty() {
                is_local_origin(o)
            } else {
                allowed.iter().any(|a| a.as_slice() == o)
            }
        })
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([HeaderName::from_static(crate::NO_EFFECT_HEADER)])
        .max_age(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_origins() {
        for o in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:5173",
        ] {
            assert!(super::is_local_origin(o.as_bytes()), "{o}");
        }
        for o in [
            "http://localhost.evil.com",
            "http://evil.com",
            "http://127.0.0.1.nip.io",
            "null",
            "http://localhost:",
            "http://localhost:99999x",
            "file://localhost",
            "http://[::1].evil",
        ] {
            assert!(!super::is_local_origin(o.as_bytes()), "{o}");
        }
    }
}
