//! `campaign run SOURCE`: load, send, reconcile, wait for delivery acks, report. Running it
//! again with the same source and definition resumes the same campaign.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::campaign_args::{Api, CampaignArgs};
pub use super::flags::{check_reconcile_after, parse_duration};
use super::run_end::{exit_code, print_result, tell_reconciled};
use super::{EXIT_BUSY, EXIT_INTERRUPTED, GlobalArgs, progress, status, validate};
use crate::campaign::definition::Definition;
use crate::campaign::estimate::{Estimate, TOKEN_RATE};
use crate::campaign::{self, LoadOptions};
use crate::engine::{self, Receiving, RunError, RunOptions, Target};
use crate::queue::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(flatten)]
    pub campaign: CampaignArgs,
    /// Load and check everything, send nothing (same output as `validate`).
    #[arg(long)]
    pub dry_run: bool,
    /// Send as a new campaign even if one of this name ran before (recipients it reached are
    /// skipped, unless --include-reached).
    #[arg(long, conflicts_with = "resume")]
    pub new: bool,
    /// Go on with the campaign of this name although its settings changed (the new ones apply
    /// to rows not queued yet).
    #[arg(long)]
    pub resume: bool,
    /// With --new: send to recipients an earlier campaign of this name reached, too.
    #[arg(long, requires = "new")]
    pub include_reached: bool,
    /// How long to wait for delivery acks after sending (e.g. 30s, 10m, 1h; at most 30 days)
    /// [default: 10m]. A rehearsal (--sim) given --wait also waits for the simulator's read
    /// receipts and replies within it.
    #[arg(long, value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// Return once everything is sent, without waiting for acks.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub send: super::send_args::SendArgs,
    /// Receive delivery callbacks (and Convrs events) on this address, e.g. 0.0.0.0:8443.
    /// With --sim a loopback port is picked when this is not given.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The public URL of the callback endpoint, if not http://LISTEN/callback (behind a proxy).
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
    /// Load the campaign and queue it for the worker holding its token, then return (for cron;
    /// `campaign worker` sends it, with this run's sending flags, and receives its callbacks).
    #[arg(long, conflicts_with_all = ["dry_run", "listen", "callback_url", "sim", "wait", "no_wait"])]
    pub detach: bool,
    /// Load the campaign now and queue it for the worker holding its token to send at this
    /// time ("2026-12-24 09:00" in --timezone, or "2026-12-24T09:00:00Z"): a one-off send
    /// without a cron file.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["dry_run", "listen", "callback_url", "sim", "wait", "no_wait"])]
    pub at: Option<String>,
    /// The zone --at is read in (an IANA name such as Europe/London) [default: the campaign's
    /// timezone, else UTC].
    #[arg(long, value_name = "ZONE", requires = "at")]
    pub timezone: Option<String>,
    /// Print the final summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write rejected rows to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Begin the rejects file with a UTF-8 BOM (Excel then reads its accents right) [default:
    /// as the source did; its delimiter is the source's, or --delimiter's].
    #[arg(long, requires = "rejects", conflicts_with = "no_bom")]
    pub bom: bool,
    /// No BOM in the rejects file, even when the source had one.
    #[arg(long, requires = "rejects")]
    pub no_bom: bool,
}

pub(super) use super::send_args::DEFER_AFTER;

/// How long a run waits for delivery acks unless --wait says.
pub(super) const DEFAULT_WAIT: Duration = Duration::from_secs(600);

pub async fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(reconcile_after) = args.send.reconcile_after {
        check_reconcile_after(reconcile_after, global.request_timeout);
    }
    let store = global
        .store(validate::purpose_of(args.campaign.sim))
        .await?;
    // `run CAMPAIGN` (an id or name, not a file): go on with what it has queued.
    let continued = super::continued::campaign(&store, &args.campaign).await?;
    let def = match continued {
        Some(_) => None,
        None => Some(args.campaign.definition()?),
    };
    // Checked before anything is loaded.
    let at = send_at(&store, def.as_ref().map(|d| &d.timing), args)?;
    // A rehearsal's simulator remembers what earlier rehearsals sent, and follows them still.
    let api = match args.campaign.sim {
        true => Api::rehearsal(global, &store).await?,
        false => Api::connect(global, false, !args.dry_run).await?,
    };
    let send = |target| send(&store, &api, target, args, global, at.clone());
    let result = match (continued, &def) {
        (Some(target), _) if args.dry_run => {
            status::print_campaign(&store, target.id, args.json).await?;
            Ok(ExitCode::SUCCESS)
        }
        (Some(target), _) => send(target).await,
        (None, Some(def)) => match load(&store, &api, def, args).await {
            Ok(Some(target)) => send(target).await,
            Ok(None) => Ok(ExitCode::SUCCESS),
            Err(e) => Err(e),
        },
        (None, None) => unreachable!("a definition when nothing is continued"),
    };
    api.close().await?;
    store.close().await;
    result
}

