//! One run of a campaign, start to end: take the lease, mark what a dead run left `sending` as
//! `uncertain`, send, reconcile what is uncertain (sending again what is proven unsent), then
//! poll acks until delivered or the wait is over. Messages due much later (deferred by the API)
//! do not hold the run: it ends and says what waits, until when and why.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::clock::{now_ms, rfc3339_secs};
use crate::convrs::Client;
use crate::dispatch::{DispatchConfig, Reconciled, Stop, dispatch, reconcile};
use crate::queue::{CampaignId, Lease, LeaseHeld, Store, StoreError, this_process};
use crate::tracking::{PollSchedule, Polling, await_delivery};

/// How often, and how long after, a failed GetConversation is asked again in one run.
const ASK_AGAIN_ROUNDS: u32 = 10;
const ASK_AGAIN_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long to wait for delivery acks once sending is over; `None` returns once all is sent.
    pub wait: Option<Duration>,
    /// How long after an attempt a conversation without the message proves it was not sent.
    pub reconcile_after: Duration,
    /// When and how often to poll GetMessageDetails.
    pub polls: PollSchedule,
    /// How long the campaign lease lasts without renewal; it is renewed every third of that.
    pub lease: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            wait: Some(Duration::from_secs(600)),
            reconcile_after: Duration::from_secs(60),
            polls: PollSchedule::default(),
            lease: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything was sent and acks were awaited; `unsettled` were not delivered in time.
    Finished { unsettled: usize },
    /// Everything was sent (`--no-wait`).
    Sent,
    /// A stop verdict paused the campaign or stopped the token.
    Stopped(Stop),
    /// Cancelled (Ctrl-C): nothing new was claimed, what was in flight was recorded.
    Interrupted,
}

/// Messages the run left waiting for a later attempt, grouped by why.
pub type Deferred = crate::queue::DeferredGroup;

#[derive(Debug, Clone)]
pub struct RunReport {
    pub end: RunEnd,
    /// Messages a dead run had left `sending`, now `uncertain`.
    pub left_uncertain_by_earlier_run: u64,
    pub reconciled: Reconciled,
    /// Messages whose next attempt is due after the run ended.
    pub deferred: Vec<Deferred>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Busy(#[from] LeaseHeld),
    /// Another process took the campaign over; this run sent nothing more from then on.
    #[error(
        "campaign {0} was taken over by another process (this run's lease expired or was taken), so this run stopped sending; what it had in flight is reconciled by whoever runs the campaign now"
    )]
    LeaseLost(CampaignId),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost(campaign) => RunError::LeaseLost(campaign),
            other => RunError::Store(other),
        }
    }
}

pub async fn run_campaign(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    config: &DispatchConfig,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunReport, RunError> {
    let owner = this_process();
    let lease = Arc::new(store.take_lease(campaign, &owner, opts.lease).await??);
    // Losing the lease (another process took it after we stalled past its expiry) halts the
    // run: nothing new is claimed, and nothing claimed is sent.
    let run_cancel = cancel.child_token();
    let renewing = CancellationToken::new();
    let renewal = tokio::spawn(renew_lease(
        store.clone(),
        lease.clone(),
        renewing.clone(),
        run_cancel.clone(),
    ));
    let result = run_leased(store, client, &lease, config, opts, &run_cancel).await;
    renewing.cancel();
    let _ = renewal.await;
    if lease.is_lost() {
        return Err(RunError::LeaseLost(campaign));
    }
    store.release_lease(campaign, &owner).await?;
    result
}

async fn renew_lease(
    store: Store,
    lease: Arc<Lease>,
    done: CancellationToken,
    lost: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(lease.length() / 3) => {}
            _ = done.cancelled() => return,
        }
        match store.renew_lease(&lease).await {
            Ok(Ok(())) => {}
            Ok(Err(held)) => {
                tracing::error!(campaign = %lease.campaign, %held, "lost the campaign lease: stopping");
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(campaign = %lease.campaign, error = %e, "cannot renew the campaign lease; will try again")
            }
        }
    }
}

