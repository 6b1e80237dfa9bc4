//! Orchestration, above the rooms it calls. The token is the unit of sending: a process that
//! sends on a token holds its lease (`token`) and passes every campaign on it through one gate.
//! A run of a campaign (`run`) takes its token, or hands the campaign to the worker that holds
//! it and follows it (`follow`); a worker (`worker`) sends every campaign on its tokens. Both
//! send a campaign the same way (`send`): the dispatcher, reconciliation and the ack poller
//! (`tracking`), which do not know each other; a worker polls each token's acks (`acks`) and
//! says where its tokens stand (`status`). Scheduled campaigns fire their runs as batches
//! (`scheduled`), from the worker or from a cron `run`.

mod acks;
mod api_stats;
mod confirm;
mod context;
mod follow;
mod health;
mod holding;
mod live;
mod metrics;
mod receiving;
mod run;
mod scheduled;
mod send;
mod spread;
mod status;
mod token;
mod worker;

pub use api_stats::ApiStats;
pub use health::{Health, router as health_router};
pub use receiving::{ReceiveError, Receiving};
pub use run::{Deferred, Notice, RunEnd, RunError, RunOptions, RunReport, run_campaign};
pub use scheduled::{Firing, fire_due, fire_schedules, load_batch, register_and_fire, skip_reason};
pub use send::{SendEnd, Sent, Settings, deferred_summary};
pub use token::{HeldToken, TokenLimits};
pub use worker::{TokenState, WorkerConfig, WorkerStatus, run_worker};

/// The campaign a run sends: loaded now, or continued with what it has queued.
pub struct Target {
    pub id: crate::queue::CampaignId,
    pub channel: crate::campaign::definition::Channel,
    /// What the load found (none when continued).
    pub summary: Option<crate::campaign::load::Summary>,
}
