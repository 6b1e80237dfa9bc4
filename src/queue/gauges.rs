//! What `/metrics` reads from the store at each scrape: messages by state and by ack, those
//! deferred, and the tokens stopped.

use super::sql::{q, q_as, q_scalar};
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
    /// One pass over the messages: by state and ack, and those queued for after `defer_ms`.
    pub async fn queue_gauges(&self, defer_ms: i64) -> Result<QueueGauges, StoreError> {
        let rows: Vec<(String, Option<i64>, i64, i64)> = q_as(
            "SELECT state, ack, COUNT(*),
                    SUM(CASE WHEN state = 'queued' AND next_attempt_at > $1 THEN 1 ELSE 0 END)
             FROM messages GROUP BY state, ack",
        )
        .bind(defer_ms)
        .fetch_all(self.pool())
        .await?;
        let mut g = QueueGauges::default();
        for (state, ack, count, deferred) in rows {
            match g.by_state.iter_mut().find(|(s, _)| *s == state) {
                Some((_, n)) => *n += count,
                None => g.by_state.push((state, count)),
            }
            if let Some(ack) = ack {
                match g.by_ack.iter_mut().find(|(a, _)| *a == ack) {
                    Some((_, n)) => *n += count,
                    None => g.by_ack.push((ack, count)),
                }
            }
            g.deferred += deferred;
        }
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
