//! The durable store: campaigns, their messages, the suppression list and the template cache,
//! in SQLite (WAL, `synchronous=FULL`, one writer connection, `BEGIN IMMEDIATE` for every
//! read-then-write transaction) or PostgreSQL, shared by several workers.
//!
//! Each engine runs on its own sqlx driver (`sql.rs`): most statements are written once, in
//! SQL both take; the hot ones that gain from an engine's own forms are written for each.
//! What else differs between them is in `Backend`: the migrations (embedded,
//! `migrations.rs`), how a transaction takes its lock, and the row locks of the claim. Nothing
//! outside this module sees a connection.

mod acks;
mod campaigns;
mod caps;
mod claim;
mod confirmations;
mod context;
mod control;
mod counts;
mod frequency;
mod gauges;
mod inbound;
mod lease;
mod loading;
mod lookup;
mod messages;
mod migrations;
mod open;
mod outcomes;
mod polls;
mod quality;
mod queued;
mod reads;
mod recipients;
mod report;
mod schedules;
mod sending;
mod sql;
mod start;
#[doc(hidden)]
pub mod statements;
mod states;
mod suppress;
mod token_lease;
mod token_stops;
mod uncertain;
mod windows;
mod workers;

use crate::clock::Clock;

use sql::{Db, Tx};

pub use acks::{AckApplied, HeardAck, state_for, state_for_sql};
pub use campaigns::{CachedTemplate, Listed};
pub use claim::Claim;
pub use confirmations::{Confirmed, DueConfirmation};
pub use context::{ContextCounts, ContextEnd, ContextJob};
pub use control::Found;
pub use counts::Counts;
pub use gauges::QueueGauges;
pub use inbound::{Acted, Effect, HearRules, InboundMessage, Reply};
pub use lease::{Lease, LeaseHeld, this_process};
pub use lookup::{Story, StoryAck, StoryMessage, StoryReply};
pub use migrations::migrator;
pub use open::SQLITE_ROW_BUFFER;
pub use open::{Purpose, StoreOptions};
pub use outcomes::Outcome;
pub use polls::{DuePoll, POLL_HOLD_MS};
pub use quality::{QualityFigures, QualityPolicy};
pub use reads::DueRead;
pub use recipients::RecipientRow;
pub use report::{DeferredGroup, DeliveryTimes, Funnel, HeaderRow, Median};
pub use schedules::{BatchRow, Claimed, ScheduleRow};
pub use sending::{SendOptions, Sendable, Standing};
pub use start::Begun;
pub use states::{
    AttemptOutcome, BatchState, CampaignState, Control, Heard, InboundSource, KeywordKind,
    MessageState, Role,
};
pub use suppress::Suppression;
pub use token_lease::{TokenHeld, TokenLease};
pub use uncertain::Uncertain;

/// A campaign's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct CampaignId(pub i64);

// Stored as the integer it is, on any engine (what `#[derive(sqlx::Type)]` would write
// without sqlx's proc-macro crate).
impl<DB: sqlx::Database> sqlx::Type<DB> for CampaignId
where
    i64: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for CampaignId
where
    i64: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut DB::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        self.0.encode_by_ref(buf)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for CampaignId
where
    i64: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        i64::decode(value).map(CampaignId)
    }
}

impl std::fmt::Display for CampaignId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    /// The operator paused or cancelled the campaign (`campaign pause|cancel`).
    #[error("campaign {campaign} was {} by the operator", .control.as_str())]
    Controlled {
        campaign: CampaignId,
        control: Control,
    },
    #[error(
        "{db} is a database for {kept} sends, not {wanted} ones: a rehearsal (--sim) and real sending never share a database. Use another --db (real sends default to campaign.db, rehearsals to campaign.sim.db)"
    )]
    WrongPurpose {
        db: String,
        kept: String,
        wanted: &'static str,
    },
    #[error(
        "{db} is PostgreSQL {found}; this tool needs PostgreSQL {} or later (the oldest its tests run on)",
        MIN_POSTGRES
    )]
    OldPostgres { db: String, found: String },
    /// A setting stored with a campaign that this version cannot read: never taken for "no
    /// setting".
    #[error(
        "the database holds a campaign's {what} this version of campaign cannot read ({error}). Was it written by a newer version? Use that one"
    )]
    Unreadable { what: &'static str, error: String },
    /// A value this version does not know, read back from the database: never taken for
    /// another one.
    #[error(
        "the database holds a {what} this version of campaign does not know: '{value}'. Was it written by a newer version? Use that one"
    )]
    Unknown { what: &'static str, value: String },
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
    /// The recipient's zone (IANA name), when the campaign has a send window.
    pub tz: Option<String>,
    /// The data set on the recipient's user after the send (JSON), for a campaign with one.
    pub context: Option<String>,
    /// Its own expiry (a text's 24-hour window), when sooner than the campaign's (unix ms).
    pub expires_ms: Option<i64>,
}

/// What a batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Messages new to the campaign.
    pub inserted: u64,
    /// Of those, how many were not queued: an earlier campaign of the name reached them.
    pub skipped: u64,
    /// Not queued: an earlier batch of the campaign has them (within its dedupe window).
    pub earlier_batch: u64,
}

