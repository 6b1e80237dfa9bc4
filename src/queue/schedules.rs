//! Schedules and their batches. A schedule's next run is stored, and moved on in the same
//! transaction that records the batch (or the skip) of the run it fires, so a restart neither
//! loses nor repeats a run, and two firers of one run (a worker and a cron `run`) make one
//! batch between them.

use super::BatchState;
use super::Lock;
use super::sql::{Builder, built, q, q_as, q_scalar};
use super::{CampaignId, Store, StoreError};
use crate::schedule::Missed;
use crate::timing::ScheduleSpec;

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleRow {
    pub campaign: CampaignId,
    pub name: String,
    pub file: String,
    pub cron: String,
    pub timezone: String,
    pub grace_ms: i64,
    pub token: String,
    pub next_run_at: i64,
}

/// A batch of a scheduled campaign: a run that fired, or runs that were skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchRow {
    pub id: i64,
    pub slot: i64,
    pub state: BatchState,
    pub reason: Option<String>,
    pub fired_at: i64,
    /// Its messages (none for a skip).
    pub messages: i64,
}

/// What claiming a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This caller fires it: load the batch.
    Batch(i64),
    /// The run already has its batch (fired by another process, or earlier).
    AlreadyFired(i64),
    /// The missed runs were recorded as skipped; nothing fires.
    Skipped,
    /// The schedule moved on meanwhile: look again.
    Raced,
}

impl Store {
    /// Records the schedule of a campaign from its file. A new schedule, or one whose pattern
    /// or zone changed, starts at `first_run`; otherwise its next run stays.
    pub async fn register_schedule(
        &self,
        campaign: CampaignId,
        file: &str,
        spec: &ScheduleSpec,
        token: &str,
        first_run: i64,
    ) -> Result<i64, StoreError> {
        let next: i64 = q_scalar("INSERT INTO schedules (campaign_id, file, cron, timezone, grace_ms, token, next_run_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (campaign_id) DO UPDATE SET
               file = excluded.file, grace_ms = excluded.grace_ms, token = excluded.token,
               next_run_at = CASE WHEN schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone
                             THEN schedules.next_run_at ELSE excluded.next_run_at END,
               cron = excluded.cron, timezone = excluded.timezone, updated_at = excluded.updated_at
             RETURNING next_run_at",
        )
        .bind(campaign)
        .bind(file)
        .bind(&spec.cron)
        .bind(&spec.timezone)
        .bind(spec.grace_ms)
        .bind(token)
        .bind(first_run)
        .bind(self.now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(next)
    }

    pub async fn remove_schedule(&self, campaign: CampaignId) -> Result<bool, StoreError> {
        let done = q("DELETE FROM schedules WHERE campaign_id = $1")
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every schedule, or those of one token due by `due_by` (unix ms).
    pub async fn schedules(
        &self,
        due: Option<(&str, i64)>,
    ) -> Result<Vec<ScheduleRow>, StoreError> {
        let mut query = Builder::new(self.backend,
            "SELECT s.campaign_id, c.name, s.file, s.cron, s.timezone, s.grace_ms, s.token, s.next_run_at
             FROM schedules s JOIN campaigns c ON c.id = s.campaign_id",
        );
        if let Some((token, by)) = due {
            query
                .push(" WHERE s.token = ")
                .push_bind(token)
                .push(" AND s.next_run_at <= ")
                .push_bind(by);
        }
        query.push(" ORDER BY s.next_run_at, s.campaign_id");
        let rows = built(&mut query).fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|r| ScheduleRow {
                campaign: CampaignId(r.get("campaign_id")),
                name: r.get("name"),
                file: r.get("file"),
                cron: r.get("cron"),
                timezone: r.get("timezone"),
                grace_ms: r.get("grace_ms"),
                token: r.get("token"),
                next_run_at: r.get("next_run_at"),
            })
            .collect())
    }

