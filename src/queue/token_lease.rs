//! The token lease: one process at a time sends on an API token, whatever campaigns it sends,
//! so runs and workers sharing a database never together exceed the token's limits. A lease
//! names its holder (`pid N@host`), its role (a worker, or a run and its campaign), and a
//! fence that grows with every new holder; it expires unless renewed, and a holder process
//! found gone (same host, where `/proc` shows processes) is replaced at once.
//!
//! Fencing: claims check, in their transaction, that owner and fence still hold the token, and
//! every send checks that the lease is still known to be held, so a holder that stalled past
//! its lease sends nothing once it wakes.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::Lock;
use super::lease::owner_is_gone;
use super::sql::q;
use super::{CampaignId, Role, Store, StoreError};
use crate::clock::rfc3339_secs;

/// How long after the previous holder's end a new holder starts sending (a sliding second,
/// and a little for requests still on their way).
const QUIET_MS: i64 = 1_100;

/// A token held by another process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenHeld {
    pub fingerprint: String,
    pub owner: String,
    pub role: Role,
    /// The campaign a run holds it for.
    pub campaign: Option<CampaignId>,
    pub until: String,
}

impl std::fmt::Display for TokenHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.role, self.campaign) {
            (Role::Run, Some(c)) => write!(
                f,
                "token {} is held by a run of campaign {c} ({})",
                self.fingerprint, self.owner
            ),
            (role, _) => write!(
                f,
                "token {} is held by a {} ({})",
                self.fingerprint,
                role.as_str(),
                self.owner
            ),
        }
    }
}

/// A token lease this process holds. Only `Store::take_token_lease` makes one.
#[derive(Debug)]
pub struct TokenLease {
    pub fingerprint: String,
    pub owner: String,
    pub role: Role,
    fence: i64,
    /// Until when (unix ms) the previous holder may still have had requests arriving: sending
    /// starts after it, so the server's sliding second never sees both holders' sends.
    pub quiet_until_ms: i64,
    /// Until when (unix ms) this process may send on it; `i64::MIN` once lost.
    valid_until: AtomicI64,
    length: Duration,
}

impl TokenLease {
    pub fn valid_at(&self, now_ms: i64) -> bool {
        now_ms < self.valid_until.load(Ordering::SeqCst)
    }

    pub fn is_lost(&self) -> bool {
        self.valid_until.load(Ordering::SeqCst) == i64::MIN
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    pub fn fence(&self) -> i64 {
        self.fence
    }

    fn held_until(&self, until_ms: i64) {
        let margin = (self.length.as_millis() as i64 / 5).min(2_000);
        self.valid_until.store(until_ms - margin, Ordering::SeqCst);
    }

    fn lose(&self) {
        self.valid_until.store(i64::MIN, Ordering::SeqCst);
    }
}

impl Store {
    /// Takes the token for `length`, as a new holder (a new fence). Fails if another live
    /// process holds it.
    pub async fn take_token_lease(
        &self,
        fingerprint: &str,
        owner: &str,
        role: Role,
        campaign: Option<CampaignId>,
        length: Duration,
    ) -> Result<Result<TokenLease, TokenHeld>, StoreError> {
        let now = self.now_ms();
        let until = now + length.as_millis() as i64;
        let mut tx = self
            .begin(Lock::Token(super::lock_key(fingerprint)))
            .await?;
        let current = holder(&mut tx, fingerprint).await?;
        if let Some((held, _, until_ms)) = &current
            && held.owner != owner
            && *until_ms > now
            && !owner_is_gone(&held.owner, Path::new("/proc"))
        {
            return Ok(Err(held.clone()));
        }
        let quiet_until_ms = current
            .as_ref()
            .map_or(0, |(_, _, until_ms)| (*until_ms).min(now) + QUIET_MS);
        let fence = current.map_or(1, |(_, fence, _)| fence + 1);
        q("INSERT INTO token_leases (fingerprint, owner, role, campaign_id, until_ms, fence)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (fingerprint) DO UPDATE SET owner = excluded.owner, role = excluded.role,
               campaign_id = excluded.campaign_id, until_ms = excluded.until_ms, fence = excluded.fence",
        )
        .bind(fingerprint)
        .bind(owner)
        .bind(role.as_str())
        .bind(campaign)
        .bind(until)
        .bind(fence)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        let lease = TokenLease {
            fingerprint: fingerprint.to_string(),
            owner: owner.to_string(),
            role,
            fence,
            quiet_until_ms,
            valid_until: AtomicI64::new(i64::MIN),
            length,
        };
        lease.held_until(until);
        Ok(Ok(lease))
    }

