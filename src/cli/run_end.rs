//! How a run ended, told: what reconciliation found, the end and its exit code (with what
//! waits and who sends it on), and the campaign's status (or `--json`) at the end.

use std::process::ExitCode;

use super::run::RunArgs;
use super::{EXIT_INTERRUPTED, EXIT_STOPPED, status};
use crate::engine::{self, RunEnd, Target};
use crate::queue::{Role, Store};

/// What reconciliation found of messages an earlier run left uncertain.
pub(super) fn tell_reconciled(id: crate::queue::CampaignId, report: &engine::RunReport) {
    if report.left_uncertain_by_earlier_run > 0 {
        crate::tell!(
            "{} message(s) were being sent when an earlier run stopped: marked uncertain, then reconciled",
            report.left_uncertain_by_earlier_run
        );
    }
    let r = &report.reconciled;
    if r.sent + r.requeued + r.undecided > 0 {
        crate::tell!(
            "reconciled uncertain messages: {} proven sent, {} proven unsent and sent again, {} still uncertain",
            r.sent,
            r.requeued,
            r.undecided
        );
        if r.undecided > 0 {
            crate::tell!(
                "`campaign retry {id} --uncertain` sends the uncertain ones again, if you decide so"
            );
        }
    }
}

/// How the run ended, said, and its exit code.
pub(super) fn exit_code(
    id: crate::queue::CampaignId,
    report: &engine::RunReport,
    args: &RunArgs,
) -> ExitCode {
    let code = match &report.end {
        RunEnd::Finished { unsettled } => {
            if *unsettled > 0 {
                crate::tell!(
                    "{unsettled} message(s) not yet delivered after --wait {}; `campaign status {id}` shows them later",
                    crate::duration::shown(args.wait.unwrap_or(super::run::DEFAULT_WAIT))
                );
            }
            ExitCode::SUCCESS
        }
        RunEnd::Sent => ExitCode::SUCCESS,
        RunEnd::Stopped(stop) => {
            crate::tell!("{stop}");
            ExitCode::from(EXIT_STOPPED)
        }
        RunEnd::Interrupted => {
            match &report.worker {
                Some(worker) => crate::tell!(
                    "stopped following campaign {id}: the worker {worker} goes on sending it (`campaign pause {id}` stops it)"
                ),
                None => crate::tell!("interrupted: run the same command again to resume"),
            }
            ExitCode::from(EXIT_INTERRUPTED)
        }
        RunEnd::Queued { sender } => {
            match sender {
                Some(h) if h.role == Role::Worker => {
                    crate::tell!(
                        "campaign {id} is queued for the worker {}: it sends it now (`campaign list` shows its progress)",
                        h.owner
                    )
                }
                Some(h) => crate::tell!(
                    "campaign {id} is queued for a worker; {h} now, and no worker does: start `campaign worker` to send it"
                ),
                None => crate::tell!(
                    "campaign {id} is queued for a worker, but none holds its token now: start `campaign worker` to send it"
                ),
            }
            ExitCode::SUCCESS
        }
    };
    if let Some(worker) = &report.worker
        && !args.json
    {
        crate::tell!("campaign {id} was sent by the worker {worker}");
    }
    code
}

/// The campaign's status at the end: `status --json` with what the load found, or as text.
pub(super) async fn print_result(store: &Store, target: &Target, json: bool) -> anyhow::Result<()> {
    if !json {
        return status::print_campaign(store, target.id, false).await;
    }
    let mut value = status::campaign_json(store, target.id).await?;
    if let Some(s) = &target.summary {
        value["load"] = serde_json::json!({
            "rows": s.rows,
            "valid": s.valid,
            "rejected": s.rejected,
            "duplicates": s.duplicates,
            "suppressed": s.suppressed,
        });
    }
    println!("{}", crate::terminal::json(&value));
    Ok(())
}
