//! What a worker does while it holds a token: polls the token's acks, listens to its events,
//! and sends every campaign due on it, each under its own lease, through the token's gate;
//! between sends, the token's chores (schedules, confirmations, context).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::acks::track_token;
use super::send::{OnToken, SendEnd, send_campaign, state_after};
use super::spread::Spread;
use super::status::{TokenState, WorkerStatus};
use super::token::HeldToken;
use super::worker::WorkerConfig;
use crate::convrs::Client;
use crate::queue::{CampaignId, CampaignState, Sendable, Store, StoreError};
use crate::tracking::socket::listen;

/// While the token is held: polls its acks, listens to its events (`--events-ws`) and sends
/// its campaigns (`send_on`); then gives it up. True when it was left to another worker (its
/// place in the spread given back already).
pub(super) async fn hold(
    store: &Store,
    client: &Client,
    token: HeldToken,
    config: &WorkerConfig,
    status: &WorkerStatus,
    stop: &CancellationToken,
    spread: &Spread,
) -> bool {
    let fingerprint = client.token_fingerprint();
    tracing::info!(token = %fingerprint, "holding the token: sending its campaigns");
    // Only the token's holder polls its acks: workers that were given the token but do not
    // hold it would ask about each message again, on its budget.
    let polling = stop.child_token();
    let tracking = tokio::spawn(track_token(
        store.clone(),
        client.clone(),
        config.polls.clone(),
        config.tick,
        polling.clone(),
    ));
    let socket = config.events_ws.clone().map(|socket| {
        tokio::spawn(listen(
            store.clone(),
            client.clone(),
            socket,
            status.events.clone(),
            polling.clone(),
        ))
    });
    let left = match send_on(store, client, &token, config, status, stop, spread).await {
        Ok(left) => left,
        Err(e) => {
            tracing::warn!(token = %fingerprint, error = %e, "sending on the token stopped; trying again");
            false
        }
    };
    polling.cancel();
    let _ = tracking.await;
    if let Some(socket) = socket {
        let _ = socket.await;
    }
    if let Err(e) = token.release(store).await {
        tracing::warn!(token = %fingerprint, error = %e, "cannot give the token up; its lease expires");
    }
    left
}

/// While the token is held: start a sending for each campaign due on it, until stop, loss, or
/// this worker leaving it to another (true); then halt them all and wait until what they had
/// in flight is recorded.
async fn send_on(
    store: &Store,
    client: &Client,
    token: &HeldToken,
    config: &WorkerConfig,
    status: &WorkerStatus,
    stop: &CancellationToken,
    spread: &Spread,
) -> Result<bool, StoreError> {
    let fingerprint = &token.lease.fingerprint;
    let halt = stop.child_token();
    let mut sendings: JoinSet<CampaignId> = JoinSet::new();
    let mut active: HashSet<CampaignId> = HashSet::new();
    // Once per holding of the token: batches a dead firer left half loaded.
    let mut recover = true;
    let created_tags = super::context::CreatedTags::default();
    let result = loop {
        while let Some(done) = sendings.try_join_next() {
            if let Ok(id) = done {
                active.remove(&id);
            }
        }
        if stop.is_cancelled() || token.lost.is_cancelled() {
            break Ok(false);
        }
        // More workers share the database now: this token goes to one of them.
        if spread.should_leave() {
            tracing::info!(token = %fingerprint, share = spread.share(), "leaving the token to another worker");
            break Ok(true);
        }
        if let Some((reason, _)) = store.token_stop(fingerprint).await? {
            status.set(fingerprint, TokenState::Stopped { reason });
        } else {
            fire_schedules(store, client, token, recover).await;
            recover = false;
            start_due(
                store,
                client,
                token,
                config,
                &halt,
                &mut sendings,
                &mut active,
            )
            .await?;
            // After the campaigns are started: their first statements queue for the store's
            // connections ahead of these reads.
            confirm_and_tell(store, client, token, &created_tags).await;
            let mut campaigns: Vec<CampaignId> = active.iter().copied().collect();
            campaigns.sort();
            status.set(fingerprint, TokenState::Held { campaigns });
        }
        tokio::select! {
            _ = tokio::time::sleep(config.tick) => {}
            _ = stop.cancelled() => {}
            _ = token.lost.cancelled() => {}
            Some(done) = sendings.join_next(), if !sendings.is_empty() => {
                if let Ok(id) = done {
                    active.remove(&id);
                }
            }
        }
    };
    halt.cancel();
    while sendings.join_next().await.is_some() {}
    result
}

/// Fires the schedules due on the token (with `recover`, first finishing batches a dead firer
/// left half loaded): their batches are queued for `start_due` to send. A failure is logged
/// and tried again at the next tick.
async fn fire_schedules(store: &Store, client: &Client, token: &HeldToken, recover: bool) {
    let fingerprint = &token.lease.fingerprint;
    let fired =
        super::scheduled::fire_schedules(store, client, fingerprint, store.now_ms(), recover);
    if let Err(e) = fired.await {
        tracing::warn!(token = %fingerprint, error = %e, "cannot fire the schedules; will try again");
    }
}

