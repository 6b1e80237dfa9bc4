//! Campaigns: the definition (`definition`), where rows come from (`source`), the row checks
//! (`validate`, `render`, `sms`) and the loading pipeline into the queue (`load`).

pub mod definition;
pub mod load;
pub mod render;
pub mod sms;
pub mod source;
pub mod validate;

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::convrs::wire::{GetWhatsAppTemplate, Template};
use crate::convrs::{CallError, Client, ErrorCode};
use crate::queue::{CampaignId, CampaignKey, Store, StoreError};
use definition::{Definition, MessageSpec, Source};
use load::{Loader, Summary};
use source::{CsvSource, Row, SourceError};
use validate::{Record, RowChecker};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{source_name}: {message}")]
    Definition {
        source_name: String,
        message: String,
    },
    #[error("template {name} ({language}) for bot {bot_id}: {message}")]
    Template {
        name: String,
        language: String,
        bot_id: i64,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the rejects file: {0}")]
    RejectsFile(std::io::Error),
}

/// How to load.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Start a new campaign even if one with this definition exists.
    pub new: bool,
    pub rejects_file: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Loaded {
    pub campaign: Option<CampaignId>,
    pub summary: Summary,
}

/// The template's body text, from the cache or (once) from GetWhatsAppTemplate.
pub async fn template_body(
    store: &Store,
    client: Option<&Client>,
    def: &Definition,
) -> Result<Option<String>, LoadError> {
    let MessageSpec::Template { name, language, .. } = &def.message else {
        return Ok(None);
    };
    let fail = |message: String| LoadError::Template {
        name: name.clone(),
        language: language.clone(),
        bot_id: def.bot_id,
        message,
    };
    if let Some(json) = store.cached_template(def.bot_id, name, language).await? {
        let template: Template =
            serde_json::from_str(&json).map_err(|e| fail(format!("bad cached copy: {e}")))?;
        return Ok(Some(body_text(&template)));
    }
    let client = client.ok_or_else(|| {
        fail("not cached yet, and no API to fetch it from: set CONVRS_TOKEN or use --sim".into())
    })?;
    let request = GetWhatsAppTemplate {
        bot_id: def.bot_id,
        template_name: name.clone(),
        language: language.clone(),
    };
    let template = client
        .get_whatsapp_template(&request)
        .await
        .map_err(|e| match e {
            CallError::Api {
                code: ErrorCode::UnknownTemplate | ErrorCode::NoTemplates,
                ..
            } => fail(format!("does not exist ({e})")),
            other => fail(format!("cannot fetch it: {other}")),
        })?;
    store
        .cache_template(
            def.bot_id,
            name,
            language,
            &serde_json::to_string(&template).expect("templates serialise"),
        )
        .await?;
    Ok(Some(body_text(&template)))
}

fn body_text(template: &Template) -> String {
    template
        .components
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })
        .and_then(|c| c.get("text").and_then(|t| t.as_str()))
        .unwrap_or_default()
        .to_string()
}

