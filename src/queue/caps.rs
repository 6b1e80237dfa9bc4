//! The daily cap of a token: at most `daily_limit` distinct recipients started per rolling 24
//! hours, across every campaign on the token. Checked at claim, in the claim's transaction: a
//! recipient the token already started within the 24 hours is free, a new one takes a place,
//! and one over the cap stays queued until the oldest place frees.

use super::sql::{Builder, On, built, q, q_scalar};
use super::{Backend, Store, StoreError};

const DAY_MS: i64 = 86_400_000;

/// Sets the token's cap, on the pool or in a transaction.
pub(super) async fn set_limit<'a>(
    on: impl Into<On<'a>>,
    token: &str,
    limit: u32,
    stamp: i64,
) -> Result<(), StoreError> {
    q("INSERT INTO token_caps (token, daily_limit, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (token) DO UPDATE SET daily_limit = excluded.daily_limit, updated_at = excluded.updated_at",
    )
    .bind(token)
    .bind(i64::from(limit))
    .bind(stamp)
    .execute(on)
    .await?;
    Ok(())
}

/// The note a held message carries until it is sent.
pub const CAPPED: &str = "daily limit of the token";

impl Store {
    /// Sets the token's cap (a campaign file's `daily_limit`, the worker's `--daily-limit`).
    pub async fn set_daily_limit(&self, token: &str, limit: u32) -> Result<(), StoreError> {
        set_limit(self.pool(), token, limit, self.now_ms()).await
    }

    /// The token's cap and how many recipients it started in the last 24 hours.
    pub async fn daily_use(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let cap: Option<i64> = q_scalar("SELECT daily_limit FROM token_caps WHERE token = $1")
            .bind(token)
            .fetch_optional(self.pool())
            .await?;
        let Some(cap) = cap else { return Ok(None) };
        let used: i64 =
            q_scalar("SELECT COUNT(*) FROM token_contacts WHERE token = $1 AND first_ms > $2")
                .bind(token)
                .bind(now_ms - DAY_MS)
                .fetch_one(self.pool())
                .await?;
        Ok(Some((cap, used)))
    }
}

/// Of `ids`, those the token's cap lets start at `now_ms` (recorded as started); the others
/// wait until a place frees.
///
/// The cap row is read `FOR UPDATE` on PostgreSQL: claims of several campaigns on one token run
/// side by side, and each must count the places the others took (read committed: the count
/// after the lock sees what the claim before it committed). SQLite's transaction already has
/// the database to itself.
pub async fn hold_over_cap(
    tx: &mut super::Tx,
    backend: Backend,
    token: &str,
    ids: Vec<i64>,
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let read_cap = match backend {
        Backend::Sqlite => "SELECT daily_limit FROM token_caps WHERE token = $1",
        Backend::Postgres => "SELECT daily_limit FROM token_caps WHERE token = $1 FOR UPDATE",
    };
    let cap: Option<i64> = q_scalar(read_cap)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
    // The cap was lifted since the claim read it.
    let Some(cap) = cap else { return Ok(ids) };
    let since = now_ms - DAY_MS;
    let used: i64 =
        q_scalar("SELECT COUNT(*) FROM token_contacts WHERE token = $1 AND first_ms > $2")
            .bind(token)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
    let mut query = Builder::new(
        backend,
        "SELECT m.id, m.phone, CASE WHEN EXISTS (SELECT 1 FROM token_contacts t WHERE t.token = ",
    );
    query
        .push_bind(token)
        .push(" AND t.phone = m.phone AND t.first_ms > ")
        .push_bind(since)
        .push(") THEN 1 ELSE 0 END AS known FROM messages m WHERE ")
        .push_in("m.id", &ids)
        .push(" AND m.state = 'queued' ORDER BY m.id");
    let rows = built(&mut query).fetch_all(&mut *tx).await?;
    let (mut claim, mut held, mut started) = (vec![], vec![], std::collections::BTreeSet::new());
    let mut free = (cap - used).max(0);
    for r in rows {
        let (id, phone, known): (i64, String, i32) = (r.get("id"), r.get("phone"), r.get("known"));
        if known == 1 || started.contains(&phone) {
            claim.push(id);
        } else if free > 0 {
            free -= 1;
            started.insert(phone);
            claim.push(id);
        } else {
            held.push(id);
        }
    }
    // Set-based: one statement per 500 new recipients.
    let started: Vec<String> = started.into_iter().collect();
    for chunk in started.chunks(500) {
        let mut insert = Builder::new(
            backend,
            "INSERT INTO token_contacts (token, phone, first_ms) ",
        );
        insert.push_values(chunk, |mut row, phone| {
            row.push_bind(token)
                .push_bind(phone.as_str())
                .push_bind(now_ms);
        });
        insert.push(" ON CONFLICT (token, phone) DO UPDATE SET first_ms = excluded.first_ms");
        built(&mut insert).execute(&mut *tx).await?;
    }
    if !held.is_empty() {
        let oldest: Option<i64> =
            q_scalar("SELECT MIN(first_ms) FROM token_contacts WHERE token = $1 AND first_ms > $2")
                .bind(token)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
        let at = oldest.map_or(now_ms, |o| o + DAY_MS);
        let note = format!(
            "{CAPPED} reached ({cap} recipients per 24 hours): waits until {}",
            crate::clock::rfc3339_secs(at)
        );
        super::windows::put_off(&mut *tx, backend, &held, at, &note).await?;
    }
    Ok(claim)
}
