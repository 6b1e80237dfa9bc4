//! A statement's arguments, owned, and how each engine binds them.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Postgres, Sqlite};

use crate::queue::CampaignId;

/// An argument of a statement, owned. A list binds as an array on PostgreSQL and as a JSON
/// array on SQLite (read there with `json_each`).
#[derive(Debug, Clone)]
pub(in crate::queue) enum Arg {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bool(bool),
    Ints(Vec<i64>),
    Texts(Vec<String>),
    MaybeTexts(Vec<Option<String>>),
    MaybeInts(Vec<Option<i64>>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::Int(Some(v));
    Option<i64> => |v| Arg::Int(v);
    &i64 => |v| Arg::Int(Some(*v));
    CampaignId => |v| Arg::Int(Some(v.0));
    f64 => |v| Arg::Real(Some(v));
    Option<f64> => |v| Arg::Real(v);
    bool => |v| Arg::Bool(v);
    String => |v| Arg::Text(Some(v));
    &String => |v| Arg::Text(Some(v.clone()));
    &str => |v| Arg::Text(Some(v.to_owned()));
    Option<String> => |v| Arg::Text(v);
    Option<&String> => |v| Arg::Text(v.cloned());
    Option<&str> => |v| Arg::Text(v.map(str::to_owned));
    &Option<String> => |v| Arg::Text(v.clone());
    Option<CampaignId> => |v| Arg::Int(v.map(|c| c.0));
    Vec<i64> => |v| Arg::Ints(v);
    &[i64] => |v| Arg::Ints(v.to_vec());
    Vec<String> => |v| Arg::Texts(v);
    Vec<Option<String>> => |v| Arg::MaybeTexts(v);
    Vec<Option<i64>> => |v| Arg::MaybeInts(v);
}

fn json_list<T: serde::Serialize>(list: &[T]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

pub(super) fn bind_sqlite(
    q: Query<'static, Sqlite, SqliteArguments>,
    arg: Arg,
) -> Query<'static, Sqlite, SqliteArguments> {
    match arg {
        Arg::Int(v) => q.bind(v),
        Arg::Real(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Bool(v) => q.bind(v),
        Arg::Ints(v) => q.bind(json_list(&v)),
        Arg::Texts(v) => q.bind(json_list(&v)),
        Arg::MaybeTexts(v) => q.bind(json_list(&v)),
        Arg::MaybeInts(v) => q.bind(json_list(&v)),
    }
}

pub(super) fn bind_pg(
    q: Query<'static, Postgres, PgArguments>,
    arg: Arg,
) -> Query<'static, Postgres, PgArguments> {
    match arg {
        Arg::Int(v) => q.bind(v),
        Arg::Real(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Bool(v) => q.bind(v),
        Arg::Ints(v) => q.bind(v),
        Arg::Texts(v) => q.bind(v),
        Arg::MaybeTexts(v) => q.bind(v),
        Arg::MaybeInts(v) => q.bind(v),
    }
}
