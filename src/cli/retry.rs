//! `campaign retry CAMPAIGN --uncertain | --failed`: the operator decides to send again.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(true))]
pub struct RetryArgs {
    /// A campaign id or name.
    pub campaign: String,
    /// Queue the messages that may or may not have been sent (risking a second copy).
    #[arg(long, group = "which")]
    pub uncertain: bool,
    /// Queue failed messages whose failure may pass (not suppressed numbers, not invalid
    /// numbers or parameters).
    #[arg(long, group = "which")]
    pub failed: bool,
}

pub async fn run(global: &GlobalArgs, args: &RetryArgs) -> anyhow::Result<ExitCode> {
    let store = global.store_to_read().await?;
    let id = super::control::resolve(&store, &args.campaign).await?;
    anyhow::ensure!(
        store.campaigns().await?.iter().any(|c| c.0 == id),
        "no campaign {id}: `campaign status` lists them"
    );
    if args.uncertain {
        let n = store.retry_uncertain(id).await?;
        println!("{n} uncertain message(s) queued again");
    }
    if args.failed {
        let n = store.retry_failed(id).await?;
        println!(
            "{n} failed message(s) queued again (suppressed numbers and invalid messages stay failed)"
        );
    }
    println!("run the campaign again (`campaign run` with the same source) to send them");
    Ok(ExitCode::SUCCESS)
}
