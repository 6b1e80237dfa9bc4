//! The suppression list: numbers no campaign may send to, each with its reason.

use std::collections::HashSet;

use super::sql::{q, q_scalar};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    pub phone: String,
    pub reason: String,
    pub source: String,
    /// When it was added (RFC 3339, UTC).
    pub created_at: String,
}

impl Store {
    /// Adds (or updates the reason of) a suppressed number. Returns true if it was new.
    pub async fn suppress(
        &self,
        phone: &str,
        reason: &str,
        source: &str,
    ) -> Result<bool, StoreError> {
        let existed: Option<i32> = q_scalar("SELECT 1 FROM suppressions WHERE phone = $1")
            .bind(phone)
            .fetch_optional(self.pool())
            .await?;
        q(
            "INSERT INTO suppressions (phone, reason, source, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (phone) DO UPDATE SET reason = excluded.reason, source = excluded.source",
        )
        .bind(phone)
        .bind(reason)
        .bind(source)
        .bind(self.now_ms())
        .execute(self.pool())
        .await?;
        Ok(existed.is_none())
    }

    /// Removes a number; false if it was not on the list.
    pub async fn unsuppress(&self, phone: &str) -> Result<bool, StoreError> {
        let done = q("DELETE FROM suppressions WHERE phone = $1")
            .bind(phone)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        let rows = q("SELECT phone, reason, source, created_at FROM suppressions ORDER BY phone")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Suppression {
                phone: r.get("phone"),
                reason: r.get("reason"),
                source: r.get("source"),
                created_at: crate::clock::rfc3339_ms(r.get("created_at")),
            })
            .collect())
    }

    /// Every suppressed number, for checking a load against.
    pub async fn suppressed_set(&self) -> Result<HashSet<String>, StoreError> {
        let phones: Vec<String> = q_scalar("SELECT phone FROM suppressions")
            .fetch_all(self.pool())
            .await?;
        Ok(phones.into_iter().collect())
    }
}
