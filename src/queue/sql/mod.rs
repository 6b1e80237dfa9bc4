//! The store's statements, run on each engine's own sqlx driver (no `Any` driver, nothing
//! rewritten): a statement is its text and its arguments, and runs on whichever pool or
//! transaction it is given.
//!
//! A statement both engines take is written once, with numbered placeholders (`$1`), which
//! PostgreSQL and SQLite both read. A statement built at run time (`Builder`) gets each
//! engine's own placeholders as it is built: `?` on SQLite, whose driver finds a numbered
//! argument by asking SQLite its name (a linear scan, so a 4,800-argument insert cost
//! 4,800^2 steps), `$N` on PostgreSQL.

use std::marker::PhantomData;

use futures_util::TryStreamExt;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow, PgPool, Postgres, Sqlite, SqlitePool};

mod args;
mod builder;
mod named;
pub(super) use args::Arg;
use args::{bind_pg, bind_sqlite};
pub(super) use builder::{Builder, built, built_as, built_scalar};
pub(super) use named::named;

/// The store's pool, of its engine.
#[derive(Clone, Debug)]
pub(super) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    pub(super) async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// A transaction of the store's engine.
pub(super) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// Where a statement runs: the pool (a connection of its own) or a transaction.
pub(super) enum On<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for On<'a> {
    fn from(db: &'a Db) -> Self {
        On::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

/// A row of either engine, read by name or position.
pub(super) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// A value both engines can decode (borrowing from the row for `'r`).
pub(super) trait Value<'r>:
    sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

impl<'r, T> Value<'r> for T where
    T: sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
{
}

/// A value both engines can decode, owning its data.
pub(super) trait Owned: for<'r> Value<'r> + Send + Unpin {}
impl<T> Owned for T where T: for<'r> Value<'r> + Send + Unpin {}

/// A column of a row: its position or its name.
pub(super) trait Column: sqlx::ColumnIndex<SqliteRow> + sqlx::ColumnIndex<PgRow> {}
impl<I> Column for I where I: sqlx::ColumnIndex<SqliteRow> + sqlx::ColumnIndex<PgRow> {}

impl Row {
    pub(super) fn try_get<'r, T: Value<'r>, I: Column>(
        &'r self,
        column: I,
    ) -> Result<T, sqlx::Error> {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(r) => r.try_get(column),
            Row::Postgres(r) => r.try_get(column),
        }
    }

    /// The value at `column`; a column missing or of another type is a bug of the store's
    /// own statement, so it panics as sqlx's `Row::get` does.
    pub(super) fn get<'r, T: Value<'r>, I: Column>(&'r self, column: I) -> T {
        self.try_get(column)
            .unwrap_or_else(|e| panic!("a statement of the store read a column wrongly: {e}"))
    }

    fn decode<T: Decode>(&self) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(r) => T::from_row(r),
            Row::Postgres(r) => T::from_row(r),
        }
    }
}

/// A row type both engines can decode (tuples of `Value`s).
pub(super) trait Decode:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Decode for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// A condition's value: PostgreSQL gives a boolean, SQLite a number.
pub(super) fn flag<I: Column + Copy>(row: &Row, column: I) -> bool {
    row.try_get::<bool, _>(column)
        .or_else(|_| row.try_get::<i64, _>(column).map(|n| n != 0))
        .unwrap_or(false)
}

/// What a statement that writes did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Done(u64);

impl Done {
    pub(super) fn rows_affected(self) -> u64 {
        self.0
    }
}

/// Rows as they are.
pub(super) struct Rows;
/// Rows decoded as `T`.
pub(super) struct As<T>(PhantomData<T>);
/// The first column of each row, as `T`.
pub(super) struct Scalar<T>(PhantomData<T>);

/// A statement with its arguments; `O` says what a row is read as.
pub(super) struct Stmt<O = Rows> {
    sql: String,
    args: Vec<Arg>,
    out: PhantomData<fn() -> O>,
}

/// A statement both engines take as written (placeholders `$1`, `$2`, ...).
pub(super) fn q(sql: impl Into<String>) -> Stmt<Rows> {
    Stmt {
        sql: sql.into(),
        args: Vec::new(),
        out: PhantomData,
    }
}

pub(super) fn q_as<T: Decode>(sql: impl Into<String>) -> Stmt<As<T>> {
    q(sql).read()
}

pub(super) fn q_scalar<T: Owned>(sql: impl Into<String>) -> Stmt<Scalar<T>> {
    q(sql).read()
}

impl<O> Stmt<O> {
    pub(super) fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// The same statement, its rows read as `P`.
    pub(super) fn read<P>(self) -> Stmt<P> {
        Stmt {
            sql: self.sql,
            args: self.args,
            out: PhantomData,
        }
    }

