//! Worker benchmarks (issue 9), against the in-process simulator over loopback HTTP:
//!
//! - `rate`: the simulator enforcing 10 sends/s per token over any sliding second; 1, 2 and 5
//!   SMS campaigns on one token sent at once by one worker (`engine::run_worker`). The
//!   combined rate is measured from the first to the last accepted send in the simulator's
//!   ledger; every rate-limit rejection is counted; and each campaign's share of the first
//!   half of the sends shows the fairness.
//! - `tokens`: one worker holding TOKENS tokens (default 100), a campaign of MESSAGES SMS on
//!   each (default 100), the simulator enforcing 10 sends/s per token: each token's rate
//!   (accepted sends over its span in the ledger), the aggregate, and the rejections. On
//!   SQLite, or with `BENCH_PG` set to a server URL on a PostgreSQL database of its own.
//! - `beside`: one worker sending a campaign of MESSAGES SMS (default 300) at 10/s on one
//!   token while a load of ROWS rows (default 300,000) into another campaign runs beside it,
//!   from the same process: the largest gap between two accepted sends of the campaign while
//!   the load ran, its rate, and the rejections. On SQLite, or PostgreSQL with `BENCH_PG`.
//! - `memory`: run it through `scripts/bench_worker_memory.sh` (a real `campaign worker`
//!   process and its peak memory).
//!
//! `cargo run --release --example bench_worker -- rate [RUNS] [MESSAGES]`
//! `cargo run --release --example bench_worker -- tokens [RUNS] [MESSAGES] [TOKENS]`
//! `cargo run --release --example bench_worker -- beside [RUNS] [MESSAGES] [ROWS]`

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use campaign::campaign::definition::{CampaignFile, Channel};
use campaign::campaign::{self as camp, LoadOptions};
use campaign::convrs::{Client, ClientConfig};
use campaign::engine::{self, TokenLimits, WorkerConfig, WorkerStatus};
use campaign::queue::{CampaignId, Store};
use campaign::sim::{self, SimConfig, ledger};
use campaign::tracking::PollSchedule;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let total: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(300);
    match args.get(1).map(String::as_str).unwrap_or("rate") {
        "rate" => {
            for campaigns in [1, 2, 5] {
                rate(campaigns, total, runs).await?;
            }
            Ok(())
        }
        "tokens" => {
            let per: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(100);
            let tokens: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(100);
            many_tokens(tokens, per, runs).await
        }
        "beside" => {
            let per: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(300);
            let rows: usize = args
                .get(4)
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(300_000);
            beside(per, rows, runs).await
        }
        other => anyhow::bail!("unknown benchmark {other}: use rate, tokens or beside"),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Queues `n` SMS of campaign `c` (numbers distinct across campaigns).
async fn queue(store: &Store, dir: &Path, c: usize, n: usize) -> anyhow::Result<CampaignId> {
    let phone = |i: usize| format!("+447912{c:01}{i:04}7");
    queue_on(
        store,
        dir,
        c,
        n,
        phone,
        &client("http://127.0.0.1:1", TOKEN)?,
    )
    .await
}

/// Queues `n` SMS of campaign `c` to `phone(i)` for a worker holding `on`'s token.
async fn queue_on(
    store: &Store,
    dir: &Path,
    c: usize,
    n: usize,
    phone: impl Fn(usize) -> String,
    on: &Client,
) -> anyhow::Result<CampaignId> {
    use std::io::Write;
    let csv = dir.join(format!("c{c}.csv"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
    writeln!(out, "phone,name")?;
    for i in 0..n {
        writeln!(out, "{},Name{i}", phone(i))?;
    }
    out.flush()?;
    drop(out);
    let def = CampaignFile {
        name: Some(format!("bench-{c}")),
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi {name}, your parcel is on its way.".into()),
        csv: Some(csv),
        ..Default::default()
    }
    .with(CampaignFile::default())?;
    let loaded = camp::load(&def, store, None, &LoadOptions::default()).await?;
    let id = loaded.campaign.expect("a campaign");
    // Queued for a worker on the token, as `campaign run --detach` leaves it.
    let fingerprint = on.token_fingerprint();
    store
        .queue_for_sender(
            id,
            &fingerprint,
            1,
            campaign::queue::SendOptions {
                max_attempts: Some(5),
                ..Default::default()
            },
            "bench",
        )
        .await?;
    Ok(id)
}

fn client(url: &str, token: &str) -> anyhow::Result<Client> {
    Ok(Client::new(
        &ClientConfig::new(url),
        SecretString::from(token.to_string()),
    )?)
}

async fn rate(campaigns: usize, total: usize, runs: usize) -> anyhow::Result<()> {
    let per = total / campaigns;
    let n = per * campaigns;
    let (mut rates, mut rejected, mut shares) = (vec![], 0, vec![]);
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let ledger_path = dir.path().join("ledger.jsonl");
        let sim = simulator(vec![TOKEN.into()], &ledger_path).await?;
        let store = Store::open(dir.path().join("bench.db").to_str().unwrap()).await?;
        let mut phones_of = HashMap::new();
        for c in 0..campaigns {
            let id = queue(&store, dir.path(), c, per).await?;
            phones_of.insert(format!("+447912{c:01}"), id);
        }
        let config = worker_config();
        let stop = CancellationToken::new();
        let worker = {
            let (store, client, stop) = (store.clone(), client(&sim.url(), TOKEN)?, stop.clone());
            let status = Arc::new(WorkerStatus::default());
            tokio::spawn(async move {
                engine::run_worker(&store, &[client], &config, &status, &stop).await
            })
        };
        wait_accepted(&ledger_path, n).await;
        stop.cancel();
        worker.await?;
        sim.stop().await?;
        let entries = ledger::read(&ledger_path)?;
        rejected += entries.iter().filter(|e| e.event == "rate_limited").count();
        let accepted: Vec<_> = entries.iter().filter(|e| e.event == "accepted").collect();
        rates.push(per_second(&accepted)?);
        // Each campaign's share of the first half of the sends.
        let mut counts: HashMap<CampaignId, usize> = HashMap::new();
        for e in &accepted[..n / 2] {
            let id = phones_of[&e.phone[..8]];
            *counts.entry(id).or_default() += 1;
        }
        let min = counts.values().min().copied().unwrap_or(0);
        let max = counts.values().max().copied().unwrap_or(0);
        shares.push(format!("{min}..{max} of {}", n / 2));
    }
    let r = median(&mut rates);
    println!(
        "rate: {campaigns} campaign(s), {n} SMS on one token at 10/s: median {r:.2} msg/s = {:.1}% of the limit; {rejected} rate-limit rejections in {runs} runs; per-campaign share of the first half: {}",
        10.0 * r,
        shares.join(", ")
    );
    Ok(())
}

/// The simulator on a loopback port, enforcing 10 sends/s per token, its ledger at `ledger`.
async fn simulator(tokens: Vec<String>, ledger: &Path) -> anyhow::Result<sim::RunningSim> {
    let config = SimConfig {
        tokens,
        token_rate: 10,
        number_rate: 1,
        ledger: Some(ledger.to_path_buf()),
        ack_delay: Duration::from_secs(3600),
        ..SimConfig::default()
    };
    Ok(sim::start("127.0.0.1:0".parse()?, config).await?)
}

/// Sends per second over the span of `accepted` (the ledger's entries, in order).
fn per_second(accepted: &[&ledger::LedgerEntry]) -> anyhow::Result<f64> {
    let first = chrono::DateTime::parse_from_rfc3339(&accepted[0].time)?;
    let last = chrono::DateTime::parse_from_rfc3339(&accepted[accepted.len() - 1].time)?;
    Ok((accepted.len() - 1) as f64 / (last - first).as_seconds_f64())
}

/// From the first token's first send to the last token's: with each token at its limit, the
/// aggregate falls short of the tokens' sum by this much of the span.
fn first_sends_spread<'a>(
    tokens: impl Iterator<Item = &'a Vec<&'a ledger::LedgerEntry>>,
) -> anyhow::Result<f64> {
    let firsts: Vec<chrono::DateTime<chrono::FixedOffset>> = tokens
        .map(|sends| chrono::DateTime::parse_from_rfc3339(&sends[0].time))
        .collect::<Result<_, _>>()?;
    match (firsts.iter().min(), firsts.iter().max()) {
        (Some(first), Some(last)) => Ok((*last - *first).as_seconds_f64()),
        _ => Ok(0.0),
    }
}

/// Waits until the simulator accepted `n` sends (the ledger is the server's view; its last
/// line may be half written while it is read).
async fn wait_accepted(ledger_path: &Path, n: usize) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let text = std::fs::read_to_string(ledger_path).unwrap_or_default();
        let accepted = text
            .lines()
            .filter(|l| l.ends_with('}') && l.contains(r#""event":"accepted""#))
            .count();
        if accepted >= n {
            break;
        }
    }
}

/// One worker holding `tokens` tokens, `per` SMS on each, 10/s per token enforced.
async fn many_tokens(tokens: usize, per: usize, runs: usize) -> anyhow::Result<()> {
    let names: Vec<String> = (0..tokens).map(|t| format!("bench-token-{t}")).collect();
    let n = tokens * per;
    let (mut mins, mut medians, mut totals, mut rejected) = (vec![], vec![], vec![], 0);
    let mut spreads = vec![];
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let ledger_path = dir.path().join("ledger.jsonl");
        let sim = simulator(names.clone(), &ledger_path).await?;
        let db = database(dir.path()).await?;
        let store = Store::open(&db).await?;
        let clients: Vec<Client> = names
            .iter()
            .map(|t| client(&sim.url(), t))
            .collect::<anyhow::Result<_>>()?;
        for (t, on) in clients.iter().enumerate() {
            // Valid UK mobiles ending in 7 (the simulator scripts errors for other endings).
            let phone = |i: usize| format!("+447{}{}{i:04}7", 912 + t / 10, t % 10);
            queue_on(&store, dir.path(), t, per, phone, on).await?;
        }
        let worker = Worker::start(&store, clients);
        wait_accepted(&ledger_path, n).await;
        let entries = worker.wind_up(sim, store, &db, &ledger_path).await?;
        rejected += entries.iter().filter(|e| e.event == "rate_limited").count();
        let accepted: Vec<_> = entries.iter().filter(|e| e.event == "accepted").collect();
        totals.push(per_second(&accepted)?);
        let mut by_token: HashMap<&str, Vec<&ledger::LedgerEntry>> = HashMap::new();
        for e in &accepted {
            by_token.entry(e.token.as_str()).or_default().push(e);
        }
        let mut rates: Vec<f64> = by_token
            .values()
            .map(|a| per_second(a))
            .collect::<anyhow::Result<_>>()?;
        mins.push(rates.iter().copied().fold(f64::INFINITY, f64::min));
        medians.push(median(&mut rates));
        spreads.push(first_sends_spread(by_token.values())?);
    }
    println!(
        "tokens: one worker on {}, {tokens} tokens x {per} SMS at 10/s each: per token median {:.2} msg/s, slowest {:.2} msg/s; aggregate {:.0} msg/s; {rejected} rate-limit rejections in {runs} runs (medians over runs); the tokens' first sends spread over {:.3} s",
        engine_name(),
        median(&mut medians),
        median(&mut mins),
        median(&mut totals),
        median(&mut spreads)
    );
    Ok(())
}

