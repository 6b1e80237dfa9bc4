//! `campaign track [CAMPAIGN] [--until DURATION]`: collects the acks that come after a run has
//! ended (read receipts and replies come minutes or hours after delivery; SMS has no callbacks),
//! and reconciles uncertain messages, then exits. Run it from cron, or after a run with
//! `--no-wait`. A rehearsal's database is tracked against a new simulator that remembers what
//! the rehearsal sent (`Api::rehearsal`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::flags::parse_sweep;
use super::run::parse_duration;
use super::{GlobalArgs, control, global};
use crate::campaign::definition::Channel;
use crate::cli::campaign_args::Api;
use crate::dispatch::{self, DispatchConfig};
use crate::queue::{CampaignId, Purpose, Store};
use crate::tracking::PollSchedule;
use crate::tracking::poller::track_acks;

#[derive(Debug, Args)]
pub struct TrackArgs {
    #[command(flatten)]
    pub api: super::ApiArgs,
    #[command(flatten)]
    pub db: super::DbArg,
    /// A campaign id or name (default: every campaign with messages awaiting an ack).
    pub campaign: Option<String>,
    /// Stop after this long even if some messages still await an ack (e.g. 10m, 2h).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub until: Duration,
    /// Messages older than this are no longer polled.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub poll_max_age: Duration,
    /// The first poll interval; later ones widen (x6, x30, x180...) [default: 10s, 1s for a
    /// rehearsal].
    #[arg(long, value_parser = parse_duration)]
    pub poll_first: Option<Duration>,
    /// GetMessageDetails calls per second (1 to 1000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub poll_rate: u32,
    /// How long after an SMS is sent its conversation is read for replies (STOP); `off`
    /// never reads.
    #[arg(long, default_value = "72h", value_name = "DURATION|off", value_parser = parse_sweep)]
    pub reply_sweep: Duration,
    /// How long after an ambiguous attempt ended an empty conversation proves it was not sent.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub reconcile_after: Duration,
    /// Track a rehearsal (campaign.sim.db unless --db says): a new simulator, remembering what
    /// the rehearsal sent, gives its acks and replies. A --db holding rehearsals is tracked so
    /// without it.
    #[arg(long)]
    pub sim: bool,
}

