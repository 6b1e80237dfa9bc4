//! Orchestration, above the rooms it calls: a run of a campaign (`run`) takes the campaign
//! lease and drives the dispatcher (`dispatch`), reconciliation and the ack poller
//! (`tracking`), which do not know each other.

mod run;

pub use run::{Deferred, RunEnd, RunError, RunOptions, RunReport, deferred_summary, run_campaign};
