//! One row of a campaign's source, rendered for test recipients (`campaign send-test`): the
//! chosen line (or the first), with values given on the command line laid over it and the
//! recipient's column set to each test recipient, checked as any row is.

use super::definition::Definition;
use super::source::Row;
use super::validate::{Checked, Record, RowChecker};
use super::{LoadError, open_rows, source_name, template};
use crate::convrs::Client;
use crate::queue::Store;

/// What a test recipient would be sent, or why the row cannot be sent to them.
#[derive(Debug)]
pub struct Sample {
    /// The recipient as given on the command line.
    pub to: String,
    /// The source line the message was rendered from.
    pub line: u64,
    pub checked: Result<Checked, crate::queue::Reject>,
}

/// Renders line `row` (default: the first row) of the definition's source for each of `to`,
/// with `set` (column, value) laid over it. A column `set` names must exist.
pub async fn samples(
    def: &Definition,
    store: &Store,
    client: Option<&Client>,
    row: Option<u64>,
    set: &[(String, String)],
    to: &[String],
) -> Result<Vec<Sample>, LoadError> {
    let fail = |message: String| LoadError::Definition {
        source_name: source_name(def),
        message,
    };
    let template = template(store, client, def).await?;
    let (columns, rows, _) = open_rows(def, client, None).await?;
    let body = template.as_ref().map(|t| t.body_text());
    let checker = RowChecker::new(def, columns.clone(), body).map_err(fail)?;
    let mut record = None;
    for next in rows {
        if let Row::Record(r) = next?
            && row.is_none_or(|n| n == r.line)
        {
            record = Some(r);
            break;
        }
    }
    let mut record = record.ok_or_else(|| {
        fail(match row {
            Some(n) => format!("there is no line {n} (the header is line 1)"),
            None => "there is no row to render".into(),
        })
    })?;
    for (column, value) in set {
        let i = columns.iter().position(|c| c == column).ok_or_else(|| {
            fail(format!(
                "--set {column}=...: there is no column '{column}'; the columns are: {}",
                columns.join(", ")
            ))
        })?;
        // A short row keeps its shape: the check says it has too few fields.
        if let Some(cell) = record.values.get_mut(i) {
            *cell = value.clone();
        }
    }
    let recipient = checker.recipient_column().to_string();
    let at = columns.iter().position(|c| *c == recipient);
    Ok(to
        .iter()
        .map(|to| {
            let mut values = record.values.clone();
            if let Some(cell) = at.and_then(|i| values.get_mut(i)) {
                *cell = if checker.reads_uids() {
                    crate::convrs::whatsapp_uid_for(def.bot_id, to, def.region)
                } else {
                    to.clone()
                };
            }
            Sample {
                to: to.clone(),
                line: record.line,
                checked: checker.check(&Record {
                    line: record.line,
                    values,
                }),
            }
        })
        .collect())
}
