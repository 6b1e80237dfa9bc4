//! `campaign`: bulk WhatsApp-template and SMS campaigns through the Convrs API.
//!
//! Data flows one way through these modules:
//!
//! - `phone`: `PhoneNumber`, a valid mobile E.164 number (parse, don't validate).
//! - `campaign`: definitions, sources (CSV, SQL, Convrs users), row checks and loading.
//! - `queue`: the durable store (SQLite): campaigns, messages, suppression list, template cache.
//! - `dispatch`: the rate-limited send loop for a campaign, its outcome recorder and the
//!   reconciliation of uncertain sends.
//! - `engine`: orchestration above dispatch and tracking: a run of a campaign, with its lease.
//! - `report`: the status overview, the per-recipient CSV and the HTML report.
//! - `tracking`: the webhook receiver (callbacks, Convrs events) and the ack poller.
//! - `listening`: what recipients write (events, replies, the SMS sweep), read against the
//!   opt-out keywords and acted on.
//! - `convrs`: the API: wire types, error and ack codes, the HTTP client and the `Verdict`
//!   each answer leads to.
//! - `sim`: the Convrs simulator (`campaign sim`), an axum app that follows the API document.
//! - `timing`: when a campaign may send (schedule, send window, expiry, daily cap): rules that
//!   `campaign` checks and `queue` applies at claim.
//! - `clock`: the one wall clock (unix milliseconds).
//! - `files`: owner-only files for anything holding phone numbers or secrets.
//! - `redact`: URLs as they may be shown or stored (no credentials, no secret parameters).
//! - `terminal`: values from outside as a terminal may show them (control characters escaped).
//! - `cli`: the command line; each subcommand is a thin shell over the modules above.

/// The allocator of every program built on the library (the binary, the tests, the benchmarks,
/// so that they measure what runs): mimalloc. glibc's `malloc` locks its arena on every call
/// once a process has a second thread, and a load allocates for every row (phone numbers,
/// rendered messages) beside SQLite's and the runtime's threads: a million-row load on SQLite
/// took 14-17% less time, with the copies of its rows' strings (4% of its instructions) gone
/// too (BENCHMARKS.md). Its version 2, without transparent huge pages: version
/// 3, or huge pages, held 10-28 MB more in a process that only parses rows.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod campaign;
pub mod cli;
pub mod clock;
pub mod convrs;
pub mod dispatch;
pub mod duration;
pub mod engine;
pub mod files;
pub mod fingerprint;
pub mod listening;
pub mod phone;
pub mod queue;
pub mod redact;
pub mod report;
pub mod schedule;
pub mod sim;
pub mod terminal;
pub mod timing;
pub mod tracking;
