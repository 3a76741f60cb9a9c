//! Over real TCP: a client that disconnects mid-stream frees its sequence (seen on /metrics),
//! slow headers time out, and the accept loop shuts down gracefully.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nomoat_engine::scheduler::SchedulerConfig;
use nomoat_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn start(
    cfg: ServerConfig,
    delay_ms: u64,
) -> (std::net::SocketAddr, Setup, oneshot::Sender<()>) {
    let s = setup_with(cfg, SchedulerConfig::default(), delay_ms);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let app = s.app.clone();
    let state = s.state.clone();
    tokio::spawn(async move {
        let _ = nomoat_server::serve(listener, app, state, async {
            let _ = rx.await;
        })
        .await;
    });
    (addr, s, tx)
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    c.read_to_string(&mut out).await.expect("read");
    out
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_client_frees_its_slot() {
    // 5 ms per step: 200 tokens would take a second; the client leaves after the first chunk.
    let (addr, _s, stop) = start(ServerConfig::default(), 5).await;
    let body =
        r#"{"prompt": "w1 w2 w3", "max_tokens": 100, "stream": true, "logit_bias": {"63": -100}}"#;
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(req.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains("data: {") {
        let n = c.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // The counters are published after each step: the stream is running.
    let t0 = Instant::now();
    loop {
        let m = metrics(addr).await;
        if metric(&m, "nomoat_running_sequences") == Some(1.0) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(2), "not running: {m}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(c);
    let t0 = Instant::now();
    loop {
        let m = metrics(addr).await;
        if metric(&m, "nomoat_running_sequences") == Some(0.0) {
            assert_eq!(metric(&m, "nomoat_cancelled_total"), Some(1.0), "{m}");
            assert_eq!(metric(&m, "nomoat_requests_inflight"), Some(0.0), "{m}");
            let free = metric(&m, "nomoat_kv_blocks_free").expect("free");
            let used = metric(&m, "nomoat_kv_blocks_used").expect("used");
            // Only the prefix cache's copy of the prompt's whole blocks may stay.
            assert!(used <= 1.0 && free >= 511.0, "{m}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "slot not freed: {m}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let cfg = ServerConfig {
        header_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (addr, _s, stop) = start(cfg, 0).await;
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    // The server gives up: EOF (possibly after a 408), well before 5 s.
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "connection still open");
    assert!(t0.elapsed() >= Duration::from_millis(250));
    // An idle keep-alive connection is closed the same way.
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let n = c.read(&mut buf).await.expect("response");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "idle connection still open");
    let _ = stop.send(());
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let (addr, _s, stop) = start(ServerConfig::default(), 0).await;
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let big = "a".repeat(40_000);
    let req = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = c.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    // The server still answers.
    let m = metrics(addr).await;
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_client_that_leaves_is_cancelled_too() {
    let (addr, _s, stop) = start(ServerConfig::default(), 5).await;
    let body = r#"{"prompt": "w4 w5", "max_tokens": 100, "logit_bias": {"63": -100}}"#;
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(req.as_bytes()).await.expect("write");
    let t0 = Instant::now();
    loop {
        let m = metrics(addr).await;
        if metric(&m, "nomoat_running_sequences") == Some(1.0) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(2), "not running: {m}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(c);
    let t0 = Instant::now();
    loop {
        let m = metrics(addr).await;
        if metric(&m, "nomoat_cancelled_total") == Some(1.0) {
            assert_eq!(metric(&m, "nomoat_running_sequences"), Some(0.0), "{m}");
            break;
        }
        // 100 tokens take 0.5 s; cancellation must come well before the request would end.
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "not cancelled: {m}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
}
