//! The confirmation texts of opt-outs: asked for when an opt-out suppresses (`inbound`), sent
//! by the worker holding the token (`engine::confirm`), each at most once.

use super::sql::{Builder, built, named, q, q_as};
use super::{CampaignId, Lock, Store, StoreError};

named! {
    /// A confirmation due to be sent.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DueConfirmation {
        /// The opt-out it confirms.
        pub mid: String,
        pub uid: String,
        pub text: String,
        /// The 24-hour window the opt-out opened ends here (less a margin), unix ms.
        pub until_ms: i64,
    }
}

/// How a confirmation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    Sent,
    /// Refused, or unknown whether it went: never sent again.
    Failed,
    /// The window closed first.
    Expired,
    /// Never left: due again.
    Again,
}

impl Confirmed {
    fn state(self) -> &'static str {
        match self {
            Confirmed::Sent => "sent",
            Confirmed::Failed => "failed",
            Confirmed::Expired => "expired",
            Confirmed::Again => "due",
        }
    }
}

impl Store {
    /// Claims the token's confirmations due: each is `sending` until `confirmation_done`. One
    /// left `sending` by a process that died is never sent: once at most.
    pub async fn due_confirmations(
        &self,
        token: &str,
        limit: i64,
    ) -> Result<Vec<DueConfirmation>, StoreError> {
        let mut tx = self.begin(Lock::Beside).await?;
        let rows: Vec<DueConfirmation> = q_as(format!(
            "SELECT mid, uid, text, until_ms FROM confirmations
             WHERE token_fingerprint = $1 AND state = 'due' ORDER BY updated_at LIMIT $2{}",
            self.skip_locked()
        ))
        .bind(token)
        .bind(limit)
        .fetch_all(&mut tx)
        .await?;
        let mids: Vec<String> = rows.iter().map(|r| r.mid.clone()).collect();
        if !mids.is_empty() {
            let mut claim = Builder::new(
                self.backend,
                "UPDATE confirmations SET state = 'sending', updated_at = ",
            );
            claim
                .push_bind(self.now_ms())
                .push(" WHERE ")
                .push_in("mid", &mids);
            built(&mut claim).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// The campaign's opt-outs' confirmations, by state (`due`, `sending`, `sent`, `failed`,
    /// `expired`).
    pub async fn confirmations(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(q_as(
            "SELECT f.state, COUNT(*) FROM confirmations f JOIN inbound i ON i.mid = f.mid
             WHERE i.campaign_id = $1 AND i.campaign_id IS NOT NULL GROUP BY f.state ORDER BY f.state",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records how the confirmation of opt-out `mid` ended, and why.
    pub async fn confirmation_done(
        &self,
        mid: &str,
        end: Confirmed,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        q("UPDATE confirmations SET state = $1, detail = $2, updated_at = $3 WHERE mid = $4")
            .bind(end.state())
            .bind(detail)
            .bind(self.now_ms())
            .bind(mid)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
