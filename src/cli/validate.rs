//! `campaign validate SOURCE`: load and check everything, send nothing. Also `run --dry-run`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use super::campaign_args::{Api, CampaignArgs};
use crate::campaign::estimate::{Estimate, TOKEN_RATE};
use crate::campaign::load::Summary;
use crate::campaign::{self, LoadOptions};
use crate::queue::Purpose;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(flatten)]
    pub campaign: CampaignArgs,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Write rejected rows to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Begin the rejects file with a UTF-8 BOM (Excel then reads its accents right) [default:
    /// as the source did; its delimiter is the source's, or --delimiter's].
    #[arg(long, requires = "rejects", conflicts_with = "no_bom")]
    pub bom: bool,
    /// No BOM in the rejects file, even when the source had one.
    #[arg(long, requires = "rejects")]
    pub no_bom: bool,
}

/// A rehearsal (`--sim`) uses a rehearsal database; anything else is about real sending.
pub fn purpose_of(sim: bool) -> Purpose {
    if sim {
        Purpose::Rehearsal
    } else {
        Purpose::Real
    }
}

pub async fn run(global: &GlobalArgs, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let def = args.campaign.definition()?;
    let store = global.store(purpose_of(args.campaign.sim)).await?;
    let api = Api::connect(global, args.campaign.sim, false).await?;
    let opts = LoadOptions {
        dry_run: true,
        rejects_file: args.rejects.clone(),
        rejects_bom: (args.bom || args.no_bom).then_some(args.bom),
        ..LoadOptions::default()
    };
    let loaded = campaign::load(&def, &store, api.client.as_ref(), &opts).await;
    api.close().await?;
    store.close().await;
    let mut summary = loaded?.summary;
    summary.estimate = Some(Estimate::of(&def, &summary, TOKEN_RATE));
    print_summary(&summary, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The summary as JSON or as text for a person.
pub fn print_summary(summary: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", crate::terminal::json(summary));
        return Ok(());
    }
    if summary.unchanged {
        crate::show!(
            "the source is unchanged since it was loaded; its rows were not checked again"
        );
    }
    let mut already = summary
        .already_queued
        .map(|n| format!(" ({n} already queued)"))
        .unwrap_or_default();
    if let Some(n) = summary.already_reached.filter(|n| *n > 0) {
        already.push_str(&format!(
            " ({n} not queued: an earlier campaign of this name reached them)"
        ));
    }
    if let Some(n) = summary.earlier_batch.filter(|n| *n > 0) {
        already.push_str(&format!(
            " ({n} not queued: an earlier batch has them, by the dedupe key)"
        ));
    }
    crate::show!(
        "rows {}: valid {}{already}, rejected {}, duplicates {}, suppressed {}",
        summary.rows,
        summary.valid,
        summary.rejected,
        summary.duplicates,
        summary.suppressed
    );
    if let Some(n) = summary.outside_window {
        crate::show!(
            "{n} of the valid recipients are outside their send window now: they wait in the queue until it opens in their time"
        );
    }
    if let Some(w) = &summary.text_window {
        let counted = crate::terminal::counted;
        let closes = w
            .first_close_ms
            .map(|at| {
                format!(
                    "; the first window closes at {}",
                    crate::clock::rfc3339_secs(at)
                )
            })
            .unwrap_or_default();
        crate::show!(
            "24-hour window: {} inside it now{closes}; {} outside it (rejected: a template is required)",
            counted(w.open, "recipient", "recipients"),
            w.closed
        );
        if w.unread > 0 {
            crate::show!(
                "{} could not be checked: the API did not give their conversation (rejected; run again to check them)",
                counted(w.unread, "recipient", "recipients")
            );
        }
        if w.unknown > 0 {
            crate::show!(
                "{} not heard from recently: their window is unknown without the API to read their conversation (set CONVRS_TOKEN, or --sim)",
                counted(w.unknown, "recipient", "recipients")
            );
        }
    }
    if let Some(sms) = &summary.sms {
        crate::show!(
            "SMS: {} segments; {} GSM-7, {} UCS-2 messages",
            sms.segments,
            sms.gsm7,
            sms.ucs2
        );
        let counted = crate::terminal::counted;
        if sms.smart_encoded > 0 {
            crate::show!(
                "smart encoding: {} with GSM-7 look-alikes of their curly quotes, long dashes and such, {} fewer",
                counted(sms.smart_encoded, "message goes", "messages go"),
                counted(sms.smart_saved, "segment", "segments")
            );
        }
        if sms.smart_possible > 0 {
            crate::show!(
                "{} UCS-2 (70 characters a segment) only because of characters with a GSM-7 look-alike (curly quotes, long dashes, non-breaking spaces...): --smart-encoding (smart_encoding = true) would replace them and save {}",
                counted(sms.smart_possible, "message goes", "messages go"),
                counted(sms.smart_would_save, "segment", "segments")
            );
        }
    }
    if let Some(estimate) = &summary.estimate {
        crate::show!("estimate: {}", estimate.describe());
    }
    for warning in &summary.warnings {
        crate::show!("warning: {warning}");
    }
    for p in &summary.previews {
        crate::show!("preview (line {}) to {}: {}", p.line, p.phone, p.text);
    }
    for r in &summary.rejects {
        let field = if r.field.is_empty() {
            String::new()
        } else {
            format!(", field {}", r.field)
        };
        crate::show!("rejected line {}{field}: {}", r.line, r.reason);
    }
    const SHOWN: usize = 20;
    for d in summary.duplicate_lines.iter().take(SHOWN) {
        crate::show!(
            "duplicate line {}: the same recipient as line {} (not queued again)",
            d.line,
            d.of
        );
    }
    if summary.duplicates > SHOWN as u64 {
        crate::show!(
            "... and {} more duplicates (--json lists the first {})",
            summary.duplicates - SHOWN as u64,
            crate::campaign::load::LISTED_DUPLICATES
        );
    }
    Ok(())
}
