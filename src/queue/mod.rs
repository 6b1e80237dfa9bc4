//! The durable store: campaigns, their messages, the suppression list and the template cache,
//! in SQLite (WAL, `synchronous=FULL`, one writer connection, `BEGIN IMMEDIATE` for every
//! read-then-write transaction).

mod acks;
mod lease;
mod messages;
mod report;
mod suppress;
mod token_stops;
mod uncertain;

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use acks::{AckApplied, DuePoll, HeardAck, state_for, state_for_sql};
pub use lease::{Lease, LeaseHeld, this_process};
pub use messages::{Claim, Counts, Outcome};
pub use report::{DeferredGroup, Funnel, RecipientRow};
pub use suppress::Suppression;
pub use uncertain::Uncertain;

/// A campaign's id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type, serde::Serialize,
)]
#[sqlx(transparent)]
pub struct CampaignId(pub i64);

impl std::fmt::Display for CampaignId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("PostgreSQL ({0}) is not supported yet: use a SQLite path or sqlite:// URL")]
    Unsupported(String),
    #[error("cannot open the database {db}: {error}")]
    Open { db: String, error: sqlx::Error },
    #[error("cannot update the database schema of {db}: {error}")]
    Migrate {
        db: String,
        error: sqlx::migrate::MigrateError,
    },
    #[error(
        "campaign {0}: this process no longer holds its lease (another process took it over), so it sends nothing more"
    )]
    LeaseLost(CampaignId),
    #[error(
        "{db} is a database for {kept} sends, not {wanted} ones: a rehearsal (--sim) and real sending never share a database. Use another --db (rehearsals default to campaign.sim.db)"
    )]
    WrongPurpose {
        db: String,
        kept: String,
        wanted: &'static str,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A message ready to be queued.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub line: u64,
    pub phone: String,
    pub dedupe_key: String,
    pub payload: String,
}

/// What a batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Messages new to the campaign.
    pub inserted: u64,
    /// Of those, how many were not queued: an earlier campaign of the name reached them.
    pub skipped: u64,
}

/// A row of the source that will not be queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reject {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

/// What a campaign is, for finding it again.
#[derive(Debug, Clone)]
pub struct CampaignKey<'a> {
    pub name: &'a str,
    pub fingerprint: &'a str,
    pub channel: &'a str,
    pub bot_id: i64,
    pub definition: &'a str,
}

