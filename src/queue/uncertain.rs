//! Uncertain messages (an attempt that may or may not have reached the API) and the operator's
//! decisions to send again: `retry --uncertain` and `retry --failed`. A message sent again
//! starts clean: the mid, acks, polls and times of the earlier attempt no longer speak for it.

use super::sql::{Builder, built, q};
use super::{CampaignId, Store, StoreError};

/// An `uncertain` message and the attempt that may or may not have reached the API.
#[derive(Debug, Clone)]
pub struct Uncertain {
    pub message_id: i64,
    pub attempt_id: Option<i64>,
    pub payload: String,
    /// Attempts made so far, this one included.
    pub attempts: i64,
    /// When that attempt started (unix ms).
    pub started_at: Option<i64>,
    /// When it ended: the client gave up, the connection broke, or the run that made it was
    /// found dead (unix ms).
    pub ended_at: Option<i64>,
}

/// Columns a message sent again starts without.
const CLEAN: &str = "mid = NULL, uid = NULL, ack = NULL, error_code = NULL, polls = 0, \
     next_poll_at = NULL, sent_at = NULL, delivered_at = NULL, last_ack_at = NULL";

impl Store {
    pub async fn uncertain(&self, campaign: CampaignId) -> Result<Vec<Uncertain>, StoreError> {
        let rows = q(
            "SELECT m.id, m.attempt_id, m.payload, m.attempts, a.started_at,
                    COALESCE(a.finished_at, a.started_at) AS ended_at
             FROM messages m LEFT JOIN attempts a ON a.id = m.attempt_id
             WHERE m.campaign_id = $1 AND m.state = 'uncertain' ORDER BY m.id",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Uncertain {
                message_id: r.get("id"),
                attempt_id: r.get("attempt_id"),
                payload: r.get("payload"),
                attempts: r.get("attempts"),
                started_at: r.get("started_at"),
                ended_at: r.get("ended_at"),
            })
            .collect())
    }

    /// Settles an uncertain message: proven sent (with its mid), or proven not sent (queued
    /// again; never when an ack of the attempt was heard). Fenced by the attempt, so a message
    /// settled meanwhile is left alone.
    pub async fn settle_uncertain(
        &self,
        u: &Uncertain,
        sent: Option<(&str, i64)>,
        why: &str,
    ) -> Result<bool, StoreError> {
        let (state, mid, poll_at) = match sent {
            Some((mid, poll_at)) => ("sent", Some(mid), Some(poll_at)),
            None => ("queued", None, None),
        };
        let done = q("UPDATE messages SET state = $1, mid = COALESCE($2, mid), error = $3, next_attempt_at = 0,
                 sent_at = CASE WHEN $4 IS NULL THEN sent_at ELSE $5 END, next_poll_at = COALESCE($6, next_poll_at), updated_at = $7
             WHERE id = $8 AND state = 'uncertain' AND attempt_id IS NOT DISTINCT FROM $9 AND ($10 = 'sent' OR ack IS NULL)",
        )
        .bind(state)
        .bind(mid)
        .bind(why)
        .bind(poll_at)
        .bind(poll_at.map(|_| self.now_ms()))
        .bind(poll_at)
        .bind(self.now_ms())
        .bind(u.message_id)
        .bind(u.attempt_id)
        .bind(state)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Of `mids`, those a send of ours got (any campaign's): a message in a conversation with
    /// one of them is accounted for.
    pub async fn known_mids(
        &self,
        mids: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if mids.is_empty() {
            return Ok(Default::default());
        }
        // A message keeps the mid of its current attempt (indexed). An earlier attempt's mid
        // is not looked for: that send came before the attempt being decided, and a message
        // it cannot account for leaves the attempt uncertain, which is the safe side.
        let mut query = Builder::new(
            self.backend,
            "SELECT mid FROM messages WHERE mid IS NOT NULL AND ",
        );
        let mids: Vec<String> = mids.iter().map(|m| m.to_string()).collect();
        query.push_in("mid", &mids);
        let found: Vec<String> = super::sql::built_scalar(&mut query)
            .fetch_all(self.pool())
            .await?;
        Ok(found.into_iter().collect())
    }

    /// Leaves an uncertain message to the operator, saying why (fenced like `settle_uncertain`).
    pub async fn leave_uncertain(&self, u: &Uncertain, why: &str) -> Result<bool, StoreError> {
        let done = q("UPDATE messages SET error = $1, updated_at = $2
             WHERE id = $3 AND state = 'uncertain' AND attempt_id IS NOT DISTINCT FROM $4")
        .bind(why)
        .bind(self.now_ms())
        .bind(u.message_id)
        .bind(u.attempt_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The operator's decision: queue uncertain messages again (a new attempt of the same
    /// message, with the same payload). Returns how many.
    pub async fn retry_uncertain(&self, campaign: CampaignId) -> Result<u64, StoreError> {
        // `CLEAN` is a constant of this file: nothing from outside is in the statement.
        let done = q(format!(
            "UPDATE messages SET state = 'queued', next_attempt_at = 0, attempts = 0, {CLEAN},
                 error = 'resent by operator after uncertain', updated_at = $1
             WHERE campaign_id = $2 AND state = 'uncertain'"
        ))
        .bind(self.now_ms())
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Queues failed messages again whose failure may pass (never suppressed numbers or
    /// permanently invalid messages), as new attempts of the same message that start clean.
    /// Returns how many.
    pub async fn retry_failed(&self, campaign: CampaignId) -> Result<u64, StoreError> {
        let mut query = Builder::new(self.backend, format!(
            "UPDATE messages SET state = 'queued', next_attempt_at = 0, attempts = 0, {CLEAN},
                 error = 'queued again by operator after: ' || COALESCE(error, 'failure'), updated_at = "
        ));
        query
            .push_bind(self.now_ms())
            .push(" WHERE campaign_id = ")
            .push_bind(campaign)
            .push(" AND state = 'failed' AND phone NOT IN (SELECT phone FROM suppressions) AND COALESCE(error_code, 0) NOT IN (");
        let mut codes = query.separated(", ");
        for code in crate::convrs::codes::PERMANENT_FAILURES {
            codes.push_bind(code);
        }
        query.push(")");
        Ok(built(&mut query)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}
