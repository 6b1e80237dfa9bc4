//! `campaign`: bulk WhatsApp-template and SMS campaigns through the Convrs API.
//!
//! Data flows one way through these modules:
//!
//! - `phone`: `PhoneNumber`, a valid mobile E.164 number (parse, don't validate).
//! - `campaign`: definitions, sources (CSV, SQL, Convrs users), row checks and loading.
//! - `queue`: the durable store (SQLite): campaigns, messages, suppression list, template cache.
//! - `dispatch`: the rate-limited send loop and the ack poller.
//! - `report`: the status overview, the per-recipient CSV and the HTML report.
//! - `tracking`: the webhook receiver (callbacks, Convrs events) and the ack poller.
//! - `convrs`: the API: wire types, error and ack codes, the HTTP client and the `Verdict`
//!   each answer leads to.
//! - `sim`: the Convrs simulator (`campaign sim`), an axum app that follows the API document.
//! - `files`: owner-only files for anything holding phone numbers or secrets.
//! - `cli`: the command line; each subcommand is a thin shell over the modules above.

pub mod campaign;
pub mod cli;
pub mod convrs;
pub mod dispatch;
pub mod files;
pub mod fingerprint;
pub mod phone;
pub mod queue;
pub mod report;
pub mod sim;
pub mod tracking;
