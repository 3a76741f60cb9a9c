//! `pull` of an `hf:` file from a local mirror (`$HF_ENDPOINT` layout: `/ORG/REPO/resolve/main/FILE`)
//! that behaves like Hugging Face: the resolve URL answers 302 to a CDN path with `X-Linked-Size`
//! and `X-Linked-Etag` (the sha256), the CDN path serves the bytes and honours `Range`. The server
//! can drop the connection half-way, ignore ranges, or state a wrong sha256.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nomoat_hub::{Cache, ModelRef, Silent};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Default)]
struct Behaviour {
    /// Drop the connection half-way through the first this-many body transfers.
    drop_first: usize,
    /// Answer every request with the whole file (200), whatever its `Range`.
    ignore_range: bool,
    /// State this sha256 instead of the file's.
    wrong_sha: bool,
}

struct Mirror {
    endpoint: String,
    /// `Range` header of each request for the bytes (None: no range asked).
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file: 3 MB of a pattern, large enough that half of it is several reads.
fn payload() -> Vec<u8> {
    (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn start(body: Vec<u8>, b: Behaviour) -> Mirror {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    let body = Arc::new(body);
    std::thread::spawn(move || {
        let mut transfers = 0usize;
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            handle(conn, &body, b, &seen, &mut transfers);
        }
    });
    Mirror {
        endpoint: format!("http://{addr}"),
        ranges,
    }
}

fn handle(
    mut conn: TcpStream,
    body: &[u8],
    b: Behaviour,
    seen: &Mutex<Vec<Option<String>>>,
    transfers: &mut usize,
) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    r.read_line(&mut request).unwrap();
    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let sha = if b.wrong_sha {
        "0".repeat(64)
    } else {
        hex(body)
    };
    if path.contains("/resolve/main/") {
        let file = path.rsplit('/').next().unwrap_or("");
        let _ = write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: /cdn/{file}\r\nX-Linked-Size: {}\r\n\
             X-Linked-Etag: \"{sha}\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            body.len()
        );
        return;
    }
    seen.lock().unwrap().push(range.clone());
    let start = range
        .as_deref()
        .filter(|_| !b.ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0)
        .min(body.len());
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    let _ = write!(
        conn,
        "{head}Content-Length: {}\r\nETag: \"{sha}\"\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        body.len() - start
    );
    *transfers += 1;
    if *transfers <= b.drop_first {
        // Half of what was promised, then the connection goes away.
        let half = start + (body.len() - start) / 2;
        let _ = conn.write_all(&body[start..half]);
        let _ = conn.flush();
        let _ = conn.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = conn.write_all(&body[start..]);
}

fn home(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("nomoat-hub-resume-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

const SPEC: &str = "hf:test-org/Test-GGUF/Tiny-Q4_K_M.gguf";

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn dropped_transfer_resumes_with_a_range_and_ends_with_the_right_bytes() {
    let body = payload();
    let m = start(
        body.clone(),
        Behaviour {
            drop_first: 1,
            ..Default::default()
        },
    );
    let h = home("drop");
    let cache = Cache::at(&h).with_hf_endpoint(&m.endpoint);
    let r = ModelRef::parse(SPEC).unwrap();
    let p = cache.pull(&r, &mut Silent).unwrap();
    assert!(p.fetched);
    assert_eq!(std::fs::read(&p.path).unwrap(), body);
    assert_eq!(p.entry.sha256, hex(&body));
    assert_eq!(p.entry.name, "tiny-q4_k_m");
    let ranges = m.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    assert_eq!(
        ranges[1],
        Some(format!("bytes={}-", body.len() / 2)),
        "the second request continues where the first stopped"
    );
    assert_eq!(names_in(&h.join("models")), ["tiny-q4_k_m.gguf"]);
    let _ = std::fs::remove_dir_all(&h);
}

#[test]
fn a_killed_pull_leaves_a_partial_that_nothing_picks_up_and_the_next_pull_resumes_it() {
    let body = payload();
    // Drops every transfer this pull makes: it gives up with half the file kept.
    let bad = start(
        body.clone(),
        Behaviour {
            drop_first: usize::MAX,
            ..Default::default()
        },
    );
    let h = home("next");
    let r = ModelRef::parse(SPEC).unwrap();
    let e = Cache::at(&h)
        .with_hf_endpoint(&bad.endpoint)
        .pull(&r, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("resume"), "{e}");
    let models = h.join("models");
    assert_eq!(
        names_in(&models),
        [
            "tiny-q4_k_m.gguf.partial",
            "tiny-q4_k_m.gguf.partial.source"
        ]
    );
    let kept = std::fs::metadata(models.join("tiny-q4_k_m.gguf.partial"))
        .unwrap()
        .len();
    assert!(kept > 0 && kept < body.len() as u64);
    let cache = Cache::at(&h);
    assert!(cache.list().unwrap().is_empty());
    assert!(cache.resolve(&r).is_err());

    let good = start(body.clone(), Behaviour::default());
    let p = Cache::at(&h)
        .with_hf_endpoint(&good.endpoint)
        .pull(&r, &mut Silent)
        .unwrap();
    assert_eq!(std::fs::read(&p.path).unwrap(), body);
    assert_eq!(
        good.ranges.lock().unwrap().clone(),
        [Some(format!("bytes={kept}-"))]
    );
    assert_eq!(names_in(&models), ["tiny-q4_k_m.gguf"]);
    let _ = std::fs::remove_dir_all(&h);
}

#[test]
fn a_server_that_ignores_ranges_gets_the_file_from_zero() {
    let body = payload();
    let m = start(
        body.clone(),
        Behaviour {
            drop_first: 1,
            ignore_range: true,
            ..Default::default()
        },
    );
    let h = home("norange");
    let p = Cache::at(&h)
        .with_hf_endpoint(&m.endpoint)
        .pull(&ModelRef::parse(SPEC).unwrap(), &mut Silent)
        .unwrap();
    assert_eq!(std::fs::read(&p.path).unwrap(), body);
    assert_eq!(m.ranges.lock().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&h);
}

#[test]
fn a_sha256_other_than_the_hub_states_is_refused_and_nothing_looks_complete() {
    let m = start(
        payload(),
        Behaviour {
            wrong_sha: true,
            ..Default::default()
        },
    );
    let h = home("sha");
    let r = ModelRef::parse(SPEC).unwrap();
    let e = Cache::at(&h)
        .with_hf_endpoint(&m.endpoint)
        .pull(&r, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sha256") && e.contains(&"0".repeat(64)), "{e}");
    assert!(e.contains("nothing was installed"), "{e}");
    // Neither the model nor a partial to resume: those bytes are wrong.
    assert!(names_in(&h.join("models")).is_empty());
    let cache = Cache::at(&h);
    assert!(cache.list().unwrap().is_empty());
    assert!(cache.resolve(&r).is_err());
    let _ = std::fs::remove_dir_all(&h);
}