/// One worker sends `per` SMS at 10/s while `rows` rows load into another campaign.
async fn beside(per: usize, rows: usize, runs: usize) -> anyhow::Result<()> {
    let (mut gaps, mut rates, mut loads, mut rejected) = (vec![], vec![], vec![], 0);
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let ledger_path = dir.path().join("ledger.jsonl");
        let sim = simulator(vec![TOKEN.into()], &ledger_path).await?;
        let db = database(dir.path()).await?;
        let store = Store::open(&db).await?;
        let on = client(&sim.url(), TOKEN)?;
        queue_on(
            &store,
            dir.path(),
            0,
            per,
            |i| format!("+4479120{i:04}7"),
            &on,
        )
        .await?;
        let worker = Worker::start(&store, vec![on]);
        // The load starts once the campaign is sending at its pace.
        wait_accepted(&ledger_path, 20).await;
        let started = chrono::Utc::now();
        let big = dir.path().join("big");
        std::fs::create_dir(&big)?;
        let phone = |i: usize| format!("+4479{:07}7", 1_000_000 + i);
        queue_on(
            &store,
            &big,
            1,
            rows,
            phone,
            &client("http://127.0.0.1:1", "other")?,
        )
        .await?;
        let ended = chrono::Utc::now();
        loads.push((ended - started).as_seconds_f64());
        wait_accepted(&ledger_path, per).await;
        let entries = worker.wind_up(sim, store, &db, &ledger_path).await?;
        rejected += entries.iter().filter(|e| e.event == "rate_limited").count();
        let accepted: Vec<_> = entries.iter().filter(|e| e.event == "accepted").collect();
        rates.push(per_second(&accepted)?);
        let times: Vec<chrono::DateTime<chrono::Utc>> = accepted
            .iter()
            .map(|e| chrono::DateTime::parse_from_rfc3339(&e.time).map(|t| t.to_utc()))
            .collect::<Result<_, _>>()?;
        // The largest gap between two sends of which one falls within the load.
        let gap = times
            .windows(2)
            .filter(|w| w[1] >= started && w[0] <= ended)
            .map(|w| (w[1] - w[0]).as_seconds_f64())
            .fold(0.0, f64::max);
        gaps.push(gap);
    }
    let worst = gaps.iter().copied().fold(0.0, f64::max);
    println!(
        "beside: one worker on {}, {per} SMS at 10/s while {rows} rows load into another campaign (load median {:.2} s): largest gap between sends during the load median {:.3} s (worst {:.3} s); rate {:.2} msg/s; {rejected} rate-limit rejections in {runs} runs",
        engine_name(),
        median(&mut loads),
        median(&mut gaps),
        worst,
        median(&mut rates)
    );
    Ok(())
}

