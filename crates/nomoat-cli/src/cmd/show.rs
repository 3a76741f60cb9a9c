//! `nomoat show MODEL [--json] [--tensors]`: a model file's facts, read from its metadata and
//! tensor infos only (no tensor data is touched), then nomoat's load-time validation.
//!
//! Hyperparameters are read generically from the `<arch>.*` keys, so any architecture is
//! described, including ones nomoat cannot run; validation then says whether nomoat can.
//! Exit status: 0 when the file is valid for running, 1 when it cannot be parsed or fails
//! validation (the facts that could be read are printed first).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nomoat_gguf::describe::{file_type_label, human_bytes, human_count};
use nomoat_gguf::{GgmlType, Gguf, GgufFile, Value};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// A GGUF file, a cached or known model name, or `hf:ORG/REPO/FILE.gguf` (default: the
    /// default model). Names not in the cache yet are fetched first.
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,
    /// Print one JSON object instead of text (stable field names, listed in docs/gguf.md)
    #[arg(long)]
    pub json: bool,
    /// Also list every tensor: name, shape, type and absolute byte range in the file
    #[arg(long)]
    pub tensors: bool,
}

/// The facts `show` prints. With `--json` this object is printed as is; field names are stable:
///
/// - `file`, `file_size` (bytes), `gguf_version`, `alignment`, `data_offset`, `metadata_keys`,
///   `tensor_count`
/// - `architecture`, `name`, `license`, `size_label`, `parameters` (sum of tensor elements)
/// - `file_type`: `{ id, name }` from `general.file_type` (llama.cpp's names, e.g. "Q4_K - Medium")
/// - `hparams`: `context_length`, `block_count`, `embedding_length`, `feed_forward_length`,
///   `head_count`, `head_count_kv` (numbers, or arrays for per-layer values), `head_dim_k`,
///   `head_dim_v` (from `attention.key_length`/`value_length`, else embedding / heads),
///   `rms_eps`, `rope_freq_base`, `rope_freq_base_swa`, `rope_dimension_count`,
///   `rope_scaling_type`, `rope_scaling_factor`, `rope_original_context_length`,
///   `sliding_window`, `expert_count`, `expert_used_count`; absent keys are `null`
/// - `other_arch_keys`: every other scalar `<arch>.*` key, `{ key: value }`
/// - `tokenizer`: `model`, `pre`, `vocab_size`, `merges`, `add_bos`, `add_eos`,
///   `special`: `[{ role, id, text }]` (`text` null when the id is outside the vocabulary),
///   `chat_template_bytes` (null when absent), `named_chat_templates`
/// - `tensor_types`: `[{ type, count, elements, bytes }]` in type-id order
/// - `tensors` (only with `--tensors`): `[{ name, shape, type, start, end }]`, absolute bytes
/// - `validation`: `{ ok, errors: [message], runtime }`; `runtime` (valid files only):
///   `{ sliding_window_layers: [index], rope_freq_base_swa, tied_output }`
#[derive(Serialize)]
struct Facts {
    file: String,
    file_size: u64,
    gguf_version: u32,
    alignment: u64,
    data_offset: u64,
    metadata_keys: usize,
    tensor_count: usize,
    architecture: Option<String>,
    name: Option<String>,
    license: Option<String>,
    size_label: Option<String>,
    parameters: u64,
    file_type: Option<FileType>,
    hparams: HParams,
    other_arch_keys: BTreeMap<String, serde_json::Value>,
    tokenizer: Tokenizer,
    tensor_types: Vec<TypeRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tensors: Option<Vec<TensorRow>>,
    validation: Validation,
}

#[derive(Serialize)]
struct FileType {
    id: u64,
    name: String,
}

