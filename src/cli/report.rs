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
    /// One row per recipient (CSV-injection safe), with the source row's columns when its file
    /// is as it was loaded; in the source's delimiter and BOM unless --delimiter/--bom say.
    #[arg(long, value_name = "FILE", group = "output")]
    pub csv: Option<PathBuf>,
    /// The CSV's delimiter: ',' ';' '|' or tab [default: the source's].
    #[arg(long, value_name = "CHAR", requires = "csv", value_parser = delimiter)]
    pub delimiter: Option<u8>,
    /// Begin the CSV with a UTF-8 BOM (Excel then reads its accents right) [default: as the
    /// source did].
    #[arg(long, requires = "csv", conflicts_with = "no_bom")]
    pub bom: bool,
    /// No BOM, even when the source had one.
    #[arg(long, requires = "csv")]
    pub no_bom: bool,
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
        let output = report::CsvOutput {
            delimiter: args.delimiter,
            bom: (args.bom || args.no_bom).then_some(args.bom),
        };
        let csv = report::write_csv(&store, id, path, output).await?;
        let delimiter = char::from(csv.dialect.delimiter).to_string();
        written["csv"] = serde_json::json!({
            "path": path,
            "rows": csv.rows,
            "delimiter": delimiter,
            "bom": csv.dialect.bom,
            "source_columns": csv.source_columns,
        });
        if !args.json {
            let shown = if delimiter == "\t" {
                "tab".into()
            } else {
                format!("'{delimiter}'")
            };
            crate::show!(
                "{} written to {} (delimiter {shown}{}{})",
                crate::terminal::counted(csv.rows as u64, "recipient", "recipients"),
                path.display(),
                if csv.dialect.bom { ", with a BOM" } else { "" },
                if csv.source_columns {
                    ", with the source's columns"
                } else {
                    ""
                },
            );
            if let Some(note) = &csv.note {
                crate::tell!("note: {note}");
            }
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

fn delimiter(given: &str) -> Result<u8, String> {
    crate::campaign::definition::parse_delimiter(given).map_err(|e| e.to_string())
}