/// A worker running in the benchmark's process.
struct Worker {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    fn start(store: &Store, clients: Vec<Client>) -> Self {
        let (store, stop) = (store.clone(), CancellationToken::new());
        let status = Arc::new(WorkerStatus::default());
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let config = worker_config();
                engine::run_worker(&store, &clients, &config, &status, &stop).await
            })
        };
        Worker { stop, task }
    }

    /// Stops the worker and the simulator, drops the database, and reads the ledger.
    async fn wind_up(
        self,
        sim: sim::RunningSim,
        store: Store,
        db: &str,
        ledger_path: &Path,
    ) -> anyhow::Result<Vec<ledger::LedgerEntry>> {
        self.stop.cancel();
        self.task.await?;
        sim.stop().await?;
        drop(store);
        drop_database(db).await?;
        Ok(ledger::read(ledger_path)?)
    }
}

/// The engine the benchmark runs on: PostgreSQL with `BENCH_PG`, else SQLite.
fn engine_name() -> &'static str {
    if std::env::var_os("BENCH_PG").is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// A database for one run: SQLite in `dir`, or with `BENCH_PG` (a server URL) a PostgreSQL
/// database of its own.
async fn database(dir: &Path) -> anyhow::Result<String> {
    let Ok(server) = std::env::var("BENCH_PG") else {
        return Ok(dir.join("bench.db").to_str().unwrap().to_string());
    };
    let name = format!("bench_worker_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&server).await?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await?;
    }
    Ok(format!("{}/{name}", &server[..server.rfind('/').unwrap()]))
}

async fn drop_database(db: &str) -> anyhow::Result<()> {
    let Ok(server) = std::env::var("BENCH_PG") else {
        return Ok(());
    };
    let name = &db[db.rfind('/').unwrap() + 1..];
    let admin = sqlx::PgPool::connect(&server).await?;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin)
        .await?;
    Ok(())
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        limits: TokenLimits {
            rate: 10,
            number_rate: 1,
            lease: Duration::from_secs(30),
        },
        in_flight: 16,
        max_attempts: 5,
        callback: None,
        polls: PollSchedule {
            first: Duration::from_secs(3600),
            ..PollSchedule::default()
        },
        reconcile_after: Duration::from_secs(60),
        defer_after: Duration::from_secs(60),
        tick: Duration::from_millis(200),
        request_timeout: Duration::from_secs(30),
        events_ws: None,
        frequency_cap: None,
    }
}
