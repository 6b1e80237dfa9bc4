//! One run of a campaign, start to end: take the lease, mark what a dead run left `sending` as
//! `uncertain`, send, reconcile what is uncertain (sending again what is proven unsent), then
//! poll acks until delivered or the wait is over.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{DispatchConfig, Reconciled, Stop, dispatch, now_ms, reconcile};
use crate::convrs::Client;
use crate::queue::{CampaignId, LeaseHeld, Store, StoreError, this_process};
use crate::tracking::{PollSchedule, await_delivery};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long to wait for delivery acks after sending; `None` returns once all is sent.
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

#[derive(Debug, Clone)]
pub struct RunReport {
    pub end: RunEnd,
    /// Messages a dead run had left `sending`, now `uncertain`.
    pub left_uncertain_by_earlier_run: u64,
    pub reconciled: Reconciled,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Busy(#[from] LeaseHeld),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    store
        .acquire_lease(
            campaign,
            &owner,
            now_ms(),
            now_ms() + opts.lease.as_millis() as i64,
        )
        .await??;
    // Losing the lease (another process took it after we stalled past its expiry) stops the
    // run like Ctrl-C: nothing new is claimed.
    let run_cancel = cancel.child_token();
    let renewing = CancellationToken::new();
    let renewal = tokio::spawn(renew_lease(
        store.clone(),
        campaign,
        owner.clone(),
        opts.lease,
        renewing.clone(),
        run_cancel.clone(),
    ));
    let result = run_leased(store, client, campaign, config, opts, &run_cancel).await;
    renewing.cancel();
    let _ = renewal.await;
    store.release_lease(campaign, &owner).await?;
    result
}

async fn renew_lease(
    store: Store,
    campaign: CampaignId,
    owner: String,
    lease: Duration,
    done: CancellationToken,
    lost: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(lease / 3) => {}
            _ = done.cancelled() => return,
        }
        let until = now_ms() + lease.as_millis() as i64;
        match store.acquire_lease(campaign, &owner, now_ms(), until).await {
            Ok(Ok(())) => {}
            Ok(Err(held)) => {
                tracing::error!(%campaign, %held, "lost the campaign lease: stopping");
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(%campaign, error = %e, "cannot renew the campaign lease; will try again")
            }
        }
    }
}

async fn run_leased(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    config: &DispatchConfig,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunReport, RunError> {
    let left = store.mark_interrupted_uncertain(campaign).await?;
    store.set_campaign_state(campaign, "running", None).await?;
    let deadline = tokio::time::Instant::now() + opts.wait.unwrap_or(Duration::ZERO);
    let mut reconciled = Reconciled::default();
    let end = loop {
        if let Some(stop) = dispatch(store, client, campaign, config, cancel).await? {
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
        if let Some(at) = r.next_decision {
            let pause =
                (at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(10);
            tokio::select! {
                _ = tokio::time::sleep(pause) => continue,
                _ = cancel.cancelled() => break RunEnd::Interrupted,
            }
        }
        break match opts.wait {
            None => RunEnd::Sent,
            Some(_) => {
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
    let (state, reason) = match &end {
        RunEnd::Finished { .. } => ("finished", None),
        RunEnd::Sent => ("sent", None),
        RunEnd::Stopped(Stop::Campaign(r)) => ("paused", Some(r.as_str())),
        RunEnd::Stopped(Stop::Token(r)) => ("stopped", Some(r.as_str())),
        RunEnd::Interrupted => (
            "interrupted",
            Some("stopped by the operator; run again to resume"),
        ),
    };
    store.set_campaign_state(campaign, state, reason).await?;
    Ok(RunReport {
        end,
        left_uncertain_by_earlier_run: left,
        reconciled,
    })
}
