//! The campaign lease: one process sends a campaign at a time. A lease names its owner
//! (`pid@host`) and expires unless renewed; a lease whose owner process is gone (same host, and
//! only where `/proc` shows processes) is taken over at once, so a run killed with SIGKILL can be
//! restarted immediately. Elsewhere a dead owner's lease is taken over when it expires.
//!
//! Fencing: every claim checks, in its own transaction, that this process still holds the
//! lease, and every send checks that the lease is still known to be held (`Lease::valid_at`),
//! so a process that stalled past its lease sends nothing more once it wakes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::Lock;
use super::sql::q;
use super::{CampaignId, Store, StoreError, TokenLease};

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

/// A lease this process holds on a campaign. Only `Store::take_lease` makes one.
#[derive(Debug)]
pub struct Lease {
    pub campaign: CampaignId,
    pub owner: String,
    /// Until when (unix ms) this process may act on the lease: its expiry in the store less a
    /// safety margin for clock differences between processes; `i64::MIN` once lost.
    valid_until: AtomicI64,
    length: Duration,
    /// The lease on the token it is sent with, when the sender holds one: the campaign's lease
    /// is only good while that one is.
    pub token: Option<Arc<TokenLease>>,
    /// The sender's frequency cap for a campaign whose timing has none (the worker's
    /// `--frequency-cap`).
    pub frequency_cap: Option<crate::timing::FrequencyCap>,
}

impl Lease {
    /// Whether the lease (and the token lease it is under) is still known to be held at `now_ms`.
    pub fn valid_at(&self, now_ms: i64) -> bool {
        now_ms < self.valid_until.load(Ordering::SeqCst)
            && self.token.as_ref().is_none_or(|t| t.valid_at(now_ms))
    }

    /// Whether the lease was found taken over by another process.
    pub fn is_lost(&self) -> bool {
        self.valid_until.load(Ordering::SeqCst) == i64::MIN
    }

    /// Marks the lease lost: nothing more is sent under it.
    pub fn lose(&self) {
        self.valid_until.store(i64::MIN, Ordering::SeqCst);
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    /// The lease, with the sender's frequency cap for a campaign that has none of its own.
    pub fn with_frequency_cap(mut self, cap: Option<crate::timing::FrequencyCap>) -> Self {
        self.frequency_cap = cap;
        self
    }

    fn held_until(&self, until_ms: i64) {
        let margin = (self.length.as_millis() as i64 / 5).min(2_000);
        self.valid_until.store(until_ms - margin, Ordering::SeqCst);
    }
}

/// This process, as a lease owner.
pub fn this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("pid {}@{}", std::process::id(), host.trim())
}

/// Whether the owner is a process on this host that no longer exists. Only judged where
/// `proc` lists processes (it has `self`); elsewhere the lease must expire.
pub(super) fn owner_is_gone(owner: &str, proc: &Path) -> bool {
    let Some((pid, host)) = owner.strip_prefix("pid ").and_then(|o| o.split_once('@')) else {
        return false;
    };
    if !proc.join("self").exists() {
        return false;
    }
    let here = std::fs::read_to_string(proc.join("sys/kernel/hostname")).unwrap_or_default();
    host == here.trim() && !proc.join(pid).exists()
}

impl Store {
    /// Takes the lease for `length`. Fails if another live owner holds it.
    pub async fn take_lease(
        &self,
        campaign: CampaignId,
        owner: &str,
        length: Duration,
    ) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        self.take_lease_under(campaign, owner, length, None).await
    }

    /// Takes the lease for `length`, under a token lease: claims then check both.
    pub async fn take_lease_under(
        &self,
        campaign: CampaignId,
        owner: &str,
        length: Duration,
        token: Option<Arc<TokenLease>>,
    ) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        let now = self.now_ms();
        let until = now + length.as_millis() as i64;
        if let Err(held) = self.acquire_lease(campaign, owner, now, until).await? {
            return Ok(Err(held));
        }
        let lease = Lease {
            campaign,
            owner: owner.to_string(),
            valid_until: AtomicI64::new(i64::MIN),
            length,
            token,
            frequency_cap: None,
        };
        lease.held_until(until);
        Ok(Ok(lease))
    }

    /// Renews a lease held; a lease taken over meanwhile is marked lost.
    pub async fn renew_lease(&self, lease: &Lease) -> Result<Result<(), LeaseHeld>, StoreError> {
        let now = self.now_ms();
        let until = now + lease.length.as_millis() as i64;
        match self
            .acquire_lease(lease.campaign, &lease.owner, now, until)
            .await?
        {
            Ok(()) => {
                lease.held_until(until);
                Ok(Ok(()))
            }
            Err(held) => {
                lease.lose();
                Ok(Err(held))
            }
        }
    }

    /// Takes (or renews) the lease until `until_ms`. Fails if another live owner holds it.
    pub async fn acquire_lease(
        &self,
        campaign: CampaignId,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Result<(), LeaseHeld>, StoreError> {
        let mut tx = self.begin(Lock::Campaign(campaign)).await?;
        let row = q("SELECT lease_owner, lease_until FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_one(&mut tx)
            .await?;
        let (held_by, held_until): (Option<String>, Option<i64>) =
            (row.get("lease_owner"), row.get("lease_until"));
        if let (Some(other), Some(until)) = (held_by, held_until)
            && other != owner
            && until > now_ms
            && !owner_is_gone(&other, Path::new("/proc"))
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
        q("UPDATE campaigns SET lease_owner = $1, lease_until = $2 WHERE id = $3")
            .bind(owner)
            .bind(until_ms)
            .bind(campaign)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn release_lease(&self, campaign: CampaignId, owner: &str) -> Result<(), StoreError> {
        q("UPDATE campaigns SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(campaign)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owner_is_only_judged_where_proc_lists_processes() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let owner = format!("pid 999999999@{}", host.trim());
        assert!(owner_is_gone(&owner, Path::new("/proc")));
        let no_proc = tempfile::tempdir().unwrap();
        assert!(!owner_is_gone(&owner, no_proc.path()));
        assert!(!owner_is_gone("pid 1@elsewhere", Path::new("/proc")));
    }

    #[test]
    fn a_lost_lease_is_never_valid_again_and_a_held_one_ends_before_its_expiry() {
        let lease = Lease {
            campaign: CampaignId(1),
            owner: "me".into(),
            valid_until: AtomicI64::new(i64::MIN),
            length: Duration::from_secs(30),
            token: None,
            frequency_cap: None,
        };
        lease.held_until(100_000);
        assert!(lease.valid_at(97_000));
        assert!(!lease.valid_at(98_000), "two seconds of margin");
        lease.lose();
        assert!(!lease.valid_at(0));
    }
}