pub async fn run(global: &GlobalArgs, args: &TrackArgs) -> anyhow::Result<ExitCode> {
    super::run::check_reconcile_after(args.reconcile_after, global.request_timeout);
    let (store, rehearsal) = open(global, args.sim).await?;
    // A rehearsal's simulator ended with its run: a new one remembers what it took.
    let api = match rehearsal {
        true => Api::rehearsal(global, &store).await?,
        false => Api::connect(global, false, true).await?,
    };
    let Some(client) = api.client.as_ref() else {
        anyhow::bail!("tracking needs the API: set CONVRS_TOKEN and CONVRS_API_URL");
    };
    let campaigns: Vec<(CampaignId, String)> = match &args.campaign {
        Some(name) => {
            let id = control::resolve(&store, name).await?;
            let channel = store
                .campaigns_to_track()
                .await?
                .into_iter()
                .find(|(c, _)| *c == id)
                .map_or_else(|| "whatsapp".to_string(), |(_, ch)| ch);
            vec![(id, channel)]
        }
        None => store.campaigns_to_track().await?,
    };
    let schedule = poll_schedule(args, rehearsal);
    for (id, channel) in &campaigns {
        if rehearsal {
            // The new simulator knows only what the rehearsal recorded: a send that may have
            // reached the old one is not in the conversation it shows, which would read as
            // "not sent". Left as it is; `retry --uncertain` sends it again.
            let uncertain = store.uncertain(*id).await?.len();
            if uncertain > 0 {
                let it = if uncertain == 1 { "it" } else { "them" };
                crate::tell!(
                    "campaign {id}: {} left uncertain: the simulator that may have taken {it} is gone (`campaign retry {id} --uncertain --db {}` queues {it} again)",
                    crate::terminal::counted(uncertain as u64, "message", "messages"),
                    crate::redact::url(global.db.as_deref().unwrap_or(global::DEFAULT_SIM_DB))
                );
            }
            continue;
        }
        let config = DispatchConfig {
            rate: 10,
            number_rate: 1,
            max_attempts: 5,
            in_flight: 1,
            command: Channel::from_stored(channel).send_command(),
            callback: None,
            first_poll: schedule.first,
            defer_after: Duration::from_secs(60),
        };
        let r = dispatch::reconcile(&store, client, *id, &config, args.reconcile_after).await?;
        if r.sent + r.requeued + r.undecided > 0 {
            crate::tell!(
                "campaign {id}: uncertain messages: {} proven sent, {} proven unsent (run the campaign again to send them), {} still uncertain",
                r.sent,
                r.requeued,
                r.undecided
            );
        }
    }
    let ids: Vec<CampaignId> = campaigns.iter().map(|(id, _)| *id).collect();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let deadline = tokio::time::Instant::now() + args.until;
    let awaiting = track_acks(&store, client, &ids, &schedule, deadline, &cancel).await?;
    for id in &ids {
        super::status::print_campaign(&store, *id, false).await?;
    }
    if awaiting > 0 {
        crate::tell!("{awaiting} message(s) still await an ack: run `campaign track` again later");
    }
    api.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// How `track` polls. It runs no receiver and cannot know whether one takes the campaign's
/// callbacks now (a run's own receiver ended with the run), so a read message is polled for
/// its reply rather than left to a callback that may go nowhere: a STOP must not be missed.
fn poll_schedule(args: &TrackArgs, rehearsal: bool) -> PollSchedule {
    // The simulator acks within a second; a real API within seconds to minutes.
    let poll_first = args
        .poll_first
        .unwrap_or(Duration::from_secs(if rehearsal { 1 } else { 10 }));
    PollSchedule {
        first: poll_first,
        max_age: args.poll_max_age,
        rate: args.poll_rate,
        reply_sweep: (!args.reply_sweep.is_zero()).then_some(args.reply_sweep),
        replies_by_callback: false,
        settled_after: rehearsal.then_some(super::campaign_args::REHEARSAL_SETTLED),
        ..PollSchedule::default()
    }
}

/// The database to track, and whether it is a rehearsal's: `--sim` names one (campaign.sim.db
/// unless --db says), and a `--db` that turns out to be one is tracked as one.
async fn open(global: &GlobalArgs, sim: bool) -> anyhow::Result<(Store, bool)> {
    // Nothing to track where nothing ran: said, and no empty database left behind.
    match global.db.as_deref() {
        None if sim && global::missing(global::DEFAULT_SIM_DB) => anyhow::bail!(
            "no rehearsals here: there is no database {} (rehearse a campaign with `campaign run ... --sim` first, or name the database with --db)",
            global::DEFAULT_SIM_DB
        ),
        None if !sim && global::missing(global::DEFAULT_DB) => {
            anyhow::bail!("{}", global.no_database())
        }
        Some(db) if global::missing(db) => anyhow::bail!("{}", global.no_database()),
        _ => {}
    }
    if sim {
        return Ok((global.store(Purpose::Rehearsal).await?, true));
    }
    match global.store(Purpose::Real).await {
        Err(e)
            if matches!(
                e.downcast_ref::<crate::queue::StoreError>(),
                Some(crate::queue::StoreError::WrongPurpose { .. })
            ) =>
        {
            Ok((global.store(Purpose::Rehearsal).await?, true))
        }
        store => Ok((store?, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Track {
        #[command(flatten)]
        args: TrackArgs,
    }

    #[test]
    fn track_polls_a_read_message_for_its_reply_whoever_took_its_callbacks() {
        let args = Track::parse_from(["track"]).args;
        for rehearsal in [false, true] {
            let schedule = poll_schedule(&args, rehearsal);
            assert!(!schedule.replies_by_callback, "rehearsal: {rehearsal}");
        }
        assert_eq!(poll_schedule(&args, false).first, Duration::from_secs(10));
        assert_eq!(poll_schedule(&args, true).first, Duration::from_secs(1));
    }
}