/// Loads the definition's source: checks every row and, unless `dry_run`, queues the valid
/// ones in batched transactions. Loading the same source twice adds nothing.
pub async fn load(
    def: &Definition,
    store: &Store,
    client: Option<&Client>,
    opts: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let template = template_body(store, client, def).await?;
    let suppressed = store.suppressed_set().await?;
    let campaign = if opts.dry_run {
        None
    } else {
        let definition = serde_json::to_string(def).expect("definitions serialise");
        let fingerprint = def.fingerprint();
        let key = CampaignKey {
            name: &def.name,
            fingerprint: &fingerprint,
            channel: def.channel().as_str(),
            bot_id: def.bot_id,
            definition: &definition,
        };
        Some(store.find_or_create_campaign(&key, opts.new).await?.0)
    };
    let source_name = source_name(def);
    let checker_for = |columns: Vec<String>| {
        RowChecker::new(def, columns, template.as_deref()).map_err(|message| {
            LoadError::Definition {
                source_name: source_name.clone(),
                message,
            }
        })
    };
    let (batches_tx, mut batches_rx) = mpsc::channel::<Vec<crate::queue::NewMessage>>(4);
    let rejects_file = opts.rejects_file.clone();
    let producer = match &def.source {
        Source::Csv(path) => {
            let mut csv = CsvSource::open(path)?;
            let loader = Loader::new(
                checker_for(csv.columns().to_vec())?,
                suppressed,
                rejects_file.as_deref(),
            )
            .map_err(LoadError::RejectsFile)?;
            tokio::task::spawn_blocking(move || {
                let mut loader = loader;
                while let Some(row) = csv.next_row()? {
                    let batch = match row {
                        Row::Record(record) => loader.push(record),
                        Row::Unreadable(reject, raw) => {
                            loader.reject_unreadable(reject, &raw);
                            None
                        }
                    };
                    if let Some(batch) = batch
                        && batches_tx.blocking_send(batch).is_err()
                    {
                        break;
                    }
                }
                finish(loader, &batches_tx)
            })
        }
        Source::Sql { .. } | Source::ConvrsUsers { .. } => {
            let (columns, records) = match &def.source {
                Source::Sql { url, query } => source::sql_rows(url, query).await?,
                Source::ConvrsUsers {
                    bot_id,
                    created_after,
                } => {
                    let client = client.ok_or_else(|| {
                        SourceError::Users("no API to ask: set CONVRS_TOKEN or use --sim".into())
                    })?;
                    source::users_rows(client, *bot_id, created_after.as_deref()).await?
                }
                Source::Csv(_) => unreachable!("matched above"),
            };
            spawn_from_records(
                checker_for(columns)?,
                suppressed,
                rejects_file,
                records,
                batches_tx,
            )?
        }
    };
    let mut inserted = 0;
    let mut insert_error = None;
    while let Some(batch) = batches_rx.recv().await {
        if let (Some(id), None) = (campaign, &insert_error) {
            match store.insert_messages(id, &batch).await {
                Ok(n) => inserted += n,
                Err(e) => insert_error = Some(e),
            }
        }
    }
    let mut summary = producer.await.expect("the loader does not panic")?;
    if let Some(e) = insert_error {
        return Err(e.into());
    }
    if let Some(id) = campaign {
        store.insert_rejects(id, &summary.rejects).await?;
        summary.already_queued = Some(summary.valid - inserted);
    }
    Ok(Loaded { campaign, summary })
}

fn spawn_from_records(
    checker: RowChecker,
    suppressed: std::collections::HashSet<String>,
    rejects_file: Option<PathBuf>,
    records: Vec<Record>,
    batches_tx: mpsc::Sender<Vec<crate::queue::NewMessage>>,
) -> Result<tokio::task::JoinHandle<Result<Summary, LoadError>>, LoadError> {
    let mut loader = Loader::new(checker, suppressed, rejects_file.as_deref())
        .map_err(LoadError::RejectsFile)?;
    Ok(tokio::task::spawn_blocking(move || {
        for record in records {
            if let Some(batch) = loader.push(record)
                && batches_tx.blocking_send(batch).is_err()
            {
                break;
            }
        }
        finish(loader, &batches_tx)
    }))
}

fn finish(
    loader: Loader,
    batches_tx: &mpsc::Sender<Vec<crate::queue::NewMessage>>,
) -> Result<Summary, LoadError> {
    let (last, summary) = loader.finish().map_err(LoadError::RejectsFile)?;
    if !last.is_empty() {
        let _ = batches_tx.blocking_send(last);
    }
    Ok(summary)
}

fn source_name(def: &Definition) -> String {
    match &def.source {
        Source::Csv(path) => path.display().to_string(),
        Source::Sql { .. } => "SQL source".into(),
        Source::ConvrsUsers { .. } => "Convrs users".into(),
    }
}
