//! Statements made at run time (`Builder`): each engine's own placeholders as they are built
//! (`?` on SQLite, `$N` on PostgreSQL), lists as one array on PostgreSQL.

use std::marker::PhantomData;

use super::{Arg, As, Decode, Owned, Rows, Scalar, Stmt};
use crate::queue::Backend;

/// A statement made at run time, with each engine's own placeholders.
pub(in crate::queue) struct Builder {
    backend: Backend,
    sql: String,
    args: Vec<Arg>,
}

impl Builder {
    /// The statement's text so far.
    #[cfg(test)]
    pub(in crate::queue) fn text(&self) -> &str {
        &self.sql
    }

    pub(in crate::queue) fn new(backend: Backend, sql: impl Into<String>) -> Self {
        Builder {
            backend,
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub(in crate::queue) fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write;
        let _ = write!(self.sql, "{sql}");
        self
    }

    pub(in crate::queue) fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        match self.backend {
            Backend::Sqlite => self.sql.push('?'),
            Backend::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.args.len().to_string());
            }
        }
        self
    }

    /// `column IN (values)`: on PostgreSQL `column = ANY($n)`, one array argument (the text
    /// is the same whatever the count, and the list is not rebuilt into an array for every
    /// row the statement looks at, which a list of parameters is); on SQLite a `?` per value.
    pub(in crate::queue) fn push_in<T>(&mut self, column: &str, values: &[T]) -> &mut Self
    where
        T: Clone + Into<Arg>,
        Vec<T>: Into<Arg>,
    {
        self.push(column);
        match self.backend {
            Backend::Postgres => {
                self.push(" = ANY(").push_bind(values.to_vec()).push(")");
            }
            Backend::Sqlite => {
                self.push(" IN (");
                let mut list = self.separated(", ");
                for v in values {
                    list.push_bind(v.clone());
                }
                self.push(")");
            }
        }
        self
    }

    /// Binds pushed one after another, `separator` between them.
    pub(in crate::queue) fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// `VALUES (...), (...)`: `each` pushes one item's values.
    pub(in crate::queue) fn push_values<I>(
        &mut self,
        items: impl IntoIterator<Item = I>,
        mut each: impl FnMut(Separated<'_>, I),
    ) -> &mut Self {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            each(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    fn take(&mut self) -> Stmt<Rows> {
        Stmt {
            sql: std::mem::take(&mut self.sql),
            args: std::mem::take(&mut self.args),
            out: PhantomData,
        }
    }
}

/// Binds with a separator between them (`Builder::separated`).
pub(in crate::queue) struct Separated<'b> {
    builder: &'b mut Builder,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    pub(in crate::queue) fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        if !self.first {
            self.builder.push(self.separator);
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }
}

pub(in crate::queue) fn built(builder: &mut Builder) -> Stmt<Rows> {
    builder.take()
}

pub(in crate::queue) fn built_as<T: Decode>(builder: &mut Builder) -> Stmt<As<T>> {
    builder.take().read()
}

pub(in crate::queue) fn built_scalar<T: Owned>(builder: &mut Builder) -> Stmt<Scalar<T>> {
    builder.take().read()
}

#[cfg(test)]
mod tests {
    use super::Builder;
    use crate::queue::Backend;

    #[test]
    fn built_statements_take_each_engines_own_placeholders() {
        // Numbered ones made sqlx's SQLite driver look every argument up by name, a linear
        // scan in SQLite: loading 200k rows took 14 s instead of about 1.
        let build = |backend| {
            let mut b = Builder::new(backend, "INSERT INTO t (a, b) ");
            b.push_values([(1_i64, "x"), (2, "y")], |mut row, (a, t)| {
                row.push_bind(a).push_bind(t);
            });
            b.take().sql
        };
        assert_eq!(
            build(Backend::Sqlite),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(
            build(Backend::Postgres),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
    }
}
