//! Reading conversations with GetConversation, within the poll budget, by whoever tracks the
//! campaign (the holder of its token): once after an ack 10 (the recipient replied to a
//! template), and for SMS on a widening schedule after delivery (the sweep: an SMS reply brings
//! no ack, and without an event it is found only by asking).

use std::time::Duration;

use governor::DefaultDirectRateLimiter;
use tokio_util::sync::CancellationToken;

use crate::convrs::Client;
use crate::queue::{CampaignId, DueRead, InboundSource, Store, StoreError};

use super::{client_messages, hear};

/// The sweep's reads after an SMS is sent, as multiples of the poll schedule's first interval
/// (10 s by default: 1 min, 10 min, 1 h, 6 h, 24 h, 72 h), each capped at the sweep's end.
const SWEEP_STEPS: [u32; 6] = [6, 60, 360, 2160, 8640, 25920];

/// A failed read is tried this many times in all, then given up (with a warning).
const READ_TRIES: i64 = 5;

/// When the sweep that started at `since_ms` reads next, after `reads` reads; `None` once it
/// has read at its end.
pub fn next_sweep(since_ms: i64, reads: i64, first: Duration, until_ms: i64) -> Option<i64> {
    let at = |n: usize| since_ms + first.as_millis() as i64 * i64::from(SWEEP_STEPS[n]);
    let n = usize::try_from(reads).ok()?;
    if n >= SWEEP_STEPS.len() || (n > 0 && at(n - 1) >= until_ms) {
        return None;
    }
    Some(at(n).min(until_ms))
}

/// The sweep of an SMS sent at `sent_at` to `uid`, and its first read, if the sweep is on
/// (`span`).
pub fn sweep_of(
    uid: &str,
    sent_at: i64,
    span: Option<Duration>,
    first: Duration,
) -> Option<(DueRead, i64)> {
    let until_ms = sent_at + span?.as_millis() as i64;
    let due_at = next_sweep(sent_at, 0, first, until_ms)?;
    Some((
        DueRead {
            uid: uid.to_string(),
            source: InboundSource::Sweep,
            since_ms: sent_at,
            reads: 0,
            until_ms,
        },
        due_at,
    ))
}

/// Reads the campaign's conversations that are due, each within every budget of `limiters`;
/// returns how many GetConversation calls were made.
pub async fn read_due(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    first: Duration,
    limiters: &[&DefaultDirectRateLimiter],
    cancel: &CancellationToken,
) -> Result<usize, StoreError> {
    let due = store.due_conversations(campaign, 50).await?;
    let mut asked = 0;
    for (i, read) in due.iter().enumerate() {
        if cancel.is_cancelled() {
            // Claimed and not read: due again now, for the next reader.
            for left in &due[i..] {
                let now = store.now_ms();
                store
                    .conversation_read(campaign, &left.uid, left.reads, Some(now))
                    .await?;
            }
            break;
        }
        for limiter in limiters {
            limiter.until_ready().await;
        }
        asked += 1;
        let next = match client.get_conversation(&read.uid).await {
            Ok(entries) => {
                let messages = client_messages(&read.uid, &entries, read.since_ms);
                hear(store, &messages, read.source).await?;
                match read.source {
                    InboundSource::Sweep => {
                        next_sweep(read.since_ms, read.reads + 1, first, read.until_ms)
                    }
                    _ => None,
                }
            }
            Err(e) if read.reads + 1 < READ_TRIES => {
                tracing::warn!(%campaign, error = %e, "cannot read a conversation now; will try again");
                Some(store.now_ms() + (first * 6 * (1 << read.reads)).as_millis() as i64)
            }
            Err(e) => {
                tracing::warn!(%campaign, error = %e, tries = READ_TRIES, "cannot read a conversation: given up (replies in it are not heard unless an event brings them)");
                None
            }
        };
        store
            .conversation_read(campaign, &read.uid, read.reads + 1, next)
            .await?;
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_widens_and_ends_with_a_read_at_its_end() {
        let first = Duration::from_secs(10);
        let hour = 3_600_000;
        let until = 72 * hour;
        let reads: Vec<i64> = (0..8)
            .map_while(|n| next_sweep(0, n, first, until))
            .collect();
        assert_eq!(
            reads,
            [60_000, 600_000, hour, 6 * hour, 24 * hour, 72 * hour]
        );
        let short: Vec<i64> = (0..8)
            .map_while(|n| next_sweep(0, n, first, 2 * hour))
            .collect();
        assert_eq!(
            short,
            [60_000, 600_000, hour, 2 * hour],
            "capped at its end"
        );
        assert!(sweep_of("u", 0, None, first).is_none(), "off");
    }
}