    /// Fires the run of `slot` (or only skips, with `slot` `None`): records what was skipped,
    /// the batch of the run, and the next run, if the schedule's next run is still `expected`.
    pub async fn claim_run(
        &self,
        campaign: CampaignId,
        expected: i64,
        slot: Option<i64>,
        skipped: Option<(Missed, String)>,
        next: i64,
    ) -> Result<Claimed, StoreError> {
        let at = self.now_ms();
        let mut tx = self.begin(Lock::Load(campaign)).await?;
        if let Some(slot) = slot
            && let Some(id) = q_scalar::<i64>("SELECT id FROM batches WHERE campaign_id = $1 AND slot = $2 AND state <> 'skipped'",
            )
            .bind(campaign)
            .bind(slot)
            .fetch_optional(&mut tx)
            .await?
        {
            return Ok(Claimed::AlreadyFired(id));
        }
        let moved =
            q("UPDATE schedules SET next_run_at = $1 WHERE campaign_id = $2 AND next_run_at = $3")
                .bind(next)
                .bind(campaign)
                .bind(expected)
                .execute(&mut tx)
                .await?;
        if moved.rows_affected() == 0 {
            return Ok(Claimed::Raced);
        }
        if let Some((missed, reason)) = skipped {
            q("INSERT INTO batches (campaign_id, slot, state, reason, fired_at) VALUES ($1, $2, 'skipped', $3, $4)
                 ON CONFLICT (campaign_id, slot) DO NOTHING",
            )
            .bind(campaign)
            .bind(missed.first)
            .bind(reason)
            .bind(at)
            .execute(&mut tx)
            .await?;
        }
        let claimed = match slot {
            Some(slot) => Claimed::Batch(
                q_scalar(// A run recorded as skipped before (a schedule changed back) fires now.
                    "INSERT INTO batches (campaign_id, slot, state, fired_at) VALUES ($1, $2, 'loading', $3)
                     ON CONFLICT (campaign_id, slot) DO UPDATE SET state = 'loading', reason = NULL, fired_at = excluded.fired_at
                     RETURNING id",
                )
                .bind(campaign)
                .bind(slot)
                .bind(at)
                .fetch_one(&mut tx)
                .await?,
            ),
            None => Claimed::Skipped,
        };
        tx.commit().await?;
        Ok(claimed)
    }

    /// The batch of a run, if it fired: (id, state).
    pub async fn batch_of(
        &self,
        campaign: CampaignId,
        slot: i64,
    ) -> Result<Option<(i64, BatchState)>, StoreError> {
        let row: Option<(i64, String)> = q_as("SELECT id, state FROM batches WHERE campaign_id = $1 AND slot = $2 AND state <> 'skipped'",
        )
        .bind(campaign)
        .bind(slot)
        .fetch_optional(self.pool())
        .await?;
        row.map(|(id, state)| Ok((id, BatchState::parse(&state)?)))
            .transpose()
    }

    /// Batches whose loading did not finish (the firer died): loading them again adds what
    /// is missing and nothing twice.
    pub async fn unfinished_batches(
        &self,
        token: &str,
    ) -> Result<Vec<(CampaignId, i64, String)>, StoreError> {
        let rows = q("SELECT b.campaign_id, b.id, s.file FROM batches b JOIN schedules s ON s.campaign_id = b.campaign_id
             WHERE b.state = 'loading' AND s.token = $1 ORDER BY b.id",
        )
        .bind(token)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (CampaignId(r.get("campaign_id")), r.get("id"), r.get("file")))
            .collect())
    }

    /// The batch is loaded; `summary` is its load's counts (JSON).
    pub async fn finish_batch(&self, batch: i64, summary: &str) -> Result<(), StoreError> {
        q("UPDATE batches SET state = 'loaded', load_summary = $1 WHERE id = $2")
            .bind(summary)
            .bind(batch)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The campaign's batches, newest first.
    pub async fn batches(&self, campaign: CampaignId) -> Result<Vec<BatchRow>, StoreError> {
        let rows = q("SELECT b.id, b.slot, b.state, b.reason, b.fired_at,
                    (SELECT COUNT(*) FROM messages m WHERE m.batch_id = b.id) AS message_count
             FROM batches b WHERE b.campaign_id = $1 ORDER BY b.slot DESC, b.id DESC")
        .bind(campaign)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(BatchRow {
                    id: r.get("id"),
                    slot: r.get("slot"),
                    state: BatchState::parse(r.get("state"))?,
                    reason: r.get("reason"),
                    fired_at: r.get("fired_at"),
                    messages: r.get("message_count"),
                })
            })
            .collect()
    }

    /// A batch of the campaign is queued: its token's sender takes it up with the
    /// campaign's own priority and options (see `queue_for_sender`).
    pub async fn queue_fired(
        &self,
        campaign: CampaignId,
        token: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.queue_on_token(campaign, token, None, reason).await
    }

    /// The next run of the campaign's schedule, if it has one.
    pub async fn next_run(&self, campaign: CampaignId) -> Result<Option<i64>, StoreError> {
        Ok(
            q_scalar("SELECT next_run_at FROM schedules WHERE campaign_id = $1")
                .bind(campaign)
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