#[derive(Clone, Debug)]
pub struct Store {
    /// The one connection that writes (SQLite allows one writer; a pool of one queues them).
    writer: SqlitePool,
}

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
            // A 16 MB page cache keeps the hot index pages in memory; checkpointing the WAL every
            // 4,000 pages (16 MB) instead of 1,000 copies pages into the database less often.
            .pragma("cache_size", "-16000")
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

    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The newest campaign of this name: its id and its settings as stored.
    pub async fn latest_campaign_named(
        &self,
        name: &str,
    ) -> Result<Option<(CampaignId, String)>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, definition FROM campaigns WHERE name = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(|(id, settings)| (CampaignId(id), settings)))
    }

    /// Creates a campaign. With `skip_reached`, recipients (by dedupe key) that an earlier
    /// campaign of the same name reached are not queued in it.
    pub async fn create_campaign(
        &self,
        key: &CampaignKey<'_>,
        skip_reached: bool,
    ) -> Result<CampaignId, StoreError> {
        let now = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (name, fingerprint, channel, bot_id, definition, skip_reached, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(key.name)
        .bind(key.fingerprint)
        .bind(key.channel)
        .bind(key.bot_id)
        .bind(key.definition)
        .bind(skip_reached)
        .bind(&now)
        .bind(&now)
        .fetch_one(&self.writer)
        .await?;
        Ok(CampaignId(id))
    }

    /// Records the settings a campaign runs with from now on (the operator chose `--resume`).
    pub async fn update_campaign_settings(
        &self,
        campaign: CampaignId,
        fingerprint: &str,
        settings: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE campaigns SET fingerprint = ?, definition = ?, source_stamp = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(fingerprint)
        .bind(settings)
        .bind(now())
        .bind(campaign)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Queues `batch` in one transaction; a message whose dedupe key the campaign already has is
    /// skipped, and so is (as `cancelled`) one an earlier campaign of the name reached, when
    /// the campaign skips those.
    pub async fn insert_messages(
        &self,
        campaign: CampaignId,
        batch: &[NewMessage],
    ) -> Result<Inserted, StoreError> {
        let now = now();
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let skip_reached: bool =
            sqlx::query_scalar("SELECT skip_reached FROM campaigns WHERE id = ?")
                .bind(campaign)
                .fetch_one(&mut *tx)
                .await?;
        let (mut inserted, mut skipped) = (0, 0);
        // Multi-row statements: one round trip to SQLite's worker thread per 400 rows.
        for chunk in batch.chunks(400) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO messages (campaign_id, line, phone, dedupe_key, payload, created_at, updated_at) ",
            );
            query.push_values(chunk, |mut row, m| {
                row.push_bind(campaign)
                    .push_bind(m.line as i64)
                    .push_bind(&m.phone)
                    .push_bind(&m.dedupe_key)
                    .push_bind(&m.payload)
                    .push_bind(&now)
                    .push_bind(&now);
            });
            query.push(" ON CONFLICT (campaign_id, dedupe_key) DO NOTHING");
            inserted += query.build().execute(&mut *tx).await?.rows_affected();
            if skip_reached {
                skipped += skip_reached_keys(&mut tx, campaign, chunk, &now).await?;
            }
        }
        tx.commit().await?;
        Ok(Inserted { inserted, skipped })
    }

    /// Records rejected rows (a row rejected again replaces its earlier reason).
    pub async fn insert_rejects(
        &self,
        campaign: CampaignId,
        rejects: &[Reject],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in rejects.chunks(1000) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT OR REPLACE INTO rejects (campaign_id, line, field, reason) ",
            );
            query.push_values(chunk, |mut row, r| {
                row.push_bind(campaign)
                    .push_bind(r.line as i64)
                    .push_bind(&r.field)
                    .push_bind(&r.reason);
            });
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stamp and summary of the campaign's last complete load.
    pub async fn load_record(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT source_stamp, load_summary FROM campaigns WHERE id = ?")
            .bind(campaign)
            .fetch_one(&self.writer)
            .await?;
        let (stamp, summary): (Option<String>, Option<String>) = (row.get(0), row.get(1));
        Ok(stamp.zip(summary))
    }

    pub async fn set_load_record(
        &self,
        campaign: CampaignId,
        stamp: &str,
        summary: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE campaigns SET source_stamp = ?, load_summary = ? WHERE id = ?")
            .bind(stamp)
            .bind(summary)
            .bind(campaign)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The rejected rows recorded for a campaign, by line.
    pub async fn rejects(&self, campaign: CampaignId) -> Result<Vec<Reject>, StoreError> {
        let rows = sqlx::query(
            "SELECT line, field, reason FROM rejects WHERE campaign_id = ? ORDER BY line",
        )
        .bind(campaign)
        .fetch_all(&self.writer)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Reject {
                line: r.get::<i64, _>(0) as u64,
                field: r.get(1),
                reason: r.get(2),
            })
            .collect())
    }

    pub async fn set_campaign_state(
        &self,
        campaign: CampaignId,
        state: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE campaigns SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?",
        )
        .bind(state)
        .bind(reason)
        .bind(now())
        .bind(campaign)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn message_count(&self, campaign: CampaignId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE campaign_id = ?")
            .bind(campaign)
            .fetch_one(&self.writer)
            .await?;
        Ok(n as u64)
    }

    /// The cached template body JSON, if any.
    pub async fn cached_template(
        &self,
        bot_id: i64,
        name: &str,
        language: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT body FROM templates WHERE bot_id = ? AND name = ? AND language = ?",
        )
        .bind(bot_id)
        .bind(name)
        .bind(language)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(|r| r.get("body")))
    }

    pub async fn cache_template(
        &self,
        bot_id: i64,
        name: &str,
        language: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO templates (bot_id, name, language, body, fetched_at) VALUES (?, ?, ?, ?, ?)")
            .bind(bot_id)
            .bind(name)
            .bind(language)
            .bind(body)
            .bind(now())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

/// A campaign started with --new does not send to whom an earlier one of its name reached
/// (sent, delivered, read, replied, or perhaps: uncertain), matched by dedupe key. Done in the
/// insert's transaction, so a crash cannot leave them queued.
async fn skip_reached_keys(
    tx: &mut sqlx::SqliteConnection,
    campaign: CampaignId,
    chunk: &[NewMessage],
    now: &str,
) -> Result<u64, StoreError> {
    const EARLIER: &str = "FROM messages o JOIN campaigns e ON e.id = o.campaign_id \
         JOIN campaigns c ON c.id = messages.campaign_id \
         WHERE e.name = c.name AND e.id < c.id AND o.dedupe_key = messages.dedupe_key \
         AND o.state IN ('sent', 'delivered', 'read', 'replied', 'uncertain')";
    let mut update =
        sqlx::QueryBuilder::new("UPDATE messages SET state = 'cancelled', updated_at = ");
    update
        .push_bind(now)
        .push(format!(
            ", error = 'already reached by campaign ' || (SELECT MAX(o.campaign_id) {EARLIER}) \
             || ' (--include-reached sends to them too)' WHERE campaign_id = "
        ))
        .push_bind(campaign)
        .push(" AND state = 'queued' AND attempts = 0 AND dedupe_key IN (");
    let mut keys = update.separated(", ");
    for m in chunk {
        keys.push_bind(&m.dedupe_key);
    }
    update.push(format!(") AND EXISTS (SELECT 1 {EARLIER})"));
    Ok(update.build().execute(&mut *tx).await?.rows_affected())
}

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
