//! `campaign send-test SOURCE --to NUMBER`: one message of a campaign, rendered from a row of
//! its source, sent to the given test recipients through the same verdicts as a campaign's
//! sends; the API's answer printed and the message's acks followed for a while. A test is not
//! part of the campaign: nothing of it is stored, so it is neither counted in the campaign nor
//! deduplicated against it.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::GlobalArgs;
use super::campaign_args::{Api, CampaignArgs};
use super::flags::parse_duration;
use crate::campaign::sample::{Sample, samples};
use crate::convrs::{Ack, Client, Verdict};

#[derive(Debug, Args)]
pub struct SendTestArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(flatten)]
    pub campaign: CampaignArgs,
    /// The test recipients: numbers (for a text campaign reading uids, a uid or a number,
    /// whose WhatsApp user is taken); repeat, or separate with commas.
    #[arg(long, required = true, value_delimiter = ',', value_name = "NUMBER")]
    pub to: Vec<String>,
    /// The source line to render the message from (the header is line 1; default: the first
    /// row).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
    pub row: Option<u64>,
    /// A value laid over the row's (repeat for several columns).
    #[arg(long = "set", value_name = "COLUMN=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, String)>,
    /// How long to follow the acks of what was sent (0s: not at all).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub follow: Duration,
    /// Print one JSON array instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((column, value)) if !column.trim().is_empty() => {
            Ok((column.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("'{s}': give COLUMN=VALUE, such as first_name=Ann")),
    }
}

/// What became of one test recipient.
#[derive(Debug, Serialize)]
struct Tested {
    to: String,
    line: u64,
    /// What the recipient reads, when the row could be rendered for them.
    text: Option<String>,
    sent: bool,
    /// The API's answer, or why nothing was sent.
    outcome: String,
    mid: Option<String>,
    uid: Option<String>,
    acks: Vec<SeenAck>,
}

#[derive(Debug, Clone, Serialize)]
struct SeenAck {
    ack: i64,
    meaning: &'static str,
    at: String,
}

pub async fn run(global: &GlobalArgs, args: &SendTestArgs) -> anyhow::Result<ExitCode> {
    let def = args.campaign.definition()?;
    let store = global
        .store(super::validate::purpose_of(args.campaign.sim))
        .await?;
    let api = Api::connect(global, args.campaign.sim, true).await?;
    let client = api.client.clone().expect("a client when required");
    let rendered = samples(&def, &store, Some(&client), args.row, &args.set, &args.to).await;
    let suppressed = store.suppressed_set().await;
    store.close().await;
    let (rendered, suppressed) = (rendered?, suppressed?);
    let command = def.channel().send_command();
    let mut tested = vec![];
    for sample in rendered {
        let done = send(&client, command, sample, &suppressed).await;
        if !args.json {
            crate::show!("{}", describe(&done));
        }
        tested.push(done);
    }
    follow(&client, &mut tested, args.follow, args.json).await;
    api.close().await?;
    if args.json {
        println!("{}", crate::terminal::json(&tested));
    }
    Ok(if tested.iter().all(|t| t.sent) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}

async fn send(
    client: &Client,
    command: &str,
    sample: Sample,
    suppressed: &std::collections::HashSet<String>,
) -> Tested {
    let mut tested = Tested {
        to: sample.to,
        line: sample.line,
        text: None,
        sent: false,
        outcome: String::new(),
        mid: None,
        uid: None,
        acks: vec![],
    };
    let checked = match sample.checked {
        Ok(checked) => checked,
        Err(reject) => {
            tested.outcome = format!("not sent: field {}: {}", reject.field, reject.reason);
            return tested;
        }
    };
    tested.text = Some(checked.text.clone());
    if suppressed.contains(&checked.recipient) {
        tested.outcome = format!(
            "not sent: {} is on the suppression list (`campaign suppress list` says why)",
            checked.recipient
        );
        return tested;
    }
    match client.send_frozen(command, &checked.payload, None).await {
        Verdict::Accepted { mid, uid } => {
            tested.sent = true;
            tested.outcome = format!("accepted: message id {mid}");
            tested.mid = Some(mid);
            tested.uid = uid;
        }
        Verdict::AcceptedWithoutId => {
            tested.sent = true;
            tested.outcome =
                "accepted (a text has no message id, so its acks cannot be followed)".into();
            tested.uid = checked.uid;
        }
        other => tested.outcome = format!("not sent: {}", verdict_reason(&other)),
    }
    tested
}

fn verdict_reason(verdict: &Verdict) -> String {
    match verdict {
        Verdict::RetryLater { reason, .. } => format!("{reason} (try again later)"),
        Verdict::Unreachable { reason } => format!("{reason} (nothing was sent)"),
        Verdict::Ambiguous { reason } => {
            format!("{reason}: it may have been sent; do not resend before checking the phone")
        }
        Verdict::Rejected { reason, .. }
        | Verdict::StopCampaign { reason }
        | Verdict::StopToken { reason } => reason.clone(),
        Verdict::Accepted { .. } | Verdict::AcceptedWithoutId => "accepted".into(),
    }
}

fn describe(t: &Tested) -> String {
    let text = t
        .text
        .as_deref()
        .map(|text| format!(": {}", crate::terminal::safe(text)))
        .unwrap_or_default();
    format!("test to {} (line {}){text}\n  {}", t.to, t.line, t.outcome)
}

/// Asks GetMessageDetails every 2 seconds for the acks of what was sent with a mid, until each
/// has one after which nothing changes (read, or a failure), or `follow` has passed.
async fn follow(client: &Client, tested: &mut [Tested], follow: Duration, json: bool) {
    let deadline = tokio::time::Instant::now() + follow;
    let settled = |t: &Tested| {
        t.mid.is_none()
            || t.acks.last().is_some_and(|a| {
                Ack::from_code(a.ack).is_some_and(|ack| ack.is_final() || ack == Ack::Read)
            })
    };
    while tokio::time::Instant::now() < deadline && !tested.iter().all(settled) {
        for t in tested.iter_mut().filter(|t| !settled(t)) {
            let Some(mid) = &t.mid else { continue };
            let Ok(details) = client.get_message_details(mid).await else {
                continue;
            };
            let Some(ack) = Ack::from_code(details.ack) else {
                continue;
            };
            if t.acks.last().is_none_or(|a| a.ack != ack.code()) {
                let seen = SeenAck {
                    ack: ack.code(),
                    meaning: ack.meaning(),
                    at: chrono::Local::now().format("%H:%M:%S").to_string(),
                };
                if !json {
                    crate::show!("{} ack {} at {}: {}", t.to, seen.ack, seen.at, seen.meaning);
                }
                t.acks.push(seen);
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(2).min(left)).await;
    }
}
