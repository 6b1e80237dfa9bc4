//! The store's SQL runs on SQLite and PostgreSQL through sqlx's `Any` driver. The statements
//! are written with `?` placeholders, which SQLite takes as they are; for PostgreSQL `numbered`
//! turns them into `$1, $2, ...`. SQLite must not be given numbered ones: sqlx's SQLite driver
//! finds each argument of a named or numbered placeholder by asking SQLite its name, which
//! SQLite looks up by a linear scan, so a 4,800-argument load insert costs 4,800^2 steps.

use sqlx::any::{Any, AnyArguments};

use super::Backend;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{AssertSqlSafe, Execute, QueryBuilder};

/// `sql` with its `?` placeholders numbered `$1, $2, ...`; a `?` inside a quoted string or
/// identifier is left alone.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (Some(q), _) if c == q => {
                quote = None;
                out.push(c);
            }
            // `?N` is already numbered.
            (None, '?') if chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// `sql` as `backend` takes it: placeholders numbered for PostgreSQL, left as `?` for SQLite.
fn text(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => numbered(sql),
    }
}

/// A statement of the store, as `backend` takes it.
pub(super) fn q(backend: Backend, sql: impl AsRef<str>) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(text(backend, sql.as_ref())))
}

pub(super) fn q_as<T>(
    backend: Backend,
    sql: impl AsRef<str>,
) -> QueryAs<'static, Any, T, AnyArguments>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    sqlx::query_as(AssertSqlSafe(text(backend, sql.as_ref())))
}

pub(super) fn q_scalar<T>(
    backend: Backend,
    sql: impl AsRef<str>,
) -> QueryScalar<'static, Any, T, AnyArguments>
where
    (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    sqlx::query_scalar(AssertSqlSafe(text(backend, sql.as_ref())))
}

/// A condition's value: PostgreSQL gives a boolean, SQLite a number.
pub(super) fn flag(row: &sqlx::any::AnyRow, column: usize) -> bool {
    use sqlx::Row;
    row.try_get::<bool, _>(column)
        .or_else(|_| row.try_get::<i64, _>(column).map(|n| n != 0))
        .unwrap_or(false)
}

/// The SQL and arguments a builder made, as `backend` takes them.
fn parts(backend: Backend, builder: &mut QueryBuilder<Any>) -> (String, AnyArguments) {
    let mut query = builder.build();
    let arguments = query.take_arguments().ok().flatten().unwrap_or_default();
    (text(backend, query.sql().as_str()), arguments)
}

pub(super) fn built(
    backend: Backend,
    builder: &mut QueryBuilder<Any>,
) -> Query<'static, Any, AnyArguments> {
    let (sql, arguments) = parts(backend, builder);
    sqlx::query_with(AssertSqlSafe(sql), arguments)
}

pub(super) fn built_as<T>(
    backend: Backend,
    builder: &mut QueryBuilder<Any>,
) -> QueryAs<'static, Any, T, AnyArguments>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let (sql, arguments) = parts(backend, builder);
    sqlx::query_as_with(AssertSqlSafe(sql), arguments)
}

pub(super) fn built_scalar<T>(
    backend: Backend,
    builder: &mut QueryBuilder<Any>,
) -> QueryScalar<'static, Any, T, AnyArguments>
where
    (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let (sql, arguments) = parts(backend, builder);
    sqlx::query_scalar_with(AssertSqlSafe(sql), arguments)
}

#[cfg(test)]
mod tests {
    use super::{Backend, numbered, text};

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT '?' || ? FROM t WHERE a = ? AND \"b?\" = ?"),
            "SELECT '?' || $1 FROM t WHERE a = $2 AND \"b?\" = $3"
        );
        assert_eq!(numbered("a = ?2 OR b = ?1"), "a = $2 OR b = $1");
    }

    #[test]
    fn sqlite_statements_keep_their_positional_placeholders() {
        // Numbered ones made sqlx's SQLite driver look every argument up by name, a linear
        // scan in SQLite: loading 200k rows took 14 s instead of about 1.
        let insert = "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)";
        assert_eq!(text(Backend::Sqlite, insert), insert);
        assert_eq!(
            text(Backend::Postgres, insert),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
    }
}
