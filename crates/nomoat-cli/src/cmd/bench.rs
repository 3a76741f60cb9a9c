//! `nomoat bench`: llama-bench's measurements (see `nomoat_engine::bench`), its markdown table,
//! and `--json` with llama-bench's own field names so tools that read llama-bench read this.
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use nomoat_engine::bench::{mean_sd, run_test, BenchTest};
use nomoat_engine::generate::{LoadedModel, Session};
use nomoat_gguf::describe::{bench_bytes, bench_params, file_type_name, size_label};
use serde::Serialize;

use crate::model_arg;

/// Measure prompt processing (pp: N prompt tokens in one batch) and text generation (tg: N
/// tokens one at a time) speed, as llama-bench does: tokens/s, mean ± sd over -r repetitions
/// after a warm-up. Lists (-p 128,512) run one test per value.
///
/// Example:
///   nomoat bench -p 512 -n 128 -t 2           # pp512 and tg128 with the default model
///   nomoat bench -p 512 -n 0 -d 0,2048 --json  # also with 2048 tokens already in the cache
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model: a .gguf path, a cached name, or hf:ORG/REPO/FILE.gguf (default: smollm2-135m-instruct)
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Prompt tokens of the pp tests (0: none)
    #[arg(
        short = 'p',
        long = "n-prompt",
        default_value = "512",
        value_delimiter = ',',
        value_name = "N"
    )]
    pub n_prompt: Vec<usize>,
    /// Generated tokens of the tg tests (0: none)
    #[arg(
        short = 'n',
        long = "n-gen",
        default_value = "128",
        value_delimiter = ',',
        value_name = "N"
    )]
    pub n_gen: Vec<usize>,
    /// Tokens already in the cache before each test (not timed)
    #[arg(
        short = 'd',
        long = "n-depth",
        default_value = "0",
        value_delimiter = ',',
        value_name = "N"
    )]
    pub n_depth: Vec<usize>,
    /// Threads (default: physical cores)
    #[arg(short, long, value_delimiter = ',', value_name = "N")]
    pub threads: Vec<usize>,
    /// Prompt tokens per forward pass
    #[arg(
        short = 'b',
        long = "batch-size",
        default_value_t = 512,
        value_name = "N"
    )]
    pub batch: usize,
    /// Repetitions of each test
    #[arg(
        short = 'r',
        long = "repetitions",
        default_value_t = 5,
        value_name = "N"
    )]
    pub reps: usize,
    /// Print a JSON array (llama-bench's fields) instead of the table
    #[arg(long)]
    pub json: bool,
}

