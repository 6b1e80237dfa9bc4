//! The claim: queued messages become `sending`, each with its attempt's id and start, in one
//! committed transaction before any request leaves (the attempt's row is written when it
//! ends: `outcomes`, or `uncertain` when its sender died). On the way, what may not go now is
//! held back: a closed send window, a number suppressed since it was queued, an expiry
//! passed, the token's daily cap.

use super::sql::{Builder, Tx, built, named, q_as, q_scalar};
use super::{Backend, CampaignId, Control, Lease, Lock, MessageState, Store, StoreError};
use crate::timing::Timing;

/// A message claimed for one attempt: its row is `sending` with this attempt id, committed
/// before the request leaves.
#[derive(Debug, Clone)]
pub struct Claim {
    pub campaign_id: i64,
    pub message_id: i64,
    pub attempt_id: i64,
    /// When the attempt started (unix ms): its row, written when it ends, says so.
    pub started_at: i64,
    pub phone: String,
    pub payload: String,
    pub attempts: i64,
    /// Its campaign sets context once a message is accepted (`[after_send]`): the outcome
    /// that records the acceptance stores the job.
    pub context_on_accept: bool,
}

/// The messages a claim found still queued, and whether any may be suppressed or expired.
struct Queued {
    ids: Vec<i64>,
    /// False only when the claim read that none of them is (PostgreSQL).
    stale: bool,
}

/// What the claim reads of its campaign.
struct Claimable {
    timing: Timing,
    /// The token, when its daily cap applies.
    capped_token: Option<String>,
    context_on_accept: bool,
}

