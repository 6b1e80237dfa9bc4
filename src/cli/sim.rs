//! `campaign sim`: serve the simulator until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::sim::{self, SimConfig};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// Append one JSON line per accepted send and per rate-limit rejection to this file.
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Comma-separated tokens the simulator accepts.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sim-token",
        hide_default_value = true
    )]
    pub tokens: Vec<String>,
    /// Sends per token in any one-second window (0: no limit).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub token_rate: u32,
    /// Sends per phone number in any one-second window (0: no limit).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub number_rate: u32,
    /// Delay added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub latency_ms: u64,
    /// Probability (0 to 1) that a request meets a fault: 503 before processing, connection
    /// dropped after processing, or a slow answer.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Which faults --fault-rate injects, comma-separated (default: all of 503, drop, slow).
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<sim::Fault>,
    /// How long a slow answer takes, in milliseconds.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub slow_ms: u64,
    /// Time between two acks of a message, in milliseconds.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub ack_delay_ms: u64,
    /// WhatsApp templates (TOML `[[template]]` tables or a JSON array) instead of the built-in ones.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Seed for fault injection.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How a template send shows in GetConversation: body (our own rendering), name (the
    /// template's name before it), header (a header line, then the body) or params (the
    /// parameters only). The API document does not say, so a sender must cope with any.
    #[arg(long, default_value = "body", value_name = "HOW")]
    pub template_shown: sim::TemplateShown,
    /// Where to post the document's events (onUserConversation, onUserDisable, onUserEnable),
    /// e.g. a worker's `http://127.0.0.1:8080/events?secret=...`. The test-only commands
    /// SimClientMessage {uid, message}, SimUserDisable {uid} and SimUserEnable {uid} make them.
    #[arg(long, value_name = "URL")]
    pub events_url: Option<String>,
    /// What a recipient whose message reaches ack 10 (numbers ending in 8) replies.
    #[arg(long, default_value = "Thanks!", value_name = "TEXT")]
    pub reply_text: String,
}

impl SimArgs {
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.fault_rate),
            "--fault-rate must be between 0 and 1"
        );
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        anyhow::ensure!(!tokens.is_empty(), "--tokens needs at least one token");
        let templates = match &self.templates {
            Some(path) => sim::templates::load(path)
                .map_err(anyhow::Error::msg)
                .context("cannot load --templates")?,
            None => sim::templates::builtin(),
        };
        Ok(SimConfig {
            tokens,
            token_rate: self.token_rate,
            number_rate: self.number_rate,
            latency: Duration::from_millis(self.latency_ms),
            fault_rate: self.fault_rate,
            faults: self.faults.clone(),
            slow: Duration::from_millis(self.slow_ms),
            ack_delay: Duration::from_millis(self.ack_delay_ms),
            templates,
            ledger: self.ledger.clone(),
            seed: self.seed,
            template_shown: self.template_shown,
            events_url: self.events_url.clone(),
            reply_text: self.reply_text.clone(),
            ..SimConfig::default()
        })
    }
}

pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let running = sim::start(args.listen, config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{}", running.addr)?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    running.stop().await?;
    Ok(ExitCode::SUCCESS)
}
