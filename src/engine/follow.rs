//! A run whose token a worker holds hands its campaign to the worker and follows it from the
//! database: the same progress, the same ends and exit codes as if it sent it itself. Ctrl-C
//! stops the following, not the sending.

use crate::queue::CampaignState;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::run::{RunEnd, RunError, RunOptions, RunReport};
use crate::dispatch::Stop;
use crate::queue::{CampaignId, Control, Role, Store, TokenHeld};

/// How often the follower reads where the campaign stands.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// Follows the campaign the worker `worker` sends until its sending ends and (with a wait) its
/// acks are in; `None` when the worker went away before sending it all.
pub(super) async fn follow(
    store: &Store,
    campaign: CampaignId,
    worker: &TokenHeld,
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<Option<RunReport>, RunError> {
    opts.notice.say(&format!(
        "{worker}: campaign {campaign} is handed to it; following its progress here (Ctrl-C stops following, not sending)"
    ));
    if opts.receiving {
        opts.notice.say(
            "its callbacks go to the worker's receiver (its --callback-url), not to this run's --listen",
        );
    }
    let report = |end| {
        let mut r = RunReport::ended(end);
        r.worker = Some(worker.owner.clone());
        r
    };
    let mut acks_until: Option<tokio::time::Instant> = None;
    loop {
        let s = store.standing(campaign).await?;
        if let Some(control) = s.control {
            return Ok(Some(report(RunEnd::Stopped(Stop::Operator(control)))));
        }
        let reason = s.reason.clone().unwrap_or_default();
        match s.state.as_str() {
            "paused" => return Ok(Some(report(RunEnd::Stopped(Stop::Campaign(reason))))),
            "stopped" => return Ok(Some(report(RunEnd::Stopped(Stop::Token(reason))))),
            "cancelled" => {
                return Ok(Some(report(RunEnd::Stopped(Stop::Operator(
                    Control::Cancelled,
                )))));
            }
            "deferred" => {
                let mut r = report(RunEnd::Sent);
                r.deferred = store.deferred(campaign, store.now_ms()).await?;
                return Ok(Some(r));
            }
            "sent" | "finished" => {
                let Some(wait) = opts.wait else {
                    return Ok(Some(report(RunEnd::Sent)));
                };
                // The worker polls; the wait counts from the end of sending, as in a run.
                let until = *acks_until.get_or_insert_with(|| tokio::time::Instant::now() + wait);
                let unsettled = store.undelivered(campaign).await?;
                if unsettled == 0 || tokio::time::Instant::now() >= until {
                    let unsettled = unsettled as usize;
                    return Ok(Some(report(RunEnd::Finished { unsettled })));
                }
            }
            "queued" if s.sender.is_none() && !store.has_work(campaign).await? => {
                // Nothing left to send (a campaign sent before): no worker will take it up.
                store
                    .set_campaign_state(campaign, CampaignState::Sent, None)
                    .await?;
                continue;
            }
            _ if s.sender.is_none() => {
                let holder = store.token_holder(&worker.fingerprint).await?;
                if !holder.is_some_and(|h| h.role == Role::Worker) {
                    return Ok(None);
                }
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = cancel.cancelled() => return Ok(Some(report(RunEnd::Interrupted))),
        }
    }
}
