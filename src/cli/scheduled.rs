//! `campaign run FILE` for a campaign file with a `schedule`: fires the run that is due (the
//! one plain cron started it for), once, however often it is started; and `campaign schedule
//! list|add|remove`.

use anyhow::Context;

use super::campaign_args::Api;
use crate::campaign::definition::Definition;
use crate::clock::{now_ms, rfc3339_secs};
use crate::engine::{Firing, register_and_fire};
use crate::queue::{CampaignId, Store};
use crate::schedule::Schedule;

/// The campaign, and the batch this run loads, or `None` when no run is due or it fired already
/// (said on stderr): the run then sends what the campaign has queued.
pub async fn fire_for_run(
    store: &Store,
    api: &Api,
    def: &Definition,
    source: &std::path::Path,
    rehearsal: bool,
) -> anyhow::Result<(CampaignId, Option<i64>)> {
    let client = api.client.as_ref().context("sending needs the API")?;
    let file = std::path::absolute(source)?;
    let spec = def.timing.schedule.as_ref().context("a schedule")?;
    let schedule = Schedule::parse(&spec.cron, &spec.timezone).map_err(anyhow::Error::msg)?;
    let (path, token) = (file.display().to_string(), client.token_fingerprint());
    let fire = |now: i64| register_and_fire(store, def, &path, &token, now);
    let (id, mut firing) = fire(now_ms()).await?;
    // A rehearsal (its own database) shows what the next run will do: it fires it now.
    if let (true, Firing::NotDue { next }) = (rehearsal, &firing) {
        crate::tell!(
            "rehearsal: the next run ({}) fires now",
            schedule.local(*next)
        );
        firing = fire(*next).await?.1;
    }
    let when = |ms: i64| format!("{} ({})", schedule.local(ms), rfc3339_secs(ms));
    match firing {
        Firing::Fired {
            slot,
            batch,
            skipped,
        } => {
            if let Some(m) = skipped {
                crate::tell!(
                    "{}",
                    crate::engine::skip_reason(&schedule, &m, spec.grace_ms)
                );
            }
            crate::tell!(
                "campaign {id} ({}): the run of {} fires as batch {batch}",
                def.name,
                when(slot)
            );
            Ok((id, Some(batch)))
        }
        Firing::AlreadyFired { slot, batch } => {
            if let Some((_, state)) = store.batch_of(id, slot).await?
                && state == crate::queue::BatchState::Loading
            {
                // Its firer stopped while loading: finish the load, then send.
                crate::tell!(
                    "campaign {id}: the run of {} (batch {batch}) was not fully loaded; loading it",
                    when(slot)
                );
                return Ok((id, Some(batch)));
            }
            crate::tell!(
                "campaign {id} ({}): the run of {} already fired as batch {batch}; sending what it has queued, if anything is due",
                def.name,
                when(slot)
            );
            Ok((id, None))
        }
        Firing::NotDue { next } => {
            crate::tell!(
                "campaign {id} ({}) runs on schedule \"{}\" ({}): no run is due now; the next is {} (`campaign worker` fires it, or run this again then). Sending what it has queued, if anything is due",
                def.name,
                spec.cron,
                spec.timezone,
                when(next)
            );
            Ok((id, None))
        }
        Firing::Skipped { missed, next } => {
            crate::tell!(
                "{}; the next is {}",
                crate::engine::skip_reason(&schedule, &missed, spec.grace_ms),
                when(next)
            );
            Ok((id, None))
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(subcommand)]
    pub action: ScheduleAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleAction {
    /// Every scheduled campaign: its schedule, its next runs, and its latest batches and skips.
    List {
        /// How many next runs to show for each.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
        next: u16,
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Register (or update) the schedule of a campaign file, for `campaign worker` to fire;
    /// its first run is the next one from now.
    Add {
        /// The campaign file (.toml) with `schedule` (and `timezone`).
        file: std::path::PathBuf,
        #[command(flatten)]
        token: super::TokenArgs,
    },
    /// Stop firing a campaign's schedule (its batches and messages stay).
    Remove {
        /// A campaign id or name.
        campaign: String,
    },
}

pub async fn schedule(
    global: &super::GlobalArgs,
    args: &ScheduleArgs,
) -> anyhow::Result<std::process::ExitCode> {
    match &args.action {
        ScheduleAction::List { next, json } => {
            let Some(store) = global.existing_store().await? else {
                crate::show!(
                    "{}",
                    if *json {
                        "[]".into()
                    } else {
                        global.no_database()
                    }
                );
                return Ok(std::process::ExitCode::SUCCESS);
            };
            list(&store, usize::from(*next), *json).await?;
        }
        ScheduleAction::Add { file, .. } => {
            let def =
                crate::campaign::definition::CampaignFile::read(file)?.with(Default::default())?;
            let spec = def.timing.schedule.clone().with_context(|| {
                format!("{} has no schedule: add schedule = \"0 9 * * MON-FRI\" (and timezone = \"Europe/London\")", file.display())
            })?;
            let token = global.token()?;
            let store = global.store(crate::queue::Purpose::Real).await?;
            let id = crate::campaign::campaign_of(&store, &def).await?;
            let schedule =
                Schedule::parse(&spec.cron, &spec.timezone).map_err(anyhow::Error::msg)?;
            let first = schedule.next_after(now_ms()).unwrap_or(i64::MAX);
            let path = std::path::absolute(file)?.display().to_string();
            let fingerprint = crate::convrs::client::token_fingerprint(&token);
            let next = store
                .register_schedule(id, &path, &spec, &fingerprint, first)
                .await?;
            crate::show!(
                "campaign {id} ({}) runs on \"{}\" ({}), fired by the `campaign worker` holding token {fingerprint}; next runs:",
                def.name,
                spec.cron,
                spec.timezone
            );
            for at in std::iter::once(next).chain(schedule.upcoming(next, 2)) {
                crate::show!("  {} ({})", schedule.local(at), rfc3339_secs(at));
            }
        }
        ScheduleAction::Remove { campaign } => {
            let store = global.store_to_read().await?;
            let id = super::control::resolve(&store, campaign).await?;
            if store.remove_schedule(id).await? {
                crate::show!(
                    "campaign {id}: its schedule is removed; its batches and messages stay"
                );
            } else {
                crate::show!("campaign {id} has no schedule");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn list(store: &Store, next: usize, json: bool) -> anyhow::Result<()> {
    let mut out = vec![];
    for row in store.schedules(None).await? {
        // A schedule stored before such were refused may not parse now (six fields) or have
        // no next run (i64::MAX): it is listed as one that cannot fire, with why.
        let schedule = Schedule::parse(&row.cron, &row.timezone);
        let runs: Vec<i64> = match (
            &schedule,
            chrono::DateTime::from_timestamp_millis(row.next_run_at),
        ) {
            (Ok(schedule), Some(_)) => std::iter::once(row.next_run_at)
                .chain(schedule.upcoming(row.next_run_at, next.saturating_sub(1)))
                .collect(),
            _ => vec![],
        };
        let batches = store.batches(row.campaign).await?;
        if json {
            out.push(serde_json::json!({
                "campaign": row.campaign, "name": row.name, "schedule": row.cron,
                "timezone": row.timezone, "grace_ms": row.grace_ms, "token": row.token,
                "file": row.file, "next_runs": runs.iter().map(|ms| rfc3339_secs(*ms)).collect::<Vec<_>>(),
                "batches": batches,
            }));
            continue;
        }
        crate::show!(
            "campaign {} ({}): \"{}\" in {}, token {}, file {}",
            row.campaign,
            row.name,
            row.cron,
            row.timezone,
            row.token,
            row.file
        );
        let schedule = match schedule {
            Ok(schedule) if !runs.is_empty() => schedule,
            cannot => {
                let why = cannot.err().unwrap_or_else(|| "it has no next run".into());
                crate::show!(
                    "  next: never: {why} (`campaign schedule remove {}`, then add it again)",
                    row.campaign
                );
                continue;
            }
        };
        crate::show!(
            "  next: {}",
            runs.iter()
                .map(|ms| schedule.local(*ms))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for b in batches.iter().take(5) {
            match b.state.as_str() {
                "skipped" => crate::show!("  skipped: {}", b.reason.as_deref().unwrap_or("")),
                state => crate::show!(
                    "  batch {} for {}: {state}, {} messages",
                    b.id,
                    schedule.local(b.slot),
                    b.messages
                ),
            }
        }
    }
    if json {
        println!("{}", crate::terminal::json(&serde_json::Value::Array(out)));
    } else if store.schedules(None).await?.is_empty() {
        crate::show!(
            "no scheduled campaigns: give a campaign file schedule = \"0 9 * * MON-FRI\", then `campaign schedule add FILE` (or run it from cron)"
        );
    }
    Ok(())
}
