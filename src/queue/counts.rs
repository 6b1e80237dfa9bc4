//! Messages counted by campaign, state and ack, kept as they change (the `message_counts`
//! table of migration 0013: triggers count every change of state or ack, a load adds its
//! queued rows itself), so that `status`, `list` and `/metrics` never scan `messages`.
//!
//! On SQLite each key has one row, updated in place (one writer). Its trigger runs once per
//! row, so the send path's statements count what they move themselves, once per statement
//! (`count_moved`, migration 0026): a claim, and an attempt's end. On PostgreSQL each statement
//! appends its deltas, so that workers changing one campaign never wait for each other's
//! count; readers fold the deltas into one row per key first (`fold`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::sql::{Builder, On, Row, Tx, built, q};
use super::{Backend, CampaignId, MessageState, Store, StoreError};

/// The `ack_key` of a message with no ack.
pub(super) const NO_ACK: i64 = -100;

/// Every message is in exactly one state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: i64,
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
    pub failed: i64,
    pub uncertain: i64,
    pub cancelled: i64,
    /// Not sent in time (max_age, expires_at): final, never sent.
    pub expired: i64,
}

impl Counts {
    /// Adds `n` messages in `state`.
    fn add(&mut self, state: MessageState, n: i64) {
        let count = match state {
            MessageState::Queued => &mut self.queued,
            MessageState::Sending => &mut self.sending,
            MessageState::Sent => &mut self.sent,
            MessageState::Delivered => &mut self.delivered,
            MessageState::Read => &mut self.read,
            MessageState::Replied => &mut self.replied,
            MessageState::Failed => &mut self.failed,
            MessageState::Uncertain => &mut self.uncertain,
            MessageState::Expired => &mut self.expired,
            MessageState::Cancelled => &mut self.cancelled,
        };
        *count += n;
        self.total += n;
    }
}

/// Whether messages in `state` with `ack` reached their recipient: sent or beyond, or failed
/// after an ack said the API took them (the figure `list` shows as sent).
pub(super) fn reached(state: MessageState, ack: Option<i64>) -> bool {
    MessageState::REACHED.contains(&state) || (state == MessageState::Failed && ack.is_some())
}

/// One key's count: campaign, state, ack (`None`: none yet), messages.
pub(super) type Counted = (CampaignId, MessageState, Option<i64>, i64);

impl Store {
    /// The campaign's messages by state.
    pub async fn counts(&self, campaign: CampaignId) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        for (_, state, _, n) in self.counted(Some(campaign)).await? {
            counts.add(state, n);
        }
        Ok(counts)
    }

    /// The counts of `campaign`'s messages (every campaign's: `None`) by state and ack; keys
    /// with none left out.
    pub(super) async fn counted(
        &self,
        campaign: Option<CampaignId>,
    ) -> Result<Vec<Counted>, StoreError> {
        if self.backend == Backend::Postgres {
            self.fold(campaign).await?;
        }
        let rows = q(
            "SELECT campaign_id, state, ack_key, CAST(SUM(n) AS BIGINT) AS n FROM message_counts
             WHERE campaign_id = $1 OR $2
             GROUP BY campaign_id, state, ack_key HAVING SUM(n) <> 0
             ORDER BY campaign_id, state, ack_key",
        )
        .bind(campaign.map_or(0, |c| c.0))
        .bind(campaign.is_none())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let ack: i64 = r.get("ack_key");
                Ok((
                    CampaignId(r.get("campaign_id")),
                    MessageState::parse(r.get("state"))?,
                    (ack != NO_ACK).then_some(ack),
                    r.get("n"),
                ))
            })
            .collect()
    }

    /// Folds PostgreSQL's appended deltas into one row per key. Rows another fold deleted
    /// first are skipped by this one's DELETE (and so not summed twice); deltas committed
    /// meanwhile stay for the next fold.
    async fn fold(&self, campaign: Option<CampaignId>) -> Result<(), StoreError> {
        q("WITH folded AS (
               DELETE FROM message_counts WHERE campaign_id = $1 OR $2
               RETURNING campaign_id, state, ack_key, n)
           INSERT INTO message_counts (campaign_id, state, ack_key, n)
           SELECT campaign_id, state, ack_key, SUM(n) FROM folded
           GROUP BY campaign_id, state, ack_key HAVING SUM(n) <> 0")
        .bind(campaign.map_or(0, |c| c.0))
        .bind(campaign.is_none())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// Counts `n` messages newly queued into `campaign` (in the load's transaction: inserted rows
/// are counted by the load, changes by the triggers).
pub(super) async fn add_queued(
    on: impl Into<On<'_>>,
    backend: Backend,
    campaign: CampaignId,
    n: u64,
) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let add = match backend {
        Backend::Sqlite => {
            "INSERT INTO message_counts (campaign_id, state, ack_key, n) VALUES ($1, 'queued', $2, $3)
             ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n + excluded.n"
        }
        Backend::Postgres => {
            "INSERT INTO message_counts (campaign_id, state, ack_key, n) VALUES ($1, 'queued', $2, $3)"
        }
    };
    q(add)
        .bind(campaign)
        .bind(NO_ACK)
        .bind(n as i64)
        .execute(on)
        .await?;
    Ok(())
}

/// A message moved: its campaign, state before and after, and ack (which the send path's
/// statements never change).
pub(super) type Move = (i64, MessageState, MessageState, Option<i64>);

/// The moves of `rows` (each a message's `campaign_id`, new `state` and `ack`) out of `from`.
pub(super) fn moved_from(rows: &[Row], from: MessageState) -> Result<Vec<Move>, StoreError> {
    rows.iter()
        .map(|r| {
            let to = MessageState::parse(r.get("state"))?;
            Ok((r.get("campaign_id"), from, to, r.get("ack")))
        })
        .collect()
}

/// SQLite: counts the messages a claim or an attempt's end moved, which its trigger leaves to
/// them (migration 0026). One statement, whatever their number; nothing on PostgreSQL, whose
/// trigger counts each statement's rows.
pub(super) async fn count_moved(
    tx: &mut Tx,
    backend: Backend,
    moved: impl IntoIterator<Item = Move>,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        return Ok(());
    }
    let mut deltas: BTreeMap<(i64, &'static str, i64), i64> = BTreeMap::new();
    for (campaign, from, to, ack) in moved {
        let ack = ack.unwrap_or(NO_ACK);
        *deltas.entry((campaign, from.as_str(), ack)).or_default() -= 1;
        *deltas.entry((campaign, to.as_str(), ack)).or_default() += 1;
    }
    deltas.retain(|_, n| *n != 0);
    if deltas.is_empty() {
        return Ok(());
    }
    let mut add = Builder::new(
        backend,
        "INSERT INTO message_counts (campaign_id, state, ack_key, n) ",
    );
    add.push_values(&deltas, |mut row, ((campaign, state, ack), n)| {
        row.push_bind(*campaign)
            .push_bind(*state)
            .push_bind(*ack)
            .push_bind(*n);
    });
    add.push(" ON CONFLICT (campaign_id, state, ack_key) DO UPDATE SET n = n + excluded.n");
    built(&mut add).execute(&mut *tx).await?;
    Ok(())
}