    /// The statement's text.
    #[cfg(test)]
    pub(super) fn text(&self) -> &str {
        &self.sql
    }

    /// How many arguments are bound.
    #[cfg(test)]
    pub(super) fn arguments(&self) -> usize {
        self.args.len()
    }

    fn sqlite(self) -> Query<'static, Sqlite, SqliteArguments> {
        let q = sqlx::query(AssertSqlSafe(self.sql));
        self.args.into_iter().fold(q, bind_sqlite)
    }

    fn pg(self) -> Query<'static, Postgres, PgArguments> {
        let q = sqlx::query(AssertSqlSafe(self.sql));
        self.args.into_iter().fold(q, bind_pg)
    }

    pub(super) async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<Done, sqlx::Error> {
        let n = match on.into() {
            On::Db(Db::Sqlite(p)) => self.sqlite().execute(p).await?.rows_affected(),
            On::Db(Db::Postgres(p)) => self.pg().execute(p).await?.rows_affected(),
            On::Tx(Tx::Sqlite(t)) => self.sqlite().execute(&mut **t).await?.rows_affected(),
            On::Tx(Tx::Postgres(t)) => self.pg().execute(&mut **t).await?.rows_affected(),
        };
        Ok(Done(n))
    }

    async fn rows<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match on.into() {
            On::Db(Db::Sqlite(p)) => wrap(self.sqlite().fetch_all(p).await?, Row::Sqlite),
            On::Db(Db::Postgres(p)) => wrap(self.pg().fetch_all(p).await?, Row::Postgres),
            On::Tx(Tx::Sqlite(t)) => wrap(self.sqlite().fetch_all(&mut **t).await?, Row::Sqlite),
            On::Tx(Tx::Postgres(t)) => wrap(self.pg().fetch_all(&mut **t).await?, Row::Postgres),
        })
    }

    async fn row<'a>(self, on: impl Into<On<'a>>) -> Result<Option<Row>, sqlx::Error> {
        Ok(match on.into() {
            On::Db(Db::Sqlite(p)) => self.sqlite().fetch_optional(p).await?.map(Row::Sqlite),
            On::Db(Db::Postgres(p)) => self.pg().fetch_optional(p).await?.map(Row::Postgres),
            On::Tx(Tx::Sqlite(t)) => self
                .sqlite()
                .fetch_optional(&mut **t)
                .await?
                .map(Row::Sqlite),
            On::Tx(Tx::Postgres(t)) => self.pg().fetch_optional(&mut **t).await?.map(Row::Postgres),
        })
    }

    /// Calls `each` with every row, one at a time, without holding them all.
    pub(super) async fn for_each_row(
        self,
        db: &Db,
        mut each: impl FnMut(Row) -> Result<(), sqlx::Error>,
    ) -> Result<(), sqlx::Error> {
        match db {
            Db::Sqlite(p) => {
                let mut rows = self.sqlite().fetch(p);
                while let Some(r) = rows.try_next().await? {
                    each(Row::Sqlite(r))?;
                }
            }
            Db::Postgres(p) => {
                let mut rows = self.pg().fetch(p);
                while let Some(r) = rows.try_next().await? {
                    each(Row::Postgres(r))?;
                }
            }
        }
        Ok(())
    }
}

fn wrap<R>(rows: Vec<R>, each: fn(R) -> Row) -> Vec<Row> {
    rows.into_iter().map(each).collect()
}

impl Stmt<Rows> {
    pub(super) async fn fetch_all<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        self.rows(on).await
    }

    pub(super) async fn fetch_optional<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<Row>, sqlx::Error> {
        self.row(on).await
    }

    pub(super) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row, sqlx::Error> {
        self.row(on).await?.ok_or(sqlx::Error::RowNotFound)
    }
}

impl<T: Decode> Stmt<As<T>> {
    pub(super) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<T>, sqlx::Error> {
        self.rows(on).await?.iter().map(Row::decode).collect()
    }

    pub(super) async fn fetch_optional<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<T>, sqlx::Error> {
        self.row(on).await?.as_ref().map(Row::decode).transpose()
    }

    pub(super) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<T, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

impl<T: Owned> Stmt<Scalar<T>> {
    pub(super) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<T>, sqlx::Error> {
        self.rows(on).await?.iter().map(|r| r.try_get(0)).collect()
    }

    pub(super) async fn fetch_optional<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<T>, sqlx::Error> {
        self.row(on).await?.map(|r| r.try_get(0)).transpose()
    }

    pub(super) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<T, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}