impl Store {
    /// Claims the messages: for each, an attempt id and state `sending`, in one committed
    /// transaction, which first checks that `lease` is still held (`StoreError::LeaseLost`
    /// otherwise). A message no longer queued is skipped.
    pub async fn claim(&self, lease: &Lease, ids: &[i64]) -> Result<Vec<Claim>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let stamp = self.now_ms();
        let mut tx = self.begin(Lock::Claim(lease.campaign)).await?;
        let campaign = claimable(&mut tx, lease, stamp).await?;
        let queued = self
            .lock_queued(&mut tx, lease.campaign, ids, stamp)
            .await?;
        let ids = self
            .hold_back(&mut tx, lease, &campaign, queued, stamp)
            .await?;
        let mut claims = self
            .start_attempts(&mut tx, lease.campaign, &ids, stamp)
            .await?;
        for claim in &mut claims {
            claim.context_on_accept = campaign.context_on_accept;
        }
        tx.commit().await?;
        Ok(claims)
    }

    /// Of `ids`, the messages still queued, locked for this claim. Several workers share a
    /// PostgreSQL queue: a message another one's claim holds is skipped, not waited for
    /// (SQLite's transaction has the database to itself).
    async fn lock_queued(
        &self,
        tx: &mut Tx,
        campaign: CampaignId,
        ids: &[i64],
        now_ms: i64,
    ) -> Result<Queued, StoreError> {
        if self.backend == super::Backend::Sqlite {
            return Ok(Queued {
                ids: ids.to_vec(),
                stale: true,
            });
        }
        // Read with the lock: whether any is suppressed or past its expiry, so that the
        // claim's updates for those run only when one is (each UPDATE of messages is a round
        // trip, and its statement trigger runs even when it changes no row).
        let mut lock = Builder::new(
            self.backend,
            "SELECT id, (EXISTS (SELECT 1 FROM suppressions s WHERE s.phone = messages.phone) \
             OR COALESCE(expires_ms <= ",
        );
        lock.push_bind(now_ms)
            .push(", FALSE)) AS stale FROM messages WHERE state = 'queued' AND campaign_id = ")
            .push_bind(campaign)
            .push(" AND ")
            .push_in("id", ids)
            .push(self.skip_locked());
        let rows = built(&mut lock).fetch_all(&mut *tx).await?;
        Ok(Queued {
            stale: rows.iter().any(|r| r.get::<bool, _>("stale")),
            ids: rows.iter().map(|r| r.get("id")).collect(),
        })
    }

    /// Of `ids`, those that may go now. A recipient whose send window is closed waits for it
    /// to open; a number suppressed after it was queued (an opt-out, an event) is cancelled; a
    /// message past its expiry (max_age, expires_at) expires, never sent late; one to a number
    /// over the campaign's frequency cap is cancelled; what is over the token's daily cap waits
    /// for a place.
    async fn hold_back(
        &self,
        tx: &mut Tx,
        lease: &Lease,
        claimable: &Claimable,
        queued: Queued,
        stamp: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let (now_ms, campaign) = (stamp, lease.campaign);
        let ids =
            super::windows::hold_outside(tx, self.backend, &claimable.timing, &queued.ids, now_ms)
                .await?;
        if ids.is_empty() {
            return Ok(ids);
        }
        if queued.stale {
            self.cancel_or_expire(tx, campaign, &ids, stamp).await?;
        }
        let ids = match claimable.timing.frequency_cap.or(lease.frequency_cap) {
            Some(cap) => {
                super::frequency::hold_over_frequency(tx, self.backend, cap, ids, now_ms).await?
            }
            None => ids,
        };
        match &claimable.capped_token {
            Some(token) => super::caps::hold_over_cap(tx, self.backend, token, ids, now_ms).await,
            None => Ok(ids),
        }
    }

    /// Of `ids`, a message to a number suppressed since it was queued is cancelled, one past
    /// its expiry expires.
    async fn cancel_or_expire(
        &self,
        tx: &mut Tx,
        campaign: CampaignId,
        ids: &[i64],
        stamp: i64,
    ) -> Result<(), StoreError> {
        let mut cancel = Builder::new(
            self.backend,
            "UPDATE messages SET state = 'cancelled', error = 'suppressed: ' || \
             (SELECT reason FROM suppressions s WHERE s.phone = messages.phone), updated_at = ",
        );
        cancel
            .push_bind(stamp)
            .push(" WHERE state = 'queued' AND phone IN (SELECT phone FROM suppressions)")
            .push(" AND campaign_id = ")
            .push_bind(campaign)
            .push(" AND ")
            .push_in("id", ids);
        built(&mut cancel).execute(&mut *tx).await?;
        let mut expire = super::messages::expiring(self.backend, campaign, stamp);
        expire.push(" AND ").push_in("id", ids);
        built(&mut expire).execute(&mut *tx).await?;
        Ok(())
    }

    /// Starts an attempt for each message of `ids` still queued: its id and start on the
    /// message, moved to `sending`, in one statement (on SQLite after the ids are reserved, and
    /// counted by a second). The attempt's row is written when it ends, not here: one write of
    /// attempts per attempt.
    async fn start_attempts(
        &self,
        tx: &mut Tx,
        campaign: CampaignId,
        ids: &[i64],
        stamp: i64,
    ) -> Result<Vec<Claim>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut update = match self.backend {
            Backend::Postgres => sending_on_postgres(campaign, ids, stamp),
            Backend::Sqlite => {
                let first = reserve_attempt_ids(tx, ids.len()).await?;
                let made: Vec<(i64, i64)> = (first..).zip(ids.iter().copied()).collect();
                sending(campaign, &made, stamp)
            }
        };
        let rows = built(&mut update).fetch_all(&mut *tx).await?;
        let moves = super::counts::moved_from(&rows, MessageState::Queued)?;
        super::counts::count_moved(tx, self.backend, moves).await?;
        let mut claims: Vec<Claim> = rows
            .into_iter()
            .map(|r| Claim {
                message_id: r.get("message_id"),
                attempt_id: r.get("attempt_id"),
                phone: r.get("phone"),
                payload: r.get("payload"),
                attempts: r.get("attempts"),
                campaign_id: r.get("campaign_id"),
                started_at: stamp,
                context_on_accept: false,
            })
            .collect();
        claims.sort_by_key(|c| c.message_id);
        Ok(claims)
    }
}

/// SQLite: reserves `n` attempt ids from its counter (migration 0025); the first of them. The
/// claim's transaction holds the database, so no other draws the same.
async fn reserve_attempt_ids(tx: &mut Tx, n: usize) -> Result<i64, StoreError> {
    let n = n as i64;
    let next: i64 = q_scalar("UPDATE attempt_ids SET next = next + $1 RETURNING next")
        .bind(n)
        .fetch_one(&mut *tx)
        .await?;
    Ok(next - n)
}