#[derive(Serialize, Default)]
struct HParams {
    context_length: Option<serde_json::Value>,
    block_count: Option<serde_json::Value>,
    embedding_length: Option<serde_json::Value>,
    feed_forward_length: Option<serde_json::Value>,
    head_count: Option<serde_json::Value>,
    head_count_kv: Option<serde_json::Value>,
    head_dim_k: Option<u64>,
    head_dim_v: Option<u64>,
    rms_eps: Option<serde_json::Value>,
    rope_freq_base: Option<serde_json::Value>,
    rope_freq_base_swa: Option<serde_json::Value>,
    rope_dimension_count: Option<serde_json::Value>,
    rope_scaling_type: Option<serde_json::Value>,
    rope_scaling_factor: Option<serde_json::Value>,
    rope_original_context_length: Option<serde_json::Value>,
    sliding_window: Option<serde_json::Value>,
    expert_count: Option<serde_json::Value>,
    expert_used_count: Option<serde_json::Value>,
}

/// `(field, key suffix after "<arch>.")` for the hyperparameters above.
const HPARAM_KEYS: [(&str, &str); 16] = [
    ("context_length", "context_length"),
    ("block_count", "block_count"),
    ("embedding_length", "embedding_length"),
    ("feed_forward_length", "feed_forward_length"),
    ("head_count", "attention.head_count"),
    ("head_count_kv", "attention.head_count_kv"),
    ("rms_eps", "attention.layer_norm_rms_epsilon"),
    ("rope_freq_base", "rope.freq_base"),
    ("rope_freq_base_swa", "rope.freq_base_swa"),
    ("rope_dimension_count", "rope.dimension_count"),
    ("rope_scaling_type", "rope.scaling.type"),
    ("rope_scaling_factor", "rope.scaling.factor"),
    (
        "rope_original_context_length",
        "rope.scaling.original_context_length",
    ),
    ("sliding_window", "attention.sliding_window"),
    ("expert_count", "expert_count"),
    ("expert_used_count", "expert_used_count"),
];

#[derive(Serialize, Default)]
struct Tokenizer {
    model: Option<String>,
    pre: Option<String>,
    vocab_size: Option<usize>,
    merges: Option<usize>,
    add_bos: Option<bool>,
    add_eos: Option<bool>,
    special: Vec<SpecialToken>,
    chat_template_bytes: Option<usize>,
    named_chat_templates: Vec<String>,
}

#[derive(Serialize)]
struct SpecialToken {
    role: &'static str,
    id: i64,
    text: Option<String>,
}

/// `(role, key)` of the special tokens shown.
const SPECIAL_KEYS: [(&str, &str); 9] = [
    ("bos", "tokenizer.ggml.bos_token_id"),
    ("eos", "tokenizer.ggml.eos_token_id"),
    ("unk", "tokenizer.ggml.unknown_token_id"),
    ("pad", "tokenizer.ggml.padding_token_id"),
    ("eot", "tokenizer.ggml.eot_token_id"),
    ("eom", "tokenizer.ggml.eom_token_id"),
    ("sep", "tokenizer.ggml.seperator_token_id"),
    ("mask", "tokenizer.ggml.mask_token_id"),
    ("cls", "tokenizer.ggml.cls_token_id"),
];

