//! Send windows at claim: a message whose recipient's window is closed now is not claimed; it
//! stays queued with the window's opening as its next attempt, so those whose window is open
//! go on, and the sender takes it up when it opens.

use super::sql::{Builder, built, built_as};
use super::{Backend, StoreError};
use crate::timing::Timing;

/// The note a held message carries until it is sent.
pub const HELD: &str = "outside its send window";

/// Of `ids`, those that may be claimed at `now_ms`; the others are put off until their
/// window opens.
pub async fn hold_outside(
    tx: &mut super::Tx,
    backend: Backend,
    timing: &Timing,
    ids: &[i64],
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let Some(window) = &timing.send_window else {
        return Ok(ids.to_vec());
    };
    let mut query = Builder::new(backend, "SELECT id, tz FROM messages WHERE ");
    query.push_in("id", ids);
    let rows: Vec<(i64, Option<String>)> = built_as(&mut query).fetch_all(&mut *tx).await?;
    let mut opens: std::collections::HashMap<Option<String>, Option<i64>> = Default::default();
    let (mut claim, mut held) = (vec![], std::collections::BTreeMap::<i64, Vec<i64>>::new());
    for (id, tz) in rows {
        let at = *opens.entry(tz.clone()).or_insert_with(|| {
            let zone = tz
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| timing.fallback_zone());
            window.opens_at(zone, now_ms)
        });
        match at {
            None => claim.push(id),
            Some(at) => held.entry(at).or_default().push(id),
        }
    }
    for (at, ids) in held {
        let note = format!(
            "{HELD} ({}, recipient's time): waits until {}",
            window.describe(),
            crate::clock::rfc3339_secs(at)
        );
        put_off(&mut *tx, backend, &ids, at, &note).await?;
    }
    Ok(claim)
}

/// Queued messages `ids` wait until `at_ms`, with `note` saying why.
pub(super) async fn put_off(
    tx: &mut super::Tx,
    backend: Backend,
    ids: &[i64],
    at_ms: i64,
    note: &str,
) -> Result<(), StoreError> {
    let mut update = Builder::new(backend, "UPDATE messages SET next_attempt_at = ");
    update
        .push_bind(at_ms)
        .push(", error = ")
        .push_bind(note)
        .push(" WHERE state = 'queued' AND ")
        .push_in("id", ids);
    built(&mut update).execute(&mut *tx).await?;
    Ok(())
}
