//! One run of a campaign, start to end. The run first needs the campaign's token: if a worker
//! holds it, the run hands the campaign to the worker and follows it (`follow`); if another run
//! holds it, the run waits for it, saying who holds it. On the token, it takes the campaign
//! lease, sends (`send`), gives the token up so others may send on it, then polls acks until
//! delivered or the wait is over. Messages due much later (deferred by the API) do not hold the
//! run: it ends and says what waits, until when and why.

mod options;
mod report;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::follow::follow;
use super::send::{OnToken, SendEnd, send_campaign, state_after};
use super::token::{HeldToken, Renewing, TokenLimits};
use crate::convrs::Client;
use crate::dispatch::DispatchConfig;
use crate::queue::{
    CampaignId, CampaignState, Lease, LeaseHeld, Role, Store, StoreError, TokenHeld, this_process,
};
use crate::tracking::{Polling, await_delivery};
pub use options::{Notice, RunOptions};
pub use report::{Deferred, RunEnd, RunError, RunReport};

/// How often a run waiting for its token looks again.
const TOKEN_RETRY: Duration = Duration::from_secs(1);

pub async fn run_campaign(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    config: &DispatchConfig,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunReport, RunError> {
    let fingerprint = client.token_fingerprint();
    // Whoever sends the campaign (this run, a worker it is handed to, another after a
    // takeover) sends it with this run's choices.
    store.set_priority(campaign, opts.priority).await?;
    store.set_send_options(campaign, &opts.chosen).await?;
    let limits = TokenLimits {
        rate: config.rate,
        number_rate: config.number_rate,
        lease: opts.lease,
    };
    let mut told: Option<String> = None;
    loop {
        if cancel.is_cancelled() {
            if told.is_some() {
                interrupted_while_waiting(store, campaign).await?;
            }
            return Ok(RunReport::ended(RunEnd::Interrupted));
        }
        if opts.detach {
            let sender = store.token_holder(&fingerprint).await?;
            hand_over(store, campaign, &fingerprint, opts, sender.as_ref()).await?;
            return Ok(RunReport::ended(RunEnd::Queued { sender }));
        }
        let taken = HeldToken::take(
            store,
            &fingerprint,
            Role::Run,
            Some(campaign),
            limits,
            Arc::default(),
        )
        .await?;
        let held = match taken {
            Ok(token) => {
                return run_on_token(store, client, token, campaign, config, opts, cancel).await;
            }
            Err(held) => held,
        };
        match held.role {
            Role::Worker => {
                hand_over(store, campaign, &fingerprint, opts, Some(&held)).await?;
                if let Some(report) = follow(store, campaign, &held, opts, cancel).await? {
                    return Ok(report);
                }
                // The worker went away before sending it all: this run goes on.
                opts.notice.say(&format!(
                    "the worker {} no longer holds token {fingerprint}: this run sends campaign {campaign} itself",
                    held.owner
                ));
            }
            Role::Run if held.campaign == Some(campaign) => {
                let owner = held.owner.clone();
                return Err(RunError::Busy(LeaseHeld {
                    campaign,
                    owner,
                    until: held.until,
                }));
            }
            Role::Run => {
                if told.as_deref() != Some(held.owner.as_str()) {
                    wait_behind(store, campaign, &fingerprint, opts, &held).await?;
                    told = Some(held.owner.clone());
                }
                tokio::select! {
                    _ = tokio::time::sleep(TOKEN_RETRY) => {}
                    _ = cancel.cancelled() => {}
                }
            }
        }
    }
}

/// Another run holds the token: the campaign is queued meanwhile (`list` shows it waiting, and
/// a worker that takes the token first sends it, this run then following), and the operator
/// is told.
async fn wait_behind(
    store: &Store,
    campaign: CampaignId,
    fingerprint: &str,
    opts: &RunOptions,
    held: &TokenHeld,
) -> Result<(), StoreError> {
    hand_over(store, campaign, fingerprint, opts, Some(held)).await?;
    opts.notice.say(&format!(
        "waiting: {held}; campaign {campaign} starts sending once that run has sent (Ctrl-C to give up)"
    ));
    Ok(())
}

/// Ctrl-C while the run waited behind another: the campaign says so, for the next run.
async fn interrupted_while_waiting(store: &Store, campaign: CampaignId) -> Result<(), StoreError> {
    let reason = "stopped by the operator while waiting for its token; run again to resume";
    store
        .set_campaign_state(campaign, CampaignState::Interrupted, Some(reason))
        .await
}

/// Queues the campaign for the worker of its token, with this run's choices.
async fn hand_over(
    store: &Store,
    campaign: CampaignId,
    fingerprint: &str,
    opts: &RunOptions,
    sender: Option<&TokenHeld>,
) -> Result<(), StoreError> {
    let reason = match sender {
        Some(h) if h.role == Role::Worker => format!("handed to the worker {}", h.owner),
        Some(h) => format!("waiting: {h}"),
        None => format!("queued for a worker holding token {fingerprint}"),
    };
    store
        .queue_for_sender(campaign, fingerprint, opts.priority, opts.chosen, &reason)
        .await
}

/// The run on its token: take the campaign lease under it, send, give the token up, wait.
async fn run_on_token(
    store: &Store,
    client: &Client,
    token: HeldToken,
    campaign: CampaignId,
    config: &DispatchConfig,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunReport, RunError> {
    let owner = this_process();
    let lease = match store
        .take_lease_under(campaign, &owner, opts.lease, Some(token.lease.clone()))
        .await
    {
        Ok(Ok(lease)) => Arc::new(lease),
        Ok(Err(held)) => {
            token.release(store).await?;
            return Err(RunError::Busy(held));
        }
        Err(e) => {
            token.release(store).await?;
            return Err(e.into());
        }
    };
    let mut renewing = renew_campaign_lease(store, &lease, cancel);
    let result = run_leased(store, client, token, &lease, config, opts, cancel).await;
    renewing.stop().await;
    if lease.is_lost() {
        return Err(RunError::LeaseLost(campaign));
    }
    store.release_lease(campaign, &owner).await?;
    result
}

/// Renews the campaign lease every third of its length; losing it cancels the run's sends.
pub(super) fn renew_campaign_lease(
    store: &Store,
    lease: &Arc<Lease>,
    cancel: &CancellationToken,
) -> Renewing {
    let (store, lease, lost) = (store.clone(), lease.clone(), cancel.clone());
    Renewing::start(lease.length() / 3, move || {
        let (store, lease, lost) = (store.clone(), lease.clone(), lost.clone());
        async move {
            match store.renew_lease(&lease).await {
                Ok(Ok(())) => true,
                Ok(Err(held)) => {
                    tracing::error!(campaign = %lease.campaign, %held, "lost the campaign lease: stopping");
                    lost.cancel();
                    false
                }
                Err(e) => {
                    tracing::warn!(campaign = %lease.campaign, error = %e, "cannot renew the campaign lease; will try again");
                    true
                }
            }
        }
    })
}

async fn run_leased(
    store: &Store,
    client: &Client,
    token: HeldToken,
    lease: &Arc<Lease>,
    config: &DispatchConfig,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunReport, RunError> {
    let campaign = lease.campaign;
    // Losing the campaign lease (another process took it after we stalled past its expiry)
    // halts the sends: nothing new is claimed, and nothing claimed is sent.
    let run_cancel = cancel.child_token();
    // Acks are polled while sending goes on, each message from its own send time.
    let mut polling = Some(Polling::start(
        store.clone(),
        client.clone(),
        campaign,
        opts.polls.clone(),
    ));
    let context = super::context::RunContext::start(store, client, &token.gate, campaign).await?;
    let on_token = OnToken {
        client,
        gate: &token.gate,
        priority: opts.priority,
    };
    let sent = send_campaign(
        store,
        &on_token,
        lease,
        config,
        opts.reconcile_after,
        &run_cancel,
    )
    .await;
    // Others may send on the token now; this run only polls from here on.
    let released = token.release(store).await;
    let sent = sent?;
    released?;
    let end = match (&sent.end, opts.wait) {
        (SendEnd::Done, None) => RunEnd::Sent,
        (SendEnd::Done, Some(wait)) => {
            if let Some(polling) = polling.take() {
                polling.stop().await;
            }
            await_acks(store, client, campaign, opts, wait, cancel).await?
        }
        (SendEnd::Stopped(stop), _) => RunEnd::Stopped(stop.clone()),
        (SendEnd::Interrupted, _) => RunEnd::Interrupted,
    };
    if let Some(polling) = polling.take() {
        polling.stop().await;
    }
    context.finish().await;
    if lease.is_lost() {
        // The campaign is someone else's now: its state is theirs to write.
        return Err(RunError::LeaseLost(campaign));
    }
    let send_end = if end == RunEnd::Interrupted {
        SendEnd::Interrupted
    } else {
        sent.end
    };
    let deferred = record_run_end(store, campaign, &end, &send_end).await?;
    Ok(RunReport {
        end,
        left_uncertain_by_earlier_run: sent.left_uncertain,
        reconciled: sent.reconciled,
        deferred,
        worker: None,
    })
}

/// Sending is over: polls acks until every message is delivered, `wait` has passed since, or
/// the operator stops the run.
async fn await_acks(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    opts: &RunOptions,
    wait: Duration,
    cancel: &CancellationToken,
) -> Result<RunEnd, RunError> {
    // The wait for acks counts from the end of sending, however long sending took.
    let deadline = tokio::time::Instant::now() + wait;
    let unsettled = await_delivery(store, client, campaign, &opts.polls, deadline, cancel).await?;
    if opts.until_settled && !cancel.is_cancelled() {
        crate::tracking::poller::track_acks(
            store,
            client,
            &[campaign],
            &opts.polls,
            deadline,
            cancel,
        )
        .await?;
    }
    Ok(if cancel.is_cancelled() {
        RunEnd::Interrupted
    } else {
        RunEnd::Finished {
            unsettled: unsettled as usize,
        }
    })
}

/// The campaign's state after the run (what waits for a later attempt, until when and why);
/// returns what waits.
async fn record_run_end(
    store: &Store,
    campaign: CampaignId,
    end: &RunEnd,
    send_end: &SendEnd,
) -> Result<Vec<Deferred>, StoreError> {
    let deferred = match end {
        RunEnd::Finished { .. } | RunEnd::Sent => store.deferred(campaign, store.now_ms()).await?,
        _ => vec![],
    };
    let done = if matches!(end, RunEnd::Finished { .. }) {
        CampaignState::Finished
    } else {
        CampaignState::Sent
    };
    if let Some((state, reason)) = state_after(send_end, &deferred, done) {
        store
            .set_campaign_state(campaign, state, reason.as_deref())
            .await?;
    }
    Ok(deferred)
}
