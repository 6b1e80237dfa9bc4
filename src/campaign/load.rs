//! The loading pipeline: rows from a source are checked, deduplicated, checked against the
//! suppression list, counted, and handed on in batches; rejects are kept and optionally written
//! to a CSV file. Nothing is dropped without being counted.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::hash::{Hash, Hasher};
use std::path::Path;

use serde::Serialize;

use super::sms::Encoding;
use super::source::Dialect;
use super::spreadsheet::RejectsWriter;
use super::validate::{Checked, Record, RowChecker};
use crate::queue::{NewMessage, Reject};

pub const BATCH: usize = 10_000;
const PREVIEWS: usize = 3;

/// What a load found. `rows = valid + rejected + duplicates + suppressed`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    pub rows: u64,
    /// Distinct, not suppressed, valid rows: the messages this source yields.
    pub valid: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub suppressed: u64,
    /// Valid messages the campaign already had from an earlier load (run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_queued: Option<u64>,
    /// Valid messages not queued: an earlier campaign of this name reached them (`--new`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub already_reached: Option<u64>,
    /// Valid recipients whose send window is closed now: they wait in the queue until it opens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outside_window: Option<u64>,
    /// Valid messages not queued into this batch: an earlier batch has them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub earlier_batch: Option<u64>,
    /// The duplicates' lines and the line each repeats (the first `LISTED_DUPLICATES`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub duplicate_lines: Vec<Duplicate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsTotals>,
    /// A text campaign's rows against their 24-hour window.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text_window: Option<super::reply_window::WindowCounts>,
    pub rejects: Vec<Reject>,
    #[serde(skip)]
    pub previews: Vec<Preview>,
    /// True when an unchanged source was not read again (its earlier summary is shown).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub unchanged: bool,
    /// What sending the valid messages would cost and take (`validate`, `run --dry-run`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub estimate: Option<super::estimate::Estimate>,
    /// What WhatsApp's template guidelines would say of the template (`advice`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

/// How many duplicates a summary lists with their lines.
pub const LISTED_DUPLICATES: usize = 1000;

/// A row not queued because an earlier row has the same recipient (dedupe key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Duplicate {
    pub line: u64,
    /// The line of the row it repeats.
    pub of: u64,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct SmsTotals {
    pub segments: u64,
    pub gsm7: u64,
    pub ucs2: u64,
    /// Smart encoding on: messages it made GSM-7, and the segments that saved.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub smart_encoded: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub smart_saved: u64,
    /// Smart encoding off: UCS-2 messages only because of look-alikes it would replace, and
    /// the segments it would save.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub smart_possible: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub smart_would_save: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub line: u64,
    pub phone: String,
    pub text: String,
}

/// Hashes a key that is a hash already (a dedupe key's): its bytes as they are, instead of
/// hashing them a second time (SipHash over the halves cost a million-row load 18%).
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    /// The array's length, the same for every key.
    fn write_usize(&mut self, _: usize) {}
}

/// Checks rows one by one and gathers batches to queue.
pub struct Loader {
    checker: RowChecker,
    suppressed: HashSet<String>,
    /// Hashes of the dedupe keys seen (as two halves: 4-byte alignment), and the line each was
    /// first seen on: 12 bytes a row keeps a million rows cheap.
    seen: HashMap<[u32; 2], u32, BuildHasherDefault<PreHashed>>,
    pending: Vec<NewMessage>,
    summary: Summary,
    rejects_file: Option<RejectsWriter>,
    /// The send window and the moment to count who is outside it.
    window: Option<(crate::timing::window::SendWindow, i64)>,
    /// A text campaign's 24-hour windows.
    replies: Option<super::reply_window::WindowCheck>,
}

impl Loader {
    /// `dialect` is the source's: the rejects file is written in it.
    pub fn new(
        checker: RowChecker,
        suppressed: HashSet<String>,
        rejects_file: Option<&Path>,
        dialect: Dialect,
    ) -> std::io::Result<Self> {
        let rejects_file = rejects_file
            .map(|p| RejectsWriter::create(p, checker.columns(), dialect))
            .transpose()?;
        Ok(Loader {
            checker,
            suppressed,
            seen: HashMap::default(),
            pending: Vec::with_capacity(BATCH),
            summary: Summary::default(),
            rejects_file,
            window: None,
            replies: None,
        })
    }

    /// Counts the valid recipients whose send window is closed at `now_ms`.
    pub fn with_window(
        mut self,
        window: Option<crate::timing::window::SendWindow>,
        now_ms: i64,
    ) -> Self {
        self.window = window.map(|w| (w, now_ms));
        self
    }