/// Pushes the move to `sending` of messages with their attempt's id (`attempt`, an
/// expression) and start, `stamp`.
fn push_to_sending(update: &mut Builder, attempt: &str, stamp: i64) {
    update
        .push(format!(
            "UPDATE messages SET state = 'sending', attempt_id = {attempt}, \
             attempts = messages.attempts + 1, \
             error = CASE WHEN messages.error LIKE 'outside its send window%' \
                 OR messages.error LIKE 'daily limit of the token%' THEN NULL \
                 ELSE messages.error END, \
             attempt_started_at = "
        ))
        .push_bind(stamp)
        .push(", updated_at = ")
        .push_bind(stamp);
}

/// What a claim returns of each message moved to `sending`.
const CLAIMED: &str = " RETURNING messages.id AS message_id, messages.attempt_id, messages.phone, \
     messages.payload, messages.attempts, messages.campaign_id, messages.state, messages.ack";

/// SQLite: the messages of `made` (attempt id, message id) still queued in `campaign` moved to
/// `sending` with their attempts, returning what a claim holds.
fn sending(campaign: CampaignId, made: &[(i64, i64)], stamp: i64) -> Builder {
    let mut update = Builder::new(Backend::Sqlite, "WITH a(id, message_id) AS (");
    update.push_values(made, |mut row, (attempt, message)| {
        row.push_bind(*attempt).push_bind(*message);
    });
    update.push(") ");
    push_to_sending(&mut update, "a.id", stamp);
    update
        .push(" FROM a WHERE a.message_id = messages.id AND messages.state = 'queued'")
        .push(" AND messages.campaign_id = ")
        .push_bind(campaign)
        .push(CLAIMED);
    update
}

/// PostgreSQL: the messages of `ids` still queued moved to `sending`, each with an attempt id
/// from the attempts' identity sequence, returning what a claim holds.
fn sending_on_postgres(campaign: CampaignId, ids: &[i64], stamp: i64) -> Builder {
    let mut update = Builder::new(Backend::Postgres, "");
    push_to_sending(&mut update, "nextval('attempts_id_seq')", stamp);
    update
        .push(" WHERE state = 'queued' AND campaign_id = ")
        .push_bind(campaign)
        .push(" AND ")
        .push_in("id", ids)
        .push(CLAIMED);
    update
}

named! {
    /// What the claim reads of its campaign's row (`held`: 1 when the lease is the claimer's).
    struct CampaignRow {
        held: i32,
        token_held: Option<i32>,
        control: Option<String>,
        timing: Option<String>,
        token_fingerprint: Option<String>,
        cap: Option<i64>,
        after_send_when: Option<String>,
    }
}

/// One read of the campaign: its lease and its token's, control, timing, and its token's daily
/// cap. A lease lost (of the campaign or its token) and a pause or cancel are errors.
async fn claimable(tx: &mut Tx, lease: &Lease, now_ms: i64) -> Result<Claimable, StoreError> {
    let (token_held, token_binds) = super::token_lease::token_held(tx, lease);
    let mut read = q_as::<CampaignRow>(format!(
        "SELECT CASE WHEN c.lease_owner = $1 AND c.lease_until > $2 THEN 1 ELSE 0 END AS held,
                {token_held}, c.control, c.timing, c.token_fingerprint,
                (SELECT k.daily_limit FROM token_caps k WHERE k.token = c.token_fingerprint) AS cap,
                c.after_send_when
         FROM campaigns c WHERE c.id = $3"
    ))
    .bind(&lease.owner)
    .bind(now_ms)
    .bind(lease.campaign);
    if let Some((fingerprint, owner, fence)) = token_binds {
        read = read.bind(fingerprint).bind(owner).bind(fence);
    }
    let row = read.fetch_optional(&mut *tx).await?;
    // The campaign's lease and its token's must both be the claimer's.
    let Some(c) = row.filter(|r| r.held == 1 && r.token_held == Some(1)) else {
        lease.lose();
        return Err(StoreError::LeaseLost(lease.campaign));
    };
    if let Some(control) = c.control.as_deref().map(Control::parse).transpose()? {
        return Err(StoreError::Controlled {
            campaign: lease.campaign,
            control,
        });
    }
    Ok(Claimable {
        timing: super::stored("timing", c.timing)?.unwrap_or_default(),
        capped_token: c.token_fingerprint.filter(|_| c.cap.is_some()),
        context_on_accept: c.after_send_when.as_deref() == Some("accepted"),
    })
}