/// One result, with llama-bench's JSON field names and order.
#[derive(Serialize)]
struct Record {
    build_commit: String,
    build_number: u32,
    cpu_info: String,
    gpu_info: String,
    backends: String,
    model_filename: String,
    model_type: String,
    model_size: u64,
    model_n_params: u64,
    n_batch: usize,
    n_ubatch: usize,
    n_threads: usize,
    cpu_mask: String,
    cpu_strict: bool,
    poll: u32,
    type_k: String,
    type_v: String,
    n_gpu_layers: i32,
    split_mode: String,
    main_gpu: i32,
    no_kv_offload: bool,
    flash_attn: bool,
    tensor_split: String,
    use_mmap: bool,
    embeddings: bool,
    n_prompt: usize,
    n_gen: usize,
    n_depth: usize,
    test_time: String,
    avg_ns: u64,
    stddev_ns: u64,
    avg_ts: f64,
    stddev_ts: f64,
    samples_ns: Vec<u64>,
    samples_ts: Vec<f64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.reps == 0 {
        anyhow::bail!("-r must be at least 1");
    }
    let path = model_arg::resolve(args.model.as_deref())?;
    let threads = if args.threads.is_empty() {
        vec![nomoat_backend::default_threads()]
    } else {
        args.threads.clone()
    };
    let mut tests = Vec::new();
    for &d in &args.n_depth {
        for &p in args.n_prompt.iter().filter(|&&p| p > 0) {
            tests.push(BenchTest {
                n_prompt: p,
                n_gen: 0,
                n_depth: d,
            });
        }
        for &g in args.n_gen.iter().filter(|&&g| g > 0) {
            tests.push(BenchTest {
                n_prompt: 0,
                n_gen: g,
                n_depth: d,
            });
        }
    }
    if tests.is_empty() {
        anyhow::bail!("nothing to measure: give -p or -n above 0");
    }
    let (model_type, model_size, n_params) = describe_model(&path)?;
    let cpu = cpu_info();
    let mut records = Vec::new();
    if !args.json {
        writeln!(std::io::stdout(),
            "| model                          |       size |     params | backend    |    threads |            test |                  t/s |"
        )?;
        writeln!(std::io::stdout(),
            "| ------------------------------ | ---------: | ---------: | ---------- | ---------: | --------------: | -------------------: |"
        )?;
    }
    for &t in &threads {
        let lm = Arc::new(LoadedModel::load(&path, t)?);
        for &test in &tests {
            let n_ctx = test.n_depth + test.n_prompt + test.n_gen + 1;
            let mut session = Session::new(lm.clone(), n_ctx, args.batch)?;
            let test_time = nomoat_hub::cache::now_rfc3339();
            let ns = run_test(&mut session, test, args.batch, args.reps, 0x5eed)?;
            let ts: Vec<f64> = ns
                .iter()
                .map(|&n| test.n_tokens() as f64 * 1e9 / n.max(1) as f64)
                .collect();
            let nsf: Vec<f64> = ns.iter().map(|&n| n as f64).collect();
            let (avg_ns, sd_ns) = mean_sd(&nsf);
            let (avg_ts, sd_ts) = mean_sd(&ts);
            if !args.json {
                writeln!(
                    std::io::stdout(),
                    "| {:<30} | {:>10} | {:>10} | {:<10} | {:>10} | {:>15} | {:>20} |",
                    truncate(&model_type, 30),
                    bench_bytes(model_size),
                    bench_params(n_params),
                    "CPU",
                    t,
                    test.name(),
                    format!("{avg_ts:.2} ± {sd_ts:.2}")
                )?;
            }
            records.push(Record {
                build_commit: env!("CARGO_PKG_VERSION").to_string(),
                build_number: 0,
                cpu_info: cpu.clone(),
                gpu_info: String::new(),
                backends: "CPU".into(),
                model_filename: path.display().to_string(),
                model_type: model_type.clone(),
                model_size,
                model_n_params: n_params,
                n_batch: args.batch,
                n_ubatch: args.batch,
                n_threads: t,
                cpu_mask: "0x0".into(),
                cpu_strict: false,
                poll: 50,
                type_k: "f16".into(),
                type_v: "f16".into(),
                n_gpu_layers: 0,
                split_mode: "layer".into(),
                main_gpu: 0,
                no_kv_offload: false,
                flash_attn: true,
                tensor_split: "0.00".into(),
                use_mmap: true,
                embeddings: false,
                n_prompt: test.n_prompt,
                n_gen: test.n_gen,
                n_depth: test.n_depth,
                test_time,
                avg_ns: avg_ns.round() as u64,
                stddev_ns: sd_ns.round() as u64,
                avg_ts,
                stddev_ts: sd_ts,
                samples_ns: ns,
                samples_ts: ts,
            });
        }
    }
    if args.json {
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&records)?
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// llama-bench's model description ("gemma3 270M Q4_K - Medium"), tensor bytes and parameters.
fn describe_model(path: &std::path::Path) -> anyhow::Result<(String, u64, u64)> {
    let f = nomoat_gguf::GgufFile::open(path)?;
    let g = f.gguf();
    let arch = g.architecture().unwrap_or("unknown").to_string();
    let size: u64 = g.tensors().iter().map(|t| t.n_bytes).sum();
    let params: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let ftype = g
        .opt_u32("general.file_type")
        .ok()
        .flatten()
        .and_then(|t| file_type_name(u64::from(t)))
        .unwrap_or("unknown type");
    Ok((
        format!("{arch} {} {ftype}", size_label(params)),
        size,
        params,
    ))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The CPU's model name from /proc/cpuinfo.
fn cpu_info() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default()
}
