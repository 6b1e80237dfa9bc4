//! The partial indexes of `messages` (migration 0015) serve the lookups that need them, on
//! both engines: an index that only some rows are in is used only when the query's WHERE
//! implies its condition, and a lookup that cannot use it scans every message. And the due
//! read walks the claim index in its order (migration 0023).

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
    let plans = sqlite_plans(LOOKUPS.iter().map(|l| l.0)).await;
    for ((lookup, index), steps) in LOOKUPS.iter().zip(plans) {
        assert!(
            steps.iter().any(|s| s.contains(index)) && !steps.iter().any(|s| s == "SCAN messages"),
            "{lookup}: {steps:?}"
        );
    }
}

#[tokio::test]
async fn the_partial_indexes_serve_their_lookups_on_postgres() {
    let Some(plans) = pg_plans(LOOKUPS.iter().map(|l| l.0)).await else {
        return;
    };
    for ((lookup, index), plan) in LOOKUPS.iter().zip(plans) {
        assert!(
            plan.iter().any(|s| s.contains(index)) && !plan.iter().any(|s| s.contains("Seq Scan")),
            "{lookup}: {plan:#?}"
        );
    }
}

/// The due read (`Store::due`), with literal arguments.
const DUE: &str = "SELECT id, phone FROM messages WHERE campaign_id = 1 AND state = 'queued'
     AND next_attempt_at <= 5 ORDER BY next_attempt_at, id LIMIT 10";

/// Each claim reads what is due in the claim index's order and stops at its limit: sorting
/// every queued message of the campaign for each read was a quarter of PostgreSQL's time in a
/// worker's send (migration 0023 put `id` in the index; SQLite's indexes end with it).
#[tokio::test]
async fn the_due_read_walks_the_claim_index_in_order_without_a_sort_on_sqlite() {
    let steps = sqlite_plans([DUE]).await.remove(0);
    assert!(
        steps.iter().any(|s| s.contains("messages_claim"))
            && !steps.iter().any(|s| s.contains("TEMP B-TREE")),
        "{steps:?}"
    );
}

#[tokio::test]
async fn the_due_read_walks_the_claim_index_in_order_without_a_sort_on_postgres() {
    let Some(mut plans) = pg_plans([DUE]).await else {
        return;
    };
    let plan = plans.remove(0);
    assert!(
        plan.iter().any(|s| s.contains("messages_claim"))
            && !plan.iter().any(|s| s.contains("Sort")),
        "{plan:#?}"
    );
}

/// SQLite's plan of each lookup (`EXPLAIN QUERY PLAN`'s steps), in a migrated database.
async fn sqlite_plans<'a>(lookups: impl IntoIterator<Item = &'a str>) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let pool = crate::helpers::raw(&store).await;
    let mut plans = vec![];
    for lookup in lookups {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {lookup}")))
                .fetch_all(&pool)
                .await
                .unwrap();
        plans.push(plan.into_iter().map(|s| s.3).collect());
    }
    plans
}

/// PostgreSQL's plan of each lookup (`EXPLAIN`'s lines) in a fresh migrated database, or
/// `None` when there is no server (the test is skipped, loudly).
async fn pg_plans<'a>(lookups: impl IntoIterator<Item = &'a str>) -> Option<Vec<Vec<String>>> {
    let db = fresh_pg_database().await?;
    campaign::queue::Store::open(&db).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    // An empty table: the planner would scan it whatever the indexes, unless told not to; a
    // partial index it cannot use leaves it the scan all the same.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut plans = vec![];
    for lookup in lookups {
        let plan: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {lookup}")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        plans.push(plan);
    }
    drop(conn);
    drop_pg_database(&db).await;
    Some(plans)
}

/// Which campaigns have work (`Store::sendable_campaigns`, `campaigns_to_track`,
/// `campaigns_to_track_on`), with literal arguments.
const CHECKS: &[&str] = &[
    "SELECT c.id FROM campaigns c
     WHERE c.token_fingerprint = 'x' AND c.state IN ('queued', 'sending') AND c.control IS NULL
       AND ((SELECT MIN(m.next_attempt_at) FROM messages m
              WHERE m.campaign_id = c.id AND m.state = 'queued') <= 5
         OR (c.state <> 'deferred' AND (
           (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.state = 'sending' LIMIT 1) IS NOT NULL
           OR (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.state = 'uncertain' LIMIT 1) IS NOT NULL)))
     ORDER BY c.priority DESC, c.id",
    "SELECT c.id, c.channel FROM campaigns c
     WHERE (SELECT MIN(m.next_poll_at) FROM messages m
            WHERE m.campaign_id = c.id AND m.next_poll_at IS NOT NULL) IS NOT NULL
        OR (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.state = 'uncertain' LIMIT 1) IS NOT NULL
        OR (SELECT 1 FROM conversation_reads r WHERE r.campaign_id = c.id LIMIT 1) IS NOT NULL
     ORDER BY c.id",
    "SELECT c.id, c.send_options FROM campaigns c WHERE c.token_fingerprint = 'x'
         AND ((SELECT MIN(m.next_poll_at) FROM messages m
                 WHERE m.campaign_id = c.id AND m.next_poll_at IS NOT NULL) IS NOT NULL
             OR (SELECT 1 FROM conversation_reads r WHERE r.campaign_id = c.id LIMIT 1) IS NOT NULL)
     ORDER BY c.id",
];

/// The checks for campaigns with work look each campaign's messages up in an index: an
/// `EXISTS` beside an OR ran on PostgreSQL as a hash of every matching message of the table
/// (every message awaiting an ack: 22 ms a read at 60,000, each second of a send).
#[tokio::test]
async fn the_checks_for_campaigns_with_work_look_each_campaign_up_on_sqlite() {
    for (check, steps) in CHECKS
        .iter()
        .zip(sqlite_plans(CHECKS.iter().copied()).await)
    {
        assert!(!steps.iter().any(|s| s == "SCAN m"), "{check}: {steps:?}");
    }
}

#[tokio::test]
async fn the_checks_for_campaigns_with_work_look_each_campaign_up_on_postgres() {
    let Some(plans) = pg_plans(CHECKS.iter().copied()).await else {
        return;
    };
    for (check, plan) in CHECKS.iter().zip(plans) {
        assert!(
            !plan
                .iter()
                .any(|s| s.contains("hashed") || s.contains("Seq Scan on messages")),
            "{check}: {plan:#?}"
        );
    }
}