    /// Renews a token lease; one taken over meanwhile (another owner or fence) is marked lost.
    pub async fn renew_token_lease(&self, lease: &TokenLease) -> Result<bool, StoreError> {
        let until = self.now_ms() + lease.length.as_millis() as i64;
        let renewed = q("UPDATE token_leases SET until_ms = $1 WHERE fingerprint = $2 AND owner = $3 AND fence = $4",
        )
        .bind(until)
        .bind(&lease.fingerprint)
        .bind(&lease.owner)
        .bind(lease.fence)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1;
        if renewed {
            lease.held_until(until);
        } else {
            lease.lose();
        }
        Ok(renewed)
    }

    /// Gives the token up (if still ours), so another process may send on it at once.
    pub async fn release_token_lease(&self, lease: &TokenLease) -> Result<(), StoreError> {
        lease.lose();
        // The row stays, expired now: the next holder starts sending a second later.
        q("UPDATE token_leases SET until_ms = $1 WHERE fingerprint = $2 AND owner = $3 AND fence = $4")
            .bind(self.now_ms())
            .bind(&lease.fingerprint)
            .bind(&lease.owner)
            .bind(lease.fence)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Who holds the token now, if anyone live does.
    pub async fn token_holder(&self, fingerprint: &str) -> Result<Option<TokenHeld>, StoreError> {
        Ok(self
            .token_holders()
            .await?
            .into_iter()
            .find(|h| h.fingerprint == fingerprint))
    }

    /// Every token held now by a live process.
    pub async fn token_holders(&self) -> Result<Vec<TokenHeld>, StoreError> {
        let rows = q(
            "SELECT fingerprint, owner, role, campaign_id, until_ms FROM token_leases
             WHERE until_ms > $1 ORDER BY fingerprint",
        )
        .bind(self.now_ms())
        .fetch_all(self.pool())
        .await?;
        let held = rows.iter().map(held_from).collect::<Result<Vec<_>, _>>()?;
        Ok(held
            .into_iter()
            .filter(|h| !owner_is_gone(&h.owner, Path::new("/proc")))
            .collect())
    }
}

fn held_from(r: &super::sql::Row) -> Result<TokenHeld, StoreError> {
    Ok(TokenHeld {
        fingerprint: r.get("fingerprint"),
        owner: r.get("owner"),
        role: Role::parse(r.get("role"))?,
        campaign: r.get::<Option<i64>, _>("campaign_id").map(CampaignId),
        until: rfc3339_secs(r.get("until_ms")),
    })
}

/// The token's row: who held it last, with its fence and expiry.
async fn holder(
    tx: &mut super::Tx,
    fingerprint: &str,
) -> Result<Option<(TokenHeld, i64, i64)>, StoreError> {
    let row = q(
        "SELECT fingerprint, owner, role, campaign_id, until_ms, fence FROM token_leases
         WHERE fingerprint = $1",
    )
    .bind(fingerprint)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| Ok((held_from(&r)?, r.get("fence"), r.get("until_ms"))))
        .transpose()
}

/// The column `token_held` of a claim's read of its campaign, and what it binds: 1 when the
/// token lease its campaign lease is under (if any) is still this holder's, else NULL. It reads
/// `$2` (now) and, under a token, binds its fingerprint, owner and fence as `$4`, `$5` and
/// `$6`. On PostgreSQL the row is held to the claim's commit: a takeover (which updates it)
/// waits for claims in progress, and a claim behind a takeover reads the new holder.
pub(super) fn token_held<'a>(
    tx: &super::Tx,
    lease: &'a super::Lease,
) -> (String, Option<(&'a str, &'a str, i64)>) {
    let Some(token) = &lease.token else {
        return ("1 AS token_held".into(), None);
    };
    let for_share = match tx {
        super::Tx::Sqlite(_) => "",
        super::Tx::Postgres(_) => " FOR SHARE",
    };
    let column = format!(
        "(SELECT 1 FROM token_leases t WHERE t.fingerprint = $4 AND t.owner = $5 \
          AND t.fence = $6 AND t.until_ms > $2{for_share}) AS token_held"
    );
    let binds = (
        token.fingerprint.as_str(),
        token.owner.as_str(),
        token.fence(),
    );
    (column, Some(binds))
}
