//! `campaign retry CAMPAIGN --uncertain`: the operator decides to send uncertain messages again.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::queue::{CampaignId, Store};

#[derive(Debug, Args)]
pub struct RetryArgs {
    pub campaign: i64,
    /// Queue the messages that may or may not have been sent (risking a second copy).
    #[arg(long, required = true)]
    pub uncertain: bool,
}

pub async fn run(global: &GlobalArgs, args: &RetryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&global.db).await?;
    let id = CampaignId(args.campaign);
    anyhow::ensure!(
        store.campaigns().await?.iter().any(|c| c.0 == id),
        "no campaign {id}: `campaign status` lists them"
    );
    let n = store.retry_uncertain(id).await?;
    println!(
        "{n} uncertain message(s) queued again; `campaign run` with the same source sends them"
    );
    Ok(ExitCode::SUCCESS)
}
