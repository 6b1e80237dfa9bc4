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
    refuse_if_meaningless(&store, id, action).await?;
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
                "campaign {id} is not paused by the operator: there is nothing to resume"
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
            // The figures `status` shows right after: the campaign's cancelled in all (some
            // may have been before, e.g. already reached by an earlier campaign of its name),
            // and those in flight, which are cancelled too if they come back unsent.
            let c = store.counts(id).await?;
            let mut said = format!(
                "campaign {id} cancelled: {}",
                crate::terminal::counted(
                    n,
                    "queued message cancelled now",
                    "queued messages cancelled now"
                )
            );
            if c.cancelled != n as i64 {
                said.push_str(&format!(" ({} cancelled in all)", c.cancelled));
            }
            if c.sending > 0 {
                said.push_str(&format!(
                    "; {} being sent finish, and are cancelled if they come back unsent",
                    c.sending
                ));
            }
            said.push_str("; those sent already are left as they are");
            crate::show!("{said}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses, saying why, a pause, resume or cancel that would mean nothing: on a cancelled
/// campaign (it stays so), a pause of a paused one, a resume of one not paused, and a pause or
/// cancel of one with nothing left to send (its messages keep their states).
async fn refuse_if_meaningless(
    store: &Store,
    id: CampaignId,
    action: Action,
) -> anyhow::Result<()> {
    use crate::queue::{CampaignState, Control};
    let standing = store.standing(id).await?;
    let verb = match action {
        Action::Pause => "pause",
        Action::Resume => "resume",
        Action::Cancel => "cancel",
    };
    if standing.control == Some(Control::Cancelled) || standing.state == CampaignState::Cancelled {
        anyhow::bail!(
            "campaign {id} is cancelled, and a cancelled campaign stays so: nothing to {verb}"
        );
    }
    let paused = standing.control == Some(Control::Paused);
    match action {
        Action::Pause if paused => {
            anyhow::bail!("campaign {id} is paused already: `campaign resume {id}` to go on")
        }
        Action::Resume if !paused => anyhow::bail!(
            "campaign {id} is not paused ({}): nothing to resume",
            standing.state
        ),
        Action::Pause | Action::Cancel if !store.has_work(id).await? => anyhow::bail!(
            "campaign {id} has nothing left to send ({}): nothing to {verb}; its messages keep their states",
            standing.state
        ),
        _ => Ok(()),
    }
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
