//! A campaign's sending begins: what a dead sender left `sending` becomes `uncertain`, what
//! waited past its expiry expires, the campaign is `running` on its token and the token takes
//! the campaign file's daily limit; all in one transaction, so that a worker starting 100
//! tokens at once queues once per campaign for a connection, not seven times (BENCHMARKS.md).

use super::sql::{built, named, q, q_as};
use super::{CampaignId, CampaignState, Control, Lock, Store, StoreError};

/// How a sending began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    /// The campaign is `running`; this many messages a dead sender had left `sending` are now
    /// `uncertain`.
    Running { left_uncertain: u64 },
    /// The operator paused or cancelled it: nothing was changed, nothing is to be sent.
    Controlled(Control),
}

named! {
    /// What the beginning reads of the campaign's row.
    struct Starting {
        control: Option<String>,
        timing: Option<String>,
    }
}

impl Store {
    /// Begins sending the campaign on the token `fingerprint`, unless the operator paused or
    /// cancelled it (then nothing changes).
    pub async fn begin_sending(
        &self,
        campaign: CampaignId,
        fingerprint: &str,
    ) -> Result<Begun, StoreError> {
        let stamp = self.now_ms();
        // The lock of a change of the campaign's control: a pause cannot come between the
        // read of the control and the state set to `running`.
        let mut tx = self.begin(Lock::Campaign(campaign)).await?;
        let row: Option<Starting> = q_as("SELECT control, timing FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_optional(&mut tx)
            .await?;
        // A campaign gone (deleted meanwhile) changes no row below.
        let (control, timing) = row.map(|r| (r.control, r.timing)).unwrap_or_default();
        if let Some(control) = control.as_deref().map(Control::parse).transpose()? {
            return Ok(Begun::Controlled(control));
        }
        let left_uncertain =
            super::messages::interrupted_to_uncertain(&mut tx, self.backend, campaign, stamp)
                .await?;
        let mut expire = super::messages::expiring(self.backend, campaign, stamp);
        built(&mut expire).execute(&mut tx).await?;
        q(
            "UPDATE campaigns SET state = $1, state_reason = NULL, token_fingerprint = $2,
                 updated_at = $3 WHERE id = $4",
        )
        .bind(CampaignState::Running.as_str())
        .bind(fingerprint)
        .bind(stamp)
        .bind(campaign)
        .execute(&mut tx)
        .await?;
        // The campaign file's daily limit is its token's, for every campaign on it.
        let timing: Option<crate::timing::Timing> = super::stored("timing", timing)?;
        if let Some(limit) = timing.and_then(|t| t.daily_limit) {
            super::caps::set_limit(&mut tx, fingerprint, limit, stamp).await?;
        }
        tx.commit().await?;
        Ok(Begun::Running { left_uncertain })
    }
}
