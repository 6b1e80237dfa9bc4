//! Dispatch benchmarks (issue 4), each against the in-process simulator over loopback HTTP:
//!
//! - `rate`: the simulator's limits raised to 200/s; a 5,000-message campaign sent at
//!   `--rate 200`; the rate reached (first to last accepted send, from the simulator's ledger)
//!   and the number of rate-limit rejections.
//! - `throughput`: limits off; messages per second end to end through the dispatcher (claim,
//!   send, record) against a bare loop of the same HTTP requests with the same concurrency.
//! - `first-send`: 1,000,000 messages queued; from opening the database for a resumed run to
//!   the first send the simulator accepts.
//!
//! `cargo run --release --example bench_dispatch -- [rate|throughput|first-send|all] [RUNS]`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use campaign::campaign::definition::{CampaignFile, Channel, Definition};
use campaign::campaign::{self as camp, LoadOptions};
use campaign::convrs::{Client, ClientConfig, Verdict};
use campaign::dispatch::{self, DispatchConfig};
use campaign::engine;
use campaign::engine::RunOptions;
use campaign::queue::{CampaignId, Lease, Store, this_process};
use campaign::sim::{self, SimConfig, ledger};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("all");
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    if matches!(which, "rate" | "all") {
        rate(runs).await?;
    }
    if matches!(which, "throughput" | "all") {
        throughput(runs).await?;
    }
    if matches!(which, "first-send" | "all") {
        first_send(runs).await?;
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn recipients(path: &Path, n: usize) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "phone,name")?;
    for i in 0..n {
        // Valid UK mobiles ending in 7, which the simulator scripts no SMS error for (its
        // scripted numbers end in 2001, 2003, 2004, 2005 and 2006).
        writeln!(out, "+44{}{:05}7,Name{i}", 7912 + i / 100_000, i % 100_000)?;
    }
    out.flush()
}

fn sms_definition(csv: &Path) -> anyhow::Result<Definition> {
    Ok(CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi {name}, your parcel is on its way.".into()),
        csv: Some(csv.into()),
        ..Default::default()
    }
    .with(CampaignFile::default())?)
}

async fn queued(dir: &Path, n: usize) -> anyhow::Result<(Store, CampaignId)> {
    let csv = dir.join("r.csv");
    recipients(&csv, n)?;
    let store = Store::open(dir.join("bench.db").to_str().unwrap()).await?;
    let loaded = camp::load(
        &sms_definition(&csv)?,
        &store,
        None,
        &LoadOptions::default(),
    )
    .await?;
    Ok((store, loaded.campaign.expect("a campaign")))
}

fn client(url: &str) -> anyhow::Result<Client> {
    Ok(Client::new(
        &ClientConfig::new(url),
        SecretString::from(TOKEN),
    )?)
}

fn sim_config(rate: u32, number_rate: u32, ledger: Option<&Path>) -> SimConfig {
    SimConfig {
        tokens: vec![TOKEN.into()],
        token_rate: rate,
        number_rate,
        ledger: ledger.map(Path::to_path_buf),
        ack_delay: Duration::from_secs(3600),
        ..SimConfig::default()
    }
}

fn config(rate: u32, in_flight: usize) -> DispatchConfig {
    DispatchConfig {
        rate,
        number_rate: 1,
        max_attempts: 5,
        in_flight,
        command: "SendSMSMessage",
        callback: None,
        first_poll: Duration::from_secs(1),
        defer_after: Duration::from_secs(60),
    }
}

/// The campaign lease a dispatch needs, taken as a run would.
async fn lease(store: &Store, id: CampaignId) -> anyhow::Result<Arc<Lease>> {
    let lease = store
        .take_lease(id, &this_process(), Duration::from_secs(3600))
        .await??;
    Ok(Arc::new(lease))
}

