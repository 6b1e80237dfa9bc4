//! Stopped tokens: a stop-token verdict stops every campaign that sends with that token.

use super::sql::q;
use super::{Store, StoreError};

impl Store {
    /// Records a stop; an earlier stop of the same token keeps its reason.
    pub async fn stop_token(&self, fingerprint: &str, reason: &str) -> Result<(), StoreError> {
        q("INSERT INTO token_stops (fingerprint, reason, at) VALUES ($1, $2, $3) ON CONFLICT (fingerprint) DO NOTHING")
            .bind(fingerprint)
            .bind(reason)
            .bind(self.now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Why and when the token was stopped, if it is.
    pub async fn token_stop(
        &self,
        fingerprint: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = q("SELECT reason, at FROM token_stops WHERE fingerprint = $1")
            .bind(fingerprint)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| (r.get("reason"), crate::clock::rfc3339_secs(r.get("at")))))
    }

    /// Clears a stop; false if the token was not stopped.
    pub async fn clear_token_stop(&self, fingerprint: &str) -> Result<bool, StoreError> {
        let done = q("DELETE FROM token_stops WHERE fingerprint = $1")
            .bind(fingerprint)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
