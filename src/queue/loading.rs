//! A load in the store: queuing its messages in one transaction per chunk (a key the campaign
//! has is skipped; one an earlier campaign of the name, or an earlier batch, reached is not
//! sent again), its rejected rows, its load record, and the planner's statistics after it.

use super::queued::{Queued, SQLITE_ROWS};
use super::sql::{Builder, built, built_scalar, q, q_as};
use super::states::{MessageState, is_in};
use super::{Backend, Lock};
use super::{BatchInto, CampaignId, Inserted, NewMessage, Reject, Store, StoreError};

impl Store {
    /// Queues `batch` in one transaction; a message whose dedupe key the campaign already has is
    /// skipped, and so is (as `cancelled`) one an earlier campaign of the name reached, when
    /// the campaign skips those. Into a batch of a scheduled campaign, the key is the batch's
    /// own, and a recipient an earlier batch has is not queued when `into.across`.
    pub async fn insert_messages(
        &self,
        campaign: CampaignId,
        batch: Vec<NewMessage>,
        into: Option<&BatchInto>,
    ) -> Result<Inserted, StoreError> {
        let now_ms = self.now_ms();
        let mut tx = self.begin(Lock::Load(campaign)).await?;
        // The campaign's row, locked on PostgreSQL as a foreign key would lock it, once per
        // chunk rather than once per row (migration 0021): it cannot go before the commit. No
        // row, no load (`RowNotFound`).
        let read = match self.backend {
            Backend::Sqlite => CAMPAIGN_OF_LOAD.to_string(),
            Backend::Postgres => format!("{CAMPAIGN_OF_LOAD} FOR KEY SHARE"),
        };
        let (skip_reached, timing): (i32, Option<String>) =
            q_as(read).bind(campaign).fetch_one(&mut tx).await?;
        let timing: crate::timing::Timing = super::stored("timing", timing)?.unwrap_or_default();
        let row = Queued {
            campaign,
            into: into.map(|i| i.id),
            now_ms,
            expires_ms: timing.expires_for(now_ms),
        };
        let mut done = Inserted::default();
        // Multi-row statements: one round trip to SQLite's worker thread per 400 rows.
        let rows = match self.backend {
            Backend::Sqlite => SQLITE_ROWS,
            Backend::Postgres => 2000,
        };
        let mut rest = batch.into_iter().peekable();
        while rest.peek().is_some() {
            let mut chunk: Vec<NewMessage> = rest.by_ref().take(rows).collect();
            if let Some(into) = into.filter(|i| i.across) {
                let earlier =
                    earlier_batches(&mut tx, self.backend, campaign, &chunk, into, now_ms).await?;
                chunk.retain(|m| !earlier.contains(&m.dedupe_key));
                done.earlier_batch += earlier.len() as u64;
            }
            if chunk.is_empty() {
                continue;
            }
            // The chunk's strings move into the statement: the keys the check after it needs
            // are kept first.
            let reached = (skip_reached == 1).then(|| {
                chunk
                    .iter()
                    .map(|m| m.dedupe_key.clone())
                    .collect::<Vec<_>>()
            });
            let insert = row.values(self.backend, chunk);
            done.inserted += insert.execute(&mut tx).await?.rows_affected();
            if let Some(keys) = reached {
                done.skipped +=
                    skip_reached_keys(&mut tx, self.backend, campaign, keys, now_ms).await?;
            }
        }
        super::counts::add_queued(&mut tx, self.backend, campaign, done.inserted).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// After a load, the planner's statistics of `messages` are taken again, so that a claim
    /// looks its ids up by key rather than scanning every queued message of the campaign,
    /// which statistics from before the load (or none: SQLite then guesses ten rows for any
    /// key of an index) say are few. Measured: on PostgreSQL 20% of the server's time in a
    /// claim's `id = ANY(...)` filter; on SQLite a claim of ten ids in a million-message
    /// campaign walked the campaign's queued messages. SQLite samples (`analysis_limit`).
    pub async fn loaded(&self) -> Result<(), StoreError> {
        let analyze = match self.backend {
            Backend::Sqlite => "PRAGMA analysis_limit = 1000; ANALYZE messages",
            Backend::Postgres => "ANALYZE messages",
        };
        q(analyze).execute(self.pool()).await?;
        Ok(())
    }

    /// Records rejected rows (a row rejected again replaces its earlier reason).
    pub async fn insert_rejects(
        &self,
        campaign: CampaignId,
        rejects: &[Reject],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Lock::Load(campaign)).await?;
        for chunk in rejects.chunks(1000) {
            let mut query = Builder::new(
                self.backend,
                "INSERT INTO rejects (campaign_id, line, field, reason) ",
            );
            query.push_values(chunk, |mut row, r| {
                row.push_bind(campaign)
                    .push_bind(r.line as i64)
                    .push_bind(&r.field)
                    .push_bind(&r.reason);
            });
            query.push(
                " ON CONFLICT (campaign_id, line) DO UPDATE SET field = excluded.field, reason = excluded.reason",
            );
            built(&mut query).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stamp and summary of the campaign's last complete load.
    pub async fn load_record(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = q("SELECT source_stamp, load_summary FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_one(self.pool())
            .await?;
        let (stamp, summary): (Option<String>, Option<String>) =
            (row.get("source_stamp"), row.get("load_summary"));
        Ok(stamp.zip(summary))
    }

    /// The last load's summary, and the source's stamp when it has one (a CSV file).
    pub async fn set_load_record(
        &self,
        campaign: CampaignId,
        stamp: Option<&str>,
        summary: &str,
    ) -> Result<(), StoreError> {
        q("UPDATE campaigns SET source_stamp = $1, load_summary = $2 WHERE id = $3")
            .bind(stamp)
            .bind(summary)
            .bind(campaign)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The rejected rows recorded for a campaign, by line.
    pub async fn rejects(&self, campaign: CampaignId) -> Result<Vec<Reject>, StoreError> {
        let rows =
            q("SELECT line, field, reason FROM rejects WHERE campaign_id = $1 ORDER BY line")
                .bind(campaign)
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| Reject {
                line: r.get::<i64, _>("line") as u64,
                field: r.get("field"),
                reason: r.get("reason"),
            })
            .collect())
    }
}

const CAMPAIGN_OF_LOAD: &str =
    "SELECT CASE WHEN skip_reached THEN 1 ELSE 0 END, timing FROM campaigns WHERE id = $1";

/// A campaign started with --new does not send to whom an earlier one of its name reached
/// (sent, delivered, read, replied, or perhaps: uncertain), matched by dedupe key. Done in the
/// insert's transaction, so a crash cannot leave them queued.
/// The recipients of `chunk` that an earlier batch of the campaign has, sent or on its way
/// (not failed, cancelled or expired), queued within the window.
async fn earlier_batches(
    tx: &mut super::Tx,
    backend: Backend,
    campaign: CampaignId,
    chunk: &[NewMessage],
    into: &BatchInto,
    now_ms: i64,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut query = Builder::new(
        backend,
        "SELECT DISTINCT recipient_key FROM messages WHERE campaign_id = ",
    );
    query
        .push_bind(campaign)
        .push(" AND batch_id IS NOT NULL AND batch_id <> ")
        .push_bind(into.id)
        .push(format!(
            " AND NOT {}",
            is_in("state", MessageState::NEVER_SENT)
        ));
    if let Some(window) = into.window_ms {
        query.push(" AND queued_ms >= ").push_bind(now_ms - window);
    }
    let keys: Vec<String> = chunk.iter().map(|m| m.dedupe_key.clone()).collect();
    query.push(" AND ").push_in("recipient_key", &keys);
    let rows: Vec<String> = built_scalar(&mut query).fetch_all(&mut *tx).await?;
    Ok(rows.into_iter().collect())
}

async fn skip_reached_keys(
    tx: &mut super::Tx,
    backend: Backend,
    campaign: CampaignId,
    keys: Vec<String>,
    now: i64,
) -> Result<u64, StoreError> {
    // Reached, or perhaps reached (uncertain).
    let maybe_reached = [MessageState::REACHED, &[MessageState::Uncertain]].concat();
    let earlier = format!(
        "FROM messages o JOIN campaigns e ON e.id = o.campaign_id \
         JOIN campaigns c ON c.id = messages.campaign_id \
         WHERE e.name = c.name AND e.id < c.id AND o.dedupe_key = messages.dedupe_key \
         AND {}",
        is_in("o.state", &maybe_reached)
    );
    let mut update = Builder::new(
        backend,
        "UPDATE messages SET state = 'cancelled', updated_at = ",
    );
    update
        .push_bind(now)
        .push(format!(
            ", error = 'already reached by campaign ' || (SELECT MAX(o.campaign_id) {earlier}) \
             || ' (--include-reached sends to them too)' WHERE campaign_id = "
        ))
        .push_bind(campaign)
        .push(" AND state = 'queued' AND attempts = 0 AND ");
    update
        .push_in("dedupe_key", &keys)
        .push(format!(" AND EXISTS (SELECT 1 {earlier})"));
    Ok(built(&mut update).execute(&mut *tx).await?.rows_affected())
}
