//! The per-recipient CSV: one row per message with its state, acks and times (each no earlier
//! than the state before it), the recipient's last opt-out, and the source row's own columns
//! when the source file is still as it was loaded; written in the source's dialect (its
//! delimiter, a BOM when it had one) unless told otherwise, so that it opens in the
//! spreadsheet the source came from.

use std::path::{Path, PathBuf};

use super::{Replies, ReportError};
use crate::campaign::source::{CsvSource, Dialect, Row};
use crate::campaign::spreadsheet::spreadsheet_safe;
use crate::queue::{CampaignId, Store};

/// How the file is written: the source's dialect unless these say otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOutput {
    pub delimiter: Option<u8>,
    pub bom: Option<bool>,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub rows: usize,
    pub dialect: Dialect,
    /// The source's columns were added (its file is as it was loaded).
    pub source_columns: bool,
    /// Why they were not, when the campaign was loaded from a CSV file.
    pub note: Option<String>,
}

const COLUMNS: [&str; 16] = [
    "line",
    "phone",
    "state",
    "ack",
    "mid",
    "attempts",
    "error_code",
    "error",
    "queued_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "replied_at",
    "opt_out",
    "opt_out_text",
    "opt_out_at",
];

/// The CSV file a campaign was loaded from, if it is still as it was loaded; else why not.
fn source_file(stamp: Option<&str>) -> Result<Option<PathBuf>, String> {
    let Some(stamp) = stamp else {
        return Ok(None);
    };
    // `path:size:modified` (`campaign::source_stamp`).
    let mut parts = stamp.rsplitn(3, ':');
    let (Some(modified), Some(size), Some(path)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let now = std::fs::metadata(&path).ok().and_then(|m| {
        let at = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(format!("{}:{}", m.len(), at.as_nanos()))
    });
    if now.as_deref() == Some(&format!("{size}:{modified}")) {
        Ok(Some(path))
    } else {
        Err(format!(
            "{} is no longer as it was loaded (changed, moved or gone): its columns are left out",
            path.display()
        ))
    }
}

/// One row per recipient, in line order: what became of it, then its source row's cells.
pub async fn write_csv(
    store: &Store,
    id: CampaignId,
    path: &Path,
    output: CsvOutput,
) -> Result<Written, ReportError> {
    let fail = |error: std::io::Error| ReportError::Write {
        path: path.display().to_string(),
        error,
    };
    let stamp = store.load_record(id).await?.map(|(stamp, _)| stamp);
    let mut written = Written::default();
    let mut source = match source_file(stamp.as_deref()) {
        Ok(Some(file)) => CsvSource::open(&file, None).ok(),
        Ok(None) => None,
        Err(note) => {
            written.note = Some(note);
            None
        }
    };
    let dialect = source.as_ref().map(CsvSource::dialect).unwrap_or_default();
    written.dialect = Dialect {
        delimiter: output.delimiter.unwrap_or(dialect.delimiter),
        bom: output.bom.unwrap_or(dialect.bom),
    };
    let mut file = crate::files::write_private(path).map_err(fail)?;
    if written.dialect.bom {
        std::io::Write::write_all(&mut file, b"\xef\xbb\xbf").map_err(fail)?;
    }
    let mut out = csv::WriterBuilder::new()
        .delimiter(written.dialect.delimiter)
        .flexible(true)
        .from_writer(file);
    let extra: Vec<String> = source.as_ref().map_or_else(Vec::new, |s| {
        // A source column named as one of ours keeps its data under `source.NAME`.
        s.columns()
            .iter()
            .map(|c| match COLUMNS.contains(&c.as_str()) {
                true => format!("source.{c}"),
                false => c.clone(),
            })
            .collect()
    });
    written.source_columns = source.is_some();
    let header = COLUMNS.iter().map(|c| c.to_string()).chain(extra);
    out.write_record(header.map(|c| spreadsheet_safe(&c)))
        .map_err(|e| fail(e.into()))?;
    let rows = store.recipients(id).await?;
    let replies = Replies::of(store.replies(id).await?);
    let opt_outs = replies.by_recipient();
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    // The source is read along (both in line order): the row of each message's line.
    let mut next: Option<crate::campaign::validate::Record> = None;
    for r in &rows {
        let opt_out = opt_outs.get(r.phone.as_str());
        let times = r.times();
        let mut cells = vec![
            r.line.to_string(),
            r.phone.clone(),
            r.state.to_string(),
            r.ack.map(|a| a.to_string()).unwrap_or_default(),
            r.mid.clone().unwrap_or_default(),
            r.attempts.to_string(),
            r.error_code.map(|c| c.to_string()).unwrap_or_default(),
            r.error.clone().unwrap_or_default(),
        ];
        cells.extend(times.iter().map(|t| time(*t)));
        cells.extend([
            opt_out.map(|o| o.verdict.to_string()).unwrap_or_default(),
            opt_out.map(|o| o.text.clone()).unwrap_or_default(),
            time(opt_out.map(|o| o.at_ms)),
        ]);
        if let Some(csv) = &mut source {
            while next.as_ref().is_none_or(|n| (n.line as i64) < r.line) {
                match csv.next_row() {
                    Ok(Some(Row::Record(record))) => next = Some(record),
                    Ok(Some(Row::Unreadable(..))) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            if let Some(record) = next.as_ref().filter(|n| n.line as i64 == r.line) {
                cells.extend(record.values.iter().cloned());
            }
        }
        out.write_record(cells.iter().map(|c| spreadsheet_safe(c)))
            .map_err(|e| fail(e.into()))?;
    }
    out.flush().map_err(fail)?;
    written.rows = rows.len();
    Ok(written)
}
