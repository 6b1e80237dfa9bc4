//! `campaign worker`: sends every campaign queued on its tokens until SIGTERM or Ctrl-C, and
//! serves callbacks and Convrs events on one address (public: `--listen`) and `/healthz` and
//! `/metrics` on another (loopback by default: `--admin-listen`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::flags::{parse_frequency_cap, parse_quality, parse_sweep};
use super::run::{DEFER_AFTER, check_reconcile_after, parse_duration, signal};
use super::{EXIT_INTERRUPTED, GlobalArgs};
use crate::convrs::Client;
use crate::engine::{self, ApiStats, Health, TokenLimits, WorkerConfig, WorkerStatus};
use crate::queue::QualityPolicy;
use crate::queue::{Purpose, this_process};
use crate::tracking::socket::SocketConfig;
use crate::tracking::{CallbackTarget, PollSchedule, ReceiverLimits, serve, webhook};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub api: super::ApiArgs,
    #[command(flatten)]
    pub db: super::DbArg,
    /// Receive callbacks (/callback) and Convrs events (/events) here: the address Convrs
    /// posts to (0.0.0.0:8750 to take them from outside, usually behind a proxy).
    #[arg(long, default_value = "127.0.0.1:8750", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Serve /healthz and /metrics here, apart from the receiver (keep it off the internet).
    #[arg(long, default_value = "127.0.0.1:8751", value_name = "ADDR")]
    pub admin_listen: SocketAddr,
    /// How old what /healthz knows of the API may be: when no call was made for this long, it
    /// probes the API, once for all requests (1s to 10m).
    #[arg(long, default_value = "30s", value_parser = parse_check_every, value_name = "DURATION")]
    pub health_check_every: Duration,
    /// The public URL of the callback endpoint, if not http://LISTEN/callback (behind a proxy).
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
    /// Also take Convrs events over the API's WebSocket (the WSS URL shown under Integrations >
    /// Convrs API): one socket per token this worker holds. wss:// only (ws:// on this
    /// machine).
    #[arg(long, env = "CONVRS_WS_URL", value_name = "URL")]
    pub events_ws: Option<String>,
    /// Sends per second per token (1 to 10000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,
    /// Sends per second per phone number (1 to 100).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub number_rate: u32,
    /// Requests in flight at once, per campaign (1 to 1024).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub in_flight: u16,
    /// Attempts before a transiently failing message is failed, for campaigns queued without
    /// their own (1 to 100).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=100))]
    pub max_attempts: i64,
    /// How long after an ambiguous attempt an empty conversation proves it was not sent;
    /// must be longer than --request-timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub reconcile_after: Duration,
    /// When to poll GetMessageDetails first after a send; later polls widen (x6, x30, x180...).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub poll_first: Duration,
    /// Stop polling messages older than this.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub poll_max_age: Duration,
    /// GetMessageDetails calls per second, per token (1 to 1000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub poll_rate: u32,
    /// How long after an SMS is sent its conversation is read for replies (STOP), when the
    /// campaign did not choose; `off` never reads.
    #[arg(long, default_value = "72h", value_name = "DURATION|off", value_parser = parse_sweep)]
    pub reply_sweep: Duration,
    /// Pause a campaign when, after MIN_DELIVERED messages delivered, under MIN_READ% of them
    /// are read (WhatsApp) or over MAX_OPT_OUT% of their recipients opt out or block the bot,
    /// unless the campaign was queued with its own; `off` never pauses.
    #[arg(long, default_value = "200,40%,1%", value_name = "MIN_DELIVERED,MIN_READ%,MAX_OPT_OUT%|off", value_parser = parse_quality)]
    pub quality: QualityPolicy,
    /// At most N messages from the store to one number per SPAN (2/7d), for campaigns whose
    /// file sets no frequency_cap: over it, a message is cancelled at claim.
    #[arg(long, value_name = "N/SPAN", value_parser = parse_frequency_cap)]
    pub frequency_cap: Option<crate::timing::FrequencyCap>,
    /// The most distinct recipients each token may start per rolling 24 hours, across all its
    /// campaigns (WhatsApp's messaging tier: 250, 1000, 10000, 100000). A campaign file's
    /// daily_limit sets its token's too.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub daily_limit: Option<u32>,
    /// How long a token's lease lasts unrenewed (renewed every third of it; 3s to 10m). A
    /// worker that dies on another host has its tokens taken over after this.
    #[arg(long, default_value = "10s", value_parser = parse_lease)]
    pub lease: Duration,
}

