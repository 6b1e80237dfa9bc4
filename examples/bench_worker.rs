//! Worker benchmarks (issue 9), against the in-process simulator over loopback HTTP:
//!
//! - `rate`: the simulator enforcing 10 sends/s per token over any sliding second; 1, 2 and 5
//!   SMS campaigns on one token sent at once by one worker (`engine::run_worker`). The
//!   combined rate is measured from the first to the last accepted send in the simulator's
//!   ledger; every rate-limit rejection is counted; and each campaign's share of the first
//!   half of the sends shows the fairness.
//! - `memory`: run it through `scripts/bench_worker_memory.sh` (a real `campaign worker`
//!   process and its peak memory).
//!
//! `cargo run --release --example bench_worker -- rate [RUNS] [MESSAGES]`

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
        other => anyhow::bail!("unknown benchmark {other}: use rate"),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Queues `n` SMS of campaign `c` (numbers distinct across campaigns).
async fn queue(store: &Store, dir: &Path, c: usize, n: usize) -> anyhow::Result<CampaignId> {
    use std::io::Write;
    let csv = dir.join(format!("c{c}.csv"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
    writeln!(out, "phone,name")?;
    for i in 0..n {
        // Valid UK mobiles ending in 7 (the simulator scripts errors for other endings).
        writeln!(out, "+447912{c:01}{i:04}7,Name{i}")?;
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
    let fingerprint = client("http://127.0.0.1:1")?.token_fingerprint();
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

fn client(url: &str) -> anyhow::Result<Client> {
    Ok(Client::new(
        &ClientConfig::new(url),
        SecretString::from(TOKEN),
    )?)
}

async fn rate(campaigns: usize, total: usize, runs: usize) -> anyhow::Result<()> {
    let per = total / campaigns;
    let n = per * campaigns;
    let (mut rates, mut rejected, mut shares) = (vec![], 0, vec![]);
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let ledger_path = dir.path().join("ledger.jsonl");
        let sim = sim::start(
            "127.0.0.1:0".parse()?,
            SimConfig {
                tokens: vec![TOKEN.into()],
                token_rate: 10,
                number_rate: 1,
                ledger: Some(ledger_path.clone()),
                ack_delay: Duration::from_secs(3600),
                ..SimConfig::default()
            },
        )
        .await?;
        let store = Store::open(dir.path().join("bench.db").to_str().unwrap()).await?;
        let mut phones_of = HashMap::new();
        for c in 0..campaigns {
            let id = queue(&store, dir.path(), c, per).await?;
            phones_of.insert(format!("+447912{c:01}"), id);
        }
        let config = WorkerConfig {
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
        };
        let stop = CancellationToken::new();
        let worker = {
            let (store, client, stop) = (store.clone(), client(&sim.url())?, stop.clone());
            let status = Arc::new(WorkerStatus::default());
            tokio::spawn(async move {
                engine::run_worker(&store, &[client], &config, &status, &stop).await
            })
        };
        // Wait for every message to be accepted (the ledger is the server's view; its last
        // line may be half written while it is read).
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let text = std::fs::read_to_string(&ledger_path).unwrap_or_default();
            let accepted = text
                .lines()
                .filter(|l| l.ends_with('}') && l.contains(r#""event":"accepted""#))
                .count();
            if accepted >= n {
                break;
            }
        }
        stop.cancel();
        worker.await?;
        sim.stop().await?;
        let entries = ledger::read(&ledger_path)?;
        rejected += entries.iter().filter(|e| e.event == "rate_limited").count();
        let accepted: Vec<_> = entries.iter().filter(|e| e.event == "accepted").collect();
        let times: Vec<chrono::DateTime<chrono::FixedOffset>> = accepted
            .iter()
            .map(|e| chrono::DateTime::parse_from_rfc3339(&e.time))
            .collect::<Result<_, _>>()?;
        let span = (times[n - 1] - times[0]).as_seconds_f64();
        rates.push((n - 1) as f64 / span);
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
