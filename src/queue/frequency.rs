//! A campaign's frequency cap (`frequency_cap = { messages = 2, per = "7d" }`, the API
//! document's "limit message frequency"): at claim, a message to a number that already got
//! that many messages from the store within the span, from any campaign, is cancelled with the
//! reason, never sent.
//!
//! Exact under concurrency, on both engines: capped claims take one lock (PostgreSQL's
//! advisory lock; SQLite's transaction has the database to itself), and each marks what it
//! claims, so a claim counts what another has in flight as well as what was sent. A message in
//! flight of an uncapped campaign counts once it is sent.

use std::collections::HashMap;

use super::sql::{Builder, built, built_as, q};
use super::{Backend, StoreError, Tx};
use crate::timing::FrequencyCap;

/// The advisory lock of capped claims: class 5 (`PG_*_LOCK` are 1 to 4), one key for all.
const PG_FREQUENCY_LOCK: &str = "SELECT pg_advisory_xact_lock(5, 0)";

/// A mark is dropped after a day: its message was sent (and counts by its send time), failed
/// or became uncertain long before.
const MARK_KEEP_MS: i64 = 86_400_000;

/// The note a message over the cap is cancelled with.
pub const OVER_CAP: &str = "frequency cap";

/// Of `ids`, those the cap lets go at `now_ms` (marked as in flight); the others are
/// cancelled with the reason.
pub async fn hold_over_frequency(
    tx: &mut Tx,
    backend: Backend,
    cap: FrequencyCap,
    ids: Vec<i64>,
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    if ids.is_empty() {
        return Ok(ids);
    }
    if backend == Backend::Postgres {
        q(PG_FREQUENCY_LOCK).execute(&mut *tx).await?;
    }
    let mut query = Builder::new(
        backend,
        "SELECT id, phone FROM messages WHERE state = 'queued' AND ",
    );
    query.push_in("id", &ids).push(" ORDER BY id");
    let rows: Vec<(i64, String)> = built_as(&mut query).fetch_all(&mut *tx).await?;
    let mut phones: Vec<String> = rows.iter().map(|(_, phone)| phone.clone()).collect();
    phones.sort();
    phones.dedup();
    let mut used = sent_since(tx, backend, &phones, now_ms - cap.per_ms).await?;
    let (mut go, mut over) = (vec![], vec![]);
    for (id, phone) in rows {
        let n = used.entry(phone.clone()).or_default();
        if *n < i64::from(cap.messages) {
            *n += 1;
            go.push((id, phone));
        } else {
            over.push(id);
        }
    }
    if !over.is_empty() {
        let mut cancel = Builder::new(backend, "UPDATE messages SET state = 'cancelled', error = ");
        cancel
            .push_bind(format!(
                "{OVER_CAP}: this number got {} from the store in the last {} (frequency_cap)",
                messages(cap.messages),
                span(cap.per_ms)
            ))
            .push(", updated_at = ")
            .push_bind(now_ms)
            .push(" WHERE state = 'queued' AND ")
            .push_in("id", &over);
        built(&mut cancel).execute(&mut *tx).await?;
    }
    if !go.is_empty() {
        let mut mark = Builder::new(
            backend,
            "INSERT INTO frequency_marks (message_id, phone, at_ms) ",
        );
        mark.push_values(&go, |mut row, (id, phone)| {
            row.push_bind(*id)
                .push_bind(phone.as_str())
                .push_bind(now_ms);
        });
        mark.push(" ON CONFLICT (message_id) DO UPDATE SET at_ms = excluded.at_ms");
        built(&mut mark).execute(&mut *tx).await?;
    }
    q("DELETE FROM frequency_marks WHERE at_ms < $1")
        .bind(now_ms - MARK_KEEP_MS)
        .execute(&mut *tx)
        .await?;
    Ok(go.into_iter().map(|(id, _)| id).collect())
}

/// How many messages each number got since `since_ms` (by send time), or has in flight from a
/// capped claim (marked, not sent yet; an uncertain one counts, since it may have been sent).
async fn sent_since(
    tx: &mut Tx,
    backend: Backend,
    phones: &[String],
    since_ms: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut sent = Builder::new(
        backend,
        "SELECT phone, COUNT(*) FROM messages WHERE sent_at IS NOT NULL AND sent_at > ",
    );
    sent.push_bind(since_ms)
        .push(" AND ")
        .push_in("phone", phones)
        .push(" GROUP BY phone");
    let mut used: HashMap<String, i64> = built_as::<(String, i64)>(&mut sent)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut flying = Builder::new(
        backend,
        "SELECT k.phone, COUNT(*) FROM frequency_marks k JOIN messages o ON o.id = k.message_id
         WHERE o.sent_at IS NULL AND o.state IN ('sending', 'uncertain') AND ",
    );
    flying.push_in("k.phone", phones).push(" GROUP BY k.phone");
    for (phone, n) in built_as::<(String, i64)>(&mut flying)
        .fetch_all(&mut *tx)
        .await?
    {
        *used.entry(phone).or_default() += n;
    }
    Ok(used)
}

fn messages(n: u32) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

/// `7d`, `12h`, `90m`, `45s`: the span as a campaign file writes it.
fn span(ms: i64) -> String {
    const UNITS: [(i64, &str); 3] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m")];
    UNITS.iter().find(|(unit, _)| ms % unit == 0).map_or_else(
        || format!("{}s", ms / 1000),
        |(unit, name)| format!("{}{name}", ms / unit),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_a_campaign_file_writes_them() {
        assert_eq!(span(7 * 86_400_000), "7d");
        assert_eq!(span(36 * 3_600_000), "36h");
        assert_eq!(span(90 * 60_000), "90m");
        assert_eq!(span(45_000), "45s");
        assert_eq!(messages(1), "1 message");
    }
}
