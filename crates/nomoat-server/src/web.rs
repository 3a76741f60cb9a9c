//! The chat page at `/`: the front-end in `web/` (Preact, built with esbuild), committed as built
//! files in `assets/` and embedded at compile time, so the binary needs no network and building it
//! needs no npm. `assets/manifest.rs` (written by `web/build.mjs`) lists every file with its type,
//! ETag and a gzip copy.
//!
//! These routes are public: the page holds no secrets and asks for the API key itself when an API
//! call answers 401 (every `/v1/...` route still needs the key). `/` and `/index.html` are
//! revalidated on every load (`no-cache` + ETag); `/assets/*` names carry a content hash and are
//! cached for a year.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

struct Asset {
    path: &'static str,
    mime: &'static str,
    etag: &'static str,
    body: &'static [u8],
    gz: &'static [u8],
}

static ASSETS: &[Asset] = include!("../assets/manifest.rs");

/// The page's own rules: scripts and styles only from this origin, no remote anything, no
/// framing. Model output is sanitized before it reaches the page; this is the second wall.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`, `/index.html` and `/assets/{file}`, without state (merged into the API router).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{file}", get(asset))
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

async fn index(headers: HeaderMap) -> Response {
    match find("/index.html") {
        Some(a) => respond(a, &headers, "no-cache"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match find(&format!("/assets/{file}")) {
        Some(a) => respond(a, &headers, "public, max-age=31536000, immutable"),
        None => crate::ApiError::not_found(format!("no asset /assets/{file}")).into_response(),
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.trim().split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().ok() == Some(0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn respond(a: &'static Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(headers) {
        let mut r = a.gz.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        a.body.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, HeaderValue::from_static(a.etag));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if a.mime.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_consistent() {
        let index = find("/index.html").expect("index.html is embedded");
        let html = std::str::from_utf8(index.body).expect("utf-8");
        // Every file the page links is embedded, and every embedded file has a gzip copy.
        for a in ASSETS {
            assert!(a.path.starts_with('/'), "{}", a.path);
            assert!(!a.gz.is_empty() && a.gz[..2] == [0x1f, 0x8b], "{}", a.path);
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
        }
        for part in html.split("\"/assets/").skip(1) {
            let name = part.split('"').next().expect("quoted");
            assert!(find(&format!("/assets/{name}")).is_some(), "{name}");
        }
        let total: usize = ASSETS.iter().map(|a| a.gz.len()).sum();
        assert!(total <= 400 << 10, "{total} bytes gzipped");
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            "br, gzip;q=0.8".parse().expect("h"),
        );
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, "gzip;q=0, br".parse().expect("h"));
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, "identity".parse().expect("h"));
        assert!(!accepts_gzip(&h));
    }
}