#[derive(Serialize)]
struct TypeRow {
    #[serde(rename = "type")]
    ty: String,
    count: usize,
    elements: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct TensorRow {
    name: String,
    shape: Vec<u64>,
    #[serde(rename = "type")]
    ty: String,
    start: u64,
    end: u64,
}

#[derive(Serialize)]
struct Validation {
    ok: bool,
    errors: Vec<String>,
    /// How nomoat will run a valid file (null when invalid).
    runtime: Option<Runtime>,
}

/// Facts of the validated configuration that the keys alone do not show (architecture defaults
/// such as Gemma 3's sliding-window layer pattern).
#[derive(Serialize)]
struct Runtime {
    /// Indices of the layers that use the sliding window.
    sliding_window_layers: Vec<usize>,
    /// RoPE base of the sliding-window layers (null when there are none).
    rope_freq_base_swa: Option<f32>,
    /// No `output.weight`: the LM head reuses `token_embd`.
    tied_output: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = match args.model.as_deref() {
        Some(p) if Path::new(p).exists() => PathBuf::from(p),
        other => crate::model_arg::resolve(other)?,
    };
    let file = GgufFile::open(&path).map_err(|e| {
        // Key and tensor names in the message come from the file: no raw control characters.
        anyhow::anyhow!(printable(&format!(
            "cannot read model {}: {e}",
            path.display()
        )))
    })?;
    let mut facts = collect(&file, args.tensors);
    facts.validation = validate(&file);
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&facts)?;
        s.push('\n');
        s
    } else {
        render_text(&facts)
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if facts.validation.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The single call into nomoat-models' load-time validation.
fn validate(file: &GgufFile) -> Validation {
    match nomoat_models::validate(file) {
        Ok(cfg) => {
            let swa: Vec<usize> = (0..cfg.swa_layers.len())
                .filter(|&i| cfg.swa_layers[i])
                .collect();
            Validation {
                ok: true,
                errors: Vec::new(),
                runtime: Some(Runtime {
                    rope_freq_base_swa: (!swa.is_empty()).then_some(cfg.rope.freq_base_swa),
                    sliding_window_layers: swa,
                    tied_output: cfg.tied_output,
                }),
            }
        }
        Err(errs) => Validation {
            ok: false,
            errors: errs.iter().map(|e| e.to_string()).collect(),
            runtime: None,
        },
    }
}

/// Any value as JSON (numbers, strings, bools, arrays of them; floats that are not finite
/// become strings so the output stays valid JSON).
fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::U8(x) => J::from(*x),
        Value::I8(x) => J::from(*x),
        Value::U16(x) => J::from(*x),
        Value::I16(x) => J::from(*x),
        Value::U32(x) => J::from(*x),
        Value::I32(x) => J::from(*x),
        Value::U64(x) => J::from(*x),
        Value::I64(x) => J::from(*x),
        Value::F32(x) => float_json(f64::from(*x), x.to_string()),
        Value::F64(x) => float_json(*x, x.to_string()),
        Value::Bool(b) => J::from(*b),
        Value::String(s) => J::from(s.as_str()),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
    }
}

