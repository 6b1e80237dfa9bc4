//! The poller: GetMessageDetails for messages without a final ack, on a widening schedule
//! (10 s, 1 m, 5 m, 30 m, 2 h, 6 h by default), skipping messages a callback spoke of recently,
//! within its own rate budget (polls are not sends, so they never take from the send limit).
//! After `max_age` a message stays at its last ack and is no longer polled.

use std::time::Duration;

use governor::DefaultDirectRateLimiter;
use tokio_util::sync::CancellationToken;

use super::schedule::{Plan, PollSchedule, plan};
use crate::convrs::{Ack, Client};
use crate::listening::quality::{QUALITY_EVERY, QualityWatch};
use crate::listening::reads::{read_due, sweep_of};
use crate::queue::{AckApplied, CampaignId, DuePoll, HeardAck, Store, StoreError};

/// Polls what is due now, then reads the conversations due, each call within every budget of
/// `limiters` (the token's, and the campaign's own); returns how many GetMessageDetails calls
/// were made.
pub async fn poll_due(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    schedule: &PollSchedule,
    limiters: &[&DefaultDirectRateLimiter],
    cancel: &CancellationToken,
) -> Result<usize, StoreError> {
    let now = store.now_ms();
    let mut asked = 0;
    // Claimed (held from other pollers) a hundred at a time: one batch takes at most 100 s at
    // the slowest poll rate, well within the hold.
    let claimed = store.due_polls(campaign, now, 100).await?;
    for (i, due) in claimed.iter().enumerate() {
        if cancel.is_cancelled() {
            // What this poller claimed and did not ask about is due again, for the next one.
            for left in &claimed[i..] {
                store
                    .schedule_poll(left.message_id, left.polls, Some(now))
                    .await?;
            }
            break;
        }
        let Some(mid) = &due.mid else {
            search_mid(store, client, due, schedule, limiters, now).await?;
            asked += 1;
            continue;
        };
        match plan(due, schedule, now) {
            Plan::Retire => store.schedule_poll(due.message_id, due.polls, None).await?,
            Plan::Later(at) => {
                store
                    .schedule_poll(due.message_id, due.polls, Some(at))
                    .await?
            }
            Plan::Ask => {
                for limiter in limiters {
                    limiter.until_ready().await;
                }
                asked += 1;
                let mut last_ack = None;
                match client.get_message_details(mid).await {
                    Ok(details) => match Ack::from_code(details.ack) {
                        Some(ack) => {
                            let heard = HeardAck {
                                message_id: due.message_id,
                                ack,
                                source: "poll",
                                at_ms: store.now_ms(),
                                mid: Some(mid),
                                attempt: None,
                            };
                            if let AckApplied::Moved { sent_at } = store.record_ack(&heard).await? {
                                super::latency::observe(ack, sent_at, heard.at_ms);
                            }
                            last_ack = Some(ack);
                        }
                        None => tracing::warn!(
                            message_id = due.message_id,
                            ack = details.ack,
                            "unknown ack code"
                        ),
                    },
                    Err(e) => {
                        tracing::warn!(message_id = due.message_id, error = %e, "cannot poll message details")
                    }
                }
                // Nothing follows a final ack, nor delivery of an SMS, nor an answer given once
                // the message's acks have settled: stop asking.
                let answered = store.now_ms();
                let settled = schedule.settled(due.sent_at, answered);
                let done = last_ack.is_some_and(|ack| {
                    ack.is_final() || (due.sms && ack.code() >= Ack::Delivered.code()) || settled
                });
                let mut next = answered + schedule.after(due.polls + 1).as_millis() as i64;
                if let Some(settled_after) = schedule.settled_after {
                    // Asked again no later than when its acks settle, if that is still ahead
                    // (after it, an error is asked about again on the usual schedule).
                    let settle_at = due.sent_at + settled_after.as_millis() as i64 + 1;
                    if settle_at > answered {
                        next = next.min(settle_at);
                    }
                }
                store
                    .schedule_poll(due.message_id, due.polls + 1, (!done).then_some(next))
                    .await?;
                // A delivered SMS may be answered: its reply brings no ack, so it is swept for.
                if due.sms && last_ack == Some(Ack::Delivered) {
                    sweep_replies(store, campaign, due, schedule).await?;
                }
            }
        }
    }
    // The conversations due to be read (replies, the SMS sweep), on the same budget.
    if !cancel.is_cancelled() {
        read_due(store, client, campaign, schedule.first, limiters, cancel).await?;
    }
    Ok(asked)
}

/// How many times a text's conversation is read for its mid (at the first three polls' times)
/// before it is left untracked.
const MID_SEARCHES: i64 = 3;

