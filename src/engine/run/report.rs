//! How a run ended (`RunEnd`), what it reports (`RunReport`), and why it could not run
//! (`RunError`).

use crate::dispatch::{Reconciled, Stop};
use crate::queue::{CampaignId, LeaseHeld, StoreError, TokenHeld};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything was sent and acks were awaited; `unsettled` were not delivered in time.
    Finished { unsettled: usize },
    /// Everything was sent (`--no-wait`).
    Sent,
    /// A stop verdict paused the campaign or stopped the token, or the operator did.
    Stopped(Stop),
    /// Cancelled (Ctrl-C): nothing new was claimed, what was in flight was recorded. When a
    /// worker sends the campaign, only the following stopped.
    Interrupted,
    /// Queued for a worker (`detach`); `sender` holds the token now, if anyone does.
    Queued { sender: Option<TokenHeld> },
}

/// Messages the run left waiting for a later attempt, grouped by why.
pub type Deferred = crate::queue::DeferredGroup;

#[derive(Debug, Clone)]
pub struct RunReport {
    pub end: RunEnd,
    /// Messages a dead run had left `sending`, now `uncertain`.
    pub left_uncertain_by_earlier_run: u64,
    pub reconciled: Reconciled,
    /// Messages whose next attempt is due after the run ended.
    pub deferred: Vec<Deferred>,
    /// The worker that sent the campaign, when the run handed it over.
    pub worker: Option<String>,
}

impl RunReport {
    pub(in crate::engine) fn ended(end: RunEnd) -> Self {
        RunReport {
            end,
            left_uncertain_by_earlier_run: 0,
            reconciled: Reconciled::default(),
            deferred: vec![],
            worker: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Busy(#[from] LeaseHeld),
    /// Another process took the campaign over; this run sent nothing more from then on.
    #[error(
        "campaign {0} was taken over by another process (this run's lease expired or was taken), so this run stopped sending; what it had in flight is reconciled by whoever runs the campaign now"
    )]
    LeaseLost(CampaignId),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost(campaign) => RunError::LeaseLost(campaign),
            other => RunError::Store(other),
        }
    }
}
