//! Opening the store: SQLite (WAL, `synchronous=FULL`, one writer, a busy timeout) or
//! PostgreSQL (a small pool), each with its own migrations; owner-only files; and what the
//! database is for (real sends or rehearsals, which never share one).

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::sql::Db;

use super::{Backend, Store, StoreError};
use crate::redact::url as shown;

use super::migrations::migrator;

/// Connections a process keeps to PostgreSQL: the sender, the tracker, the receiver and the
/// health checks each hold one at times.
const PG_CONNECTIONS: u32 = 6;

/// Rows SQLite's thread hands over before it waits for the reader to take them. At sqlx's
/// default of 50 the thread stopped, and had to be woken again, 20 times for a claim of 1,000
/// messages and 40 times for the 2,000 ids a dispatch reads ahead: waking it cost more than
/// reading the rows. At 2,048 the hot path's largest reads run through; a big read holds at
/// most 2,048 rows in memory beside the one being used.
pub const SQLITE_ROW_BUFFER: usize = 2048;

/// Whether `db` names a PostgreSQL database.
fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// The SQLite settings each connection takes when it opens.
fn sqlite_pragmas(busy_timeout: Duration) -> String {
    // A 4 MB page cache keeps the hot index pages in memory (16 MB sent no faster and cost a
    // worker 14 MB); checkpointing the WAL every 4,000 pages (16 MB) instead of 1,000 copies
    // pages into the database less often.
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         PRAGMA foreign_keys = ON; PRAGMA cache_size = -4000; PRAGMA wal_autocheckpoint = 4000;",
        busy_timeout.as_millis()
    )
}

/// Connects and brings the schema up to date. Two processes opening a new SQLite database at
/// once race to set it up (WAL mode, then the tables); the one that loses finds it locked or
/// the other's tables there, so it waits a little and tries again (each migration is one
/// transaction: a lost race leaves nothing half done). PostgreSQL's migrations take an
/// advisory lock, so workers starting together apply them once.
async fn open_and_migrate(
    connect: Connect,
    busy_timeout: Duration,
    db: &str,
) -> Result<Db, StoreError> {
    const TRIES: u64 = 20;
    let mut tries = 0;
    loop {
        tries += 1;
        let last = tries == TRIES;
        let pool = match &connect {
            Connect::Sqlite(connect) => {
                let pragmas = sqlite_pragmas(busy_timeout);
                PoolOptions::new()
                    .max_connections(1)
                    .after_connect(move |conn, _| {
                        let pragmas = pragmas.clone();
                        Box::pin(async move {
                            sqlx::Executor::execute(conn, sqlx::AssertSqlSafe(pragmas)).await?;
                            Ok(())
                        })
                    })
                    .connect_with(connect.clone())
                    .await
                    .map(Db::Sqlite)
            }
            Connect::Postgres(connect) => {
                // A pool only says it timed out; one connection first says why it cannot
                // connect (refused, no such role or database).
                match <sqlx::PgConnection as sqlx::Connection>::connect_with(connect).await {
                    Ok(first) => {
                        let _ = sqlx::Connection::close(first).await;
                        PoolOptions::new()
                            .max_connections(PG_CONNECTIONS)
                            .acquire_timeout(busy_timeout)
                            .connect_with(connect.clone())
                            .await
                            .map(Db::Postgres)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Ok(Db::Postgres(pool)) = &pool {
            check_postgres_version(pool, db).await?;
        }
        match pool {
            Ok(pool) => match migrate(&pool, &connect).await {
                Ok(()) => return Ok(pool),
                Err(error) if last => {
                    return Err(StoreError::Migrate {
                        db: shown(db),
                        error,
                    });
                }
                Err(_) => pool.close().await,
            },
            Err(error) if last || !is_busy(&error) => {
                return Err(StoreError::Open {
                    db: shown(db),
                    error,
                });
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20 * tries)).await;
    }
}

/// How to connect, on each engine.
enum Connect {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

async fn migrate(pool: &Db, connect: &Connect) -> Result<(), sqlx::migrate::MigrateError> {
    match pool {
        Db::Sqlite(p) => {
            let _one_at_a_time = match connect {
                Connect::Sqlite(options) => migration_lock(options.get_filename()).await?,
                Connect::Postgres(_) => None,
            };
            migrator(Backend::Sqlite).run(p).await
        }
        Db::Postgres(p) => migrator(Backend::Postgres).run(p).await,
    }
}

/// sqlx takes no lock for SQLite's migrations, and migration 0014 runs outside a transaction (it
/// rebuilds tables): two processes opening a new database at once could both apply it, the
/// later rebuilding `campaigns` after the other had added the columns of later migrations (a
/// run then failed with "no such column: after_send"). An exclusive `flock` of the database
/// file while migrating lets one process migrate at a time; the next finds nothing to do.
/// SQLite's own locks are `fcntl` locks, which a `flock` does not touch on Linux.
async fn migration_lock(
    path: &std::path::Path,
) -> Result<Option<std::fs::File>, sqlx::migrate::MigrateError> {
    if path.as_os_str() == ":memory:" {
        return Ok(None);
    }
    let path = path.to_path_buf();
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|locked| locked);
    locked
        .map(Some)
        .map_err(|e| sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(e)))
}

/// Refuses a PostgreSQL server older than `MIN_POSTGRES`, before anything is migrated.
async fn check_postgres_version(pool: &sqlx::PgPool, db: &str) -> Result<(), StoreError> {
    let version: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(pool)
        .await?;
    let number: u32 = version.trim().parse().unwrap_or(0);
    if number / 10_000 >= super::MIN_POSTGRES {
        return Ok(());
    }
    let found: String = sqlx::query_scalar("SELECT current_setting('server_version')")
        .fetch_one(pool)
        .await?;
    Err(StoreError::OldPostgres {
        db: shown(db),
        found,
    })
}

/// A SQLite database file that only its owner may read: a new one is created so; an existing
/// one other users may read is refused (it holds phone numbers and the webhook secret), with
/// the `chmod` to run. Its `-wal` and `-shm` files, which SQLite makes with the database's
/// mode but which may have been copied or restored looser, are made owner-only.
fn private_database(path: &std::path::Path) -> std::io::Result<()> {
    if crate::files::create_private(path)? {
        return Ok(());
    }
    crate::files::check_not_open_to_others(path, "phone numbers and the webhook secret")?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        match crate::files::make_private(std::path::Path::new(&side)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
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
        let open_err = |error| StoreError::Open {
            db: shown(db),
            error,
        };
        let (backend, connect) = if is_postgres(db) {
            let connect = PgConnectOptions::from_str(db).map_err(open_err)?;
            (Backend::Postgres, Connect::Postgres(connect))
        } else {
            let connect = if db.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(db).map_err(open_err)?
            } else {
                SqliteConnectOptions::new().filename(db)
            };
            let path = connect.get_filename().to_path_buf();
            if path.as_os_str() != ":memory:" {
                private_database(&path).map_err(|e| open_err(sqlx::Error::Io(e)))?;
            }
            let connect = connect
                .create_if_missing(true)
                .row_buffer_size(SQLITE_ROW_BUFFER);
            (Backend::Sqlite, Connect::Sqlite(connect))
        };
        let pool = open_and_migrate(connect, options.busy_timeout, db).await?;
        let store = Store {
            pool,
            backend,
            db: shown(db).into(),
            clock: std::sync::Arc::new(crate::clock::SystemClock),
        };
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
            db: shown(db),
            kept,
            wanted: wanted.as_str(),
        })
    }
}