async fn rate(runs: usize) -> anyhow::Result<()> {
    let (n, target) = (5000, 200);
    let mut rates = vec![];
    let mut rejected = 0;
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let ledger_path = dir.path().join("ledger.jsonl");
        let sim = sim::start(
            "127.0.0.1:0".parse()?,
            sim_config(target, 1, Some(&ledger_path)),
        )
        .await?;
        let (store, id) = queued(dir.path(), n).await?;
        dispatch::dispatch(
            &store,
            &client(&sim.url())?,
            &lease(&store, id).await?,
            &config(target, 32),
            &CancellationToken::new(),
        )
        .await?;
        sim.stop().await?;
        let entries = ledger::read(&ledger_path)?;
        rejected += entries.iter().filter(|e| e.event == "rate_limited").count();
        let times: Vec<chrono::DateTime<chrono::FixedOffset>> = entries
            .iter()
            .filter(|e| e.event == "accepted")
            .map(|e| chrono::DateTime::parse_from_rfc3339(&e.time))
            .collect::<Result<_, _>>()?;
        anyhow::ensure!(times.len() == n, "{} of {n} accepted", times.len());
        let span = (times[n - 1] - times[0]).as_seconds_f64();
        rates.push((n - 1) as f64 / span);
    }
    let r = median(&mut rates);
    println!(
        "rate: {n} messages at --rate {target}: median {r:.1} msg/s = {:.1}% of the configured rate; {rejected} rate-limit rejections in {runs} runs",
        100.0 * r / f64::from(target)
    );
    Ok(())
}

async fn throughput(runs: usize) -> anyhow::Result<()> {
    let (n, in_flight) = (20_000, 32);
    let (mut bare, mut ours, mut ratios) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let sim = sim::start("127.0.0.1:0".parse()?, sim_config(0, 0, None)).await?;
        let api = client(&sim.url())?;
        let (store, id) = queued(dir.path(), n).await?;
        // The same payloads, sent by a bare loop with the same concurrency.
        let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM messages ORDER BY id")
            .fetch_all(&sqlx::SqlitePool::connect(store.location()).await?)
            .await?;
        let payloads = if std::env::var_os("BENCH_ONLY_DISPATCHER").is_some() {
            payloads[..1].to_vec()
        } else {
            payloads
        };
        let before = bare_loop(&api, &payloads, in_flight).await?;
        let lease = lease(&store, id).await?;
        let (start, cpu_before) = (Instant::now(), cpu());
        dispatch::dispatch(
            &store,
            &api,
            &lease,
            &config(1_000_000, in_flight),
            &CancellationToken::new(),
        )
        .await?;
        ours.push(n as f64 / start.elapsed().as_secs_f64());
        let ours_cpu = cpu().since(&cpu_before);
        // The bare loop again, now that the simulator holds what the dispatcher sent too: the
        // baseline is the mean of the two, which brackets the dispatcher's run.
        let after = bare_loop(&api, &payloads, in_flight).await?;
        bare.push((before.rate + after.rate) / 2.0);
        eprintln!(
            "  bare loop {:.0} msg/s before, {:.0} after; CPU per message: bare loop {:.1} us, dispatcher {:.1} us (SQLite's thread {:.1} us)",
            before.rate,
            after.rate,
            before.cpu_per_message * 1e6,
            ours_cpu.total * 1e6 / n as f64,
            ours_cpu.sqlite * 1e6 / n as f64,
        );
        ratios.push(ours[ours.len() - 1] / bare[bare.len() - 1]);
        anyhow::ensure!(
            store.counts(id).await?.sent == n as i64,
            "dispatcher did not send everything"
        );
        sim.stop().await?;
    }
    let runs_text: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let (b, o, r) = (median(&mut bare), median(&mut ours), median(&mut ratios));
    println!(
        "throughput: {n} messages, {in_flight} in flight, limits off: dispatcher {o:.0} msg/s, bare HTTP loop {b:.0} msg/s (medians); ratio {r:.2} (median of per-run ratios: {})",
        runs_text.join(", ")
    );
    Ok(())
}

/// What a bare loop measured: its rate and CPU seconds per message.
struct Bare {
    rate: f64,
    cpu_per_message: f64,
}

