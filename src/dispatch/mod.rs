//! The dispatcher: claims due messages under the campaign lease, keeps the token and per-number
//! limits, sends several requests at once, and turns each verdict into a stored outcome.
//!
//! Nothing is sent that is not recorded: a claim is committed before its request leaves, and
//! right before it leaves the send checks that the run is not halted (Ctrl-C, a stop verdict,
//! an outcome that could not be written, the lease lost) and that the lease is still held.

mod gate;
mod outcome;
mod pacing;
mod reconcile;
mod recorder;
mod send;

pub use gate::{Gate, GateStats};
pub use outcome::outcome_of;
pub use reconcile::{Reconciled, find_sent, outbound_since, reconcile};
pub use recorder::{Recorder, RecorderTask};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::convrs::{CallbackTarget, Client};
use crate::queue::{Control, Lease, Store, StoreError};

/// Sends in a row that never reached the API before the campaign is paused as an outage.
pub const OUTAGE_STREAK: u32 = 5;

/// Sends in a row the API took without answering (timeouts, connections dropped) before the
/// campaign is paused, when it has answered none of this dispatch's: an API that answers
/// nothing only piles up uncertain messages. Once it has answered, dropped connections come
/// in bursts on a bad network, so it takes `SILENCE_STREAK_AFTER_ANSWERS`.
pub const SILENCE_STREAK: u32 = 5;
pub const SILENCE_STREAK_AFTER_ANSWERS: u32 = 20;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Sends per second of this campaign: the token's rate when it has its own gate
    /// (`dispatch`); through a shared gate, a pace of its own when lower than the token's.
    pub rate: u32,
    /// Sends per second per phone number (likewise).
    pub number_rate: u32,
    /// Attempts before a message that keeps failing transiently is failed (or, when every
    /// answer was ambiguous, left uncertain).
    pub max_attempts: i64,
    /// Requests in flight at once.
    pub in_flight: usize,
    /// `SendWhatsAppTemplate` or `SendSMSMessage`.
    pub command: &'static str,
    /// Where WhatsApp callbacks go (none: acks come from polling alone).
    pub callback: Option<CallbackTarget>,
    /// When to poll an accepted message first.
    pub first_poll: Duration,
    /// A message due later than this is deferred: the dispatcher returns instead of waiting.
    pub defer_after: Duration,
}

/// Why dispatching stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Campaign(String),
    Token(String),
    /// The operator paused or cancelled the campaign from another terminal.
    Operator(Control),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Campaign(reason) => write!(f, "campaign paused: {reason}"),
            Stop::Token(reason) => write!(f, "token stopped: {reason}"),
            Stop::Operator(Control::Paused) => {
                write!(
                    f,
                    "campaign paused by the operator: `campaign resume` to go on"
                )
            }
            Stop::Operator(Control::Cancelled) => write!(f, "campaign cancelled by the operator"),
        }
    }
}

/// What the send tasks of one dispatch share.
struct Shared {
    /// For its clock: the time the lease and the outcomes are reckoned in.
    store: Store,
    client: Client,
    config: DispatchConfig,
    lease: Arc<Lease>,
    /// The token's gate, shared with the other campaigns sending on it in this process.
    gate: Arc<Gate>,
    /// The campaign's own pace, when its rate or number rate is below the token's.
    own: Option<pacing::Pacing>,
    /// This campaign's share of the token against the others (1 to 10).
    priority: u32,
    /// Bounds requests in flight.
    slots: Semaphore,
    stop: StopSignal,
    /// Cancelled by Ctrl-C, a lost lease (through the caller's token) or a failed write.
    halt: CancellationToken,
    /// Sends in a row that never reached the API.
    unreached: AtomicU32,
    /// Sends in a row the API took without answering, and whether it answered any.
    unanswered: AtomicU32,
    answered: AtomicBool,
    recorder: Recorder,
}

/// Sends every message of the lease's campaign due within `defer_after` until none is left, a
/// stop verdict, or `cancel` (then no new message is claimed; requests in flight finish and are
/// recorded). A failed outcome write, or the lease lost, stops it at once with that error.
/// The token's limits are this dispatch's alone; `dispatch_through` shares them.
pub async fn dispatch(
    store: &Store,
    client: &Client,
    lease: &Arc<Lease>,
    config: &DispatchConfig,
    cancel: &CancellationToken,
) -> Result<Option<Stop>, StoreError> {
    let gate = Gate::new(config.rate, config.number_rate);
    dispatch_through(store, client, &gate, 1, lease, config, cancel).await
}

/// `dispatch` through a token's gate shared with other campaigns on the token, with this
/// campaign's `priority` (1 to 10) as its share.
pub async fn dispatch_through(
    store: &Store,
    client: &Client,
    gate: &Arc<Gate>,
    priority: u32,
    lease: &Arc<Lease>,
    config: &DispatchConfig,
    cancel: &CancellationToken,
) -> Result<Option<Stop>, StoreError> {
    let halt = cancel.child_token();
    let recording = RecorderTask::start(store.clone(), halt.clone());
    let claim_size = gate.pacing().claim_size;
    // `outstanding` bounds claimed messages: those in flight plus two claims waiting, so the
    // next claim is made while the current one is sent. With one claim waiting, a claim of a
    // thousand messages (limits off) could start only when its predecessor's last requests
    // were in flight, and sending stood still while it committed (BENCHMARKS.md).
    let outstanding = Arc::new(Semaphore::new(config.in_flight.max(1) + 2 * claim_size));
    let shared = Arc::new(Shared {
        store: store.clone(),
        client: client.clone(),
        config: config.clone(),
        lease: lease.clone(),
        gate: gate.clone(),
        own: gate.pacing().stricter(config.rate, config.number_rate),
        priority,
        slots: Semaphore::new(config.in_flight.max(1)),
        stop: StopSignal::default(),
        halt: halt.clone(),
        unreached: AtomicU32::new(0),
        unanswered: AtomicU32::new(0),
        answered: AtomicBool::new(false),
        recorder: recording.recorder(),
    });
    let mut tasks = JoinSet::new();
    let watcher = tokio::spawn(watch_control(store.clone(), shared.clone()));
    let claimed = claim_loop(store, &shared, &outstanding, &mut tasks).await;
    while let Some(done) = tasks.join_next().await {
        done.expect("send tasks do not panic");
    }
    watcher.abort();
    let _ = watcher.await;
    let stop = shared.stop.reason();
    drop(shared);
    // A write that failed is the first thing to say: sends stopped because of it.
    recording.close().await?;
    claimed?;
    Ok(stop)
}

