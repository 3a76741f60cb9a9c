//! The embedded chat page: served at `/` without the API key (the API itself still needs it),
//! with the right types, gzip, ETags and cache headers.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use nomoat_server::{AppState, ServerConfig};
use tower::ServiceExt;

fn app() -> Router {
    let cfg = ServerConfig {
        api_key: Some("sekret".into()),
        ..Default::default()
    };
    nomoat_server::router(AppState::new(cfg, Default::default()))
}

async fn get(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let h = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, h, body)
}

#[tokio::test]
async fn page_loads_without_the_key_and_links_its_assets() {
    let app = app();
    let (st, h, body) = get(&app, "/", &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii")
        .contains("script-src 'self'"));
    let html = String::from_utf8(body).expect("utf-8");
    assert!(html.contains("<div id=\"app\">"));
    let etag = h[header::ETAG].to_str().expect("ascii").to_string();
    let (st, _, body) = get(&app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(get(&app, "/index.html", &[]).await.0, StatusCode::OK);

    let js = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script tag");
    let css = html
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a stylesheet");
    let (st, h, plain) = get(&app, js, &[]).await;
    assert_eq!(st, StatusCode::OK, "{js}");
    assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert!(h[header::CACHE_CONTROL]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
    assert!(h.get(header::CONTENT_ENCODING).is_none());
    let (st, h, gz) = get(&app, js, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_ENCODING], "gzip");
    assert!(gz.len() < plain.len() / 2 && gz.starts_with(&[0x1f, 0x8b]));
    let (st, h, _) = get(&app, css, &[]).await;
    assert_eq!(st, StatusCode::OK, "{css}");
    assert_eq!(h[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(
        get(&app, "/assets/nothing.js", &[]).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_api_still_needs_the_key() {
    let app = app();
    for uri in ["/v1/models", "/metrics", "/nowhere", "/index.htm"] {
        assert_eq!(
            get(&app, uri, &[]).await.0,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
    }
    // With the key the API answers (503: no model in this test).
    let (st, _, _) = get(&app, "/v1/models", &[("authorization", "Bearer sekret")]).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
}
