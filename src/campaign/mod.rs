//! Campaigns: the definition (`definition`), which campaign it loads into (`identity`), its
//! template (`template`), where rows come from (`source`), the row checks (`validate`,
//! `render`, `sms`) and the loading pipeline into the queue (`load`, driven from here).

pub mod advice;
pub mod after_send;
pub mod columns;
pub mod definition;
pub mod estimate;
pub mod identity;
pub mod lines;
pub mod load;
pub mod price;
pub mod quotes;
pub mod render;
pub mod reply_window;
pub mod route;
pub mod sample;
pub mod smart;
pub mod sms;
pub mod sms_body;
pub mod source;
pub mod spreadsheet;
pub mod sql;
pub mod template;
pub mod template_body;
pub mod template_names;
pub mod text;
pub mod users;
pub mod validate;
pub mod zones;

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::convrs::Client;
use crate::convrs::wire::Template;
use crate::queue::{BatchInto, CampaignId, NewMessage, Store, StoreError};
use definition::{Definition, MessageSpec, Source};
pub use identity::campaign_of;
use identity::{campaign_for, source_stamp, unchanged_since_last_load};
use load::{Loader, Summary};
use source::{CsvSource, Dialect, Row, SourceError};
pub use template::template;
use validate::RowChecker;

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
    /// The name matches a campaign that ran with other settings: the operator must choose.
    #[error(
        "campaign {campaign} \"{name}\" ran with other settings:\n  {}\nNothing was sent. \
         Pass --resume to go on with campaign {campaign} using the new settings (messages already \
         queued keep theirs), or --new to start a new campaign \"{name}\" (recipients campaign \
         {campaign} already reached are skipped unless you also pass --include-reached), or \
         --name to give this one another name",
        differences.join("\n  ")
    )]
    SettingsChanged {
        campaign: CampaignId,
        name: String,
        differences: Vec<String>,
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
    /// Start a new campaign even if one of this name exists.
    pub new: bool,
    /// Go on with the campaign of this name even though its settings changed.
    pub resume: bool,
    /// With `new`: send to recipients an earlier campaign of the name reached, too.
    pub include_reached: bool,
    pub rejects_file: Option<PathBuf>,
    /// Whether the rejects file begins with a BOM (`None`: as the source did).
    pub rejects_bom: Option<bool>,
    /// Queue into this batch of a scheduled campaign (its run fired): the source is read
    /// again, and with a dedupe key a recipient an earlier batch has is not queued.
    pub batch: Option<i64>,
    /// GetConversation calls a second for a text campaign's windows (`None`: the poll
    /// schedule's default).
    pub conversation_rate: Option<u32>,
}

#[derive(Debug)]
pub struct Loaded {
    pub campaign: Option<CampaignId>,
    pub summary: Summary,
}

