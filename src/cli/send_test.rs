//! `campaign send-test SOURCE --to NUMBER`: one message of a campaign, rendered from a row of
//! its source (or, for a campaign named by id or name, as it was frozen at its queueing), sent to the given test recipients through the same verdicts as a campaign's
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
use crate::campaign::definition::Channel;
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
    let store = global
        .store(super::validate::purpose_of(args.campaign.sim))
        .await?;
    let stored = super::continued::stored(&store, &args.campaign).await?;
    let def = match stored {
        Some(_) => None,
        None => Some(args.campaign.definition()?),
    };
    let api = Api::connect(global, args.campaign.sim, true).await?;
    let client = api.client.clone().expect("a client when required");
    let ready = match (stored, &def) {
        (Some(id), _) => stored_tests(&store, id, args).await,
        (None, Some(def)) => samples(def, &store, Some(&client), args.row, &args.set, &args.to)
            .await
            .map(|s| {
                (
                    def.channel().send_command(),
                    s.into_iter().map(Ready::of).collect(),
                )
            })
            .map_err(anyhow::Error::from),
        (None, None) => unreachable!("a definition when no campaign is named"),
    };
    let suppressed = store.suppressed_set().await;
    store.close().await;
    let ((command, ready), suppressed) = (ready?, suppressed?);
    let mut tested = vec![];
    for one in ready {
        let done = send(&client, command, one, &suppressed).await;
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

/// One test, ready to send (its request, what it reads, who it goes to), or why not.
struct Ready {
    to: String,
    line: u64,
    message: Result<Message, String>,
}

struct Message {
    payload: String,
    text: String,
    /// As the suppression list keys it: the number, else the uid.
    recipient: String,
    uid: Option<String>,
}

impl Ready {
    fn of(sample: Sample) -> Ready {
        Ready {
            to: sample.to,
            line: sample.line,
            message: sample
                .checked
                .map(|c| Message {
                    payload: c.payload,
                    text: c.text,
                    recipient: c.recipient,
                    uid: c.uid,
                })
                .map_err(|r| match r.field.as_str() {
                    "" => r.reason,
                    field => format!("field {field}: {}", r.reason),
                }),
        }
    }
}

/// A stored campaign's message of line `--row` (default: the first) as it was frozen, to each
/// test recipient instead: its number (or, for a text, its uid) put in the request.
async fn stored_tests(
    store: &crate::queue::Store,
    id: crate::queue::CampaignId,
    args: &SendTestArgs,
) -> anyhow::Result<(&'static str, Vec<Ready>)> {
    if let Some(flag) = args.campaign.defining_flag() {
        anyhow::bail!(
            "campaign {id} is sent as it is stored: drop {flag}, or give its campaign file to render one with other settings"
        );
    }
    anyhow::ensure!(
        args.set.is_empty(),
        "campaign {id}'s messages are frozen as they were queued: --set changes nothing; give its campaign file to render one with other values"
    );
    let row = args.row.map(|r| r as i64);
    let Some((line, payload)) = store.message_at_line(id, row).await? else {
        anyhow::bail!(
            "campaign {id} has no message of line {}: `campaign report {id} --csv FILE` lists its lines",
            args.row.map_or_else(|| "any".into(), |r| r.to_string())
        );
    };
    let (_, channel) = store.name_and_channel(id).await?;
    let channel = Channel::from_stored(&channel);
    let header = store.report_header(id).await?;
    let request: serde_json::Value = serde_json::from_str(&payload)?;
    let body = match (
        request["templateName"].as_str(),
        request["language"].as_str(),
    ) {
        (Some(name), Some(language)) => store
            .cached_template(header.bot_id, name, language)
            .await?
            .and_then(|t| serde_json::from_str::<crate::convrs::wire::Template>(&t).ok())
            .map(|t| t.body_text().to_string()),
        _ => None,
    };
    let text = crate::report::example(&payload, body.as_deref()).unwrap_or_default();
    let ready = args
        .to
        .iter()
        .map(|to| Ready {
            to: to.clone(),
            line: line as u64,
            message: for_recipient(&request, channel, header.bot_id, to).map(
                |(payload, recipient, uid)| Message {
                    payload,
                    text: text.clone(),
                    recipient,
                    uid,
                },
            ),
        })
        .collect();
    Ok((channel.send_command(), ready))
}

/// The frozen request sent to `to` instead: (request, recipient key, uid).
fn for_recipient(
    request: &serde_json::Value,
    channel: Channel,
    bot_id: i64,
    to: &str,
) -> Result<(String, String, Option<String>), String> {
    let mut request = request.clone();
    if channel == Channel::Text {
        let uid = crate::convrs::whatsapp_uid_for(bot_id, to, None);
        request["uid"] = uid.clone().into();
        let recipient =
            crate::convrs::phone_of_uid(&uid).map_or_else(|| uid.clone(), |p| p.to_string());
        return Ok((request.to_string(), recipient, Some(uid)));
    }
    let number = crate::phone::PhoneNumber::parse(to, None)
        .map_err(|e| format!("'{to}': {e} (give it in international form, +44...)"))?;
    request["phone"] = number.to_string().into();
    Ok((request.to_string(), number.to_string(), None))
}

async fn send(
    client: &Client,
    command: &str,
    ready: Ready,
    suppressed: &std::collections::HashSet<String>,
) -> Tested {
    let mut tested = Tested {
        to: ready.to,
        line: ready.line,
        text: None,
        sent: false,
        outcome: String::new(),
        mid: None,
        uid: None,
        acks: vec![],
    };
    let message = match ready.message {
        Ok(message) => message,
        Err(why) => {
            tested.outcome = format!("not sent: {why}");
            return tested;
        }
    };
    tested.text = Some(message.text.clone());
    if suppressed.contains(&message.recipient) {
        tested.outcome = format!(
            "not sent: {} is on the suppression list (`campaign suppress list` says why)",
            message.recipient
        );
        return tested;
    }
    match client.send_frozen(command, &message.payload, None).await {
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
            tested.uid = message.uid;
        }
        other => tested.outcome = format!("not sent: {}", verdict_reason(&other)),
    }
    tested
}

fn verdict_reason(verdict: &Verdict) -> String {
    match verdict {
        Verdict::RetryLater { reason, .. } => format!("{reason} (try again later)"),
        Verdict::Unreachable { reason } => format!("{reason} (nothing was sent)"),
        Verdict::Ambiguous { reason } | Verdict::Unanswered { reason } => {
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
