//! A SQL source: one SELECT against SQLite or PostgreSQL, made unable to write.
//!
//! - The query runs as a subquery (`SELECT * FROM (query)`), so it can only be one SELECT:
//!   no `VACUUM INTO`, `ATTACH`, `PRAGMA`, data-modifying `WITH`, or a second statement (a `;`
//!   outside quotes and comments is refused before anything runs).
//! - SQLite: the database is opened read-only, and the statement's program (EXPLAIN) must
//!   contain no operation that writes.
//! - PostgreSQL: the query runs in a `READ ONLY` transaction of a session whose
//!   `default_transaction_read_only` is on, rolled back after. A read-only transaction still
//!   lets a superuser's `lo_import`, `dblink_exec` (a connection of its own) or
//!   `pg_reload_conf` through, so the role must not be able to write at all, nor any role it
//!   can become (`SET ROLE`): a superuser, a role that may create roles or databases, a member
//!   of `pg_write_server_files` or `pg_execute_server_program`, or a role with
//!   INSERT/UPDATE/DELETE/TRUNCATE on a table or CREATE in the database or a schema is refused
//!   unless the operator passes `allow_writable = true` (`--allow-writable-source`). README
//!   shows the role to create.
//!
//! Rows are numbered from 2 (as if line 1 were a header).

use sqlx::{Column, Connection, Row as _};

use super::source::SourceError;
use super::validate::Record;
use crate::redact::url as redact_url;

/// SQLite program operations that write to a database (EXPLAIN's opcode column).
const SQLITE_WRITES: [&str; 11] = [
    "OpenWrite",
    "Vacuum",
    "VCreate",
    "VDestroy",
    "VUpdate",
    "Destroy",
    "Clear",
    "CreateBtree",
    "ParseSchema",
    "SqlExec",
    "JournalMode",
];

pub async fn sql_rows(
    url: &str,
    query: &str,
    allow_writable: bool,
) -> Result<(Vec<String>, Vec<Record>), SourceError> {
    let fail = |message: String| SourceError::Sql {
        url: redact_url(url),
        message,
    };
    let query = query.trim().trim_end_matches([';', ' ', '\n', '\r', '\t']);
    if let Some(at) = second_statement(query) {
        return Err(fail(format!(
            "the query holds more than one statement (a ';' at character {at}): a source is one SELECT"
        )));
    }
    let rows = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres_rows(url, query, allow_writable).await
    } else {
        sqlite_rows(url, query).await
    }
    .map_err(fail)?;
    let columns = rows
        .first()
        .map(|(names, _)| names.clone())
        .unwrap_or_default();
    let records = rows
        .into_iter()
        .enumerate()
        .map(|(i, (_, values))| Record {
            line: i as u64 + 2,
            values,
        })
        .collect();
    Ok((columns, records))
}

type Rows = Vec<(Vec<String>, Vec<String>)>;

async fn postgres_rows(url: &str, query: &str, allow_writable: bool) -> Result<Rows, String> {
    let text = |e: sqlx::Error| e.to_string();
    let mut conn = sqlx::PgConnection::connect(url).await.map_err(text)?;
    if !allow_writable && let Some(why) = postgres_can_write(&mut conn).await.map_err(text)? {
        return Err(format!(
            "the role {why}, so a query could change data: connect as a read-only role (README, \
             \"A read-only role for SQL sources\"), or set allow_writable = true in the [sql] \
             table (or pass --allow-writable-source) if you accept that"
        ));
    }
    sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(text)?;
    let mut tx = conn.begin_with("BEGIN READ ONLY").await.map_err(text)?;
    let wrapped = format!("SELECT row_to_json(q)::text FROM ({query}) q");
    let rows = sqlx::query(sqlx::AssertSqlSafe(wrapped))
        .fetch_all(&mut *tx)
        .await
        .map_err(text)?;
    tx.rollback().await.map_err(text)?;
    rows.iter()
        .map(|r| {
            let json: String = r.try_get(0).map_err(text)?;
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&json).unwrap_or_default();
            Ok(obj.into_iter().map(|(k, v)| (k, json_text(v))).unzip())
        })
        .collect()
}