/// Loads the definition's source: checks every row and, unless `dry_run`, queues the valid
/// ones in batched transactions. Loading the same source twice adds nothing.
pub async fn load(
    def: &Definition,
    store: &Store,
    client: Option<&Client>,
    opts: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let stamp = source_stamp(def);
    // A text's window moves with time: an unchanged file is checked again.
    let rechecked = matches!(def.message, MessageSpec::Text(_));
    if let (false, false, false, None, None, Some(stamp)) = (
        rechecked,
        opts.dry_run,
        opts.new,
        &opts.rejects_file,
        opts.batch,
        &stamp,
    ) && let Some(loaded) = unchanged_since_last_load(store, def, stamp).await?
    {
        if let Some(id) = loaded.campaign {
            record_settings(store, id, def).await?;
        }
        return Ok(loaded);
    }
    let template = template(store, client, def).await?;
    let mut warnings = template
        .as_ref()
        .map(advice::template_warnings)
        .unwrap_or_default();
    if let MessageSpec::Route { route, .. } = &def.message {
        warnings.push(format!(
            "route '{route}' cannot be checked before sending: the API has no command that lists \
             routes, so an unknown one (1012) is found at the first send, which stops the campaign"
        ));
    }
    let suppressed = store.suppressed_set().await?;
    // Open the source and check its columns before a campaign exists: a missing file or column
    // must not leave an empty campaign behind.
    let users_after = users::since_last_run(store, def, opts.batch).await?;
    // Users created between a run's slot and its fetch are asked for again by the next run:
    // its batch must not queue them twice, with or without a dedupe key.
    let across_batches = def.dedupe_key.is_some() || users_after.is_some();
    let (columns, rows, dialect) = open_rows(def, client, users_after).await?;
    let body = template.as_ref().map(Template::body_text);
    let checker = RowChecker::new(def, columns, body).map_err(|message| LoadError::Definition {
        source_name: source_name(def),
        message,
    })?;
    warnings.extend(checker.notes.iter().cloned());
    let replies = reply_windows(store, client, def, opts).await?;
    let written = Dialect {
        bom: opts.rejects_bom.unwrap_or(dialect.bom),
        ..dialect
    };
    let mut loader = Loader::new(checker, suppressed, opts.rejects_file.as_deref(), written)
        .map_err(LoadError::RejectsFile)?
        .with_window(def.timing.send_window.clone(), crate::clock::now_ms())
        .with_replies(replies);
    let campaign = if opts.dry_run {
        None
    } else {
        let id = campaign_for(store, def, opts).await?;
        // Before the messages: they expire by the timing as of their queueing.
        record_settings(store, id, def).await?;
        Some(id)
    };
    // Rows are read and checked on a blocking thread while this task writes the batches.
    let (batches_tx, mut batches_rx) = mpsc::channel::<Vec<NewMessage>>(4);
    let producer = tokio::task::spawn_blocking(move || {
        for row in rows {
            let batch = match row? {
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
        let (last, summary) = loader.finish().map_err(LoadError::RejectsFile)?;
        if !last.is_empty() {
            let _ = batches_tx.blocking_send(last);
        }
        Ok::<_, LoadError>(summary)
    });
    let (mut inserted, mut reached, mut earlier) = (0, 0, 0);
    let into = opts.batch.map(|id| BatchInto {
        id,
        across: across_batches,
        window_ms: def.timing.dedupe_window_ms,
    });
    let mut insert_error = None;
    while let Some(batch) = batches_rx.recv().await {
        if let (Some(id), None) = (campaign, &insert_error) {
            match store.insert_messages(id, batch, into.as_ref()).await {
                Ok(n) => {
                    inserted += n.inserted;
                    reached += n.skipped;
                    earlier += n.earlier_batch;
                }
                Err(e) => insert_error = Some(e),
            }
        }
    }
    let mut summary = producer.await.expect("the loader does not panic")?;
    summary.warnings = warnings;
    if let Some(e) = insert_error {
        return Err(e.into());
    }
    if let Some(id) = campaign {
        store.insert_rejects(id, &summary.rejects).await?;
        if inserted > 0 {
            store.loaded().await?;
        }
        summary.already_queued = Some(summary.valid.saturating_sub(inserted + earlier));
        summary.already_reached = (reached > 0).then_some(reached);
        summary.earlier_batch = into.map(|_| earlier);
        // The record keeps the counts; the rejects are in their own table already (and half
        // a million of them as one JSON text cost hundreds of megabytes).
        let rejects = std::mem::take(&mut summary.rejects);
        let json = serde_json::to_string(&summary).expect("summaries serialise");
        summary.rejects = rejects;
        store.set_load_record(id, stamp.as_deref(), &json).await?;
        if let Some(batch) = opts.batch {
            store.finish_batch(batch, &json).await?;
        }
    }
    Ok(Loaded { campaign, summary })
}

/// A text campaign's window check: what the inbound table heard in the last 24 hours, and the
/// API (if there is one) to read the conversation of anyone else.
async fn reply_windows(
    store: &Store,
    client: Option<&Client>,
    def: &Definition,
    opts: &LoadOptions,
) -> Result<Option<reply_window::WindowCheck>, LoadError> {
    let MessageSpec::Text(spec) = &def.message else {
        return Ok(None);
    };
    let now = store.now_ms();
    let heard = store.heard_since(now - text::WINDOW_MS).await?;
    let rate = opts.conversation_rate.unwrap_or(reply_window::DEFAULT_RATE);
    Ok(Some(reply_window::WindowCheck::new(
        heard,
        client,
        rate,
        spec.margin_ms,
        now,
    )))
}

/// The price, timing and context after the send as of this load: a new tariff applies to the
/// whole campaign's report, a new expiry to its messages not sent yet.
async fn record_settings(store: &Store, id: CampaignId, def: &Definition) -> Result<(), LoadError> {
    let json = def
        .price
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("prices serialise"));
    store.set_price(id, json.as_deref()).await?;
    let timing = serde_json::to_string(&def.timing).expect("timings serialise");
    store.set_timing(id, &timing).await?;
    let after_send = def.after_send.as_ref().map(|a| {
        (
            serde_json::to_string(a).expect("after_send serialises"),
            a.when.as_str(),
        )
    });
    let after_send = after_send
        .as_ref()
        .map(|(json, when)| (json.as_str(), *when));
    Ok(store.set_after_send(id, after_send).await?)
}

/// Rows of any source, read lazily (CSV) or already fetched (SQL, Convrs users).
type Rows = Box<dyn Iterator<Item = Result<Row, SourceError>> + Send>;

/// `users_after` stands for a users source's `created_after` when it is `since_last_run`. The
/// rows come with the source's dialect (a CSV file's; a comma and no BOM for the others).
async fn open_rows(
    def: &Definition,
    client: Option<&Client>,
    users_after: Option<String>,
) -> Result<(Vec<String>, Rows, Dialect), LoadError> {
    let fetched = |(columns, rows): (Vec<String>, Vec<Row>)| -> (Vec<String>, Rows, Dialect) {
        (
            columns,
            Box::new(rows.into_iter().map(Ok)),
            Dialect::default(),
        )
    };
    Ok(match &def.source {
        Source::Csv(path) => {
            let csv = CsvSource::open(path, def.delimiter)?;
            let dialect = csv.dialect();
            (csv.columns().to_vec(), Box::new(csv), dialect)
        }
        Source::Sql {
            url,
            query,
            allow_writable,
        } => {
            let (columns, records) = sql::sql_rows(url, query, *allow_writable).await?;
            fetched((columns, records.into_iter().map(Row::Record).collect()))
        }
        Source::ConvrsUsers {
            bot_id,
            created_after,
        } => {
            let client = client.ok_or_else(|| {
                SourceError::Users("no API to ask: set CONVRS_TOKEN or use --sim".into())
            })?;
            let after = users_after.or_else(|| created_after.clone());
            fetched(users::users_rows(client, *bot_id, after).await?)
        }
    })
}

fn source_name(def: &Definition) -> String {
    match &def.source {
        Source::Csv(path) => path.display().to_string(),
        Source::Sql { .. } => "SQL source".into(),
        Source::ConvrsUsers { .. } => "Convrs users".into(),
    }
}
