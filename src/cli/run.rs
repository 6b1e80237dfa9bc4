//! `campaign run SOURCE`: load, send, wait for delivery acks, report. Running it again with the
//! same source and definition resumes the same campaign.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::campaign_args::{Api, CampaignArgs};
use super::{EXIT_STOPPED, GlobalArgs, status, validate};
use crate::campaign::definition::Channel;
use crate::campaign::{self, LoadOptions};
use crate::dispatch::{self, DispatchConfig, Stop};
use crate::queue::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub campaign: CampaignArgs,
    /// Load and check everything, send nothing (same output as `validate`).
    #[arg(long)]
    pub dry_run: bool,
    /// Start a new campaign even if this source and definition ran before.
    #[arg(long)]
    pub new: bool,
    /// How long to wait for delivery acks after sending (e.g. 30s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub wait: Duration,
    /// Return once everything is sent, without waiting for acks.
    #[arg(long)]
    pub no_wait: bool,
    /// Sends per second for the token.
    #[arg(long, default_value_t = 10)]
    pub rate: u32,
    /// Sends per second per phone number.
    #[arg(long, default_value_t = 1)]
    pub number_rate: u32,
    /// Attempts before a transiently failing message is failed.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: i64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Print the final summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write rejected rows to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s, 10m or 1h"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{s}': use ms, s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

pub async fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let def = args.campaign.definition()?;
    let store = Store::open(&global.db).await?;
    let api = Api::connect(global, args.campaign.sim, !args.dry_run).await?;
    let result = run_with(&store, &api, &def, args).await;
    api.close().await?;
    result
}

async fn run_with(
    store: &Store,
    api: &Api,
    def: &campaign::definition::Definition,
    args: &RunArgs,
) -> anyhow::Result<ExitCode> {
    let opts = LoadOptions {
        dry_run: args.dry_run,
        new: args.new,
        rejects_file: args.rejects.clone(),
    };
    let loaded = campaign::load(def, store, api.client.as_ref(), &opts).await?;
    if args.dry_run {
        validate::print_summary(&loaded.summary, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let id = loaded.campaign.context("a real run has a campaign")?;
    if !args.json {
        eprintln!("campaign {id} ({})", def.name);
        validate::print_summary(&loaded.summary, false)?;
    }
    let interrupted = store.mark_interrupted_uncertain(id).await?;
    if interrupted > 0 {
        eprintln!(
            "{interrupted} message(s) were being sent when an earlier run stopped: marked uncertain, not resent"
        );
    }
    let client = api.client.as_ref().context("sending needs the API")?;
    store.set_campaign_state(id, "running", None).await?;
    let config = DispatchConfig {
        rate: args.rate,
        number_rate: args.number_rate,
        max_attempts: args.max_attempts,
        in_flight: args.in_flight,
        command: match def.channel() {
            Channel::Whatsapp => "SendWhatsAppTemplate",
            Channel::Sms => "SendSMSMessage",
        },
    };
    let stop = dispatch::dispatch(store, client, id, &config).await?;
    if let Some(stop) = &stop {
        let (state, reason) = match stop {
            Stop::Campaign(r) => ("paused", r),
            Stop::Token(r) => ("stopped", r),
        };
        store.set_campaign_state(id, state, Some(reason)).await?;
        eprintln!("campaign {state}: {reason}");
    } else if !args.no_wait {
        let left =
            dispatch::poll_acks(store, client, id, args.wait, (args.rate / 2).max(1)).await?;
        if left > 0 {
            eprintln!(
                "{left} message(s) not yet delivered after {:?}; `campaign status {id}` shows them later",
                args.wait
            );
        }
        store.set_campaign_state(id, "finished", None).await?;
    } else {
        store.set_campaign_state(id, "sent", None).await?;
    }
    status::print_campaign(store, id, args.json).await?;
    Ok(if stop.is_some() {
        ExitCode::from(EXIT_STOPPED)
    } else {
        ExitCode::SUCCESS
    })
}
