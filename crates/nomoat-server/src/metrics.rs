//! Prometheus text exposition of the server's counters and the engine's gauges.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nomoat_engine::scheduler::StatsSnapshot;

/// Cumulative histogram with fixed bucket bounds (seconds).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if s <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {n}");
    }
}

const TTFT_BOUNDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const ITL_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
];

/// Server-side counters.
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    pub prompt_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub ttft: Histogram,
    pub itl: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            prompt_tokens: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BOUNDS),
            itl: Histogram::new(ITL_BOUNDS),
        }
    }
}

impl Metrics {
    pub fn count_request(&self, route: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_string(), status)).or_insert(0) += 1;
        }
    }

    pub fn render(&self, engine: Option<&StatsSnapshot>) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP nomoat_requests_total HTTP requests by route and status.\n\
             # TYPE nomoat_requests_total counter\n",
        );
        if let Ok(m) = self.requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "nomoat_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        counter(
            &mut out,
            "nomoat_prompt_tokens_total",
            "Prompt tokens of finished requests.",
            self.prompt_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "nomoat_generated_tokens_total",
            "Generated tokens of finished requests.",
            self.generated_tokens.load(Ordering::Relaxed),
        );
        self.ttft.render(
            &mut out,
            "nomoat_time_to_first_token_seconds",
            "From request arrival to the first generated token.",
        );
        self.itl.render(
            &mut out,
            "nomoat_inter_token_latency_seconds",
            "Between consecutive generated tokens of one sequence.",
        );
        if let Some(s) = engine {
            gauge(
                &mut out,
                "nomoat_queue_depth",
                "Requests waiting for a running slot.",
                s.waiting as u64,
            );
            gauge(
                &mut out,
                "nomoat_running_sequences",
                "Sequences being decoded.",
                s.running as u64,
            );
            gauge(
                &mut out,
                "nomoat_requests_inflight",
                "Requests holding a place (queued or running).",
                s.inflight as u64,
            );
            gauge(
                &mut out,
                "nomoat_kv_blocks_used",
                "KV cache blocks in use (sequences and prefix cache).",
                s.kv_blocks_total.saturating_sub(s.kv_blocks_free) as u64,
            );
            gauge(
                &mut out,
                "nomoat_kv_blocks_free",
                "Free KV cache blocks.",
                s.kv_blocks_free as u64,
            );
            gauge(
                &mut out,
                "nomoat_prefix_cache_entries",
                "Cached prompt prefixes.",
                s.prefix_cache_entries as u64,
            );
            counter(
                &mut out,
                "nomoat_prefix_cache_hits_total",
                "Requests that reused cached prompt blocks.",
                s.prefix_hits,
            );
            counter(
                &mut out,
                "nomoat_prefix_cache_hit_tokens_total",
                "Prompt tokens taken from the prefix cache instead of computed.",
                s.prefix_hit_tokens,
            );
            counter(
                &mut out,
                "nomoat_preemptions_total",
                "Sequences preempted (KV blocks short) and recomputed later.",
                s.preemptions,
            );
            counter(
                &mut out,
                "nomoat_cancelled_total",
                "Requests cancelled because the client went away.",
                s.cancelled,
            );
            counter(
                &mut out,
                "nomoat_engine_steps_total",
                "Forward passes.",
                s.steps,
            );
        }
        out
    }
}