/// A text accepted without a mid: its user's conversation is read (on the poll budget) for
/// the message, matched as reconciliation matches (our text, after the attempt began, a mid
/// no other send of ours has). Found, it is polled from then on; not found after
/// `MID_SEARCHES` reads, it stays sent, untracked.
async fn search_mid(
    store: &Store,
    client: &Client,
    due: &DuePoll,
    schedule: &PollSchedule,
    limiters: &[&DefaultDirectRateLimiter],
    now: i64,
) -> Result<(), StoreError> {
    let Some(uid) = &due.uid else { return Ok(()) };
    let (payload, started) = store.search_basis(due.message_id).await?;
    // Only a text is searched for, by its text: anything else without a mid has nothing to
    // match, and is left as it is rather than matched to an empty message.
    let Some(text) = serde_json::from_str::<crate::convrs::wire::SendTextMessage>(&payload)
        .ok()
        .map(|r| r.message)
        .filter(|t| !t.trim().is_empty())
    else {
        let why = "untracked: accepted without a message id, and not a text to look for";
        return store.untrack(due.message_id, why).await;
    };
    for limiter in limiters {
        limiter.until_ready().await;
    }
    let found = match client.get_conversation(uid).await {
        Ok(messages) => {
            let started = chrono::DateTime::from_timestamp_millis(started).unwrap_or_default();
            let candidates: Vec<&str> = crate::dispatch::outbound_since(&messages, started)
                .map(|m| m.mid.as_str())
                .collect();
            let known = store.known_mids(&candidates).await?;
            crate::dispatch::find_sent(&messages, started, &text, &known)
        }
        Err(e) => {
            tracing::warn!(message_id = due.message_id, error = %e, "cannot read a text's conversation for its mid");
            None
        }
    };
    let searches = due.polls + 1;
    match found {
        Some(mid) => {
            let next = store.now_ms() + schedule.after(0).as_millis() as i64;
            store.identify(due.message_id, &mid, next).await?;
        }
        None if searches >= MID_SEARCHES
            || now - due.sent_at > schedule.max_age.as_millis() as i64 =>
        {
            let why = format!(
                "untracked: the API accepted the text without a message id (as SendTextMessage does), and {searches} reads of {uid}'s conversation did not show it, so its delivery cannot be followed"
            );
            store.untrack(due.message_id, &why).await?;
        }
        None => {
            let next = store.now_ms() + schedule.after(searches).as_millis() as i64;
            store
                .schedule_poll(due.message_id, searches, Some(next))
                .await?;
        }
    }
    Ok(())
}

/// Starts the reply sweep of a delivered SMS (an SMS reply brings no ack).
async fn sweep_replies(
    store: &Store,
    campaign: CampaignId,
    due: &DuePoll,
    schedule: &PollSchedule,
) -> Result<(), StoreError> {
    let Some(uid) = &due.uid else { return Ok(()) };
    if let Some((read, due_at)) = sweep_of(uid, due.sent_at, schedule.reply_sweep, schedule.first) {
        store.want_conversation(campaign, &read, due_at).await?;
    }
    Ok(())
}

/// Polls on schedule until every sent message is delivered or failed, `deadline` passes, or
/// `cancel`. Callbacks settle messages meanwhile. Returns how many are still undelivered.
pub async fn await_delivery(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    schedule: &PollSchedule,
    deadline: tokio::time::Instant,
    cancel: &CancellationToken,
) -> Result<i64, StoreError> {
    let limiter = schedule.limiter();
    loop {
        let undelivered = store.undelivered(campaign).await?;
        if undelivered == 0 || cancel.is_cancelled() || tokio::time::Instant::now() >= deadline {
            return Ok(undelivered);
        }
        poll_due(store, client, campaign, schedule, &[&limiter], cancel).await?;
        // Wake for the next due poll, but at least every 200 ms to see callbacks settle things.
        let next = store
            .next_poll(campaign)
            .await?
            .map_or(200, |at| (at - store.now_ms()).clamp(10, 200));
        let nap = Duration::from_millis(next as u64)
            .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

/// Polling in the background while a campaign is being sent: each message is asked about on
/// its own schedule from its own send time, not after the whole campaign is sent; and the
/// campaign's quality judged as its acks come (`listening::quality`).
pub struct Polling {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// Stops the polling if the run ends early (an error) without calling `stop`.
    _stopped_when_dropped: tokio_util::sync::DropGuard,
}

impl Polling {
    pub fn start(
        store: Store,
        client: Client,
        campaign: CampaignId,
        schedule: PollSchedule,
    ) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let limiter = schedule.limiter();
            let mut quality = QualityWatch::new(QUALITY_EVERY);
            while !token.is_cancelled() {
                if let Err(e) =
                    poll_due(&store, &client, campaign, &schedule, &[&limiter], &token).await
                {
                    tracing::warn!(%campaign, error = %e, "cannot poll acks now; will try again");
                }
                if let Err(e) = quality.watch(&store, campaign, &schedule.quality).await {
                    tracing::warn!(%campaign, error = %e, "cannot judge the campaign's quality now; will try again");
                }
                let next = match store.next_poll(campaign).await {
                    Ok(Some(at)) => (at - store.now_ms()).clamp(10, 1000),
                    _ => 1000,
                };
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(next as u64)) => {}
                    _ = token.cancelled() => {}
                }
            }
        });
        Polling {
            _stopped_when_dropped: stop.clone().drop_guard(),
            stop,
            task,
        }
    }

    /// Stops polling once the poll under way (if any) is recorded.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Polls the campaigns on schedule until none of their messages awaits an ack (each has a
/// final one, or is past `max_age`), `deadline`, or `cancel`: late read receipts and replies
/// reach the database after the run that sent them has ended. Returns how many still await one.
pub async fn track_acks(
    store: &Store,
    client: &Client,
    campaigns: &[CampaignId],
    schedule: &PollSchedule,
    deadline: tokio::time::Instant,
    cancel: &CancellationToken,
) -> Result<i64, StoreError> {
    let limiter = schedule.limiter();
    loop {
        let mut awaiting = 0;
        let mut next: Option<i64> = None;
        for campaign in campaigns {
            poll_due(store, client, *campaign, schedule, &[&limiter], cancel).await?;
            awaiting += store.awaiting_acks(*campaign).await?;
            if let Some(at) = store.next_poll(*campaign).await? {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        let now = tokio::time::Instant::now();
        if awaiting == 0 || cancel.is_cancelled() || now >= deadline {
            return Ok(awaiting);
        }
        let until_next = next.map_or(1000, |at| (at - store.now_ms()).clamp(10, 60_000)) as u64;
        let nap = Duration::from_millis(until_next).min(deadline - now);
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = cancel.cancelled() => {}
        }
    }
}
