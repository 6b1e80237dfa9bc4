//! `campaign run CAMPAIGN`: an id or a name where a source file would be goes on with that
//! campaign as it is stored (its messages are queued with their payloads frozen), after a
//! `retry`, a pause, a crash or a deferral, without retyping the flags that defined it.

use super::campaign_args::CampaignArgs;
use crate::campaign::definition::Channel;
use crate::engine::Target;
use crate::queue::{CampaignId, Found, Store};

/// The stored campaign `args.source` names, when it is not a file; `None` to load the source.
pub async fn stored(store: &Store, args: &CampaignArgs) -> anyhow::Result<Option<CampaignId>> {
    if args.source.exists() {
        return Ok(None);
    }
    let given = args.source.to_string_lossy();
    match store.find_campaign(&given).await? {
        Found::One(id) => Ok(Some(id)),
        // Neither a file nor a campaign: loading it says the file is missing.
        Found::None => Ok(None),
        // Which one: the error names their ids.
        Found::Several(_) => super::control::resolve(store, &given).await.map(|_| None),
    }
}

/// The campaign `args.source` names, when it is not a file; `None` to load the source.
pub async fn campaign(store: &Store, args: &CampaignArgs) -> anyhow::Result<Option<Target>> {
    let Some(id) = stored(store, args).await? else {
        return Ok(None);
    };
    if let Some(flag) = args.defining_flag() {
        anyhow::bail!(
            "campaign {id} goes on as it is stored: drop {flag}, or give its source file to load it with new settings"
        );
    }
    let (name, channel) = store.name_and_channel(id).await?;
    let counts = store.counts(id).await?;
    crate::tell!(
        "campaign {id} ({name}): going on as it is stored, with {} message(s) queued and {} uncertain",
        counts.queued,
        counts.uncertain
    );
    Ok(Some(Target {
        id,
        channel: Channel::from_stored(&channel),
        summary: None,
    }))
}