async fn bind(addr: SocketAddr, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}: is another worker running there? pass {flag} ADDR")
    })
}

fn parse_check_every(s: &str) -> Result<Duration, String> {
    let every = parse_duration(s)?;
    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&every) {
        return Err(format!("{s} is not between 1s and 10m"));
    }
    Ok(every)
}

fn parse_lease(s: &str) -> Result<Duration, String> {
    let lease = parse_duration(s)?;
    if !(Duration::from_secs(3)..=Duration::from_secs(600)).contains(&lease) {
        return Err(format!("{s} is not between 3s and 10m"));
    }
    Ok(lease)
}

pub async fn run(global: &GlobalArgs, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    check_reconcile_after(args.reconcile_after, global.request_timeout);
    let events_ws = args
        .events_ws
        .as_deref()
        .map(SocketConfig::new)
        .transpose()?;
    let store = global.store(Purpose::Real).await?;
    let url = global
        .api_url
        .as_deref()
        .context("no API URL: pass --api-url or set CONVRS_API_URL")?;
    let config = global.client_config(url);
    let api = Arc::new(ApiStats::default());
    let mut clients: Vec<Client> = vec![];
    let mut seen = HashSet::new();
    for token in global.tokens()? {
        let client = Client::new(&config, token)?.observed(api.clone());
        anyhow::ensure!(
            seen.insert(client.token_fingerprint()),
            "token {} is given twice: give each token once",
            client.token_fingerprint()
        );
        if let Some(limit) = args.daily_limit {
            store
                .set_daily_limit(&client.token_fingerprint(), limit)
                .await?;
        }
        clients.push(client);
    }
    let secret = webhook::webhook_secret(&store).await?;
    let listener = bind(args.listen, "--listen").await?;
    let admin = bind(args.admin_listen, "--admin-listen").await?;
    let (addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
    let callback_url = args
        .callback_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/callback"));
    let status = Arc::new(WorkerStatus::default());
    let health = Health::new(
        store.clone(),
        status.clone(),
        api,
        clients[0].clone(),
        DEFER_AFTER,
        args.health_check_every,
    );
    let limits = ReceiverLimits::default();
    let app = webhook::router(store.clone(), secret.clone(), limits, status.events.clone());
    let serving = CancellationToken::new();
    let server = tokio::spawn(serve::serve(listener, app, limits, serving.clone()));
    let admin_app = engine::health_router(health);
    let admin_server = tokio::spawn(serve::serve(admin, admin_app, limits, serving.clone()));
    let fingerprints: Vec<String> = clients.iter().map(|c| c.token_fingerprint()).collect();
    crate::tell!(
        "worker {} sending on {}; callbacks (posted to {}) on http://{addr}; /healthz and /metrics on http://{admin_addr}",
        this_process(),
        fingerprints.join(", "),
        crate::redact::url(&callback_url),
    );
    let worker = WorkerConfig {
        limits: TokenLimits {
            rate: args.rate,
            number_rate: args.number_rate,
            lease: args.lease,
        },
        in_flight: usize::from(args.in_flight),
        max_attempts: args.max_attempts,
        callback: Some(CallbackTarget {
            url: callback_url,
            secret,
        }),
        polls: PollSchedule {
            first: args.poll_first,
            max_age: args.poll_max_age,
            rate: args.poll_rate,
            reply_sweep: (!args.reply_sweep.is_zero()).then_some(args.reply_sweep),
            quality: args.quality,
            // The worker's own receiver takes its campaigns' callbacks.
            replies_by_callback: true,
            settled_after: None,
        },
        reconcile_after: args.reconcile_after,
        defer_after: DEFER_AFTER,
        tick: Duration::from_secs(1),
        request_timeout: global.request_timeout,
        events_ws,
        frequency_cap: args.frequency_cap,
    };
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signals(stop.clone()));
    engine::run_worker(&store, &clients, &worker, &status, &stop).await;
    serving.cancel();
    let _ = server.await;
    let _ = admin_server.await;
    crate::tell!("worker stopped: what was in flight is recorded; the tokens are free");
    Ok(ExitCode::SUCCESS)
}

/// First SIGTERM (or Ctrl-C): stop claiming, let requests in flight finish. Second: exit now.
async fn stop_on_signals(stop: CancellationToken) {
    if signal().await.is_err() {
        return;
    }
    crate::tell!(
        "stopping: no new sends; waiting for requests in flight (signal again to quit at once)"
    );
    stop.cancel();
    if signal().await.is_ok() {
        crate::tell!("quitting now: messages in flight become uncertain and are reconciled later");
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}