/// The batch of a scheduled campaign that messages are queued into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInto {
    pub id: i64,
    /// Skip a recipient an earlier batch has (the campaign has a dedupe key)...
    pub across: bool,
    /// ... queued within this long (ms); `None`: ever.
    pub window_ms: Option<i64>,
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

/// The oldest PostgreSQL major version the store runs on: the one its tests run on.
pub const MIN_POSTGRES: u32 = 15;

/// Which engine a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How a transaction keeps others out while it reads and then writes (on PostgreSQL; SQLite's
/// `BEGIN IMMEDIATE` has the database to itself). No lock is global: a load, a lease or a
/// schedule of one campaign or token never holds up another's claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// No advisory lock: the rows it changes are its own (locked with `FOR UPDATE`, claims
    /// skipping what another holds).
    Beside,
    /// A claim of the campaign: beside other claims of it, never beside a change of its lease
    /// or control (`Campaign`). Other campaigns' changes do not stop it.
    Claim(CampaignId),
    /// A change of the campaign's lease or control: alone among its claims, beside every
    /// other campaign's.
    Campaign(CampaignId),
    /// A load into the campaign, or the firing of its schedule: one at a time per campaign,
    /// beside every claim (new queued rows are only seen by the claims that start after it
    /// commits).
    Load(CampaignId),
    /// A change of who holds the token (`lock_key`): one at a time per token. A claim under
    /// the token holds its row (`FOR SHARE`), so a takeover waits for claims in progress and
    /// the claims after it see the new holder.
    Token(i64),
    /// What a recipient wrote (`lock_key` of the uid): one at a time per recipient, so that of
    /// a STOP and a START heard at once by two workers, the later one still wins.
    Recipient(i64),
}

/// The classes of PostgreSQL's advisory locks (`pg_advisory_xact_lock(class, key)`).
const PG_CAMPAIGN_LOCK: i32 = 1;
const PG_LOAD_LOCK: i32 = 2;
const PG_TOKEN_LOCK: i32 = 3;
const PG_RECIPIENT_LOCK: i32 = 4;
// Class 5 is the frequency cap's one lock (`frequency.rs`).

/// The key of a token's (or a recipient's) advisory lock: FNV-1a of its fingerprint (two that
/// share a key only wait for each other). Written out rather than std's hasher, whose output may change
/// between Rust releases: workers of different builds on one database must agree on the key.
fn lock_key(fingerprint: &str) -> i64 {
    let hash = fingerprint.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash >> 33) as i64
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: Db,
    backend: Backend,
    /// The database as given (a URL's credentials left out).
    db: std::sync::Arc<str>,
    /// Where every time the store writes or compares with comes from.
    clock: std::sync::Arc<dyn Clock>,
}

impl Store {
    fn pool(&self) -> &Db {
        &self.pool
    }

    /// Closes the store's connections and waits for them to end (SQLite's last one folds the
    /// write-ahead log into the database file). Every clone of the store is closed with it.
    pub async fn close(&self) {
        match &self.pool {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// The database, as it may be shown (a URL's credentials left out).
    pub fn location(&self) -> &str {
        &self.db
    }

    /// Which engine this store is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The same store reading the time from `clock` (a `ManualClock` in tests).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the store's clock, in unix milliseconds: the time every stamp it writes holds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Begins a transaction that reads and then writes: `BEGIN IMMEDIATE` on SQLite, which
    /// has one writer; on PostgreSQL, `BEGIN` and the advisory lock `lock` asks for, if any.
    async fn begin(&self, lock: Lock) -> Result<Tx, StoreError> {
        match &self.pool {
            Db::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
            Db::Postgres(pool) => {
                let mut tx = Tx::Postgres(pool.begin().await?);
                let (take, class, key) = match lock {
                    Lock::Beside => return Ok(tx),
                    Lock::Claim(c) => ("pg_advisory_xact_lock_shared", PG_CAMPAIGN_LOCK, c.0),
                    Lock::Campaign(c) => ("pg_advisory_xact_lock", PG_CAMPAIGN_LOCK, c.0),
                    Lock::Load(c) => ("pg_advisory_xact_lock", PG_LOAD_LOCK, c.0),
                    Lock::Token(key) => ("pg_advisory_xact_lock", PG_TOKEN_LOCK, key),
                    Lock::Recipient(key) => ("pg_advisory_xact_lock", PG_RECIPIENT_LOCK, key),
                };
                // The two-key form takes 32-bit keys: a campaign id past that shares its lock
                // with another campaign, which only makes them wait for each other.
                sql::q(format!(
                    "SELECT {take}({class}, CAST($1 % 2147483647 AS INTEGER))"
                ))
                .bind(key)
                .execute(&mut tx)
                .await?;
                Ok(tx)
            }
        }
    }

    /// What a read that will update the rows it reads adds: `FOR UPDATE` on PostgreSQL
    /// (SQLite's transaction already has the database to itself).
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// The same, skipping rows another worker's transaction holds.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A JSON setting stored with a campaign (`what` names it): `None` when there is none, an
/// error when it does not parse.
fn stored<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| StoreError::Unreadable {
            what,
            error: e.to_string(),
        })
}
