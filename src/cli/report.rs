//! `campaign report CAMPAIGN --csv FILE --html FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::report;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("output").required(true).multiple(true))]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// A campaign id or name.
    pub campaign: String,
    /// One row per recipient (CSV-injection safe).
    #[arg(long, value_name = "FILE", group = "output")]
    pub csv: Option<PathBuf>,
    /// A self-contained page with the funnel, acks over time and failure reasons as charts.
    #[arg(long, value_name = "FILE", group = "output")]
    pub html: Option<PathBuf>,
    /// Say what was written as JSON: {"campaign":N,"csv":{"path":..,"rows":N},"html":{"path":..}}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &GlobalArgs, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let store = global.store_to_read().await?;
    let id = super::control::resolve(&store, &args.campaign).await?;
    anyhow::ensure!(
        store.campaigns().await?.iter().any(|c| c.0 == id),
        "no campaign {id}: `campaign status` lists them"
    );
    let mut written = serde_json::json!({ "campaign": id });
    if let Some(path) = &args.csv {
        let rows = report::write_csv(&store, id, path).await?;
        written["csv"] = serde_json::json!({ "path": path, "rows": rows });
        if !args.json {
            crate::show!("{rows} recipients written to {}", path.display());
        }
    }
    if let Some(path) = &args.html {
        report::write_html(&store, id, path).await?;
        written["html"] = serde_json::json!({ "path": path });
        if !args.json {
            crate::show!("report written to {}", path.display());
            // The hint is the operator's, not the manager's: here, not on the page.
            let priced = store.report_header(id).await?.price.is_some();
            if !priced {
                crate::tell!(
                    "no cost on the report: add price = {{ per_message = AMOUNT, currency = \"GBP\" }} (or per_segment, for SMS) to the campaign file, and run it again"
                );
            }
        }
    }
    if args.json {
        crate::show!("{written}");
    }
    Ok(ExitCode::SUCCESS)
}
