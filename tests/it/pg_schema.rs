//! The first part of the storage contract between SQLite and PostgreSQL (issue 12): the two
//! migration histories build the same tables with the same columns, of matching kinds, so
//! the two cannot drift. PostgreSQL from `TEST_DATABASE_URL`, in a database of its own.

use std::collections::BTreeMap;

use sqlx::Connection;

/// Table -> column -> kind ("integer" or "text"), as SQLite's migrations build them.
async fn sqlite_schema() -> BTreeMap<String, BTreeMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&crate::helpers::raw(&store).await)
    .await
    .unwrap();
    let mut schema: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (table, column, kind) in rows {
        schema
            .entry(table)
            .or_default()
            .insert(column, kind.to_lowercase());
    }
    schema
}

#[tokio::test]
async fn the_postgresql_migrations_build_the_same_tables_and_columns_as_sqlites() {
    let names = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names("migrations/sqlite"),
        names("migrations/postgres"),
        "one PostgreSQL migration for each SQLite one, of the same name"
    );
    let Some(url) = crate::helpers::postgres() else {
        return;
    };
    let db = format!("campaign_schema_{}", std::process::id());
    crate::helpers::pg_execute(
        &url,
        &[
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
        ],
    )
    .await;
    let own = match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => panic!("TEST_DATABASE_URL names no database: {url}"),
    };
    let mut conn = sqlx::PgConnection::connect(&own).await.unwrap();
    campaign::queue::migrator(campaign::queue::Backend::Postgres)
        .run(&mut conn)
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let mut postgres: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (table, column, kind) in rows {
        // SQLite keeps 0/1 flags as integers.
        let kind = match kind.as_str() {
            "bigint" | "boolean" => "integer",
            other => other,
        };
        postgres
            .entry(table)
            .or_default()
            .insert(column, kind.to_string());
    }
    crate::helpers::pg_execute(&url, &[format!("DROP DATABASE {db}")]).await;
    let mut sqlite = sqlite_schema().await;
    // SQLite's counter of attempt ids; PostgreSQL draws them from a sequence (migration 0025).
    assert!(sqlite.remove("attempt_ids").is_some());
    assert_eq!(postgres, sqlite);
}

#[tokio::test]
async fn the_tests_run_on_the_oldest_postgresql_the_store_accepts() {
    // README states the oldest PostgreSQL supported; the store refuses older ones at open, and
    // that version is the one these tests run on, so the statement is what is tested.
    let Some(url) = crate::helpers::postgres() else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let version: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let major = version.parse::<u32>().unwrap() / 10_000;
    assert_eq!(
        major,
        campaign::queue::MIN_POSTGRES,
        "the test server is PostgreSQL {major}: if it moved on, test on the oldest supported \
         (or raise MIN_POSTGRES and README's statement with it)"
    );
}

/// Rows as a database from before migrations 0013 and 0014 held them: times as RFC 3339 text.
const BEFORE_0014: &[&str] = &[
    "INSERT INTO campaigns (id, name, fingerprint, channel, bot_id, definition, state, created_at, updated_at, control)
     VALUES (1, 'spring', 'f', 'sms', 7, '{}', 'paused', '2026-12-01T10:15:00.123Z', '2026-12-01T10:16:00Z', 'paused')",
    "INSERT INTO messages (id, campaign_id, line, phone, dedupe_key, payload, state, attempt_id, created_at, updated_at)
     VALUES (1, 1, 2, '+447700900001', 'k1', '{}', 'queued', NULL, '2026-12-01T10:15:00.999Z', '2026-12-01T10:15:01.000Z'),
            (2, 1, 3, '+447700900002', 'k2', '{}', 'sending', 1, '2026-12-01T10:15:00.999Z', '2026-12-01T10:15:01.000Z')",
    "INSERT INTO attempts (id, message_id, started_at, finished_at, outcome)
     VALUES (1, 2, '2026-12-01T10:20:00.500Z', NULL, NULL)",
    "INSERT INTO events (message_id, at, at_ms, source, kind, ack) VALUES (2, '2026-12-01T10:21:00Z', 1796120460000, 'callback', 'ack', 1)",
    "INSERT INTO suppressions (phone, reason, source, created_at) VALUES ('+447700900009', 'asked', 'operator', '2026-11-30T08:00:00Z')",
    "INSERT INTO token_stops (fingerprint, reason, at) VALUES ('tok', '1002', '2026-12-01T11:00:00Z')",
];

/// The campaign's and messages' times and states once the store has opened the database.
const AFTER_0014: &str =
    "SELECT c.created_at, c.updated_at, m.created_at, a.started_at, s.created_at
     FROM campaigns c, messages m, attempts a, suppressions s WHERE m.id = 2";

