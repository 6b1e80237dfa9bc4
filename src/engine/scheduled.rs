//! Firing scheduled campaigns: the run that is due becomes a batch of the campaign, loaded from
//! its source read again. The worker fires the schedules of the tokens it holds; `campaign run
//! FILE` from plain cron fires the run it was started for. Both go through [`fire_due`], so one
//! run makes one batch whoever gets there first.

use crate::campaign::definition::Definition;
use crate::campaign::{self, LoadError, LoadOptions, Loaded};
use crate::convrs::Client;
use crate::queue::{CampaignId, Claimed, Store, StoreError};
use crate::schedule::{Missed, Plan, Schedule};
use crate::timing::ScheduleSpec;

/// What was due when a schedule was looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firing {
    /// Nothing: the next run is at `next`.
    NotDue { next: i64 },
    /// The run of `slot` fired: batch `batch` is to be loaded. Runs missed before it beyond
    /// the grace were recorded as skipped.
    Fired {
        slot: i64,
        batch: i64,
        skipped: Option<Missed>,
    },
    /// The run of `slot` had already fired (batch `batch`).
    AlreadyFired { slot: i64, batch: i64 },
    /// The runs due were all beyond the grace: recorded as skipped.
    Skipped { missed: Missed, next: i64 },
}

/// Registers the campaign's schedule and fires what is due at `now`. A new schedule starts
/// with its latest run if that is within the grace (so a cron job started for a run fires it),
/// else with its next.
pub async fn register_and_fire(
    store: &Store,
    def: &Definition,
    file: &str,
    token: &str,
    now: i64,
) -> Result<(CampaignId, Firing), LoadError> {
    let spec = def
        .timing
        .schedule
        .as_ref()
        .expect("a scheduled definition");
    let schedule = parse(spec);
    let id = campaign::campaign_of(store, def).await?;
    let first = match schedule.latest_at(now) {
        Some(latest) if now - latest <= spec.grace_ms => latest,
        _ => schedule.next_after(now).unwrap_or(i64::MAX),
    };
    let next = store
        .register_schedule(id, file, spec, token, first)
        .await?;
    Ok((
        id,
        fire_due(store, id, &schedule, spec.grace_ms, next, now).await?,
    ))
}

fn parse(spec: &ScheduleSpec) -> Schedule {
    Schedule::parse(&spec.cron, &spec.timezone).expect("checked when the campaign file was read")
}

/// Fires what is due at `now` for a schedule whose stored next run is `next_run`.
pub async fn fire_due(
    store: &Store,
    id: CampaignId,
    schedule: &Schedule,
    grace_ms: i64,
    mut next_run: i64,
    now: i64,
) -> Result<Firing, StoreError> {
    loop {
        let plan = schedule.plan(next_run, now, grace_ms);
        let (slot, skipped, next) = match plan {
            Plan::NotYet { next } => {
                // The run this was started for may have fired already (by another process).
                if let Some(latest) = schedule.latest_at(now)
                    && now - latest <= grace_ms
                    && let Some((batch, _)) = store.batch_of(id, latest).await?
                {
                    return Ok(Firing::AlreadyFired {
                        slot: latest,
                        batch,
                    });
                }
                return Ok(Firing::NotDue { next });
            }
            Plan::Fire {
                slot,
                skipped,
                next,
            } => (Some(slot), skipped, next),
            Plan::Skip { skipped, next } => (None, Some(skipped), next),
        };
        let reason = skipped.map(|m| (m, skip_reason(schedule, &m, grace_ms)));
        match store.claim_run(id, next_run, slot, reason, next).await? {
            Claimed::Batch(batch) => {
                let slot = slot.expect("a batch is for a run");
                if let Some(m) = skipped {
                    tracing::warn!(campaign = %id, "{}", skip_reason(schedule, &m, grace_ms));
                }
                tracing::info!(campaign = %id, run = %schedule.local(slot), batch, "scheduled run fired");
                return Ok(Firing::Fired {
                    slot,
                    batch,
                    skipped,
                });
            }
            Claimed::AlreadyFired(batch) => {
                return Ok(Firing::AlreadyFired {
                    slot: slot.expect("a batch is for a run"),
                    batch,
                });
            }
            Claimed::Skipped => {
                let missed = skipped.expect("a skip has missed runs");
                tracing::warn!(campaign = %id, "{}", skip_reason(schedule, &missed, grace_ms));
                return Ok(Firing::Skipped { missed, next });
            }
            // Another process moved the schedule on: look at where it is now.
            Claimed::Raced => {
                let Some(at) = store.next_run(id).await? else {
                    return Ok(Firing::NotDue { next: i64::MAX });
                };
                next_run = at;
            }
        }
    }
}