/// Claims and spawns sends until nothing is due soon, a stop, or a halt.
async fn claim_loop(
    store: &Store,
    shared: &Arc<Shared>,
    outstanding: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) -> Result<(), StoreError> {
    let campaign = shared.lease.campaign;
    let token = shared.client.token_fingerprint();
    let claim_size = shared.gate.pacing().claim_size;
    while !shared.halt.is_cancelled() && !shared.stop.raised() {
        // Lost, or not renewed for so long that another process may have taken it over.
        if !shared.lease.valid_at(store.now_ms()) {
            shared.lease.lose();
            return Err(StoreError::LeaseLost(campaign));
        }
        // Another campaign on this token may have been told to stop it.
        if let Some((reason, at)) = store.token_stop(&token).await? {
            shared.stop.raise(Stop::Token(format!(
                "the token was stopped at {at}: {reason}"
            )));
            break;
        }
        // Finished send tasks are reaped as we go, so a long run does not pile them up.
        while let Some(done) = tasks.try_join_next() {
            done.expect("send tasks do not panic");
        }
        let now = store.now_ms();
        // Two claims' worth at a time: each round's reads (token stop, what is due) wait for
        // the store's one SQLite connection behind the recorder's commits.
        let due = store
            .due(campaign, now, (2 * claim_size).max(200) as i64)
            .await?;
        if due.is_empty() {
            if wait_for_due(store, shared, tasks, now).await? {
                continue;
            }
            break;
        }
        let ready = shared.gate.pacing().numbers_ready(store, due, now).await?;
        // Claim only what can leave soon: a claimed message is `sending`, and after a crash
        // every `sending` message has to be reconciled.
        for chunk in ready.chunks(claim_size) {
            let room = outstanding.clone().acquire_many_owned(chunk.len() as u32);
            let mut room = tokio::select! {
                room = room => room.expect("never closed"),
                _ = shared.halt.cancelled() => break,
            };
            if shared.stop.raised() || shared.halt.is_cancelled() {
                break;
            }
            let claims = match store.claim(&shared.lease, chunk).await {
                Err(StoreError::Controlled { control, .. }) => {
                    shared.stop.raise(Stop::Operator(control));
                    shared.halt.cancel();
                    break;
                }
                claims => claims?,
            };
            for claim in claims {
                let held = room.split(1).expect("one permit per claim");
                let shared = shared.clone();
                tasks.spawn(async move {
                    let _held = held;
                    send::send_when_allowed(&shared, claim).await;
                });
            }
        }
    }
    Ok(())
}

/// Nothing is due now: waits for a send in flight to end (its retry may be due), else until
/// the next message is due. False when nothing is left, or what is left is due after
/// `defer_after` (an agent chat, an engagement limit, a long backoff): the run ends and says
/// so instead of waiting for it.
async fn wait_for_due(
    store: &Store,
    shared: &Shared,
    tasks: &mut JoinSet<()>,
    now: i64,
) -> Result<bool, StoreError> {
    if let Some(done) = tasks.join_next().await {
        done.expect("send tasks do not panic");
        return Ok(true);
    }
    // Retries are only visible once their outcome is written.
    shared.recorder.flush().await;
    let Some(at) = store.next_due(shared.lease.campaign).await? else {
        return Ok(false);
    };
    if at - now > shared.config.defer_after.as_millis() as i64 {
        return Ok(false);
    }
    let pause = Duration::from_millis((at - now).clamp(10, 1000) as u64);
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = shared.halt.cancelled() => {}
    }
    Ok(true)
}

/// How often a dispatch looks whether the operator paused or cancelled its campaign.
const CONTROL_CHECK: Duration = Duration::from_millis(250);

/// Stops the dispatch (nothing more claimed, nothing claimed sent) once the operator pauses or
/// cancels the campaign; claims check it too, but claims made earlier may still be waiting.
async fn watch_control(store: Store, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CONTROL_CHECK) => {}
            _ = shared.halt.cancelled() => return,
        }
        match store.control(shared.lease.campaign).await {
            Ok(Some(control)) => {
                shared.stop.raise(Stop::Operator(control));
                shared.halt.cancel();
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the campaign's control; will try again")
            }
        }
    }
}

/// Raised by the first stop-campaign or stop-token verdict; later ones keep the first reason.
#[derive(Debug, Default)]
pub struct StopSignal {
    raised: AtomicBool,
    reason: std::sync::Mutex<Option<Stop>>,
}

impl StopSignal {
    fn raise(&self, stop: Stop) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(stop);
        self.raised.store(true, Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    fn reason(&self) -> Option<Stop> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

pub use crate::clock::now_ms;
