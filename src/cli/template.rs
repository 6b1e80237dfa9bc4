//! `campaign template NAME --language L --bot ID`: one WhatsApp template as GetWhatsAppTemplate
//! gives it (its status, category, parameters, texts), cached for later runs, with a preview
//! rendered from a CSV row; `campaign templates`: those the store has seen (the API has no
//! command that lists them).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use super::GlobalArgs;
use super::campaign_args::Api;
use crate::campaign::source::{CsvSource, Row};
use crate::convrs::wire::{GetWhatsAppTemplate, Template, render_body};
use crate::queue::{Purpose, Store};

#[derive(Debug, Args)]
pub struct TemplateArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(flatten)]
    pub api: super::ApiArgs,
    /// The template's name.
    pub name: String,
    /// Its language code (e.g. en).
    #[arg(long)]
    pub language: String,
    /// The WhatsApp bot it belongs to.
    #[arg(long = "bot", value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub bot_id: i64,
    /// Ask the in-process simulator (a rehearsal database).
    #[arg(long)]
    pub sim: bool,
    /// A CSV file to render a preview from, with --params.
    #[arg(long, value_name = "FILE", requires = "params")]
    pub csv: Option<PathBuf>,
    /// The CSV columns that fill {{1}}, {{2}}... of the preview.
    #[arg(long, value_delimiter = ',', value_name = "COL,COL", requires = "csv")]
    pub params: Option<Vec<String>>,
    /// The CSV line to preview (the header is line 1; default: the first row).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
    pub row: Option<u64>,
    /// One JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// One JSON array instead of lines.
    #[arg(long)]
    pub json: bool,
}

pub async fn show(global: &GlobalArgs, args: &TemplateArgs) -> anyhow::Result<ExitCode> {
    // Without an API it only reads the cache, of a rehearsal database as well as a real one.
    let purpose = if args.sim || global.has_token() {
        super::validate::purpose_of(args.sim)
    } else {
        Purpose::Any
    };
    let store = global.store(purpose).await?;
    let api = Api::connect(global, args.sim, false).await?;
    let fetched = fetch(&store, &api, args).await;
    api.close().await?;
    let (template, from) = fetched?;
    let preview = match (&args.csv, &args.params) {
        (Some(csv), Some(params)) => Some(preview(&template, csv, params, args.row)?),
        _ => None,
    };
    if args.json {
        let mut out = serde_json::to_value(&template)?;
        out["parameters"] = template.body_parameter_count().into();
        out["from"] = from.into();
        if let Some((line, text)) = &preview {
            out["preview"] = serde_json::json!({ "line": line, "text": text });
        }
        println!("{}", crate::terminal::json(&out));
        return Ok(ExitCode::SUCCESS);
    }
    let safe = crate::terminal::safe_lines;
    crate::show!(
        "{} ({}) of bot {}, {from}",
        safe(&template.name),
        safe(&template.language),
        args.bot_id
    );
    crate::show!("status: {}", safe(or_unknown(&template.status)));
    crate::show!("category: {}", safe(or_unknown(&template.category)));
    crate::show!("parameters: {}", template.body_parameter_count());
    for component in &template.components {
        let kind = component.get("type").and_then(Value::as_str).unwrap_or("?");
        if let Some(text) = component.get("text").and_then(Value::as_str) {
            crate::show!("{}: {}", kind.to_lowercase(), safe(text));
        }
    }
    if let Some((line, text)) = preview {
        crate::show!("preview (line {line}): {}", safe(&text));
    }
    Ok(ExitCode::SUCCESS)
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "(the API did not say)"
    } else {
        s
    }
}

/// The template from the API (cached then), or from the cache when there is no API to ask.
async fn fetch(
    store: &Store,
    api: &Api,
    args: &TemplateArgs,
) -> anyhow::Result<(Template, &'static str)> {
    let Some(client) = &api.client else {
        let cached = store
            .cached_template(args.bot_id, &args.name, &args.language)
            .await?
            .context(
                "not cached, and no API to ask: set CONVRS_TOKEN and CONVRS_API_URL (or use --sim)",
            )?;
        return Ok((serde_json::from_str(&cached)?, "as cached (no API to ask)"));
    };
    let request = GetWhatsAppTemplate {
        bot_id: args.bot_id,
        template_name: args.name.clone(),
        language: args.language.clone(),
    };
    let template = match client.get_whatsapp_template(&request).await {
        Ok(template) => template,
        Err(e) => {
            let close = crate::campaign::template_names::close_to(
                store,
                &args.name,
                &args.language,
                args.bot_id,
            )
            .await?;
            anyhow::bail!("template {} ({}): {e}{close}", args.name, args.language);
        }
    };
    store
        .cache_template(
            args.bot_id,
            &args.name,
            &args.language,
            &serde_json::to_string(&template)?,
        )
        .await?;
    Ok((template, "from the API (cached for later runs)"))
}

/// The body rendered with `params` from line `row` of `csv` (default the first row).
fn preview(
    template: &Template,
    csv: &std::path::Path,
    params: &[String],
    row: Option<u64>,
) -> anyhow::Result<(u64, String)> {
    let mut source = CsvSource::open(csv, None)?;
    let columns = source.columns().to_vec();
    let indexes = params
        .iter()
        .map(|p| {
            columns.iter().position(|c| c == p).with_context(|| {
                format!(
                    "{}: there is no column '{p}'; the columns are: {}",
                    csv.display(),
                    columns.join(", ")
                )
            })
        })
        .collect::<anyhow::Result<Vec<usize>>>()?;
    while let Some(next) = source.next_row()? {
        let Row::Record(record) = next else { continue };
        if row.is_none_or(|n| n == record.line) {
            let values: Vec<String> = indexes
                .iter()
                .map(|&i| record.values.get(i).cloned().unwrap_or_default())
                .collect();
            return Ok((record.line, render_body(template.body_text(), &values)));
        }
    }
    anyhow::bail!(
        "{}: no line {} to preview",
        csv.display(),
        row.map_or_else(|| "2".into(), |n| n.to_string())
    )
}

pub async fn list(global: &GlobalArgs, args: &TemplatesArgs) -> anyhow::Result<ExitCode> {
    let store = global.store(Purpose::Any).await?;
    let cached = store.cached_templates().await?;
    let rows: Vec<Value> = cached
        .iter()
        .map(|t| {
            let template: Option<Template> = serde_json::from_str(&t.body).ok();
            serde_json::json!({
                "bot": t.bot_id,
                "name": t.name,
                "language": t.language,
                "status": template.as_ref().map(|t| t.status.clone()),
                "category": template.as_ref().map(|t| t.category.clone()).filter(|c| !c.is_empty()),
                "parameters": template.as_ref().map(Template::body_parameter_count),
                "fetched_at": crate::clock::rfc3339_secs(t.fetched_at),
            })
        })
        .collect();
    if args.json {
        println!("{}", crate::terminal::json(&rows));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        crate::show!(
            "no template seen yet: `campaign template NAME --language L --bot ID` fetches one (the API has no command that lists them)"
        );
    }
    for r in &rows {
        let parameters = r["parameters"].as_u64().unwrap_or_default();
        crate::show!(
            "bot {}  {} ({})  {}  {}  fetched {}",
            r["bot"],
            crate::terminal::safe(r["name"].as_str().unwrap_or_default()),
            crate::terminal::safe(r["language"].as_str().unwrap_or_default()),
            crate::terminal::safe(r["status"].as_str().unwrap_or("?")),
            crate::terminal::counted(parameters, "parameter", "parameters"),
            r["fetched_at"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
