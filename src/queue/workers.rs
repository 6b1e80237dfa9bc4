//! The workers sharing the database: each says it is alive at its every tick, and counts the
//! others to know its share of the tokens.

use super::sql::{q, q_scalar};
use super::{Store, StoreError};

impl Store {
    /// Records that `owner` is alive at `now_ms`; returns how many workers were seen since
    /// `since_ms` (itself included).
    pub async fn worker_seen(
        &self,
        owner: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> Result<i64, StoreError> {
        q("INSERT INTO workers (owner, seen_ms) VALUES ($1, $2)
           ON CONFLICT (owner) DO UPDATE SET seen_ms = excluded.seen_ms")
        .bind(owner)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(q_scalar("SELECT COUNT(*) FROM workers WHERE seen_ms > $1")
            .bind(since_ms)
            .fetch_one(self.pool())
            .await?)
    }

    /// A worker that stops leaves the count at once.
    pub async fn worker_gone(&self, owner: &str) -> Result<(), StoreError> {
        q("DELETE FROM workers WHERE owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