#[tokio::test]
async fn a_database_from_before_integer_times_gets_them_from_its_text_on_sqlite() {
    // Migration 0014 rebuilds SQLite's tables (a column's type and a CHECK cannot be added in
    // place): every time becomes unix ms, rows and kept counts stay as they were.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    campaign::queue::migrator(campaign::queue::Backend::Sqlite)
        .run_to(12, &mut conn)
        .await
        .unwrap();
    for sql in BEFORE_0014 {
        sqlx::query(*sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    // Run twice on a copy (a crash between its COMMIT and sqlx's record of it): a time already
    // in ms stays as it is.
    let copy = dir.path().join("again.db");
    std::fs::copy(&path, &copy).unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    campaign::queue::migrator(campaign::queue::Backend::Sqlite)
        .run_to(14, &mut conn)
        .await
        .unwrap();
    let again = include_str!("../../migrations/sqlite/0014_typed_times.sql");
    sqlx::raw_sql(sqlx::AssertSqlSafe(again))
        .execute(&mut conn)
        .await
        .unwrap();
    let times: (i64, i64, i64, i64, i64) = sqlx::query_as(AFTER_0014)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(times, EXPECTED_TIMES);
    conn.close().await.unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let store = campaign::queue::Store::open(path.to_str().unwrap())
        .await
        .unwrap();
    let pool = crate::helpers::raw(&store).await;
    let times: (i64, i64, i64, i64, i64) =
        sqlx::query_as(AFTER_0014).fetch_one(&pool).await.unwrap();
    assert_eq!(times, EXPECTED_TIMES);
    migrated_store_works(&store, store.location()).await;
}

#[tokio::test]
async fn a_database_from_before_integer_times_gets_them_from_its_text_on_postgres() {
    let Some(db) = crate::contract::fresh_pg_database().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    campaign::queue::migrator(campaign::queue::Backend::Postgres)
        .run_to(12, &mut conn)
        .await
        .unwrap();
    for sql in BEFORE_0014 {
        sqlx::query(*sql).execute(&mut conn).await.unwrap();
    }
    // The attempt above was given its id, which the sequence would have drawn.
    sqlx::query("SELECT setval('attempts_id_seq', 1)")
        .execute(&mut conn)
        .await
        .unwrap();
    let store = campaign::queue::Store::open(&db).await.unwrap();
    let times: (i64, i64, i64, i64, i64) = sqlx::query_as(AFTER_0014)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(times, EXPECTED_TIMES);
    migrated_store_works(&store, &db).await;
    conn.close().await.unwrap();
    crate::contract::drop_pg_database(&db).await;
}

/// 2026-12-01T10:15:00.123Z, 10:16:00Z, 10:15:00.999Z, 10:20:00.500Z, 2026-11-30T08:00:00Z.
const EXPECTED_TIMES: (i64, i64, i64, i64, i64) = (
    1_796_120_100_123,
    1_796_120_160_000,
    1_796_120_100_999,
    1_796_120_400_500,
    1_796_025_600_000,
);

/// What the store reads of the migrated rows (in database `db`), and that the schema now refuses
/// an unknown state and still counts changes (SQLite's triggers were made again with its table).
async fn migrated_store_works(store: &campaign::queue::Store, db: &str) {
    use campaign::queue::{CampaignId, CampaignState};
    let listed = store.list_campaigns(store.now_ms()).await.unwrap();
    assert_eq!(listed[0].state, CampaignState::Paused);
    assert_eq!(listed[0].created_at, "2026-12-01T10:15:00.123Z");
    let suppressed = store.suppressions().await.unwrap();
    assert_eq!(suppressed[0].created_at, "2026-11-30T08:00:00.000Z");
    assert_eq!(
        store.token_stop("tok").await.unwrap(),
        Some(("1002".to_string(), "2026-12-01T11:00:00Z".to_string()))
    );
    store.resume(CampaignId(1)).await.unwrap();
    assert_eq!(
        store.begin_sending(CampaignId(1), "tok").await.unwrap(),
        campaign::queue::Begun::Running { left_uncertain: 1 }
    );
    let counts = store.counts(CampaignId(1)).await.unwrap();
    assert_eq!((counts.queued, counts.uncertain, counts.sending), (1, 1, 0));
    let uncertain = store.uncertain(CampaignId(1)).await.unwrap();
    assert_eq!(uncertain[0].started_at, Some(1_796_120_400_500));
    // A new attempt draws an id of its own (migration 0025): its row, written when it ends,
    // leaves the one made before the upgrade as it was.
    let lease = crate::helpers::lease(store, CampaignId(1)).await;
    let claims = store.claim(&lease, &[1]).await.unwrap();
    assert_ne!(claims[0].attempt_id, 1);
    let sent = campaign::queue::Outcome::Sent {
        mid: "m1".into(),
        uid: None,
        poll_at: i64::MAX,
    };
    assert!(store.finish(&claims[0], &sent).await.unwrap());
    let rows: Vec<(i64, i64, String)> = crate::contract::rows(
        store,
        db,
        "SELECT id, message_id, outcome FROM attempts ORDER BY id",
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], (1, 2, "uncertain".to_string()));
}

/// Processes opening a new SQLite database at once migrate it one at a time: before, two could
/// both apply migration 0014 (outside a transaction, it rebuilds tables) and one rebuilt
/// `campaigns` after the other had added later columns ("no such column: after_send").
#[test]
fn processes_opening_a_new_sqlite_database_at_once_leave_it_fully_migrated() {
    for round in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let opening: Vec<std::process::Child> = (0..6)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_campaign"))
                    .args([
                        "suppress",
                        "add",
                        "+447911123456",
                        "--db",
                        db.to_str().unwrap(),
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in opening {
            let out = child.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(!said.contains("no such"), "round {round}: {said}");
        }
        let out = std::process::Command::new("sqlite3")
            .args([
                db.to_str().unwrap(),
                "SELECT name FROM pragma_table_info('campaigns')",
            ])
            .output();
        let columns = match out {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(_) => return, // no sqlite3 on this machine: the opens above are the check
        };
        assert!(
            columns.contains("after_send_when"),
            "round {round}: {columns}"
        );
    }
}