fn float_json(x: f64, shortest: String) -> serde_json::Value {
    if !x.is_finite() {
        return serde_json::Value::from(shortest);
    }
    // Shortest decimal of the stored width: 1e-6 rather than 9.999999974752427e-7 for an f32.
    shortest
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn owned_str(g: &Gguf, key: &str) -> Option<String> {
    g.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn collect(file: &GgufFile, with_tensors: bool) -> Facts {
    let g = file.gguf();
    let arch = owned_str(g, "general.architecture");
    let prefix = arch.as_deref().map(|a| format!("{a}.")).unwrap_or_default();
    let arch_key = |suffix: &str| format!("{prefix}{suffix}");

    let mut hp = HParams::default();
    let mut shown = std::collections::HashSet::new();
    for (field, suffix) in HPARAM_KEYS {
        let key = arch_key(suffix);
        let value = g.get(&key).map(to_json);
        shown.insert(key);
        let slot = match field {
            "context_length" => &mut hp.context_length,
            "block_count" => &mut hp.block_count,
            "embedding_length" => &mut hp.embedding_length,
            "feed_forward_length" => &mut hp.feed_forward_length,
            "head_count" => &mut hp.head_count,
            "head_count_kv" => &mut hp.head_count_kv,
            "rms_eps" => &mut hp.rms_eps,
            "rope_freq_base" => &mut hp.rope_freq_base,
            "rope_freq_base_swa" => &mut hp.rope_freq_base_swa,
            "rope_dimension_count" => &mut hp.rope_dimension_count,
            "rope_scaling_type" => &mut hp.rope_scaling_type,
            "rope_scaling_factor" => &mut hp.rope_scaling_factor,
            "rope_original_context_length" => &mut hp.rope_original_context_length,
            "sliding_window" => &mut hp.sliding_window,
            "expert_count" => &mut hp.expert_count,
            _ => &mut hp.expert_used_count,
        };
        *slot = value;
    }
    // Head dims: explicit key/value lengths, else embedding / heads (when both are scalars).
    let scalar = |key: String| g.get(&key).and_then(Value::as_u64);
    let fallback = match (
        scalar(arch_key("embedding_length")),
        scalar(arch_key("attention.head_count")),
    ) {
        (Some(e), Some(h)) if h > 0 && e % h == 0 => Some(e / h),
        _ => None,
    };
    for suffix in ["attention.key_length", "attention.value_length"] {
        shown.insert(arch_key(suffix));
    }
    hp.head_dim_k = scalar(arch_key("attention.key_length")).or(fallback);
    hp.head_dim_v = scalar(arch_key("attention.value_length")).or(fallback);

    let mut other = BTreeMap::new();
    if !prefix.is_empty() {
        for (k, v) in g.metadata() {
            if k.starts_with(&prefix) && !shown.contains(k) {
                // Long arrays (per-layer patterns) are summarised by their length.
                let j = match v.as_array() {
                    Some(a) if a.len() > 64 => serde_json::Value::from(v.describe_type()),
                    _ => to_json(v),
                };
                other.insert(k.clone(), j);
            }
        }
    }

    let tokens = g.get("tokenizer.ggml.tokens").and_then(Value::as_array);
    let mut special = Vec::new();
    for (role, key) in SPECIAL_KEYS {
        if let Some(id) = g.get(key).and_then(Value::as_i64) {
            let text = usize::try_from(id)
                .ok()
                .and_then(|i| tokens.and_then(|t| t.get(i)))
                .and_then(Value::as_str)
                .map(str::to_owned);
            special.push(SpecialToken { role, id, text });
        }
    }
    let named_chat_templates = g
        .metadata()
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("tokenizer.chat_template."))
        .map(str::to_owned)
        .collect();
    let tokenizer = Tokenizer {
        model: owned_str(g, "tokenizer.ggml.model"),
        pre: owned_str(g, "tokenizer.ggml.pre"),
        vocab_size: tokens.map(<[Value]>::len),
        merges: g
            .get("tokenizer.ggml.merges")
            .and_then(Value::as_array)
            .map(<[Value]>::len),
        add_bos: g
            .get("tokenizer.ggml.add_bos_token")
            .and_then(Value::as_bool),
        add_eos: g
            .get("tokenizer.ggml.add_eos_token")
            .and_then(Value::as_bool),
        special,
        chat_template_bytes: g
            .get("tokenizer.chat_template")
            .and_then(Value::as_str)
            .map(str::len),
        named_chat_templates,
    };

    let mut by_type: BTreeMap<u32, (GgmlType, usize, u64, u64)> = BTreeMap::new();
    let mut parameters = 0u64;
    for t in g.tensors() {
        let e = by_type.entry(t.ty.id()).or_insert((t.ty, 0, 0, 0));
        e.1 += 1;
        e.2 = e.2.saturating_add(t.n_elements());
        e.3 = e.3.saturating_add(t.n_bytes);
        parameters = parameters.saturating_add(t.n_elements());
    }
    let tensor_types = by_type
        .values()
        .map(|&(ty, count, elements, bytes)| TypeRow {
            ty: ty.name().to_owned(),
            count,
            elements,
            bytes,
        })
        .collect();
    let tensors = with_tensors.then(|| {
        g.tensors()
            .iter()
            .map(|t| {
                let r = g.tensor_range(t);
                TensorRow {
                    name: t.name.clone(),
                    shape: t.dims.clone(),
                    ty: t.ty.name().to_owned(),
                    start: r.start,
                    end: r.end,
                }
            })
            .collect()
    });

    let file_type = g
        .get("general.file_type")
        .and_then(Value::as_u64)
        .map(|id| FileType {
            id,
            name: file_type_label(id),
        });

    Facts {
        file: file.path().display().to_string(),
        file_size: file.file_len(),
        gguf_version: g.version,
        alignment: g.alignment,
        data_offset: g.data_offset,
        metadata_keys: g.metadata().len(),
        tensor_count: g.tensors().len(),
        architecture: arch,
        name: owned_str(g, "general.name"),
        license: owned_str(g, "general.license"),
        size_label: owned_str(g, "general.size_label"),
        parameters,
        file_type,
        hparams: hp,
        other_arch_keys: other,
        tokenizer,
        tensor_types,
        tensors,
        validation: Validation {
            ok: false,
            errors: Vec::new(),
            runtime: None,
        },
    }
}

fn json_text(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "-".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => {
            let parts: Vec<String> = a.iter().map(|x| x.to_string()).collect();
            if parts.len() > 8 {
                format!("[{}, … ({} values)]", parts[..8].join(", "), parts.len())
            } else {
                format!("[{}]", parts.join(", "))
            }
        }
        Some(x) => x.to_string(),
    }
}

