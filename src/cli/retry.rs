//! `campaign retry CAMPAIGN --uncertain | --failed`: the operator decides to send again.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(true))]
pub struct RetryArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// A campaign id or name.
    pub campaign: String,
    /// Queue the messages that may or may not have been sent (risking a second copy).
    #[arg(long, group = "which")]
    pub uncertain: bool,
    /// Queue failed messages whose failure may pass (not suppressed numbers, not invalid
    /// numbers or parameters).
    #[arg(long, group = "which")]
    pub failed: bool,
    /// Say what was queued as JSON: {"campaign":N,"uncertain":N,"failed":N}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &GlobalArgs, args: &RetryArgs) -> anyhow::Result<ExitCode> {
    let store = global.store_to_read().await?;
    let id = super::control::resolve(&store, &args.campaign).await?;
    anyhow::ensure!(
        store.campaigns().await?.iter().any(|c| c.0 == id),
        "no campaign {id}: `campaign status` lists them"
    );
    let mut queued = serde_json::json!({ "campaign": id, "uncertain": 0, "failed": 0 });
    if args.uncertain {
        let n = store.retry_uncertain(id).await?;
        queued["uncertain"] = n.into();
        if !args.json {
            crate::show!("{n} uncertain message(s) queued again");
        }
    }
    if args.failed {
        let n = store.retry_failed(id).await?;
        queued["failed"] = n.into();
        if !args.json {
            crate::show!(
                "{n} failed message(s) queued again (suppressed numbers and invalid messages stay failed)"
            );
        }
    }
    if args.json {
        crate::show!("{queued}");
    } else {
        crate::show!(
            "`campaign run {id}` sends them (or a worker on its token, after `campaign run {id} --detach`)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
