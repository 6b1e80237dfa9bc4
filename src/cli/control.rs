//! `campaign pause|resume|cancel CAMPAIGN` (an id, or a name only one campaign has): live
//! control from another terminal. A `run` sending the campaign stops within a second (nothing
//! more is claimed, nothing claimed is sent) and exits with code 3.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::queue::{CampaignId, Found, Store};

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// A campaign id, or a name only one campaign has (`campaign status` lists them).
    pub campaign: String,
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Pause,
    Resume,
    Cancel,
}

pub async fn run(
    global: &GlobalArgs,
    args: &ControlArgs,
    action: Action,
) -> anyhow::Result<ExitCode> {
    let store = global.store_to_read().await?;
    let id = resolve(&store, &args.campaign).await?;
    match action {
        Action::Pause => {
            store.pause(id).await?;
            crate::show!(
                "campaign {id} paused: nothing more of it is sent; `campaign resume {id}` to go on"
            );
        }
        Action::Resume => {
            anyhow::ensure!(
                store.resume(id).await?,
                "campaign {id} is not paused by the operator (a cancelled campaign stays cancelled)"
            );
            let worker = match store.campaign_token(id).await? {
                Some(token) => store.token_holder(&token).await?,
                None => None,
            };
            match worker.filter(|h| h.role == crate::queue::Role::Worker) {
                Some(h) => crate::show!(
                    "campaign {id} resumed: the worker {} goes on where it stopped",
                    h.owner
                ),
                None => crate::show!(
                    "campaign {id} resumed: run it again to go on where it stopped (a worker on its token would send it)"
                ),
            }
        }
        Action::Cancel => {
            let n = store.cancel(id).await?;
            crate::show!(
                "campaign {id} cancelled: {n} message(s) not sent yet are cancelled; those sent already are left as they are"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The campaign meant by an id or a name; an unknown or ambiguous one is an error that says
/// what to type instead.
pub async fn resolve(store: &Store, id_or_name: &str) -> anyhow::Result<CampaignId> {
    match store.find_campaign(id_or_name).await? {
        Found::One(id) => Ok(id),
        Found::None => anyhow::bail!(
            "no campaign \"{id_or_name}\": give its id or name (`campaign status` lists them)"
        ),
        Found::Several(ids) => {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "{} campaigns are named \"{id_or_name}\" (ids {}): give the id",
                ids.len(),
                ids.join(", ")
            )
        }
    }
}
