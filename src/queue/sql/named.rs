//! Rows read by their columns' names (`named!`), on both engines.

/// Declares a struct whose fields are read from the columns of the same names:
/// `named! { struct Due { id: i64, phone: String } }` reads `id` and `phone` whatever their
/// places in the statement. A column missing or renamed is an error naming it, never a value
/// read from the wrong place (a tuple reads by position). sqlx's derive would do the same; its
/// `macros` feature compiles SQLite and both drivers a second time, which the build avoids.
macro_rules! named {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        // One impl for any engine's row, as sqlx's derive writes it.
        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok($name { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}

pub(in crate::queue) use named;

#[cfg(test)]
mod tests {
    named! {
        #[derive(Debug, PartialEq)]
        struct Pair {
            attempt_id: i64,
            message_id: i64,
        }
    }

    async fn read(sql: &str) -> Result<Pair, sqlx::Error> {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
        sqlx::query_as::<_, Pair>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&pool)
            .await
    }

    #[tokio::test]
    async fn a_named_row_reads_its_columns_by_name_whatever_their_order() {
        let pair = read("SELECT 7 AS message_id, 3 AS attempt_id")
            .await
            .unwrap();
        assert_eq!(
            pair,
            Pair {
                attempt_id: 3,
                message_id: 7
            }
        );
    }

    #[tokio::test]
    async fn a_named_row_missing_a_column_is_an_error_naming_it() {
        let error = read("SELECT 7 AS message_id, 3 AS attempt")
            .await
            .unwrap_err();
        assert!(error.to_string().contains("attempt_id"), "{error}");
    }
}