/// Loads the campaign; `None` for a dry run (its summary printed).
async fn load(
    store: &Store,
    api: &Api,
    def: &Definition,
    args: &RunArgs,
) -> anyhow::Result<Option<Target>> {
    // A scheduled campaign: this run loads the batch of the run that is due, if any, and in
    // any case sends what the campaign has queued and due (a deferred message, a window that
    // opened).
    let batch = match (&def.timing.schedule, args.dry_run) {
        (Some(_), false) => match super::scheduled::fire_for_run(
            store,
            api,
            def,
            &args.campaign.source,
            args.campaign.sim,
        )
        .await?
        {
            (_, Some(batch)) => Some(batch),
            (id, None) => {
                return Ok(Some(Target {
                    id,
                    channel: def.channel(),
                    summary: None,
                }));
            }
        },
        _ => None,
    };
    let opts = LoadOptions {
        dry_run: args.dry_run,
        new: args.new,
        resume: args.resume || batch.is_some(),
        include_reached: args.include_reached,
        rejects_file: args.rejects.clone(),
        rejects_bom: (args.bom || args.no_bom).then_some(args.bom),
        batch,
        conversation_rate: args.send.poll_rate,
    };
    let loaded = campaign::load(def, store, api.client.as_ref(), &opts).await?;
    if args.dry_run {
        let mut summary = loaded.summary;
        let rate = args.send.rate.unwrap_or(TOKEN_RATE).min(TOKEN_RATE);
        summary.estimate = Some(Estimate::of(def, &summary, rate));
        validate::print_summary(&summary, args.json)?;
        return Ok(None);
    }
    let id = loaded.campaign.context("a real run has a campaign")?;
    if !args.json {
        crate::tell!("campaign {id} ({})", def.name);
        validate::print_summary(&loaded.summary, false)?;
    }
    Ok(Some(Target {
        id,
        channel: def.channel(),
        summary: Some(loaded.summary),
    }))
}

/// `--at` as unix ms and as said back (`2026-12-24 09:00 Europe/London (09:00 UTC)`), checked
/// before anything is loaded: in the future, and before the campaign's messages would expire.
/// A campaign run by its name (`timing` unknown here) reads --at in --timezone, else UTC.
fn send_at(
    store: &Store,
    timing: Option<&crate::timing::Timing>,
    args: &RunArgs,
) -> anyhow::Result<Option<(i64, String)>> {
    let Some(text) = &args.at else {
        return Ok(None);
    };
    let named = args
        .timezone
        .as_deref()
        .or(timing.and_then(|t| t.timezone.as_deref()));
    let zone: chrono_tz::Tz = match named {
        Some(name) => name.parse().map_err(|_| {
            anyhow::anyhow!(
                "--timezone '{name}' is not a time zone: give an IANA name such as Europe/London"
            )
        })?,
        None => chrono_tz::UTC,
    };
    let at = crate::timing::at::parse_at(text, zone).map_err(|e| anyhow::anyhow!("--at: {e}"))?;
    let now = store.now_ms();
    let utc = crate::clock::rfc3339_secs(at);
    if at <= now {
        anyhow::bail!(
            "--at {text} ({utc}) is in the past: give a later time, or leave --at out to send now"
        );
    }
    if let Some(expires) = timing.and_then(|t| t.expires_for(now)).filter(|e| *e <= at) {
        anyhow::bail!(
            "--at {text} ({utc}) is after the campaign's messages would expire ({}, by its max_age or expires_at): nothing would be sent. Give an earlier --at, or a longer max_age",
            crate::clock::rfc3339_secs(expires)
        );
    }
    let local = crate::report::local_time(at, zone);
    Ok(Some((at, format!("{local} ({utc})"))))
}