async fn run_leased(
    store: &Store,
    client: &Client,
    lease: &Arc<Lease>,
    config: &DispatchConfig,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunReport, RunError> {
    let campaign = lease.campaign;
    if let Some(control) = store.control(campaign).await? {
        // Paused or cancelled by the operator: nothing is sent, and the state stays theirs.
        return Ok(RunReport {
            end: RunEnd::Stopped(Stop::Operator(control)),
            left_uncertain_by_earlier_run: 0,
            reconciled: Reconciled::default(),
            deferred: vec![],
        });
    }
    let left = store.mark_interrupted_uncertain(campaign).await?;
    store.set_campaign_state(campaign, "running", None).await?;
    store
        .set_campaign_token(campaign, &client.token_fingerprint())
        .await?;
    let mut reconciled = Reconciled::default();
    let mut asked_again = 0;
    // Acks are polled while sending goes on, each message from its own send time.
    let mut polling = Some(Polling::start(
        store.clone(),
        client.clone(),
        campaign,
        opts.polls.clone(),
    ));
    let end = loop {
        if let Some(stop) = dispatch(store, client, lease, config, cancel).await? {
            if let Stop::Token(reason) = &stop {
                store
                    .stop_token(&client.token_fingerprint(), reason)
                    .await?;
            }
            break RunEnd::Stopped(stop);
        }
        if cancel.is_cancelled() {
            break RunEnd::Interrupted;
        }
        let r = reconcile(store, client, campaign, config, opts.reconcile_after).await?;
        reconciled.sent += r.sent;
        reconciled.requeued += r.requeued;
        reconciled.undecided = r.undecided;
        if r.requeued > 0 {
            continue;
        }
        // An undecided message is decided by waiting out its safe delay (`reconcile_after`),
        // even with `--no-wait`: "everything sent" includes knowing what was sent.
        let mut next = r.next_decision;
        // GetConversation failed for some: ask again a little later, a few times.
        if r.unanswered > 0 && asked_again < ASK_AGAIN_ROUNDS {
            asked_again += 1;
            let soon = chrono::Utc::now() + ASK_AGAIN_AFTER;
            next = Some(next.map_or(soon, |n| n.min(soon)));
        }
        if let Some(at) = next {
            let pause =
                (at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(10);
            tokio::select! {
                _ = tokio::time::sleep(pause) => continue,
                _ = cancel.cancelled() => break RunEnd::Interrupted,
            }
        }
        break match opts.wait {
            None => RunEnd::Sent,
            Some(wait) => {
                if let Some(polling) = polling.take() {
                    polling.stop().await;
                }
                // The wait for acks counts from the end of sending, however long sending took.
                let deadline = tokio::time::Instant::now() + wait;
                let unsettled =
                    await_delivery(store, client, campaign, &opts.polls, deadline, cancel).await?
                        as usize;
                if cancel.is_cancelled() {
                    RunEnd::Interrupted
                } else {
                    RunEnd::Finished { unsettled }
                }
            }
        };
    };
    if let Some(polling) = polling.take() {
        polling.stop().await;
    }
    if lease.is_lost() {
        // The campaign is someone else's now: its state is theirs to write.
        return Err(RunError::LeaseLost(campaign));
    }
    let deferred = match end {
        RunEnd::Finished { .. } | RunEnd::Sent => store.deferred(campaign, now_ms()).await?,
        _ => vec![],
    };
    let deferred_reason = deferred_summary(&deferred);
    let state = match &end {
        // The operator's pause or cancel set the state already (and may be lifted by now).
        RunEnd::Stopped(Stop::Operator(_)) => None,
        _ if !deferred.is_empty() => Some(("deferred", Some(deferred_reason.as_str()))),
        RunEnd::Finished { .. } => Some(("finished", None)),
        RunEnd::Sent => Some(("sent", None)),
        RunEnd::Stopped(Stop::Campaign(r)) => Some(("paused", Some(r.as_str()))),
        RunEnd::Stopped(Stop::Token(r)) => Some(("stopped", Some(r.as_str()))),
        RunEnd::Interrupted => Some((
            "interrupted",
            Some("stopped by the operator; run again to resume"),
        )),
    };
    if let Some((state, reason)) = state {
        store.set_campaign_state(campaign, state, reason).await?;
    }
    Ok(RunReport {
        end,
        left_uncertain_by_earlier_run: left,
        reconciled,
        deferred,
    })
}

/// "3 message(s) deferred until 2026-12-01T10:15:00Z: 2001: User is chatting to an agent".
pub fn deferred_summary(deferred: &[Deferred]) -> String {
    deferred
        .iter()
        .map(|d| {
            let until = rfc3339_secs(d.last_at);
            format!(
                "{} message(s) deferred until {until}: {}",
                d.count, d.reason
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