/// What a token's holder does each tick besides sending its campaigns: sends the opt-outs'
/// confirmations and the context after the send. Each failure is logged and tried again at
/// the next tick.
async fn confirm_and_tell(
    store: &Store,
    client: &Client,
    token: &HeldToken,
    created_tags: &super::context::CreatedTags,
) {
    // Opt-outs' confirmations: sends, through the token's gate like any.
    if let Err(e) = super::confirm::send_confirmations(store, client, &token.gate).await {
        tracing::warn!(error = %e, "cannot send the opt-outs' confirmations now; will try again");
    }
    // Context after the send (tags, data), in the gate's lane of least weight.
    let context = super::context::send_context(store, client, &token.gate, None, created_tags);
    if let Err(e) = context.await {
        tracing::warn!(error = %e, "cannot set the context after the send now; will try again");
    }
}

/// Starts sending each campaign due on the token that is not being sent already and whose
/// lease this worker can take.
async fn start_due(
    store: &Store,
    client: &Client,
    token: &HeldToken,
    config: &WorkerConfig,
    halt: &CancellationToken,
    sendings: &mut JoinSet<CampaignId>,
    active: &mut HashSet<CampaignId>,
) -> Result<(), StoreError> {
    let soon = store.now_ms() + config.defer_after.as_millis() as i64;
    let due = store
        .sendable_campaigns(&token.lease.fingerprint, soon)
        .await?;
    for campaign in due {
        if active.contains(&campaign.id) {
            continue;
        }
        let Some(lease) = take_campaign(store, token, &campaign, config).await? else {
            continue;
        };
        active.insert(campaign.id);
        let (store, client, gate) = (store.clone(), client.clone(), token.gate.clone());
        let (config, halt) = (config.clone(), halt.clone());
        sendings.spawn(async move {
            let id = campaign.id;
            let on = OnToken {
                client: &client,
                gate: &gate,
                priority: campaign.priority,
            };
            send_one(&store, &on, lease, &campaign, &config, &halt).await;
            id
        });
    }
    Ok(())
}

/// The campaign's lease under the token, unless another process holds it.
async fn take_campaign(
    store: &Store,
    token: &HeldToken,
    campaign: &Sendable,
    config: &WorkerConfig,
) -> Result<Option<Arc<crate::queue::Lease>>, StoreError> {
    let taken = store
        .take_lease_under(
            campaign.id,
            &token.lease.owner,
            config.limits.lease,
            Some(token.lease.clone()),
        )
        .await?;
    Ok(match taken {
        Ok(lease) => Some(Arc::new(lease.with_frequency_cap(config.frequency_cap))),
        Err(held) => {
            tracing::debug!(%held, "campaign sent elsewhere");
            None
        }
    })
}

/// Sends one campaign until nothing is due soon, a stop, or the halt; records its state.
async fn send_one(
    store: &Store,
    on: &OnToken<'_>,
    lease: Arc<crate::queue::Lease>,
    campaign: &Sendable,
    config: &WorkerConfig,
    halt: &CancellationToken,
) {
    let id = campaign.id;
    let settings = config.settings(&campaign.channel, campaign.options.as_ref());
    let mut renewing = super::run::renew_campaign_lease(store, &lease, halt);
    tracing::info!(campaign = %id, rate = settings.dispatch.rate, "sending");
    let dispatch = &settings.dispatch;
    let sent = send_campaign(store, on, &lease, dispatch, settings.reconcile_after, halt).await;
    renewing.stop().await;
    let recorded = match sent {
        // SIGTERM: the campaign stays `running`, for the next worker to go on with.
        Ok(sent) if sent.end == SendEnd::Interrupted => Ok(()),
        Ok(sent) => record_end(store, id, &sent.end).await,
        Err(e) => {
            tracing::warn!(campaign = %id, error = %e, "sending stopped");
            Ok(())
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(campaign = %id, error = %e, "cannot record how the sending ended");
    }
    if !lease.is_lost()
        && let Err(e) = store.release_lease(id, &lease.owner).await
    {
        tracing::warn!(campaign = %id, error = %e, "cannot release the campaign lease; it expires");
    }
}

async fn record_end(store: &Store, id: CampaignId, end: &SendEnd) -> Result<(), StoreError> {
    let deferred = match end {
        SendEnd::Done => store.deferred(id, store.now_ms()).await?,
        _ => vec![],
    };
    if let Some((state, reason)) = state_after(end, &deferred, CampaignState::Sent) {
        tracing::info!(campaign = %id, state = state.as_str(), reason = reason.as_deref().unwrap_or(""), "sending ended");
        store
            .set_campaign_state(id, state, reason.as_deref())
            .await?;
    }
    Ok(())
}
