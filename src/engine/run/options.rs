//! What a run is asked to do (`RunOptions`), and where it says what it waits for (`Notice`).

use std::sync::Arc;
use std::time::Duration;

use crate::queue::SendOptions;
use crate::tracking::PollSchedule;

/// Lines for the operator while a run waits or follows (the CLI prints them).
#[derive(Clone, Default)]
pub struct Notice(Option<Arc<Say>>);

type Say = dyn Fn(&str) + Send + Sync;

impl Notice {
    pub fn new(say: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Notice(Some(Arc::new(say)))
    }

    pub fn say(&self, line: &str) {
        match &self.0 {
            Some(say) => say(line),
            None => tracing::info!("{line}"),
        }
    }
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notice")
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long to wait for delivery acks once sending is over; `None` returns once all is sent.
    pub wait: Option<Duration>,
    /// Within `wait`, go on polling once all is delivered, until no message awaits an ack
    /// (read receipts, replies): a rehearsal asked to wait shows the simulator's replies.
    pub until_settled: bool,
    /// How long after an attempt a conversation without the message proves it was not sent.
    pub reconcile_after: Duration,
    /// When and how often to poll GetMessageDetails.
    pub polls: PollSchedule,
    /// How long the campaign and token leases last without renewal (renewed every third).
    pub lease: Duration,
    /// The campaign's share of its token against other campaigns on it (1 to 10).
    pub priority: u32,
    /// Queue the campaign for a worker and return, instead of sending or following it.
    pub detach: bool,
    /// The run receives callbacks itself (`--listen`): a worker it hands the campaign to
    /// receives them instead, which the run says.
    pub receiving: bool,
    /// What the operator chose of how the campaign is sent (flags given now, or stored by an
    /// earlier run): stored with it for whoever sends it. What is not chosen is the sender's.
    pub chosen: SendOptions,
    pub notice: Notice,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            wait: Some(Duration::from_secs(600)),
            until_settled: false,
            reconcile_after: Duration::from_secs(60),
            polls: PollSchedule::default(),
            lease: Duration::from_secs(30),
            priority: 1,
            detach: false,
            receiving: false,
            chosen: SendOptions::default(),
            notice: Notice::default(),
        }
    }
}
