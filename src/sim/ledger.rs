//! The simulator's ledger: one JSON line per accepted send and per rate-limit rejection, so tests
//! and benchmarks can check what the "server" saw. Tokens are written as a fingerprint, never
//! in clear.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// RFC 3339 with microseconds.
    pub time: String,
    /// `accepted` or `rate_limited`.
    pub event: String,
    /// A fingerprint of the token (`fp:` and 8 hex digits).
    pub token: String,
    pub cmd: String,
    pub phone: String,
    pub bot_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_payload: Option<Value>,
    /// The flow route a SendMessage handed the number to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The user data a SendMessage carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userdata: Option<Value>,
    /// The agent the chat was assigned to (`agentEmail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_email: Option<String>,
}

#[derive(Debug)]
pub struct Ledger(Mutex<File>);

impl Ledger {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = crate::files::append_private(path)?;
        Ok(Ledger(Mutex::new(file)))
    }

    pub fn append(&self, entry: &LedgerEntry) {
        let mut line = serde_json::to_vec(entry).expect("ledger entries serialise");
        line.push(b'\n');
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(&line) {
            tracing::error!(error = %e, "cannot write the simulator ledger");
        }
    }
}

/// Reads a ledger file back (for tests and benchmarks).
pub fn read(path: &Path) -> std::io::Result<Vec<LedgerEntry>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

pub use crate::fingerprint::token as fingerprint;
