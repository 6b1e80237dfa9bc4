//! Benchmark for loading: a generated CSV of N rows (default 1,000,000) with phone numbers in
//! mixed formats is (a) merely parsed, CSV and phone numbers, and (b) validated and queued into
//! SQLite. Each mode runs in its own process so peak memory (VmHWM) is measured per mode; each
//! runs `RUNS` times and the median is reported, with the ratio (b)/(a).
//!
//! With `BENCH_PG` set to a PostgreSQL server URL (`postgres://postgres@127.0.0.1:5432/postgres`)
//! the load goes into PostgreSQL instead: a database of its own, made again for each run with
//! `psql` and dropped at the end.
//!
//! With `BENCH_CHANNEL=whatsapp` the campaign is a WhatsApp template of three parameters (the
//! simulator's `appointment_reminder`, put in the store's template cache first) instead of an
//! SMS of three placeholders.
//!
//! `cargo run --release --example bench_load -- [ROWS] [RUNS]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use campaign::campaign::definition::{CampaignFile, Channel};
use campaign::campaign::{self as camp, LoadOptions};
use campaign::convrs::wire::Template;
use campaign::phone::{PhoneNumber, Region};
use campaign::queue::Store;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--mode") {
        return child(&args[2], Path::new(&args[3]), &args[4]);
    }
    let rows: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("recipients.csv");
    generate(&csv, rows)?;
    println!(
        "{rows} rows, {} MB of CSV, {runs} runs per mode",
        std::fs::metadata(&csv)?.len() / 1_000_000
    );
    let mut results = vec![];
    for mode in ["parse", "load"] {
        let mut secs = vec![];
        let mut peaks = vec![];
        for _ in 0..runs {
            let _ = std::fs::remove_file(dir.path().join("bench.db"));
            let sqlite = dir.path().join("bench.db");
            let db = match mode {
                "load" => fresh_database(&sqlite)?,
                _ => sqlite.to_str().unwrap().to_string(),
            };
            let out = Command::new(std::env::current_exe()?)
                .args(["--mode", mode, csv.to_str().unwrap(), &db])
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "{mode}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout)?;
            let mut it = text.split_whitespace();
            secs.push(it.next().unwrap().parse::<f64>()?);
            peaks.push(it.next().unwrap().parse::<f64>()?);
        }
        let (s, p) = (median(&mut secs), median(&mut peaks));
        println!(
            "{mode:>5}: median {s:.2} s ({:.0} rows/s), peak memory {p:.0} MB",
            rows as f64 / s
        );
        results.push(s);
    }
    println!("ratio load/parse: {:.2}", results[1] / results[0]);
    if let Some(server) = std::env::var_os("BENCH_PG") {
        psql(&server, &format!("DROP DATABASE IF EXISTS {}", pg_name()))?;
    }
    Ok(())
}

/// The database a load run writes to: the SQLite file, or (with `BENCH_PG`) a PostgreSQL
/// database made empty.
fn fresh_database(sqlite: &Path) -> anyhow::Result<String> {
    let Some(server) = std::env::var_os("BENCH_PG") else {
        return Ok(sqlite.to_str().unwrap().to_string());
    };
    let name = pg_name();
    psql(&server, &format!("DROP DATABASE IF EXISTS {name}"))?;
    psql(&server, &format!("CREATE DATABASE {name}"))?;
    let server = server.to_str().unwrap();
    Ok(format!("{}/{name}", &server[..server.rfind('/').unwrap()]))
}

fn pg_name() -> String {
    format!("bench_load_{}", std::process::id())
}

fn psql(server: &std::ffi::OsStr, statement: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .arg(server)
        .args(["-qc", statement])
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Numbers in the formats users send: national, international with spaces, 00, dashes, brackets.
fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "phone,first_name,appointment_date,appointment_time,appointment_id"
    )?;
    for i in 0..rows {
        // Valid UK mobiles (07912 000000 to 07912 999999, then 07913...; libphonenumber knows
        // only part of 07911 as allocated), one in 50 malformed.
        let n = i % 1_000_000;
        let area = 7912 + (i / 1_000_000) % 80;
        if i % 50 == 49 {
            writeln!(out, "0{area} {},Name{i},2026-12-01,10:30,A{i}", n % 1000)?;
            continue;
        }
        let phone = match i % 5 {
            0 => format!("0{area} {n:06}"),
            1 => format!("+44 {area} {n:06}"),
            2 => format!("0044{area}{n:06}"),
            3 => format!("44-{area}-{n:06}"),
            _ => format!("(0{area}) {:03}.{:03}", n / 1000, n % 1000),
        };
        writeln!(
            out,
            "{phone},Name{i},2026-12-0{},1{}:30,A{i}",
            1 + i % 9,
            i % 8
        )?;
    }
    out.flush()
}

fn child(mode: &str, csv: &Path, db: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    match mode {
        "parse" => {
            let gb = Region::parse("GB")?;
            let mut reader = csv::Reader::from_path(csv)?;
            let mut valid = 0usize;
            for record in reader.records() {
                let record = record?;
                valid += PhoneNumber::parse(&record[0], Some(gb)).is_ok() as usize;
            }
            anyhow::ensure!(valid > 0);
        }
        _ => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let store = Store::open(db).await?;
                let whatsapp = std::env::var("BENCH_CHANNEL").as_deref() == Ok("whatsapp");
                let def = if whatsapp {
                    cache_template(&store).await?;
                    CampaignFile {
                        channel: Some(Channel::Whatsapp),
                        template: Some("appointment_reminder".into()),
                        language: Some("en".into()),
                        params: Some(
                            ["first_name", "appointment_date", "appointment_time"]
                                .map(String::from)
                                .to_vec(),
                        ),
                        ..campaign_file(csv)
                    }
                } else {
                    CampaignFile {
                        channel: Some(Channel::Sms),
                        message: Some(
                            "Hi {first_name}, see you on {appointment_date} at {appointment_time}."
                                .into(),
                        ),
                        ..campaign_file(csv)
                    }
                }
                .with(CampaignFile::default())?;
                let dry_run = std::env::var_os("BENCH_DRY").is_some();
                let loaded = camp::load(
                    &def,
                    &store,
                    None,
                    &LoadOptions {
                        dry_run,
                        ..Default::default()
                    },
                )
                .await?;
                let s = &loaded.summary;
                anyhow::ensure!(s.valid > 0, "nothing valid");
                eprintln!(
                    "rows {} valid {} rejected {} duplicates {}",
                    s.rows, s.valid, s.rejected, s.duplicates
                );
                Ok::<_, anyhow::Error>(())
            })?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    println!("{secs} {}", peak_kb / 1024.0);
    Ok(())
}

/// What both channels' campaigns share: the bot, the region, the dedupe key, the file.
fn campaign_file(csv: &Path) -> CampaignFile {
    CampaignFile {
        bot_id: Some(3941),
        region: Some("GB".into()),
        dedupe_key: Some("{appointment_id}".into()),
        csv: Some(csv.into()),
        ..Default::default()
    }
}

/// The simulator's `appointment_reminder` in the store's template cache, as a load that
/// fetched it would leave it.
async fn cache_template(store: &Store) -> anyhow::Result<()> {
    let def = campaign::sim::templates::builtin()
        .into_iter()
        .find(|t| t.name == "appointment_reminder" && t.language == "en")
        .expect("a built-in template");
    let template: Template = serde_json::from_value(def.to_json())?;
    store
        .cache_template(
            3941,
            &template.name,
            &template.language,
            &serde_json::to_string(&template)?,
        )
        .await?;
    Ok(())
}