/// The same requests as the dispatcher's, sent by a bare loop with the same concurrency.
async fn bare_loop(api: &Client, payloads: &[String], in_flight: usize) -> anyhow::Result<Bare> {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let (start, cpu_before) = (Instant::now(), cpu());
    let mut tasks = tokio::task::JoinSet::new();
    for payload in payloads {
        let permit = slots.clone().acquire_owned().await?;
        let (api, payload) = (api.clone(), payload.clone());
        tasks.spawn(async move {
            let _permit = permit;
            match api.send_frozen("SendSMSMessage", &payload, None).await {
                Verdict::Accepted { .. } => true,
                other => {
                    eprintln!("bare loop: {other:?}");
                    false
                }
            }
        });
    }
    let accepted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    let rate = accepted as f64 / start.elapsed().as_secs_f64();
    let cpu = cpu().since(&cpu_before).total / accepted.max(1) as f64;
    Ok(Bare {
        rate,
        cpu_per_message: cpu,
    })
}

/// CPU seconds the process has used, in all and on SQLite's worker thread, from
/// `/proc/self/task/*/stat` (utime + stime, in clock ticks of 10 ms).
struct Cpu {
    total: f64,
    sqlite: f64,
}

impl Cpu {
    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            total: self.total - before.total,
            sqlite: self.sqlite - before.sqlite,
        }
    }
}

fn cpu() -> Cpu {
    let mut cpu = Cpu {
        total: 0.0,
        sqlite: 0.0,
    };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return cpu;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // The name is in parentheses and may hold spaces; the fields after it are plain.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        // utime and stime, the 14th and 15th fields (the 12th and 13th after the name).
        let ticks: f64 = rest
            .split(' ')
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<f64>().ok())
            .sum();
        let seconds = ticks / 100.0;
        cpu.total += seconds;
        if head.contains("sqlx-sqlite") {
            cpu.sqlite += seconds;
        }
    }
    cpu
}

async fn first_send(runs: usize) -> anyhow::Result<()> {
    let n = 1_000_000;
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("r.csv");
    recipients(&csv, n)?;
    let db = dir.path().join("bench.db");
    {
        let store = Store::open(db.to_str().unwrap()).await?;
        camp::load(
            &sms_definition(&csv)?,
            &store,
            None,
            &LoadOptions::default(),
        )
        .await?;
        // Closed, as a `campaign run` that loaded leaves it: the resumed run below opens a
        // database no connection has open.
        store.close().await;
    }
    let mut waits = vec![];
    for _ in 0..runs {
        let ledger_path = dir.path().join(format!("ledger-{}.jsonl", waits.len()));
        let sim = sim::start(
            "127.0.0.1:0".parse()?,
            sim_config(10, 1, Some(&ledger_path)),
        )
        .await?;
        let api = client(&sim.url())?;
        let started = chrono::Utc::now();
        // What a resumed `campaign run r.csv` does before its first send.
        let store = Store::open(db.to_str().unwrap()).await?;
        let loaded = camp::load(
            &sms_definition(&csv)?,
            &store,
            Some(&api),
            &LoadOptions::default(),
        )
        .await?;
        anyhow::ensure!(
            loaded.summary.unchanged,
            "the resumed load should not read the file again"
        );
        let id = loaded.campaign.expect("a campaign");
        let cancel = CancellationToken::new();
        let stopper = {
            let (cancel, ledger_path) = (cancel.clone(), ledger_path.clone());
            tokio::spawn(async move {
                while ledger::read(&ledger_path)
                    .map(|l| l.is_empty())
                    .unwrap_or(true)
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                cancel.cancel();
            })
        };
        let opts = RunOptions {
            wait: None,
            reconcile_after: Duration::ZERO,
            polls: Default::default(),
            ..Default::default()
        };
        engine::run_campaign(&store, &api, id, &config(10, 16), &opts, &cancel).await?;
        store.close().await;
        stopper.await?;
        let first = chrono::DateTime::parse_from_rfc3339(&ledger::read(&ledger_path)?[0].time)?;
        waits.push((first.with_timezone(&chrono::Utc) - started).as_seconds_f64());
        sim.stop().await?;
    }
    println!(
        "first-send: {n} messages queued: median {:.3} s from opening the database to the first accepted send",
        median(&mut waits)
    );
    Ok(())
}