/// Why the connected role can write, if it can: itself, or any role it is a member of (which
/// it can become with `SET ROLE`, or whose rights it inherits).
async fn postgres_can_write(conn: &mut sqlx::PgConnection) -> Result<Option<String>, sqlx::Error> {
    // Each role with the gravest thing it may do (a superuser first), the connected one first.
    let found: Option<(String, String, String)> = sqlx::query_as(
        "SELECT current_user::text, r.rolname::text, w.why FROM pg_roles r
         CROSS JOIN LATERAL (SELECT CASE
             WHEN r.rolsuper THEN 1
             WHEN r.rolcreaterole THEN 2
             WHEN r.rolcreatedb THEN 3
             WHEN r.rolname IN ('pg_write_server_files', 'pg_execute_server_program') THEN 4
             WHEN has_database_privilege(r.oid, current_database(), 'CREATE') THEN 5
             WHEN EXISTS (SELECT 1 FROM pg_namespace n
                          WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
                            AND has_schema_privilege(r.oid, n.oid, 'CREATE')) THEN 6
             WHEN EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relkind IN ('r', 'p', 'v', 'f')
                            AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
                            AND has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
               THEN 7
           END AS rank) k
         CROSS JOIN LATERAL (SELECT (ARRAY['is a superuser', 'may create roles',
             'may create databases', 'may write server files or run programs',
             'may create schemas in this database', 'may create tables',
             'may change tables'])[k.rank] AS why) w
         WHERE pg_has_role(current_user, r.oid, 'MEMBER') AND k.rank IS NOT NULL
         ORDER BY k.rank, r.rolname = current_user DESC, r.rolname
         LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.map(|(user, role, why)| {
        if user == role {
            format!("{user} {why}")
        } else {
            format!("{user} can become {role}, which {why}")
        }
    }))
}

/// Where a second statement starts: the first `;` outside quotes, identifiers and comments
/// (SQLite's and PostgreSQL's: '...', "...", `...`, [...], -- and /* */), as a character count.
fn second_statement(query: &str) -> Option<usize> {
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let close = match (chars[i], chars.get(i + 1)) {
            ('\'', _) => Some("'"),
            ('"', _) => Some("\""),
            ('`', _) => Some("`"),
            ('[', _) => Some("]"),
            ('-', Some('-')) => Some("\n"),
            ('/', Some('*')) => Some("*/"),
            (';', _) => return Some(i + 1),
            _ => None,
        };
        i += 1;
        if let Some(close) = close {
            let close: Vec<char> = close.chars().collect();
            if close.len() == 2 {
                i += 1;
            }
            while i < chars.len() && !chars[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
        }
    }
    None
}

async fn sqlite_rows(url: &str, query: &str) -> Result<Rows, String> {
    use std::str::FromStr;
    let text = |e: sqlx::Error| e.to_string();
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(text)?
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(text)?;
    let wrapped = format!("SELECT * FROM ({query})");
    let program = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {wrapped}")))
        .fetch_all(&mut conn)
        .await
        .map_err(text)?;
    for op in &program {
        let opcode: String = op.try_get("opcode").map_err(text)?;
        if SQLITE_WRITES.contains(&opcode.as_str()) {
            return Err(format!(
                "the query would write to the database ({opcode}): a source must be one SELECT"
            ));
        }
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(wrapped))
        .fetch_all(&mut conn)
        .await
        .map_err(text)?;
    Ok(rows
        .iter()
        .map(|r| {
            let names = r.columns().iter().map(|c| c.name().to_string()).collect();
            let values = (0..r.len()).map(|i| sqlite_text(r, i)).collect();
            (names, values)
        })
        .collect())
}

fn sqlite_text(row: &sqlx::sqlite::SqliteRow, i: usize) -> String {
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.unwrap_or_default();
    }
    if let Ok(Some(v)) = row.try_get::<Option<i64>, _>(i) {
        return v.to_string();
    }
    if let Ok(Some(v)) = row.try_get::<Option<f64>, _>(i) {
        return v.to_string();
    }
    String::new()
}

fn json_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::second_statement;

    #[test]
    fn a_semicolon_outside_quotes_and_comments_is_a_second_statement() {
        assert_eq!(
            second_statement("SELECT 1 AS phone; DELETE FROM t"),
            Some(18)
        );
        for one in [
            "SELECT 'a;b' AS phone",
            "SELECT \"we;ird\" FROM t",
            "SELECT `a;b`, [c;d] FROM t",
            "SELECT 1 -- trailing; comment\nFROM t",
            "SELECT /* ; */ 1",
            "SELECT 'it''s; fine'",
        ] {
            assert_eq!(second_statement(one), None, "{one}");
        }
        assert!(second_statement("SELECT 'x' /* c */; ATTACH 'a' AS b").is_some());
    }
}
