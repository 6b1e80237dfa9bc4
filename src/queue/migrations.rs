//! The schema's migrations, embedded in the binary from `migrations/`. sqlx's `migrate!` would
//! do the same, at the price of its proc-macro crate, which compiles the bundled SQLite and
//! both drivers a second time, for the build host. Versions, descriptions and checksums are
//! what sqlx derives from the files, so databases migrated before still validate (a test
//! compares them with sqlx's own reading of the directories).

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Each file of both directories, as (file name, SQL): a migration is added here too.
macro_rules! embedded {
    ($($file:literal),* $(,)?) => {
        const SQLITE_FILES: &[(&str, &str)] = &[$((
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)),
        )),*];
        const POSTGRES_FILES: &[(&str, &str)] = &[$((
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)),
        )),*];
    };
}

embedded!(
    "0001_init.sql",
    "0002_campaign_lease.sql",
    "0003_source_stamp.sql",
    "0004_token_stops.sql",
    "0005_tracking.sql",
    "0006_identity.sql",
    "0007_operator_control.sql",
    "0008_campaign_token.sql",
    "0009_token_leases.sql",
    "0010_price.sql",
    "0011_schedules.sql",
    "0012_workers.sql",
    "0013_counts.sql",
    "0014_typed_times.sql",
    "0015_partial_indexes.sql",
    "0016_listening.sql",
    "0017_suppression_campaign.sql",
    "0018_frequency_cap.sql",
    "0019_confirmations.sql",
    "0020_after_send.sql",
    "0021_messages_campaign_checked_per_load.sql",
    "0022_attempts_and_events_checked_by_their_statements.sql",
    "0023_due_in_index_order.sql",
    "0024_attempts_room_for_outcomes.sql",
    "0025_attempts_written_when_they_end.sql",
    "0026_send_path_counted_by_its_statements.sql",
);

static SQLITE: LazyLock<Migrator> = LazyLock::new(|| read(SQLITE_FILES));
static POSTGRES: LazyLock<Migrator> = LazyLock::new(|| read(POSTGRES_FILES));

/// The migrations of `backend`'s schema (for tests and tools that set a database up by hand).
pub fn migrator(backend: super::Backend) -> &'static Migrator {
    match backend {
        super::Backend::Sqlite => &SQLITE,
        super::Backend::Postgres => &POSTGRES,
    }
}

/// The migrations of `files`, read as sqlx reads a directory: `NNNN_words.sql` is version NNNN
/// described as "words", in a transaction unless its SQL starts `-- no-transaction`.
fn read(files: &'static [(&'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(file, sql)| migration(file, sql))
            .collect(),
    )
}

fn migration(file: &'static str, sql: &'static str) -> Migration {
    let (version, name) = file
        .split_once('_')
        .expect("a migration's file name is NNNN_name.sql");
    Migration::new(
        version
            .parse()
            .expect("a migration's file name starts with its version"),
        Cow::Owned(name.trim_end_matches(".sql").replace('_', " ")),
        MigrationType::Simple,
        sql.into_sql_str(),
        sql.starts_with("-- no-transaction"),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn embedded_migrations_are_the_directories_as_sqlx_reads_them() {
        for (engine, migrator) in [("sqlite", &*SQLITE), ("postgres", &*POSTGRES)] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(engine);
            let mut read: Vec<Migration> = sqlx::migrate::resolve_blocking(&dir)
                .unwrap()
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            read.sort();
            let embedded: Vec<&Migration> = migrator.iter().collect();
            assert_eq!(embedded.len(), read.len(), "{engine}: every file embedded");
            for (ours, theirs) in embedded.iter().zip(&read) {
                assert_eq!(
                    (ours.version, &ours.description, ours.no_tx, &ours.checksum),
                    (
                        theirs.version,
                        &theirs.description,
                        theirs.no_tx,
                        &theirs.checksum
                    ),
                    "{engine}"
                );
                assert_eq!(ours.migration_type, theirs.migration_type, "{engine}");
            }
        }
    }
}
