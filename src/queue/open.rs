//! Opening the store: the SQLite connection (WAL, `synchronous=FULL`, one writer, a busy
//! timeout), its migrations, owner-only files, and what the database is for (real sends or
//! rehearsals, which never share one).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Connects and brings the schema up to date. Two processes opening a new database at once
/// race to set it up (WAL mode, then the tables); the one that loses finds it locked or the
/// other's tables there, so it waits a little and tries again (each migration is one
/// transaction: a lost race leaves nothing half done).
async fn open_and_migrate(
    connect: SqliteConnectOptions,
    db: &str,
) -> Result<SqlitePool, StoreError> {
    const TRIES: u64 = 20;
    let mut tries = 0;
    loop {
        tries += 1;
        let last = tries == TRIES;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect.clone())
            .await;
        match pool {
            Ok(pool) => match MIGRATOR.run(&pool).await {
                Ok(()) => return Ok(pool),
                Err(error) if last => {
                    return Err(StoreError::Migrate {
                        db: db.to_string(),
                        error,
                    });
                }
                Err(_) => pool.close().await,
            },
            Err(error) if last || !is_busy(&error) => {
                return Err(StoreError::Open {
                    db: db.to_string(),
                    error,
                });
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20 * tries)).await;
    }
}

/// SQLITE_BUSY: another connection holds the lock.
fn is_busy(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("5"))
}

/// What a database is for. A rehearsal (`--sim`) never shares a database with real sends:
/// its campaigns, its suppressions ("not on WhatsApp" from the simulator) and its template
/// cache would otherwise decide what real runs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Real sends through the Convrs API.
    Real,
    /// Rehearsals against the simulator.
    Rehearsal,
    /// Reading or managing (status, reports, suppression list): either kind.
    Any,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Real => "real",
            Purpose::Rehearsal => "rehearsal",
            Purpose::Any => "any",
        }
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub purpose: Purpose,
    /// How long a write waits for another process's write before it fails.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            purpose: Purpose::Any,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `db`: a path or a `sqlite://` URL.
    pub async fn open(db: &str) -> Result<Self, StoreError> {
        Self::open_with(db, &StoreOptions::default()).await
    }

    /// Opens (creating if needed) the database at `db` for `options.purpose`. A new database
    /// file is created readable by its owner only (it holds phone numbers and the webhook
    /// secret); SQLite gives its -wal and -shm files the same permissions.
    pub async fn open_with(db: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Err(StoreError::Unsupported(
                db.split('@').next_back().unwrap_or(db).to_string(),
            ));
        }
        let open_err = |error| StoreError::Open {
            db: db.to_string(),
            error,
        };
        let connect = if db.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(db).map_err(open_err)?
        } else {
            SqliteConnectOptions::new().filename(db)
        };
        let path = connect.get_filename().to_path_buf();
        if path.as_os_str() != ":memory:" {
            crate::files::create_private(&path).map_err(|e| open_err(sqlx::Error::Io(e)))?;
        }
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            // A 4 MB page cache keeps the hot index pages in memory (16 MB sent no faster and
            // cost a worker 14 MB); checkpointing the WAL every 4,000 pages (16 MB) instead of
            // 1,000 copies pages into the database less often.
            .pragma("cache_size", "-4000")
            .pragma("wal_autocheckpoint", "4000");
        let writer = open_and_migrate(connect, db).await?;
        let store = Store { writer };
        store.check_purpose(db, options.purpose).await?;
        Ok(store)
    }

    /// Records what a new database is for, and refuses one that is for the other kind.
    async fn check_purpose(&self, db: &str, wanted: Purpose) -> Result<(), StoreError> {
        if wanted == Purpose::Any {
            return Ok(());
        }
        let kept = self.setting_or_insert("purpose", wanted.as_str()).await?;
        if kept == wanted.as_str() {
            return Ok(());
        }
        Err(StoreError::WrongPurpose {
            db: db.to_string(),
            kept,
            wanted: wanted.as_str(),
        })
    }
}
