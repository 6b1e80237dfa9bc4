//! `campaign status [CAMPAIGN] [--json]`: the campaigns, or one campaign's counts.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::GlobalArgs;
use crate::queue::{CampaignId, Store};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A campaign id (see the list without it).
    pub campaign: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&global.db).await?;
    match args.campaign {
        Some(id) => print_campaign(&store, CampaignId(id), args.json).await?,
        None => {
            let mut list = vec![];
            for (id, name, state, reason) in store.campaigns().await? {
                let counts = store.counts(id).await?;
                list.push(json!({"id": id, "name": name, "state": state, "reason": reason, "counts": counts}));
            }
            if args.json {
                println!("{}", serde_json::Value::Array(list));
            } else {
                for c in &list {
                    println!(
                        "{:>4}  {:<12} {:<30} total {}",
                        c["id"],
                        c["state"].as_str().unwrap_or(""),
                        c["name"].as_str().unwrap_or(""),
                        c["counts"]["total"]
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn print_campaign(store: &Store, id: CampaignId, as_json: bool) -> anyhow::Result<()> {
    let Some((_, name, state, reason)) = store.campaigns().await?.into_iter().find(|c| c.0 == id)
    else {
        anyhow::bail!("no campaign {id}: `campaign status` lists them");
    };
    let counts = store.counts(id).await?;
    if as_json {
        println!(
            "{}",
            json!({"id": id, "name": name, "state": state, "counts": counts})
        );
        return Ok(());
    }
    let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    println!("campaign {id} \"{name}\": {state}{reason}");
    println!(
        "total {}: queued {}, sending {}, sent {}, delivered {}, read {}, replied {}, failed {}, uncertain {}, cancelled {}",
        counts.total,
        counts.queued,
        counts.sending,
        counts.sent,
        counts.delivered,
        counts.read,
        counts.replied,
        counts.failed,
        counts.uncertain,
        counts.cancelled
    );
    Ok(())
}
