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
    assert_eq!(postgres, sqlite_schema().await);
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
