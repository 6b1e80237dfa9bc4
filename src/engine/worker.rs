//! `campaign worker`: sends every campaign queued on the tokens it is given, for as long as it
//! runs. Per token it holds the token lease (waiting while another process holds it), sends
//! each campaign meant to be sent on it through the token's one gate (fairly, by priority),
//! retries deferred messages when they come due, reconciles what a dead sender left uncertain,
//! and, while it holds the token, polls acks for every campaign on it however late they come.
//! On stop (SIGTERM) nothing new is claimed, requests in flight finish and are recorded, and
//! the tokens are given up. Workers sharing a database spread the tokens between them
//! (`spread`).

use crate::queue::CampaignState;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::acks::track_token;
use super::send::{OnToken, SendEnd, Settings, send_campaign, state_after};
use super::spread::Spread;
pub use super::status::{TokenState, WorkerStatus};
use super::token::{HeldToken, TokenLimits};
use crate::campaign::definition::Channel;
use crate::convrs::{CallbackTarget, Client};
use crate::dispatch::DispatchConfig;
use crate::queue::{CampaignId, Role, SendOptions, Sendable, Store, StoreError};
use crate::tracking::PollSchedule;
use crate::tracking::socket::{SocketConfig, listen};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The limits of every token (the API document's: 10 a second, 1 a second per number).
    pub limits: TokenLimits,
    /// Requests in flight at once, per campaign.
    pub in_flight: usize,
    /// Attempts of a campaign queued without its own choice.
    pub max_attempts: i64,
    /// Where WhatsApp callbacks go.
    pub callback: Option<CallbackTarget>,
    pub polls: PollSchedule,
    pub reconcile_after: Duration,
    /// A campaign whose next message is due later than this is left until it comes due.
    pub defer_after: Duration,
    /// How often the worker looks for campaigns to send and tokens to take.
    pub tick: Duration,
    /// How long its clients wait for an answer: a campaign's safe delay must be longer.
    pub request_timeout: Duration,
    /// The API's WebSocket, for events (`--events-ws`): one socket per token held.
    pub events_ws: Option<SocketConfig>,
    /// The frequency cap of campaigns whose file sets none (`--frequency-cap`).
    pub frequency_cap: Option<crate::timing::FrequencyCap>,
}

impl WorkerConfig {
    /// What a campaign of `channel` is sent with: its own stored options where it has them,
    /// else this worker's. Its rate is its own pace within the token's (the gate keeps that).
    fn settings(&self, channel: &str, own: Option<&SendOptions>) -> Settings {
        let mut settings = Settings {
            dispatch: DispatchConfig {
                rate: self.limits.rate,
                number_rate: self.limits.number_rate,
                max_attempts: self.max_attempts,
                in_flight: self.in_flight,
                command: Channel::from_stored(channel).send_command(),
                callback: self.callback.clone(),
                first_poll: self.polls.first,
                defer_after: self.defer_after,
            },
            polls: self.polls.clone(),
            reconcile_after: self.reconcile_after,
        }
        .with_own(own);
        // An answer this worker's client gives up on may be processed until its timeout: a
        // safe delay chosen for another process's shorter timeout would decide too soon.
        if settings.reconcile_after <= self.request_timeout {
            settings.reconcile_after = self.reconcile_after;
        }
        settings
    }
}

/// Runs until `stop`: every token in its own task. Returns once all are drained.
pub async fn run_worker(
    store: &Store,
    clients: &[Client],
    config: &WorkerConfig,
    status: &Arc<WorkerStatus>,
    stop: &CancellationToken,
) {
    let spread = Arc::new(Spread::new(clients.len()));
    let owner = crate::queue::this_process();
    let heartbeat = tokio::spawn(super::spread::count_workers(
        store.clone(),
        owner.clone(),
        spread.clone(),
        config.tick,
        stop.clone(),
    ));
    let mut tokens = JoinSet::new();
    for client in clients {
        status.set(&client.token_fingerprint(), TokenState::Starting);
        let (store, client, config, status, stop, spread) = (
            store.clone(),
            client.clone(),
            config.clone(),
            status.clone(),
            stop.clone(),
            spread.clone(),
        );
        tokens.spawn(async move {
            serve_token(&store, &client, &config, &status, &stop, &spread).await
        });
    }
    while tokens.join_next().await.is_some() {}
    let _ = heartbeat.await;
    if let Err(e) = store.worker_gone(&owner).await {
        tracing::warn!(error = %e, "cannot say this worker is gone; the others count it for three ticks more");
    }
}

/// Waits a tick, or until stop.
pub(super) async fn tick(every: Duration, stop: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(every) => {}
        _ = stop.cancelled() => {}
    }
}

/// One token: take it when free, send on it while held, take it again if lost.
async fn serve_token(
    store: &Store,
    client: &Client,
    config: &WorkerConfig,
    status: &WorkerStatus,
    stop: &CancellationToken,
    spread: &Spread,
) {
    let fingerprint = client.token_fingerprint();
    let stats = status.stats_for(&fingerprint);
    while !stop.is_cancelled() {
        if !spread.may_take() {
            status.set(
                &fingerprint,
                TokenState::LeftToOthers {
                    share: spread.share(),
                },
            );
            tick(config.tick, stop).await;
            continue;
        }
        let taken = HeldToken::take(
            store,
            &fingerprint,
            Role::Worker,
            None,
            config.limits,
            stats.clone(),
        )
        .await;
        // Whether the place `may_take` counted was given back already (by leaving the token).
        let given_back = match taken {
            Ok(Ok(token)) => {
                tracing::info!(token = %fingerprint, "holding the token: sending its campaigns");
                // Only the token's holder polls its acks: workers that were given the token
                // but do not hold it would ask about each message again, on its budget.
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
                let left = match send_on(store, client, &token, config, status, stop, spread).await
                {
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
            Ok(Err(holder)) => {
                if !matches!(status.tokens().get(&fingerprint), Some(TokenState::Waiting { holder: h }) if *h == holder)
                {
                    tracing::info!(%holder, "waiting for the token");
                }
                status.set(&fingerprint, TokenState::Waiting { holder });
                false
            }
            Err(e) => {
                tracing::warn!(token = %fingerprint, error = %e, "cannot take the token lease; will try again");
                false
            }
        };
        if !given_back {
            spread.dropped();
        }
        tick(config.tick, stop).await;
    }
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
            // Scheduled runs due on the token become batches, queued for the loop below.
            if let Err(e) = super::scheduled::fire_schedules(
                store,
                client,
                fingerprint,
                store.now_ms(),
                recover,
            )
            .await
            {
                tracing::warn!(token = %fingerprint, error = %e, "cannot fire the schedules; will try again");
            }
            recover = false;
            if let Err(e) = store.expire_due(None, store.now_ms()).await {
                tracing::warn!(error = %e, "cannot expire stale messages; will try again");
            }
            // Opt-outs' confirmations: sends, through the token's gate like any.
            if let Err(e) = super::confirm::send_confirmations(store, client, &token.gate).await {
                tracing::warn!(error = %e, "cannot send the opt-outs' confirmations now; will try again");
            }
            // Context after the send (tags, data), in the gate's lane of least weight.
            let context =
                super::context::send_context(store, client, &token.gate, None, &created_tags);
            if let Err(e) = context.await {
                tracing::warn!(error = %e, "cannot set the context after the send now; will try again");
            }
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
