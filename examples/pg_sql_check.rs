//! Which of the store's SQL statements PostgreSQL takes as they are (groundwork for issue 12).
//!
//! Runs a campaign through the store on SQLite the way the tool does: a load with a send
//! window, expiry and a daily cap, a run against the in-process simulator, a scheduled batch,
//! status and both reports. It records every statement sqlx executes (its `sqlx::query`
//! events), turns `?` placeholders into `$N`, and asks PostgreSQL to prepare each against the
//! schema `migrations/postgres/` builds. It prints how many prepare and why the others do not.
//!
//! `cargo run --example pg_sql_check` (PostgreSQL from `TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; it makes and drops a database of its own).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use campaign::campaign::definition::CampaignFile;
use campaign::convrs::{Client, ClientConfig};
use campaign::queue::Store;
use campaign::sim::{self, SimConfig};
use sqlx::{Connection, Executor};
use tracing_subscriber::layer::SubscriberExt;

const TOKEN: &str = "check-token";

/// Collects the SQL of every `sqlx::query` event.
struct Statements(Arc<Mutex<BTreeSet<String>>>);

#[derive(Default)]
struct Fields {
    summary: String,
    statement: String,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.to_string(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let sql = if fields.statement.trim().is_empty() {
            fields.summary
        } else {
            fields.statement
        };
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Ok(mut all) = self.0.lock() {
            all.insert(sql);
        }
    }
}

/// `?` and `?NNN` as PostgreSQL's `$N`, outside quoted strings.
fn numbered(sql: &str) -> String {
    let (mut out, mut next, mut quoted) = (String::new(), 1, false);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str(&format!("${next}"));
                    next += 1;
                } else {
                    out.push('$');
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// SQLite's own statements: their PostgreSQL counterparts differ by design.
fn sqlite_only(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    [
        "PRAGMA",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
        || upper.contains("SQLITE_")
        || upper.contains("_SQLX_MIGRATIONS")
}

async fn scenario(dir: &std::path::Path) -> anyhow::Result<()> {
    let config = SimConfig {
        tokens: vec![TOKEN.into()],
        ack_delay: Duration::from_millis(20),
        ..SimConfig::default()
    };
    let running = sim::start("127.0.0.1:0".parse()?, config).await?;
    let client = Client::new(&ClientConfig::new(running.url()), TOKEN.to_string().into())?;
    let store = Store::open(dir.join("campaign.db").to_str().unwrap_or_default()).await?;
    std::fs::write(
        dir.join("c.csv"),
        "phone,name,tz\n+447911000011,Ann,\n+12015550123,Bob,America/New_York\n",
    )?;
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        "name = \"check\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {name}\"\ncsv = \"c.csv\"\n\
         dedupe_key = \"{phone}\"\nschedule = \"0 9 * * *\"\ntimezone = \"Europe/London\"\n\
         send_window = { start = \"00:00\", end = \"23:59\" }\ntimezone_column = \"tz\"\n\
         max_age = \"6h\"\ndaily_limit = 1000\nprice = { per_segment = 0.04, currency = \"GBP\" }\n",
    )?;
    let def = CampaignFile::read(&file)?.with(CampaignFile::default())?;
    let token = client.token_fingerprint();
    let path = file.display().to_string();
    let now = campaign::clock::now_ms();
    let (id, _) = campaign::engine::register_and_fire(&store, &def, &path, &token, now).await?;
    let next = store.schedules(None).await?[0].next_run_at;
    campaign::engine::fire_schedules(&store, &client, &token, next, true).await?;
    let dispatch = campaign::dispatch::DispatchConfig {
        rate: 10,
        number_rate: 1,
        max_attempts: 3,
        in_flight: 4,
        command: "SendSMSMessage",
        callback: None,
        first_poll: Duration::from_millis(200),
        defer_after: Duration::from_secs(60),
    };
    let options = campaign::engine::RunOptions {
        wait: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    campaign::engine::run_campaign(&store, &client, id, &dispatch, &options, &cancel).await?;
    campaign::report::Overview::of(&store, id).await?;
    campaign::report::write_csv(&store, id, &dir.join("r.csv"), Default::default()).await?;
    campaign::report::write_html(&store, id, &dir.join("r.html")).await?;
    store.list_campaigns(now).await?;
    store.expire_due(None, now).await?;
    running.stop().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let subscriber = tracing_subscriber::registry().with(Statements(seen.clone()));
    tracing::subscriber::set_global_default(subscriber)?;
    let dir = tempfile::tempdir()?;
    scenario(dir.path()).await?;
    let statements: Vec<String> = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .filter(|s| !sqlite_only(s))
        .cloned()
        .collect();

    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = "campaign_sql_check";
    let mut admin = sqlx::PgConnection::connect(&url).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await?;
    let own = format!(
        "{}/{db}",
        url.rsplit_once('/').map_or(url.as_str(), |p| p.0)
    );
    let mut conn = sqlx::PgConnection::connect(&own).await?;
    campaign::queue::migrator(campaign::queue::Backend::Postgres)
        .run(&mut conn)
        .await?;
    let mut failed = vec![];
    for sql in &statements {
        if let Err(e) = conn
            .prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
                numbered(sql),
            )))
            .await
        {
            failed.push((sql.clone(), e.to_string()));
        }
    }
    conn.close().await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
        .await?;
    println!(
        "{} distinct statements of the store ran on SQLite; {} prepare on PostgreSQL as they are, {} do not:",
        statements.len(),
        statements.len() - failed.len(),
        failed.len()
    );
    for (sql, error) in &failed {
        println!("\n- {error}\n  {sql}");
    }
    Ok(())
}
