//! The message state machine in the store, outside claims (`claim`), outcomes (`outcomes`)
//! and acks (`acks`): messages a dead run left `sending`, what is due and when, deferrals and
//! holds, expiry. Every transition after the claim is fenced by the attempt id: `UPDATE ...
//! WHERE id = $1 AND attempt_id = $2 AND state = 'sending'`; a row that did not change belongs
//! to someone else.

use super::acks::state_for_sql;
use super::sql::{Builder, Tx, built, q, q_scalar};
use super::{Backend, CampaignId, Store, StoreError};
use super::{CampaignState, MessageState};

/// Up to `$3` queued messages of campaign `$1` due at `$2`, in the claim index's order.
pub(super) const DUE: &str = "SELECT id, phone FROM messages WHERE campaign_id = $1 AND state = 'queued' AND next_attempt_at <= $2
     ORDER BY next_attempt_at, id LIMIT $3";

impl Store {
    /// Up to `limit` queued messages due at `now_ms`: (id, phone).
    pub async fn due(
        &self,
        campaign: CampaignId,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = q(DUE)
            .bind(campaign)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("id"), r.get("phone")))
            .collect())
    }

    /// When the next queued message is due (unix ms), if any is queued.
    pub async fn next_due(&self, campaign: CampaignId) -> Result<Option<i64>, StoreError> {
        Ok(q_scalar(
            "SELECT MIN(next_attempt_at) FROM messages WHERE campaign_id = $1 AND state = 'queued'",
        )
        .bind(campaign)
        .fetch_one(self.pool())
        .await?)
    }

    /// Puts a queued message off until `at_ms` (e.g. its number must wait).
    pub async fn defer(&self, id: i64, at_ms: i64) -> Result<(), StoreError> {
        q("UPDATE messages SET next_attempt_at = $1 WHERE id = $2 AND state = 'queued'")
            .bind(at_ms)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Holds the campaign's queued messages until `at_ms` (`run --at`): none is due before;
    /// how many were held.
    pub async fn hold_until(&self, campaign: CampaignId, at_ms: i64) -> Result<u64, StoreError> {
        let held = q("UPDATE messages SET next_attempt_at = $1
             WHERE campaign_id = $2 AND state = 'queued' AND next_attempt_at < $1")
        .bind(at_ms)
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(held.rows_affected())
    }

    /// Queued messages (deferred ones too) past their expiry become `expired`, of one campaign
    /// or of all; how many.
    pub async fn expire_due(
        &self,
        campaign: Option<CampaignId>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut expire = match campaign {
            Some(id) => expiring(self.backend, id, now_ms),
            None => {
                let mut q = Builder::new(self.backend, EXPIRE);
                q.push_bind(self.now_ms())
                    .push(" WHERE state = 'queued' AND expires_ms <= ")
                    .push_bind(now_ms);
                q
            }
        };
        Ok(built(&mut expire)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// (id, name, state, reason) of every campaign, newest first.
    pub async fn campaigns(
        &self,
    ) -> Result<Vec<(CampaignId, String, CampaignState, Option<String>)>, StoreError> {
        let rows = q("SELECT id, name, state, state_reason FROM campaigns ORDER BY id DESC")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                let state = CampaignState::parse(r.get("state"))?;
                Ok((
                    CampaignId(r.get("id")),
                    r.get("name"),
                    state,
                    r.get("state_reason"),
                ))
            })
            .collect()
    }
}

/// A text's own expiry is its 24-hour window's close (less the margin).
const EXPIRE: &str = "UPDATE messages SET state = 'expired', \
     error = CASE WHEN EXISTS (SELECT 1 FROM campaigns c WHERE c.id = messages.campaign_id \
         AND c.channel = 'text') THEN 'expired: the 24-hour window the user''s last message \
         opened closed (less the margin) before it could be sent, or its max_age or expires_at \
         passed; only a template reaches them now' \
     ELSE 'expired: not sent before its max_age or expires_at' END, updated_at = ";

/// The update that expires the campaign's queued messages past their expiry at `now_ms`.
pub(super) fn expiring(backend: Backend, campaign: CampaignId, now_ms: i64) -> Builder {
    let mut q = Builder::new(backend, EXPIRE);
    q.push_bind(now_ms)
        .push(" WHERE campaign_id = ")
        .push_bind(campaign)
        .push(" AND state = 'queued' AND expires_ms <= ")
        .push_bind(now_ms);
    q
}

/// In `tx`: the campaign's messages left `sending` become `uncertain` (or take the state an ack
/// heard meanwhile proves), their attempts' rows written as ended at `stamp`; how many.
pub(super) async fn interrupted_to_uncertain(
    tx: &mut Tx,
    backend: Backend,
    campaign: CampaignId,
    stamp: i64,
) -> Result<u64, StoreError> {
    // The attempt ended no earlier than now, as far as we can know: its request may have
    // been in flight until the process died. The safe delay of reconciliation counts from here.
    // Its start is the one its claim put on the message; one claimed before migration 0025
    // has a row already, which keeps its start (the COALESCE is never what is written).
    q(format!(
        "INSERT INTO attempts (id, message_id, started_at, finished_at, outcome, detail)
         SELECT attempt_id, id, COALESCE(attempt_started_at, $1), $1, 'uncertain',
                'interrupted while sending'
         FROM messages WHERE campaign_id = $2 AND state = 'sending' AND attempt_id IS NOT NULL
         {} WHERE attempts.finished_at IS NULL",
        super::outcomes::ATTEMPT_ENDED
    ))
    .bind(stamp)
    .bind(campaign)
    .execute(&mut *tx)
    .await?;
    // An ack heard meanwhile proves the send: it decides the state instead. Counted here, not
    // by SQLite's row trigger (migration 0026).
    let moved = q(format!(
        "UPDATE messages SET state = CASE WHEN ack IS NULL THEN 'uncertain' ELSE {} END,
             error = CASE WHEN ack IS NULL THEN 'interrupted while sending' ELSE error END, updated_at = $1
         WHERE campaign_id = $2 AND state = 'sending'{}",
        state_for_sql("ack"),
        super::outcomes::MOVED
    ))
    .bind(stamp)
    .bind(campaign)
    .fetch_all(&mut *tx)
    .await?;
    let moves = super::counts::moved_from(&moved, MessageState::Sending)?;
    super::counts::count_moved(tx, backend, moves).await?;
    Ok(moved.len() as u64)
}
