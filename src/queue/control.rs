//! The operator's live control of a campaign (`campaign pause|resume|cancel`): a `control`
//! mark on the campaign that claims check in their transaction and that a run sending the
//! campaign watches, so no new message is claimed, and none claimed is sent, once it is set.

use super::Lock;
use super::sql::{q, q_scalar};
use super::{CampaignId, Control, Store, StoreError};

/// A campaign found by `campaign pause|resume|cancel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    One(CampaignId),
    None,
    /// Several campaigns have that name (ids, newest first).
    Several(Vec<CampaignId>),
}

impl Store {
    /// The campaign an operator means: an id, or a name that only one campaign has.
    pub async fn find_campaign(&self, id_or_name: &str) -> Result<Found, StoreError> {
        let ids: Vec<i64> = match id_or_name.trim().parse::<i64>() {
            Ok(id) => {
                q_scalar("SELECT id FROM campaigns WHERE id = $1")
                    .bind(id)
                    .fetch_all(self.pool())
                    .await?
            }
            Err(_) => {
                q_scalar("SELECT id FROM campaigns WHERE name = $1 ORDER BY id DESC")
                    .bind(id_or_name.trim())
                    .fetch_all(self.pool())
                    .await?
            }
        };
        Ok(match ids.as_slice() {
            [] => Found::None,
            [one] => Found::One(CampaignId(*one)),
            many => Found::Several(many.iter().copied().map(CampaignId).collect()),
        })
    }

    /// What the operator said about the campaign, if anything.
    pub async fn control(&self, campaign: CampaignId) -> Result<Option<Control>, StoreError> {
        let control: Option<String> = q_scalar("SELECT control FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_optional(self.pool())
            .await?
            .flatten();
        control.as_deref().map(Control::parse).transpose()
    }

    /// Pauses the campaign: nothing more is claimed or sent until `resume`.
    pub async fn pause(&self, campaign: CampaignId) -> Result<(), StoreError> {
        q("UPDATE campaigns SET control = 'paused', state = 'paused',
                 state_reason = 'paused by the operator: `campaign resume` to go on', updated_at = $1
             WHERE id = $2 AND COALESCE(control, '') <> 'cancelled'",
        )
        .bind(self.now_ms())
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Pauses the campaign for `reason` (the tool's own judgement, e.g. its quality), as the
    /// operator's pause does: `campaign resume` lifts it. False if it was paused or cancelled
    /// already.
    pub async fn pause_for(&self, campaign: CampaignId, reason: &str) -> Result<bool, StoreError> {
        let done = q("UPDATE campaigns SET control = 'paused', state = 'paused',
                 state_reason = $1, updated_at = $2
             WHERE id = $3 AND control IS NULL")
        .bind(reason)
        .bind(self.now_ms())
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lifts a pause: the campaign is queued again, for the worker holding its token (or the
    /// next run of it). A cancelled campaign stays so.
    pub async fn resume(&self, campaign: CampaignId) -> Result<bool, StoreError> {
        let done = q("UPDATE campaigns SET control = NULL, state = 'queued',
                 state_reason = 'resumed by the operator', updated_at = $1
             WHERE id = $2 AND control = 'paused'")
        .bind(self.now_ms())
        .bind(campaign)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels the campaign: every message not sent yet becomes `cancelled`; one already sent
    /// (or in flight, or uncertain) is left as it is. Returns how many were cancelled.
    pub async fn cancel(&self, campaign: CampaignId) -> Result<u64, StoreError> {
        let stamp = self.now_ms();
        let mut tx = self.begin(Lock::Campaign(campaign)).await?;
        q(
            "UPDATE campaigns SET control = 'cancelled', state = 'cancelled',
                 state_reason = 'cancelled by the operator', updated_at = $1 WHERE id = $2",
        )
        .bind(stamp)
        .bind(campaign)
        .execute(&mut tx)
        .await?;
        let done = q("UPDATE messages SET state = 'cancelled', error = 'cancelled by the operator', updated_at = $1
             WHERE campaign_id = $2 AND state = 'queued'",
        )
        .bind(stamp)
        .bind(campaign)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
