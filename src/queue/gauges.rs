//! What `/metrics` reads from the store at each scrape: messages by state and by ack (kept
//! counts, never a scan), those deferred, and the tokens stopped.

use super::MessageState;
use super::sql::{q, q_scalar};
use super::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueGauges {
    /// Messages by state.
    pub by_state: Vec<(String, i64)>,
    /// Messages by their ack code now (those with one).
    pub by_ack: Vec<(i64, i64)>,
    /// Queued messages not due before the deferral horizon.
    pub deferred: i64,
    /// The fingerprints of tokens the API stopped.
    pub stopped_tokens: Vec<String>,
}

impl Store {
    /// Messages by state and ack (from the kept counts), and those queued for after
    /// `defer_ms` (by index, per campaign with messages queued).
    pub async fn queue_gauges(&self, defer_ms: i64) -> Result<QueueGauges, StoreError> {
        let mut g = QueueGauges::default();
        let mut queued_in = vec![];
        for (campaign, state, ack, count) in self.counted(None).await? {
            if state == MessageState::Queued {
                queued_in.push(campaign);
            }
            match g.by_state.iter_mut().find(|(s, _)| *s == state.as_str()) {
                Some((_, n)) => *n += count,
                None => g.by_state.push((state.as_str().to_string(), count)),
            }
            if let Some(ack) = ack {
                match g.by_ack.iter_mut().find(|(a, _)| *a == ack) {
                    Some((_, n)) => *n += count,
                    None => g.by_ack.push((ack, count)),
                }
            }
        }
        queued_in.dedup();
        for campaign in queued_in {
            let deferred: i64 = q_scalar(
                "SELECT COUNT(*) FROM messages
                 WHERE campaign_id = $1 AND state = 'queued' AND next_attempt_at > $2",
            )
            .bind(campaign)
            .bind(defer_ms)
            .fetch_one(self.pool())
            .await?;
            g.deferred += deferred;
        }
        g.by_state.sort();
        g.by_ack.sort();
        g.stopped_tokens = q_scalar("SELECT fingerprint FROM token_stops ORDER BY 1")
            .fetch_all(self.pool())
            .await?;
        Ok(g)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        q("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }
}
