//! `campaign suppress add|remove|list|import`: the numbers no campaign may send to.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::phone::{PhoneNumber, Region};
use crate::queue::Purpose;

#[derive(Debug, Args)]
pub struct SuppressArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(subcommand)]
    pub action: SuppressAction,
}

#[derive(Debug, Subcommand)]
pub enum SuppressAction {
    /// Add a number.
    Add {
        /// The number: international (+44...), or national with --region.
        phone: String,
        /// Why it may not be sent to (shown by `suppress list` and in reports).
        #[arg(long, default_value = "added by operator")]
        reason: String,
        /// Read a national number in this region (ISO 3166 alpha-2, e.g. GB).
        #[arg(long, value_name = "ISO2")]
        region: Option<String>,
    },
    /// Remove a number, so campaigns may send to it again.
    Remove {
        /// The number: international (+44...), or national with --region.
        phone: String,
        /// Read a national number in this region (ISO 3166 alpha-2, e.g. GB).
        #[arg(long, value_name = "ISO2")]
        region: Option<String>,
    },
    /// List the suppressed numbers.
    List {
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Add every number of a CSV file's phone column (a report or rejects file of this tool too).
    Import {
        /// The CSV file, with a header line.
        file: PathBuf,
        /// The column holding the numbers.
        #[arg(long, default_value = "phone")]
        phone_column: String,
        /// Why they may not be sent to.
        #[arg(long, default_value = "imported")]
        reason: String,
        /// Read national numbers in this region (ISO 3166 alpha-2, e.g. GB).
        #[arg(long, value_name = "ISO2")]
        region: Option<String>,
    },
}

fn parse(raw: &str, region: Option<&str>) -> anyhow::Result<PhoneNumber> {
    let region = region.map(Region::parse).transpose()?;
    PhoneNumber::parse(raw, region)
        .with_context(|| format!("'{raw}' is not a number we can suppress"))
}

pub async fn run(global: &GlobalArgs, args: &SuppressArgs) -> anyhow::Result<ExitCode> {
    let store = global.store(Purpose::Any).await?;
    match &args.action {
        SuppressAction::Add {
            phone,
            reason,
            region,
        } => {
            let phone = parse(phone, region.as_deref())?;
            let new = store.suppress(phone.as_str(), reason, "operator").await?;
            crate::show!(
                "{phone} {}",
                if new {
                    "suppressed"
                } else {
                    "was already suppressed (reason updated)"
                }
            );
        }
        SuppressAction::Remove { phone, region } => {
            let phone = parse(phone, region.as_deref())?;
            anyhow::ensure!(
                store.unsuppress(phone.as_str()).await?,
                "{phone} is not on the suppression list"
            );
            crate::show!("{phone} removed from the suppression list");
        }
        SuppressAction::List { json } => {
            let list = store.suppressions().await?;
            if *json {
                println!("{}", crate::terminal::json(&list));
            } else {
                for s in &list {
                    crate::show!("{}\t{}\t{}\t{}", s.phone, s.reason, s.source, s.created_at);
                }
                crate::show!("{} suppressed", list.len());
            }
        }
        SuppressAction::Import {
            file,
            phone_column,
            reason,
            region,
        } => {
            let region = region.as_deref().map(Region::parse).transpose()?;
            let mut reader = csv::Reader::from_path(file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let headers = reader
                .headers()
                .with_context(|| format!("{}: cannot read the header", file.display()))?
                .clone();
            let col = headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == phone_column)
                .with_context(|| {
                    format!(
                        "{}: no column '{phone_column}'; the columns are: {}",
                        file.display(),
                        headers.iter().collect::<Vec<_>>().join(", ")
                    )
                })?;
            let (mut added, mut bad) = (0, 0);
            for record in reader.records() {
                let record = record.with_context(|| format!("cannot read {}", file.display()))?;
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                let cell = crate::campaign::spreadsheet::unmarked(record.get(col).unwrap_or(""));
                match PhoneNumber::parse(cell, region) {
                    Ok(phone) => {
                        store.suppress(phone.as_str(), reason, "import").await?;
                        added += 1;
                    }
                    Err(e) => {
                        bad += 1;
                        crate::tell!("{}, line {line}, field {phone_column}: {e}", file.display());
                    }
                }
            }
            crate::show!("{added} numbers suppressed, {bad} rows rejected");
        }
    }
    Ok(ExitCode::SUCCESS)
}