    /// Checks each text row's 24-hour window (it blocks on the API: push from a blocking
    /// thread).
    pub fn with_replies(mut self, replies: Option<super::reply_window::WindowCheck>) -> Self {
        self.replies = replies;
        self
    }

    /// Takes one row; returns a full batch when there is one.
    pub fn push(&mut self, record: Record) -> Option<Vec<NewMessage>> {
        self.summary.rows += 1;
        match self.checker.check(&record) {
            Err(reject) => self.reject(reject, &record.values),
            Ok(checked) => {
                if self.admit(&checked) {
                    match self.reply_window(&checked) {
                        Ok(expires_ms) => self.accept(checked, expires_ms),
                        Err(reject) => self.reject(reject, &record.values),
                    }
                }
            }
        }
        (self.pending.len() >= BATCH)
            .then(|| std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH)))
    }

    /// Counts a row that could not even be read (e.g. not UTF-8).
    pub fn reject_unreadable(&mut self, reject: Reject, raw: &[String]) {
        self.summary.rows += 1;
        self.reject(reject, raw);
    }

    fn reject(&mut self, reject: Reject, values: &[String]) {
        self.summary.rejected += 1;
        if let Some(file) = &mut self.rejects_file {
            file.write(&reject, values);
        }
        self.summary.rejects.push(reject);
    }

    /// A text row's window: when its message expires (the window's close), or the reject of a
    /// row outside it. A row whose window is not known (no API to ask) is counted so, and
    /// queued without one only by a dry run (a load always has the API).
    fn reply_window(&mut self, checked: &Checked) -> Result<Option<i64>, Reject> {
        use super::reply_window::Window;
        let (Some(replies), Some(uid)) = (&self.replies, &checked.uid) else {
            return Ok(None);
        };
        let window = replies.of(uid);
        self.summary
            .text_window
            .get_or_insert_with(Default::default)
            .count(&window);
        match window {
            Window::Open { closes_ms } => Ok(Some(closes_ms)),
            Window::Unknown => Ok(None),
            Window::Closed(reason) | Window::Unread(reason) => Err(Reject {
                line: checked.line,
                field: self.checker.recipient_column().to_string(),
                reason,
            }),
        }
    }

    /// Whether a checked row is neither suppressed nor a duplicate (each counted).
    fn admit(&mut self, checked: &Checked) -> bool {
        if self.suppressed.contains(&checked.recipient) {
            self.summary.suppressed += 1;
            return false;
        }
        let mut hasher = DefaultHasher::new();
        checked.dedupe_key.hash(&mut hasher);
        let hash = hasher.finish();
        match self.seen.entry([(hash >> 32) as u32, hash as u32]) {
            Entry::Occupied(first) => {
                self.summary.duplicates += 1;
                if self.summary.duplicate_lines.len() < LISTED_DUPLICATES {
                    self.summary.duplicate_lines.push(Duplicate {
                        line: checked.line,
                        of: u64::from(*first.get()),
                    });
                }
                return false;
            }
            Entry::Vacant(slot) => {
                slot.insert(u32::try_from(checked.line).unwrap_or(u32::MAX));
            }
        }
        true
    }

    fn accept(&mut self, checked: Checked, expires_ms: Option<i64>) {
        self.summary.valid += 1;
        if let (Some((window, now)), Some(zone)) = (&self.window, checked.zone)
            && window.opens_at(zone, *now).is_some()
        {
            *self.summary.outside_window.get_or_insert(0) += 1;
        }
        if let Some(info) = checked.sms {
            let totals = self.summary.sms.get_or_insert_with(SmsTotals::default);
            totals.segments += info.segments as u64;
            match info.encoding {
                Encoding::Gsm7 => totals.gsm7 += 1,
                Encoding::Ucs2 => totals.ucs2 += 1,
            }
            match checked.smart {
                Some(e) if e.applied => {
                    totals.smart_encoded += 1;
                    totals.smart_saved += e.segments_saved as u64;
                }
                Some(e) => {
                    totals.smart_possible += 1;
                    totals.smart_would_save += e.segments_saved as u64;
                }
                None => {}
            }
        }
        if self.summary.previews.len() < PREVIEWS {
            self.summary.previews.push(Preview {
                line: checked.line,
                phone: checked.recipient.clone(),
                text: checked.text,
            });
        }
        self.pending.push(NewMessage {
            line: checked.line,
            phone: checked.recipient,
            expires_ms,
            dedupe_key: checked.dedupe_key,
            payload: checked.payload,
            tz: checked.zone.map(|z| z.name().to_string()),
            context: checked.context,
        });
    }

    /// The last partial batch and the summary.
    pub fn finish(mut self) -> std::io::Result<(Vec<NewMessage>, Summary)> {
        if let Some(file) = self.rejects_file.take() {
            file.finish()?;
        }
        Ok((self.pending, self.summary))
    }
}
