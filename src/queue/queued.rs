//! A chunk of a load as one statement: each message's columns, moved (not copied) into the
//! arguments; on SQLite one multi-row `VALUES` of `?` placeholders, on PostgreSQL one array per
//! column through `unnest`.

use super::sql::{Stmt, q};
use super::{Backend, CampaignId, NewMessage};

/// What the messages of one insert share.
pub(super) struct Queued {
    pub(super) campaign: CampaignId,
    /// The batch of a scheduled campaign the messages go into.
    pub(super) into: Option<i64>,
    pub(super) now_ms: i64,
    pub(super) expires_ms: Option<i64>,
}

/// Rows of one insert on SQLite: the statement of a full chunk is the same text every time
/// (prepared once, then found in the connection's cache).
pub(super) const SQLITE_ROWS: usize = 400;

const INSERT_MESSAGES: &str = "INSERT INTO messages (campaign_id, line, phone, dedupe_key, \
     recipient_key, batch_id, queued_ms, expires_ms, tz, payload, created_at, updated_at";

/// A message's columns of its own, in the insert's order; the rest are the chunk's.
struct Columns {
    line: i64,
    phone: String,
    key: String,
    recipient: String,
    expires_ms: Option<i64>,
    tz: Option<String>,
    payload: String,
    context: Option<String>,
}

impl Queued {
    /// A message's columns: its expiry is the campaign's, or its own when sooner; into a
    /// batch, its key is the batch's own.
    fn columns(&self, m: NewMessage) -> Columns {
        let expires_ms = match (self.expires_ms, m.expires_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let key = match self.into {
            Some(batch) => format!("b{batch}:{}", m.dedupe_key),
            None => m.dedupe_key.clone(),
        };
        Columns {
            line: m.line as i64,
            phone: m.phone,
            key,
            recipient: m.dedupe_key,
            expires_ms,
            tz: m.tz,
            payload: m.payload,
            context: m.context,
        }
    }

    /// The insert of `chunk`: on SQLite one multi-row VALUES with `?` placeholders (SQLite has
    /// no arrays); on PostgreSQL one array per column through `unnest`, so the statement's
    /// text is the same for every chunk (prepared once) and its size does not grow with the
    /// rows. The chunk's strings move into the arguments, uncopied.
    pub(super) fn values(&self, backend: Backend, chunk: Vec<NewMessage>) -> Stmt {
        match backend {
            Backend::Sqlite => self.sqlite_values(chunk),
            Backend::Postgres => self.arrays(chunk),
        }
    }

    fn sqlite_values(&self, chunk: Vec<NewMessage>) -> Stmt {
        // The context column only when the campaign has one: a bind less per row otherwise.
        let context = chunk.iter().any(|m| m.context.is_some());
        let mut insert = q(sqlite_insert(chunk.len(), context));
        for m in chunk {
            let c = self.columns(m);
            insert = insert
                .bind(self.campaign)
                .bind(c.line)
                .bind(c.phone)
                .bind(c.key)
                .bind(c.recipient)
                .bind(self.into)
                .bind(self.now_ms)
                .bind(c.expires_ms)
                .bind(c.tz)
                .bind(c.payload)
                .bind(self.now_ms)
                .bind(self.now_ms);
            if context {
                insert = insert.bind(c.context);
            }
        }
        insert
    }

    fn arrays(&self, chunk: Vec<NewMessage>) -> Stmt {
        let n = chunk.len();
        let (mut lines, mut phones, mut keys, mut recipients) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut expiries, mut zones, mut payloads, mut contexts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for m in chunk {
            let c = self.columns(m);
            lines.push(c.line);
            phones.push(c.phone);
            keys.push(c.key);
            recipients.push(c.recipient);
            expiries.push(c.expires_ms);
            zones.push(c.tz);
            payloads.push(c.payload);
            contexts.push(c.context);
        }
        q(INSERT_MESSAGES_PG)
            .bind(self.campaign)
            .bind(self.into)
            .bind(self.now_ms)
            .bind(expiries)
            .bind(lines)
            .bind(phones)
            .bind(keys)
            .bind(recipients)
            .bind(zones)
            .bind(payloads)
            .bind(contexts)
    }
}

/// SQLite's insert of `rows` messages, a `?` for each of their values (one for each column
/// `INSERT_MESSAGES` names, and the context's). A full chunk's text, with or without the context
/// column, is made once for the process.
fn sqlite_insert(rows: usize, context: bool) -> String {
    static FULL: [std::sync::OnceLock<String>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let make = || {
        let columns = INSERT_MESSAGES.matches(',').count() + 1 + usize::from(context);
        let row = format!("({})", vec!["?"; columns].join(", "));
        let mut sql = String::with_capacity(INSERT_MESSAGES.len() + rows * (row.len() + 2) + 80);
        sql.push_str(INSERT_MESSAGES);
        sql.push_str(if context {
            ", context) VALUES "
        } else {
            ") VALUES "
        });
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row);
        }
        sql.push_str(" ON CONFLICT (campaign_id, dedupe_key) DO NOTHING");
        sql
    };
    match rows {
        SQLITE_ROWS => FULL[usize::from(context)].get_or_init(make).clone(),
        _ => make(),
    }
}

const INSERT_MESSAGES_PG: &str = concat!(
    "INSERT INTO messages (campaign_id, line, phone, dedupe_key, recipient_key, batch_id, \
     queued_ms, expires_ms, tz, payload, context, created_at, updated_at) ",
    "SELECT $1, t.line, t.phone, t.key, t.dkey, $2, $3, t.expires, t.tz, t.payload, t.context, $3, $3 \
     FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
     $11::text[], $4::bigint[]) WITH ORDINALITY AS t(line, phone, key, dkey, tz, payload, context, expires, n) \
     ORDER BY t.n ON CONFLICT (campaign_id, dedupe_key) DO NOTHING"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn message(line: u64, context: Option<&str>) -> NewMessage {
        NewMessage {
            line,
            phone: format!("+4479110{line:05}"),
            dedupe_key: format!("+4479110{line:05}"),
            payload: "{}".into(),
            tz: None,
            context: context.map(str::to_owned),
            expires_ms: None,
        }
    }

    #[test]
    fn an_sqlite_insert_binds_one_argument_for_each_placeholder() {
        // The text of a full chunk is made once and kept: a column added to the insert, or a
        // bind added to a row, must still line up with it, with and without the context.
        let queued = Queued {
            campaign: CampaignId(1),
            into: Some(7),
            now_ms: 1,
            expires_ms: None,
        };
        // A full chunk twice: the second reads the text kept by the first.
        for rows in [SQLITE_ROWS, 3, SQLITE_ROWS] {
            for context in [None, Some("{}")] {
                let chunk = (0..rows as u64).map(|i| message(i, context)).collect();
                let insert = queued.values(Backend::Sqlite, chunk);
                assert_eq!(
                    insert.text().matches('?').count(),
                    insert.arguments(),
                    "{rows} rows, context {context:?}"
                );
                let columns = insert.arguments() / rows;
                assert_eq!(columns, 12 + usize::from(context.is_some()));
            }
        }
    }
}
