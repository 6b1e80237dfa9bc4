//! A worker's ack polling on one token: every campaign on it, on each message's schedule
//! (the campaign's own where it has one), within the token's poll budget and the campaign's.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::convrs::Client;
use crate::listening::quality::{QUALITY_EVERY, QualityWatch};
use crate::queue::{CampaignId, SendOptions, Store};
use crate::tracking::PollSchedule;
use crate::tracking::poller::poll_due;

/// The worker's poll schedule with a campaign's own first poll, age and rate where it has them.
fn own_polls(polls: &PollSchedule, own: Option<&SendOptions>) -> PollSchedule {
    own.map_or_else(|| polls.clone(), |own| polls.with_own(own))
}

/// Polls acks for every campaign on the token, on each message's schedule, however long ago
/// it was sent (up to the schedule's max age), until stop.
pub(super) async fn track_token(
    store: Store,
    client: Client,
    polls: PollSchedule,
    tick: Duration,
    stop: CancellationToken,
) {
    let limiter = polls.limiter();
    // Campaigns queued with a poll rate of their own below the token's: their own budget too.
    let mut own_limiters: HashMap<CampaignId, (u32, governor::DefaultDirectRateLimiter)> =
        HashMap::new();
    let fingerprint = client.token_fingerprint();
    let mut quality = QualityWatch::new(QUALITY_EVERY);
    while !stop.is_cancelled() {
        match store.campaigns_to_track_on(&fingerprint).await {
            Ok(campaigns) => {
                for (id, own) in campaigns {
                    let schedule = own_polls(&polls, own.as_ref());
                    let own_limiter = (schedule.rate < polls.rate).then(|| {
                        let (rate, limiter) = own_limiters
                            .entry(id)
                            .or_insert_with(|| (schedule.rate, schedule.limiter()));
                        if *rate != schedule.rate {
                            (*rate, *limiter) = (schedule.rate, schedule.limiter());
                        }
                        &*limiter
                    });
                    let budget: Vec<&_> = std::iter::once(&limiter).chain(own_limiter).collect();
                    if let Err(e) = poll_due(&store, &client, id, &schedule, &budget, &stop).await {
                        tracing::warn!(campaign = %id, error = %e, "cannot poll acks now; will try again");
                    }
                    if let Err(e) = quality.watch(&store, id, &schedule.quality).await {
                        tracing::warn!(campaign = %id, error = %e, "cannot judge the campaign's quality now; will try again");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list campaigns to track; will try again"),
        }
        super::worker::tick(tick, &stop).await;
    }
}