/// `skipped 2 runs (2026-12-01 09:00 GMT to 2026-12-02 09:00 GMT): nothing ran then, and it is
/// more than 1h past (the schedule's grace)`.
pub fn skip_reason(schedule: &Schedule, m: &Missed, grace_ms: i64) -> String {
    let runs = if m.count == 1 {
        format!("skipped the run of {}", schedule.local(m.first))
    } else {
        format!(
            "skipped {} runs ({} to {})",
            m.count,
            schedule.local(m.first),
            schedule.local(m.last)
        )
    };
    format!(
        "{runs}: nothing ran then, and it is more than {} past (the schedule's grace)",
        crate::duration::shown(std::time::Duration::from_millis(grace_ms.max(0) as u64))
    )
}

/// Loads a fired batch from the campaign's source, read again now.
pub async fn load_batch(
    store: &Store,
    client: Option<&Client>,
    def: &Definition,
    batch: i64,
) -> Result<Loaded, LoadError> {
    let opts = LoadOptions {
        resume: true,
        batch: Some(batch),
        ..LoadOptions::default()
    };
    campaign::load(def, store, client, &opts).await
}

/// The worker's part: fires the schedules of `token` due at `now` and loads their batches,
/// queued for the token's sender. With `recover`, first loads again the batches a firer left
/// half loaded (it died). A campaign file that cannot be read skips the run, saying why.
pub async fn fire_schedules(
    store: &Store,
    client: &Client,
    token: &str,
    now: i64,
    recover: bool,
) -> Result<(), StoreError> {
    if recover {
        for (id, batch, file) in store.unfinished_batches(token).await? {
            if let Ok(def) = read_file(&file) {
                load_and_queue(store, client, token, id, &def, batch).await?;
            }
        }
    }
    for row in store.schedules(Some((token, now))).await? {
        let def = match read_file(&row.file) {
            Ok(def) if def.timing.schedule.is_some() => def,
            Ok(_) => {
                tracing::info!(campaign = %row.campaign, file = %row.file, "the campaign file has no schedule any more: removed");
                store.remove_schedule(row.campaign).await?;
                continue;
            }
            Err(e) => {
                let Ok(schedule) = Schedule::parse(&row.cron, &row.timezone) else {
                    continue;
                };
                let next = schedule.next_after(now).unwrap_or(i64::MAX);
                let missed = Missed {
                    first: row.next_run_at,
                    last: row.next_run_at,
                    count: 1,
                };
                let reason = format!(
                    "skipped the run of {}: the campaign file {} cannot be used ({e}); mend it before the next run",
                    schedule.local(row.next_run_at),
                    row.file
                );
                tracing::warn!(campaign = %row.campaign, "{reason}");
                store
                    .claim_run(
                        row.campaign,
                        row.next_run_at,
                        None,
                        Some((missed, reason)),
                        next,
                    )
                    .await?;
                continue;
            }
        };
        let fired = register_and_fire(store, &def, &row.file, token, now).await;
        match fired {
            Ok((id, Firing::Fired { batch, .. })) => {
                load_and_queue(store, client, token, id, &def, batch).await?;
            }
            Ok(_) => {}
            Err(LoadError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(campaign = %row.campaign, error = %e, "cannot fire the scheduled run")
            }
        }
    }
    Ok(())
}

fn read_file(file: &str) -> Result<Definition, crate::campaign::definition::DefinitionError> {
    use crate::campaign::definition::CampaignFile;
    CampaignFile::read(std::path::Path::new(file))?.with(CampaignFile::default())
}

async fn load_and_queue(
    store: &Store,
    client: &Client,
    token: &str,
    id: CampaignId,
    def: &Definition,
    batch: i64,
) -> Result<(), StoreError> {
    match load_batch(store, Some(client), def, batch).await {
        Ok(loaded) => {
            let s = &loaded.summary;
            tracing::info!(campaign = %id, batch, valid = s.valid, rejected = s.rejected, earlier_batch = s.earlier_batch.unwrap_or(0), "batch loaded");
            store
                .queue_fired(id, token, &format!("batch {batch} of its schedule"))
                .await
        }
        Err(LoadError::Store(e)) => Err(e),
        // The batch stays `loading`: the next start of a worker (or the cron run) tries again.
        Err(e) => {
            tracing::warn!(campaign = %id, batch, error = %e, "cannot load the batch");
            Ok(())
        }
    }
}
