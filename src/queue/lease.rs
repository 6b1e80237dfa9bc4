//! The campaign lease: one process sends a campaign at a time. A lease names its owner
//! (`pid@host`) and expires unless renewed; a lease whose owner process is gone (same host) is
//! taken over at once, so a run killed with SIGKILL can be restarted immediately.

use sqlx::Row;

use super::{CampaignId, Store, StoreError};

/// Someone else is sending this campaign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "campaign {campaign} is being sent by {owner} (its lease runs until {until}); wait for it to finish, or stop it"
)]
pub struct LeaseHeld {
    pub campaign: CampaignId,
    pub owner: String,
    pub until: String,
}

/// This process, as a lease owner.
pub fn this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("pid {}@{}", std::process::id(), host.trim())
}

/// Whether the owner is a process on this host that no longer exists.
fn owner_is_gone(owner: &str) -> bool {
    let Some((pid, host)) = owner.strip_prefix("pid ").and_then(|o| o.split_once('@')) else {
        return false;
    };
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host == here.trim() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Store {
    /// Takes (or renews) the lease until `until_ms`. Fails if another live owner holds it.
    pub async fn acquire_lease(
        &self,
        campaign: CampaignId,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Result<(), LeaseHeld>, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT lease_owner, lease_until FROM campaigns WHERE id = ?")
            .bind(campaign)
            .fetch_one(&mut *tx)
            .await?;
        let (held_by, held_until): (Option<String>, Option<i64>) = (row.get(0), row.get(1));
        if let (Some(other), Some(until)) = (held_by, held_until)
            && other != owner
            && until > now_ms
            && !owner_is_gone(&other)
        {
            let until = chrono::DateTime::from_timestamp_millis(until)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            return Ok(Err(LeaseHeld {
                campaign,
                owner: other,
                until,
            }));
        }
        sqlx::query("UPDATE campaigns SET lease_owner = ?, lease_until = ? WHERE id = ?")
            .bind(owner)
            .bind(until_ms)
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn release_lease(&self, campaign: CampaignId, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE campaigns SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?")
            .bind(campaign)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
