//! `campaign lookup PHONE|UID [--json]`: what happened to one recipient, across campaigns.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::clock::rfc3339_secs;
use crate::phone::{PhoneNumber, Region};
use crate::queue::{Purpose, Story};

#[derive(Debug, Args)]
pub struct LookupArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// The number (international, or national with --region), or a Convrs uid.
    pub recipient: String,
    /// Read a national number in this region (ISO 3166 alpha-2, e.g. GB).
    #[arg(long, value_name = "ISO2")]
    pub region: Option<String>,
    /// One JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// The recipient as the store keeps it: an E.164 number, or a uid as given.
fn recipient(args: &LookupArgs) -> anyhow::Result<String> {
    let region = args.region.as_deref().map(Region::parse).transpose()?;
    match PhoneNumber::parse(&args.recipient, region) {
        Ok(phone) => Ok(phone.as_str().to_string()),
        // A uid: a WhatsApp or SMS user's by the number it carries (`3941-wa3-447911123456`),
        // another's as it is (`73-tel-615940546`).
        Err(_) if args.recipient.matches('-').count() >= 2 => {
            let uid = args.recipient.trim();
            Ok(crate::convrs::phone_of_uid(uid).map_or_else(|| uid.into(), |p| p.as_str().into()))
        }
        Err(e) => Err(anyhow::anyhow!(
            "'{}' is neither a number we can read ({e}) nor a Convrs uid (like 3941-wa3-447911123456)",
            crate::terminal::safe(&args.recipient)
        )),
    }
}

pub async fn run(global: &GlobalArgs, args: &LookupArgs) -> anyhow::Result<ExitCode> {
    let who = recipient(args)?;
    let store = global.store(Purpose::Any).await?;
    let story = store.lookup(&who).await?;
    if args.json {
        println!("{}", crate::terminal::json(&story));
    } else {
        print(&story);
    }
    Ok(ExitCode::SUCCESS)
}

fn print(story: &Story) {
    let safe = crate::terminal::safe;
    crate::show!("{}", story.recipient);
    if story.messages.is_empty() {
        crate::show!("no message to it in this database");
    }
    for m in &story.messages {
        let sent = m.sent_at.map_or_else(
            || "not sent".into(),
            |at| format!("sent {}", rfc3339_secs(at)),
        );
        crate::show!(
            "campaign {} \"{}\" (line {}): {}, {sent}, {} attempt(s){}",
            m.campaign,
            safe(&m.campaign_name),
            m.line,
            m.state,
            m.attempts,
            m.error
                .as_deref()
                .map(|e| format!(": {}", safe(e)))
                .unwrap_or_default()
        );
        for a in &m.acks {
            crate::show!(
                "  ack {:>2} at {} ({})",
                a.ack,
                rfc3339_secs(a.at_ms),
                a.source
            );
        }
    }
    for r in &story.replies {
        let campaign = r
            .campaign
            .map(|c| format!(" to campaign {c}"))
            .unwrap_or_default();
        crate::show!(
            "wrote \"{}\" at {}{campaign}: {} (by {})",
            safe(&r.text),
            rfc3339_secs(r.at_ms),
            r.verdict,
            r.source
        );
    }
    match &story.suppression {
        Some(s) => crate::show!(
            "suppressed since {}: {} ({})",
            s.created_at,
            safe(&s.reason),
            s.source
        ),
        None => crate::show!("not suppressed"),
    }
}
