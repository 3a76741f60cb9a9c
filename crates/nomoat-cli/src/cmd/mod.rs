//! One file per subcommand: `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.
pub mod bench;
pub mod generate;
pub mod perplexity;
pub mod pull;
pub mod run;
pub mod serve;
pub mod show;
pub mod template;
pub mod tokenize;
