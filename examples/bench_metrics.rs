//! Benchmark for `/metrics` on a big queue: what an uncached scrape reads from the store (the
//! gauges by state and ack, the deferred count, the token holders) with ROWS messages (default
//! 2,000,000: a quarter sent, a quarter delivered, the rest queued), against the scan of
//! `messages` a scrape made before the counts were kept, in the same run. Medians of RUNS reads
//! each, alternating. SQLite, and PostgreSQL too with `BENCH_PG` set to a server URL (a
//! database of its own, dropped at the end).
//!
//! The messages are copied in by SQL from one loaded through the store (loading 2M rows the
//! normal way is what `bench_load` measures), and counted as a load counts them.
//!
//! `cargo run --release --example bench_metrics -- [ROWS] [RUNS]`

use std::time::Instant;

use campaign::campaign::definition::{CampaignFile, Channel};
use campaign::campaign::{self as camp, LoadOptions};
use campaign::queue::{Backend, Store};

/// The scrape's read before the counts were kept: one pass over every message.
const SCAN: &str = "SELECT state, ack, COUNT(*),
        SUM(CASE WHEN state = 'queued' AND next_attempt_at > $1 THEN 1 ELSE 0 END)
     FROM messages GROUP BY state, ack";

const FILL_SQLITE: &str =
    "WITH RECURSIVE s(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM s WHERE i < $1)
    INSERT INTO messages (campaign_id, line, phone, dedupe_key, recipient_key, payload, queued_ms,
                          created_at, updated_at)
    SELECT m.campaign_id, s.i, printf('+4479%08d', s.i), 'k' || s.i, 'k' || s.i, m.payload,
           m.queued_ms, m.created_at, m.updated_at
    FROM messages m, s WHERE m.id = (SELECT MIN(id) FROM messages)";

const FILL_PG: &str = "INSERT INTO messages (campaign_id, line, phone, dedupe_key, recipient_key,
                          payload, queued_ms, created_at, updated_at)
    SELECT m.campaign_id, s.i, '+4479' || lpad(s.i::text, 8, '0'), 'k' || s.i, 'k' || s.i,
           m.payload, m.queued_ms, m.created_at, m.updated_at
    FROM messages m, generate_series(2, $1) AS s(i) WHERE m.id = (SELECT MIN(id) FROM messages)";

/// What the load would have counted for the rows copied in.
const COUNT_SQLITE: &str = "UPDATE message_counts SET n = n + $1 WHERE state = 'queued'";
const COUNT_PG: &str = "INSERT INTO message_counts (campaign_id, state, ack_key, n)
    SELECT campaign_id, 'queued', -100, $1 FROM messages WHERE id = (SELECT MIN(id) FROM messages)";

/// Moves half of them on, as sends and acks would (the triggers count it).
const MOVE: [&str; 2] = [
    "UPDATE messages SET state = 'sent', ack = 1 WHERE id % 4 = 0",
    "UPDATE messages SET state = 'delivered', ack = 2 WHERE id % 4 = 1",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: i64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2_000_000);
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let sqlite = dir.path().join("metrics.db");
        bench("sqlite", sqlite.to_str().unwrap(), rows, runs, dir.path()).await?;
        if let Ok(server) = std::env::var("BENCH_PG") {
            let name = format!("bench_metrics_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&server).await?;
            let create = format!("CREATE DATABASE {name}");
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
            let url = format!("{}/{name}", &server[..server.rfind('/').unwrap()]);
            let result = bench("postgres", &url, rows, runs, dir.path()).await;
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&admin)
                .await?;
            result?;
        }
        Ok(())
    })
}

async fn bench(
    engine: &str,
    db: &str,
    rows: i64,
    runs: usize,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    let csv = dir.join("one.csv");
    std::fs::write(&csv, "phone,name\n+447912000001,Ann\n")?;
    let def = CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi {name}".into()),
        csv: Some(csv),
        ..Default::default()
    }
    .with(CampaignFile::default())?;
    let loaded = camp::load(&def, &store, None, &LoadOptions::default()).await?;
    let campaign = loaded.campaign.expect("a campaign");
    let fill_started = Instant::now();
    let (pool, fill, count) = match store.backend() {
        Backend::Sqlite => (
            Pool::Sqlite(sqlx::SqlitePool::connect(db).await?),
            FILL_SQLITE,
            COUNT_SQLITE,
        ),
        Backend::Postgres => (
            Pool::Postgres(sqlx::PgPool::connect(db).await?),
            FILL_PG,
            COUNT_PG,
        ),
    };
    for sql in [fill, count] {
        pool.execute(sql, Some(rows - 1)).await?;
    }
    for sql in MOVE {
        pool.execute(sql, None).await?;
    }
    if let Pool::Postgres(_) = pool {
        pool.execute("VACUUM ANALYZE messages", None).await?;
    }
    let counts = store.counts(campaign).await?;
    anyhow::ensure!(counts.total == rows, "{counts:?}");
    println!(
        "{engine}: {rows} messages ({} queued, {} sent, {} delivered), made in {:.1} s",
        counts.queued,
        counts.sent,
        counts.delivered,
        fill_started.elapsed().as_secs_f64()
    );
    let (mut kept, mut scanned) = (vec![], vec![]);
    let defer = campaign::clock::now_ms() + 60_000;
    for _ in 0..runs {
        let start = Instant::now();
        let gauges = store.queue_gauges(defer).await?;
        store.token_holders().await?;
        kept.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(gauges.by_state.iter().map(|s| s.1).sum::<i64>() == rows);
        let start = Instant::now();
        pool.scan(defer).await?;
        scanned.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let (kept, scanned) = (median(&mut kept), median(&mut scanned));
    println!(
        "{engine}: /metrics store read median {kept:.2} ms; the scan it replaced {scanned:.1} ms (ratio {:.4})",
        kept / scanned
    );
    Ok(())
}

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    /// Runs `sql`, with `arg` as its one argument if given.
    async fn execute(&self, sql: &'static str, arg: Option<i64>) -> anyhow::Result<()> {
        match self {
            Pool::Sqlite(p) => {
                let q = sqlx::query(sql);
                let q = if let Some(a) = arg { q.bind(a) } else { q };
                q.execute(p).await?;
            }
            Pool::Postgres(p) => {
                let q = sqlx::query(sql);
                let q = if let Some(a) = arg { q.bind(a) } else { q };
                q.execute(p).await?;
            }
        }
        Ok(())
    }

    async fn scan(&self, defer: i64) -> anyhow::Result<()> {
        match self {
            Pool::Sqlite(p) => drop(sqlx::query(SCAN).bind(defer).fetch_all(p).await?),
            Pool::Postgres(p) => drop(sqlx::query(SCAN).bind(defer).fetch_all(p).await?),
        }
        Ok(())
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
