//! The partial indexes of `messages` (migration 0015) serve the lookups that need them, on
//! both engines: an index that only some rows are in is used only when the query's WHERE
//! implies its condition, and a lookup that cannot use it scans every message.

use sqlx::Connection;

use super::{drop_pg_database, fresh_pg_database};

/// The lookups, as the store writes them (with literal arguments): the ack's by mid
/// (`acks.rs`), reconciliation's mids (`uncertain.rs`), the due polls and the next poll
/// (`polls.rs`), a batch's recipients in earlier batches (`campaigns.rs`), and the index
/// each must use.
const LOOKUPS: &[(&str, &str)] = &[
    ("SELECT id FROM messages WHERE mid = 'm-1'", "messages_mid"),
    (
        "SELECT mid FROM messages WHERE mid IS NOT NULL AND mid IN ('m-1', 'm-2')",
        "messages_mid",
    ),
    (
        "SELECT id FROM messages WHERE campaign_id = 1 AND next_poll_at IS NOT NULL
         AND next_poll_at <= 5 ORDER BY next_poll_at LIMIT 10",
        "messages_poll",
    ),
    (
        "SELECT MIN(next_poll_at) FROM messages WHERE campaign_id = 1 AND next_poll_at IS NOT NULL",
        "messages_poll",
    ),
    (
        "SELECT DISTINCT recipient_key FROM messages WHERE campaign_id = 1
         AND batch_id IS NOT NULL AND batch_id <> 2 AND recipient_key IN ('a', 'b')",
        "messages_",
    ),
];

#[tokio::test]
async fn the_partial_indexes_serve_their_lookups_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let pool = crate::helpers::raw(&store).await;
    for (lookup, index) in LOOKUPS {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {lookup}")))
                .fetch_all(&pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|s| s.3.as_str()).collect();
        assert!(
            steps.iter().any(|s| s.contains(index)) && !steps.contains(&"SCAN messages"),
            "{lookup}: {steps:?}"
        );
    }
}

#[tokio::test]
async fn the_partial_indexes_serve_their_lookups_on_postgres() {
    let Some(db) = fresh_pg_database().await else {
        return;
    };
    campaign::queue::Store::open(&db).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    // An empty table: the planner would scan it whatever the indexes, unless told not to; a
    // partial index it cannot use leaves it the scan all the same.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    for (lookup, index) in LOOKUPS {
        let plan: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {lookup}")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(
            plan.iter().any(|s| s.contains(index)) && !plan.iter().any(|s| s.contains("Seq Scan")),
            "{lookup}: {plan:#?}"
        );
    }
    drop(conn);
    drop_pg_database(&db).await;
}