async fn send(
    store: &Store,
    api: &Api,
    target: Target,
    args: &RunArgs,
    global: &GlobalArgs,
    at: Option<(i64, String)>,
) -> anyhow::Result<ExitCode> {
    let id = target.id;
    if let Some((at_ms, shown)) = &at {
        let held = store.hold_until(id, *at_ms).await?;
        if !args.json {
            crate::tell!(
                "campaign {id}: {held} message(s) held until {shown}; the worker holding its token sends them then"
            );
        }
    }
    let client = api.client.as_ref().context("sending needs the API")?;
    let receiver = receive(store, args).await?;
    let (config, run_opts) = options(store, &target, args, global, receiver.as_ref()).await?;
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signals(cancel.clone()));
    let shown = progress::show(store.clone(), id);
    let report = engine::run_campaign(store, client, id, &config, &run_opts, &cancel).await;
    shown.finish().await;
    if let Some(receiver) = receiver {
        receiver.stop().await?;
    }
    let report = match report {
        Ok(report) => report,
        Err(RunError::Busy(held)) => {
            crate::tell!("error: {held}");
            return Ok(ExitCode::from(EXIT_BUSY));
        }
        Err(lost @ RunError::LeaseLost(_)) => {
            crate::tell!("error: {lost}");
            return Ok(ExitCode::from(EXIT_BUSY));
        }
        Err(RunError::Store(e)) => return Err(e.into()),
    };
    tell_reconciled(id, &report);
    let code = exit_code(id, &report, args);
    if !report.deferred.is_empty() {
        crate::tell!(
            "{}; run the same command again then to send them (`campaign status {id}` lists them)",
            engine::deferred_summary(&report.deferred)
        );
    }
    print_result(store, &target, args.json).await?;
    Ok(code)
}

/// The run's own callback receiver, when it listens (`--listen`, or a rehearsal on loopback).
async fn receive(store: &Store, args: &RunArgs) -> anyhow::Result<Option<Receiving>> {
    let listen = args
        .listen
        .or_else(|| args.campaign.sim.then(|| ([127, 0, 0, 1], 0).into()));
    let Some(addr) = listen else {
        return Ok(None);
    };
    let receiver = Receiving::start(store, addr, args.callback_url.clone()).await?;
    if !args.json {
        let shown = crate::redact::url(&receiver.target.url);
        crate::tell!(
            "receiving callbacks on {} (posted to {shown})",
            receiver.addr()
        );
    }
    Ok(Some(receiver))
}

/// How the run sends: the flags, over what the campaign stored.
async fn options(
    store: &Store,
    target: &Target,
    args: &RunArgs,
    global: &GlobalArgs,
    receiver: Option<&Receiving>,
) -> anyhow::Result<(crate::dispatch::DispatchConfig, RunOptions)> {
    let chosen = args.send.chosen(store.send_options(target.id).await?);
    let settings = args.send.settings(
        target.channel.send_command(),
        receiver.map(|r| r.target.clone()),
        args.campaign.sim,
        &chosen,
    );
    check_reconcile_after(settings.reconcile_after, global.request_timeout);
    let priority = match args.send.priority {
        Some(priority) => priority,
        None => store.priority(target.id).await?,
    };
    let run_opts = RunOptions {
        polls: settings.polls,
        wait: (!args.no_wait).then_some(args.wait.unwrap_or(DEFAULT_WAIT)),
        until_settled: args.campaign.sim && args.wait.is_some(),
        reconcile_after: settings.reconcile_after,
        priority,
        detach: args.detach || args.at.is_some(),
        receiving: receiver.is_some(),
        chosen,
        notice: engine::Notice::new(|line| crate::tell!("{line}")),
        ..RunOptions::default()
    };
    Ok((settings.dispatch, run_opts))
}

/// First Ctrl-C (or SIGTERM): stop claiming, let requests in flight finish. Second: exit now.
async fn stop_on_signals(cancel: CancellationToken) {
    if signal().await.is_err() {
        return;
    }
    crate::tell!(
        "stopping: no new sends; waiting for requests in flight (press Ctrl-C again to quit at once)"
    );
    cancel.cancel();
    if signal().await.is_ok() {
        crate::tell!(
            "quitting now: messages in flight become uncertain and are reconciled on the next run"
        );
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}

pub(super) async fn signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
