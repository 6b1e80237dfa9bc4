//! The store's contract: the same scenarios against SQLite and PostgreSQL (a fresh database on
//! `TEST_DATABASE_URL` for each), so the two backends cannot drift apart.

use std::time::Duration;

use campaign::queue::{
    Backend, CampaignId, Claimed, Control, Counts, Outcome, Role, Store, StoreError,
};
use campaign::timing::ScheduleSpec;

use crate::helpers::{
    TestSim, lease, pg_execute, queue, recipients_csv, sms_def, spawn_sim, test_database_url,
    uk_mobile,
};

/// Runs `scenario` once on each backend.
macro_rules! contract {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::run(campaign::queue::Backend::Sqlite, super::$scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::run(campaign::queue::Backend::Postgres, super::$scenario).await;
            }
        }
    };
}

mod attempts;
mod claims;
mod context;
mod conversations;
mod coverage;
mod frequency;
mod listening;
mod loads;
mod plans;
mod reads;
mod texts;
mod timing;

/// What a scenario gets: a fresh store, the simulator, and a directory for its files.
struct Scene {
    store: Store,
    /// The database's URL or path, for what the store has no call for.
    db: String,
    sim: TestSim,
    dir: tempfile::TempDir,
}

async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Scene) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Sqlite => dir.path().join("c.db").to_str().unwrap().to_string(),
        Backend::Postgres => match fresh_pg_database().await {
            Some(db) => db,
            None => return,
        },
    };
    let store = Store::open(&db).await.unwrap();
    assert_eq!(store.backend(), backend);
    let sim = spawn_sim(|_| {}).await;
    scenario(Scene {
        store: store.clone(),
        db: db.clone(),
        sim,
        dir: tempfile::tempdir().unwrap(),
    })
    .await;
    counts_match_messages(&store, &db).await;
    drop(dir);
    if backend == Backend::Postgres {
        drop_pg_database(&db).await;
    }
}

/// The counts the store keeps are what a scan of the messages finds, for every campaign,
/// state and ack.
async fn counts_match_messages(store: &Store, db: &str) {
    const SCAN: &str = "SELECT campaign_id, state, COALESCE(ack, -100) AS ack_key, COUNT(*) AS n
         FROM messages GROUP BY campaign_id, state, COALESCE(ack, -100)
         ORDER BY campaign_id, state, ack_key";
    const KEPT: &str = "SELECT campaign_id, state, ack_key, CAST(SUM(n) AS BIGINT) AS n
         FROM message_counts GROUP BY campaign_id, state, ack_key HAVING SUM(n) <> 0
         ORDER BY campaign_id, state, ack_key";
    type Key = (i64, String, i64, i64);
    let scan: Vec<Key> = rows(store, db, SCAN).await;
    let kept: Vec<Key> = rows(store, db, KEPT).await;
    assert_eq!(kept, scan, "kept counts against a scan of the messages");
}

/// Drops a database `fresh_pg_database` made (a failed test leaves it, for a look).
pub async fn drop_pg_database(url: &str) {
    let name = url.rsplit('/').next().unwrap_or_default();
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    pg_execute(&test_database_url(), &[drop]).await;
}

/// A new, empty database on the test server: its URL; `None` when the server does not answer
/// (the test skips, or fails in CI: `helpers::postgres`).
pub async fn fresh_pg_database() -> Option<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "campaign_test_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let server = crate::helpers::postgres()?;
    pg_execute(&server, &[format!("CREATE DATABASE {name}")]).await;
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A count the store has no call for, read with a connection of the test's own.
async fn count(scene: &Scene, sql: &'static str) -> i64 {
    rows::<(i64,)>(&scene.store, &scene.db, sql).await[0].0
}

/// The rows `sql` reads, with a connection of the test's own to the store's database.
pub(crate) async fn rows<T>(store: &Store, db: &str, sql: &'static str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    match store.backend() {
        Backend::Sqlite => {
            let pool = crate::helpers::raw(store).await;
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db).await.unwrap();
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
    }
}

/// Runs `sql` with a connection of the test's own.
async fn execute(scene: &Scene, sql: &'static str) {
    try_execute(scene, sql).await.unwrap();
}

/// Runs `sql` with a connection of the test's own; the database's error as text.
async fn try_execute(scene: &Scene, sql: &'static str) -> Result<(), String> {
    let done = match scene.store.backend() {
        Backend::Sqlite => {
            let pool = crate::helpers::raw(&scene.store).await;
            sqlx::query(sql).execute(&pool).await.map(drop)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&scene.db).await.unwrap();
            sqlx::query(sql).execute(&pool).await.map(drop)
        }
    };
    done.map_err(|e| e.to_string())
}

/// `n` SMS recipients queued in one campaign.
async fn queued(scene: &Scene, n: u32) -> CampaignId {
    let phones: Vec<String> = (0..n).map(uk_mobile).collect();
    let csv = recipients_csv(scene.dir.path(), "r.csv", &phones);
    let loaded = queue(&scene.store, &scene.sim, &sms_def(csv)).await;
    loaded.campaign.unwrap()
}

async fn due_ids(store: &Store, id: CampaignId) -> Vec<i64> {
    let due = store.due(id, i64::MAX, 1000).await.unwrap();
    due.iter().map(|d| d.0).collect()
}

/// The campaign's lease, and a claim of every message due.
async fn claim_due(
    store: &Store,
    id: CampaignId,
) -> (
    std::sync::Arc<campaign::queue::Lease>,
    Vec<campaign::queue::Claim>,
) {
    let lease = lease(store, id).await;
    let claims = store
        .claim(&lease, &due_ids(store, id).await)
        .await
        .unwrap();
    (lease, claims)
}

fn sent(mid: &str) -> Outcome {
    Outcome::Sent {
        mid: mid.into(),
        uid: None,
        poll_at: i64::MAX,
    }
}
