//! Sampling and generation flags shared by `run` and `generate`, with llama.cpp's names and
//! defaults.

use nomoat_engine::sample::{entropy_seed, SamplingParams};

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Sampling (llama.cpp's names and defaults)")]
pub struct SamplingArgs {
    /// Temperature: higher is more random; 0 always picks the most likely token (greedy)
    #[arg(long, default_value_t = 0.8, value_name = "T")]
    pub temp: f32,
    /// Keep only the K most likely tokens (0 = all)
    #[arg(long, default_value_t = 40, value_name = "K")]
    pub top_k: i32,
    /// Keep the most likely tokens whose probabilities add up to P (1.0 = all)
    #[arg(long, default_value_t = 0.95, value_name = "P")]
    pub top_p: f32,
    /// Drop tokens less likely than P × the most likely one (0 = off)
    #[arg(long, default_value_t = 0.05, value_name = "P")]
    pub min_p: f32,
    /// Locally typical sampling with mass P (1.0 = off)
    #[arg(long, default_value_t = 1.0, value_name = "P")]
    pub typical: f32,
    /// Penalise tokens repeated in the last --repeat-last-n tokens (1.0 = off)
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub repeat_penalty: f32,
    /// Window of the repetition penalties in tokens (0 = off, -1 = the whole context)
    #[arg(
        long,
        default_value_t = 64,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub repeat_last_n: i64,
    /// Subtract X from the logit of every token already in the window (0 = off)
    #[arg(long, default_value_t = 0.0, value_name = "X")]
    pub presence_penalty: f32,
    /// Subtract X × (times seen) from the logit of tokens in the window (0 = off)
    #[arg(long, default_value_t = 0.0, value_name = "X")]
    pub frequency_penalty: f32,
    /// Random seed: the same seed and settings give the same output (default: random)
    #[arg(long, short = 's', value_name = "N")]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    /// The engine's parameters; `n_ctx` resolves `--repeat-last-n -1`.
    pub fn params(&self, n_ctx: usize) -> anyhow::Result<SamplingParams> {
        let repeat_last_n = match self.repeat_last_n {
            -1 => n_ctx,
            n if n >= 0 => n as usize,
            n => anyhow::bail!("--repeat-last-n {n}: use a count, 0 (off) or -1 (whole context)"),
        };
        for (name, v) in [
            ("--temp", self.temp),
            ("--top-p", self.top_p),
            ("--min-p", self.min_p),
            ("--typical", self.typical),
            ("--repeat-penalty", self.repeat_penalty),
            ("--presence-penalty", self.presence_penalty),
            ("--frequency-penalty", self.frequency_penalty),
        ] {
            if !v.is_finite() {
                anyhow::bail!("{name} must be a finite number");
            }
        }
        if self.repeat_penalty <= 0.0 {
            anyhow::bail!("--repeat-penalty must be above 0 (1.0 = off)");
        }
        Ok(SamplingParams {
            temp: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            typical_p: self.typical,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            min_keep: 0,
            seed: self.seed.unwrap_or_else(entropy_seed),
            logit_bias: Vec::new(),
        })
    }
}
