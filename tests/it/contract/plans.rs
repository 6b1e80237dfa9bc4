//! The partial indexes of `messages` (migration 0015) serve the lookups that need them, on
//! both engines: an index that only some rows are in is used only when the query's WHERE
//! implies its condition, and a lookup that cannot use it scans every message. And the due
//! read walks the claim index in its order (migration 0023).

use campaign::queue::statements;
use sqlx::Connection;

use super::{drop_pg_database, fresh_pg_database};

/// An argument of a statement whose plan is read.
#[derive(Clone, Copy)]
enum Arg {
    Int(i64),
    Text(&'static str),
}
use Arg::{Int, Text};

/// A statement and the arguments its plan is read with.
type Planned = (String, Vec<Arg>);

/// The lookups, as the store writes them (with literal arguments): the ack's by mid
/// (`acks.rs`), reconciliation's mids (`uncertain.rs`), a batch's recipients in earlier
/// batches (`campaigns.rs`); then the due polls (the engine's text of them) and the next poll
/// as the store runs them (`polls.rs`). And the index each must use.
fn lookups(due_polls: &str) -> Vec<(Planned, &'static str)> {
    let literal = |text: &str| (text.to_string(), vec![]);
    vec![
        (
            literal("SELECT id FROM messages WHERE mid = 'm-1'"),
            "messages_mid",
        ),
        (
            literal("SELECT mid FROM messages WHERE mid IS NOT NULL AND mid IN ('m-1', 'm-2')"),
            "messages_mid",
        ),
        (
            literal(
                "SELECT DISTINCT recipient_key FROM messages WHERE campaign_id = 1
                 AND batch_id IS NOT NULL AND batch_id <> 2 AND recipient_key IN ('a', 'b')",
            ),
            "messages_",
        ),
        (
            (due_polls.to_string(), vec![Int(1), Int(5), Int(10)]),
            "messages_poll",
        ),
        (
            (statements::next_poll().to_string(), vec![Int(1)]),
            "messages_poll",
        ),
    ]
}

#[tokio::test]
async fn the_partial_indexes_serve_their_lookups_on_sqlite() {
    let [due_polls, _] = statements::due_polls();
    let lookups = lookups(due_polls);
    let plans = sqlite_plans(lookups.iter().map(|l| l.0.clone())).await;
    for ((lookup, index), steps) in lookups.iter().zip(plans) {
        assert!(
            steps.iter().any(|s| s.contains(index)) && !steps.iter().any(|s| s == "SCAN messages"),
            "{}: {steps:?}",
            lookup.0
        );
    }
}

#[tokio::test]
async fn the_partial_indexes_serve_their_lookups_on_postgres() {
    // PostgreSQL's own text of the due polls, which locks what it reads.
    let [_, due_polls] = statements::due_polls();
    let lookups = lookups(due_polls);
    let Some(plans) = pg_plans(lookups.iter().map(|l| l.0.clone())).await else {
        return;
    };
    for ((lookup, index), plan) in lookups.iter().zip(plans) {
        assert!(
            plan.iter().any(|s| s.contains(index)) && !plan.iter().any(|s| s.contains("Seq Scan")),
            "{}: {plan:#?}",
            lookup.0
        );
    }
}

/// The due read (`Store::due`) of campaign 1 at 5, at most 10.
fn due() -> Planned {
    (statements::due().to_string(), vec![Int(1), Int(5), Int(10)])
}

/// Each claim reads what is due in the claim index's order and stops at its limit: sorting
/// every queued message of the campaign for each read was a quarter of PostgreSQL's time in a
/// worker's send (migration 0023 put `id` in the index; SQLite's indexes end with it).
#[tokio::test]
async fn the_due_read_walks_the_claim_index_in_order_without_a_sort_on_sqlite() {
    let steps = sqlite_plans([due()]).await.remove(0);
    assert!(
        steps.iter().any(|s| s.contains("messages_claim"))
            && !steps.iter().any(|s| s.contains("TEMP B-TREE")),
        "{steps:?}"
    );
}

#[tokio::test]
async fn the_due_read_walks_the_claim_index_in_order_without_a_sort_on_postgres() {
    let Some(mut plans) = pg_plans([due()]).await else {
        return;
    };
    let plan = plans.remove(0);
    assert!(
        plan.iter().any(|s| s.contains("messages_claim"))
            && !plan.iter().any(|s| s.contains("Sort")),
        "{plan:#?}"
    );
}

/// SQLite's plan of each statement (`EXPLAIN QUERY PLAN`'s steps, its arguments bound), in a
/// migrated database.
async fn sqlite_plans(statements: impl IntoIterator<Item = Planned>) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let pool = crate::helpers::raw(&store).await;
    let mut plans = vec![];
    for (text, args) in statements {
        let mut explain = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(
            format!("EXPLAIN QUERY PLAN {text}"),
        ));
        for arg in args {
            explain = match arg {
                Int(i) => explain.bind(i),
                Text(t) => explain.bind(t),
            };
        }
        let plan = explain.fetch_all(&pool).await.unwrap();
        plans.push(plan.into_iter().map(|s| s.3).collect());
    }
    plans
}

/// PostgreSQL's plan of each statement in a fresh migrated database: prepared as the store's
/// driver prepares it, then `EXPLAIN EXECUTE` with its arguments. `None` when there is no
/// server (the test is skipped, loudly).
async fn pg_plans(statements: impl IntoIterator<Item = Planned>) -> Option<Vec<Vec<String>>> {
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
    for (n, (text, args)) in statements.into_iter().enumerate() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE planned{n} AS {text}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| match a {
                Int(i) => i.to_string(),
                Text(t) => format!("'{t}'"),
            })
            .collect();
        let execute = match args.is_empty() {
            true => format!("EXPLAIN EXECUTE planned{n}"),
            false => format!("EXPLAIN EXECUTE planned{n}({})", args.join(", ")),
        };
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(execute))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        plans.push(plan);
    }
    drop(conn);
    drop_pg_database(&db).await;
    Some(plans)
}

/// Which campaigns have work, as the store asks: `Store::sendable_campaigns` (token `x`, due
/// before 5), `campaigns_to_track`, `campaigns_to_track_on` (token `x`).
fn checks() -> Vec<Planned> {
    vec![
        (statements::sendable_campaigns(), vec![Text("x"), Int(5)]),
        (statements::campaigns_to_track().to_string(), vec![]),
        (
            statements::campaigns_to_track_on().to_string(),
            vec![Text("x")],
        ),
    ]
}

/// The checks for campaigns with work look each campaign's messages up in an index: an
/// `EXISTS` beside an OR ran on PostgreSQL as a hash of every matching message of the table
/// (every message awaiting an ack: 22 ms a read at 60,000, each second of a send).
#[tokio::test]
async fn the_checks_for_campaigns_with_work_look_each_campaign_up_on_sqlite() {
    for (check, steps) in checks().iter().zip(sqlite_plans(checks()).await) {
        assert!(
            !steps.iter().any(|s| s == "SCAN m"),
            "{}: {steps:?}",
            check.0
        );
    }
}

#[tokio::test]
async fn the_checks_for_campaigns_with_work_look_each_campaign_up_on_postgres() {
    let Some(plans) = pg_plans(checks()).await else {
        return;
    };
    for (check, plan) in checks().iter().zip(plans) {
        assert!(
            !plan
                .iter()
                .any(|s| s.contains("hashed") || s.contains("Seq Scan on messages")),
            "{}: {plan:#?}",
            check.0
        );
    }
}
