//! `campaign worker`: sends every campaign queued on the tokens it is given, for as long as it
//! runs. Per token it holds the token lease (waiting while another process holds it), sends
//! each campaign meant to be sent on it through the token's one gate (fairly, by priority),
//! retries deferred messages when they come due, reconciles what a dead sender left uncertain,
//! and, while it holds the token, polls acks for every campaign on it however late they come.
//! On stop (SIGTERM) nothing new is claimed, requests in flight finish and are recorded, and
//! the tokens are given up. Workers sharing a database spread the tokens between them
//! (`spread`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::send::Settings;
use super::spread::Spread;
pub use super::status::{TokenState, WorkerStatus};
use super::token::{HeldToken, TokenLimits};
use crate::campaign::definition::Channel;
use crate::convrs::{CallbackTarget, Client};
use crate::dispatch::DispatchConfig;
use crate::queue::{Role, SendOptions, Store};
use crate::tracking::PollSchedule;
use crate::tracking::socket::SocketConfig;

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
    pub(super) fn settings(&self, channel: &str, own: Option<&SendOptions>) -> Settings {
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
    let expiring = tokio::spawn(expire_stale(store.clone(), config.tick, stop.clone()));
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
    let _ = expiring.await;
    if let Err(e) = store.worker_gone(&owner).await {
        tracing::warn!(error = %e, "cannot say this worker is gone; the others count it for three ticks more");
    }
}

/// At every tick, once per worker whatever the tokens it holds: queued messages of every
/// campaign past their expiry become `expired` (a campaign's sending expires its own too, as
/// it begins, and its claims never send one).
async fn expire_stale(store: Store, every: Duration, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(e) = store.expire_due(None, store.now_ms()).await {
            tracing::warn!(error = %e, "cannot expire stale messages; will try again");
        }
        tick(every, &stop).await;
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
                super::holding::hold(store, client, token, config, status, stop, spread).await
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