fn opt_text<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), T::to_string)
}

/// The human-readable report. Writing to a `String` cannot fail, so `writeln!` results are
/// ignored with `let _`.
fn render_text(f: &Facts) -> String {
    let mut s = String::new();
    let row = |s: &mut String, k: &str, v: String| {
        let _ = writeln!(s, "  {:<21} {}", printable(k), printable(&v));
    };
    let _ = writeln!(s, "{}", f.file);
    row(&mut s, "architecture", opt_text(&f.architecture));
    row(&mut s, "name", opt_text(&f.name));
    row(&mut s, "license", opt_text(&f.license));
    row(
        &mut s,
        "parameters",
        format!("{} ({})", human_count(f.parameters), f.parameters),
    );
    row(
        &mut s,
        "file type",
        f.file_type
            .as_ref()
            .map_or("-".to_owned(), |t| format!("{} ({})", t.name, t.id)),
    );
    let bpw = if f.parameters > 0 {
        let bytes: u64 = f.tensor_types.iter().map(|t| t.bytes).sum();
        format!(
            ", {:.2} bits per weight",
            bytes as f64 * 8.0 / f.parameters as f64
        )
    } else {
        String::new()
    };
    row(
        &mut s,
        "file size",
        format!("{} ({} bytes{bpw})", human_bytes(f.file_size), f.file_size),
    );
    row(
        &mut s,
        "gguf",
        format!(
            "version {}, {} keys, {} tensors, alignment {}, data at byte {}",
            f.gguf_version, f.metadata_keys, f.tensor_count, f.alignment, f.data_offset
        ),
    );

    let h = &f.hparams;
    let _ = writeln!(s, "\nhyperparameters");
    row(&mut s, "context length", json_text(&h.context_length));
    row(&mut s, "layers", json_text(&h.block_count));
    row(&mut s, "embedding", json_text(&h.embedding_length));
    row(&mut s, "feed-forward", json_text(&h.feed_forward_length));
    row(&mut s, "heads", json_text(&h.head_count));
    row(&mut s, "kv heads", json_text(&h.head_count_kv));
    row(
        &mut s,
        "head dim (k / v)",
        format!("{} / {}", opt_text(&h.head_dim_k), opt_text(&h.head_dim_v)),
    );
    row(&mut s, "rms norm eps", json_text(&h.rms_eps));
    row(&mut s, "rope base", json_text(&h.rope_freq_base));
    if h.rope_freq_base_swa.is_some() {
        row(&mut s, "rope base (swa)", json_text(&h.rope_freq_base_swa));
    }
    row(
        &mut s,
        "rope dimensions",
        json_text(&h.rope_dimension_count),
    );
    let scaling = match &h.rope_scaling_type {
        None => "none".to_owned(),
        Some(serde_json::Value::String(t)) if t == "none" => "none".to_owned(),
        Some(t) => format!(
            "{} × {} (original context {})",
            json_text(&Some(t.clone())),
            json_text(&h.rope_scaling_factor),
            json_text(&h.rope_original_context_length)
        ),
    };
    row(&mut s, "rope scaling", scaling);
    row(&mut s, "sliding window", json_text(&h.sliding_window));
    if h.expert_count.is_some() {
        row(
            &mut s,
            "experts (used)",
            format!(
                "{} ({})",
                json_text(&h.expert_count),
                json_text(&h.expert_used_count)
            ),
        );
    }
    for (k, v) in &f.other_arch_keys {
        row(&mut s, k, json_text(&Some(v.clone())));
    }

    let t = &f.tokenizer;
    let _ = writeln!(s, "\ntokenizer");
    row(
        &mut s,
        "model",
        format!("{} (pre: {})", opt_text(&t.model), opt_text(&t.pre)),
    );
    row(&mut s, "vocab size", opt_text(&t.vocab_size));
    if let Some(m) = t.merges {
        row(&mut s, "merges", m.to_string());
    }
    row(
        &mut s,
        "add bos / eos",
        format!("{} / {}", opt_text(&t.add_bos), opt_text(&t.add_eos)),
    );
    for sp in &t.special {
        let text = sp
            .text
            .as_ref()
            .map_or("(outside the vocabulary)".to_owned(), |x| format!("{x:?}"));
        row(
            &mut s,
            &format!("{} token", sp.role),
            format!("{} {text}", sp.id),
        );
    }
    row(
        &mut s,
        "chat template",
        t.chat_template_bytes
            .map_or("absent".to_owned(), |n| format!("present ({n} bytes)")),
    );
    if !t.named_chat_templates.is_empty() {
        row(&mut s, "named templates", t.named_chat_templates.join(", "));
    }

    let _ = writeln!(s, "\ntensor types");
    if f.tensor_types.is_empty() {
        let _ = writeln!(s, "  (no tensors: a vocabulary-only file)");
    } else {
        let _ = writeln!(
            s,
            "  {:<10}{:>8}{:>16}{:>14}",
            "type", "tensors", "elements", "bytes"
        );
    }
    for r in &f.tensor_types {
        let _ = writeln!(
            s,
            "  {:<10}{:>8}{:>16}{:>14}",
            r.ty,
            r.count,
            r.elements,
            human_bytes(r.bytes)
        );
    }

    if let Some(ts) = &f.tensors {
        let _ = writeln!(s, "\ntensors");
        let w = ts.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
        for t in ts {
            let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
            let _ = writeln!(
                s,
                "  {:<w$}  {:<18}{:<8}[{}, {})",
                printable(&t.name),
                format!("[{}]", shape.join(", ")),
                t.ty,
                t.start,
                t.end
            );
        }
    }

    let _ = writeln!(s);
    if f.validation.ok {
        let _ = writeln!(s, "validation: ok");
        if let Some(r) = &f.validation.runtime {
            if let Some(base) = r.rope_freq_base_swa {
                let _ = writeln!(
                    s,
                    "  sliding-window layers {} ({} of them, RoPE base {base})",
                    compact_ranges(&r.sliding_window_layers),
                    r.sliding_window_layers.len()
                );
            }
            if r.tied_output {
                let _ = writeln!(s, "  output layer          tied to token_embd.weight");
            }
        }
    } else {
        let _ = writeln!(
            s,
            "validation: {} error{} (nomoat cannot run this file)",
            f.validation.errors.len(),
            if f.validation.errors.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        // A vocabulary-only file misses hundreds of tensors: show the first ones.
        const SHOWN: usize = 20;
        for e in f.validation.errors.iter().take(SHOWN) {
            let _ = writeln!(s, "  - {}", printable(e));
        }
        if f.validation.errors.len() > SHOWN {
            let _ = writeln!(
                s,
                "  … and {} more (`--json` lists them all)",
                f.validation.errors.len() - SHOWN
            );
        }
    }
    s
}

/// Text from the file made safe for a terminal: control characters (escape sequences, newlines,
/// carriage returns) are shown escaped instead of being interpreted.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `0-4, 6-10, 12` for sorted indices.
fn compact_ranges(ix: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ix.len() {
        let mut j = i;
        while j + 1 < ix.len() && ix[j + 1] == ix[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ix[i].to_string()
        } else {
            format!("{}-{}", ix[i], ix[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_forms() {
        assert_eq!(compact_ranges(&[0, 1, 2, 3, 4, 6, 7, 9]), "0-4, 6-7, 9");
        assert_eq!(compact_ranges(&[]), "");
        assert_eq!(printable("a\u{1b}[31mred\n"), "a\\u{1b}[31mred\\n");
        assert_eq!(printable("plain ▁text"), "plain ▁text");
    }

    #[test]
    fn floats_print_shortest_and_non_finite_as_strings() {
        assert_eq!(to_json(&Value::F32(1e-6)).to_string(), "1e-6");
        assert_eq!(
            to_json(&Value::F32(f32::NAN)),
            serde_json::Value::from("NaN")
        );
        assert_eq!(to_json(&Value::F32(1e6)).to_string(), "1000000.0");
    }
}
