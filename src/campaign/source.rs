//! Sources of recipients: a CSV file (streamed), a SQL query (SQLite or PostgreSQL, read-only),
//! or Convrs users (GetUsers, `users.rs`). Each yields a header and `Record`s.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::queue::Reject;

use super::lines::{LineCounter, Lines};

use super::validate::Record;

/// A source that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {error}")]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is empty: expected a header line naming the columns (e.g. phone,name)")]
    Empty { path: PathBuf },
    #[error(
        "{path}, line 1: the header is not UTF-8 text (is the file UTF-16?): save it as UTF-8 (CSV UTF-8 in Excel)"
    )]
    HeaderNotUtf8 { path: PathBuf },
    #[error("{path}, line {line}: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("SQL source {url}: {message}")]
    Sql { url: String, message: String },
    #[error("Convrs users source: {0}")]
    Users(String),
}

/// A CSV file read row by row. A UTF-8 BOM is accepted; the delimiter is the one given, or
/// else the one of `,` `;` tab `|` that the header line holds most of (outside quotes).
pub struct CsvSource {
    path: PathBuf,
    reader: csv::Reader<Box<dyn Read + Send>>,
    /// The file's own line numbers (csv-core's are off for CRLF and mixed endings).
    lines: Lines,
    columns: Vec<String>,
    record: csv::ByteRecord,
    dialect: Dialect,
}

/// How a CSV file is written: its delimiter, and whether it starts with a UTF-8 BOM (Excel's
/// "CSV UTF-8"). The files we write from it follow it, so they open as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub bom: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            bom: false,
        }
    }
}

/// A row as read: good, or one to reject with the cells we could read.
pub enum Row {
    Record(Record),
    Unreadable(Reject, Vec<String>),
}

impl CsvSource {
    pub fn open(path: &Path, delimiter: Option<u8>) -> Result<Self, SourceError> {
        let open = || {
            std::fs::File::open(path).map_err(|error| SourceError::Open {
                path: path.into(),
                error,
            })
        };
        let delimiter = match delimiter {
            Some(d) => d,
            None => sniff_delimiter(open()?),
        };
        let file = open()?;
        let (counted, lines) = LineCounter::new(
            std::io::BufReader::with_capacity(256 * 1024, file),
            delimiter,
        );
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(Box::new(counted) as Box<dyn Read + Send>);
        let header = reader
            .byte_headers()
            .map_err(|e| match lines.broken() {
                Some((line, message)) => SourceError::Csv {
                    path: path.into(),
                    line,
                    message,
                },
                None => csv_error(path, 1, e),
            })?
            .clone();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(SourceError::Empty { path: path.into() });
        }
        // The csv reader drops a BOM before the header: the file's first bytes tell.
        let bom = {
            let mut first = [0u8; 3];
            let mut file = open()?;
            matches!(file.read_exact(&mut first), Ok(())) && &first == b"\xef\xbb\xbf"
        };
        let mut columns = Vec::with_capacity(header.len());
        for (i, cell) in header.iter().enumerate() {
            let cell = if i == 0 {
                cell.strip_prefix(b"\xef\xbb\xbf").unwrap_or(cell)
            } else {
                cell
            };
            let name = std::str::from_utf8(cell)
                .ok()
                .filter(|name| !name.contains('\0'))
                .ok_or_else(|| SourceError::HeaderNotUtf8 { path: path.into() })?;
            columns.push(name.trim().to_string());
        }
        Ok(CsvSource {
            path: path.into(),
            reader,
            lines,
            columns,
            record: csv::ByteRecord::new(),
            dialect: Dialect { delimiter, bom },
        })
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The next row, `None` at the end. A broken file (I/O error) is an error naming the line.
    pub fn next_row(&mut self) -> Result<Option<Row>, SourceError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self
                    .record
                    .position()
                    .map_or(0, |p| self.lines.at(p.byte()));
                let mut values = Vec::with_capacity(self.record.len());
                let mut bad = None;
                for (i, cell) in self.record.iter().enumerate() {
                    match std::str::from_utf8(cell) {
                        Ok(s) => values.push(super::spreadsheet::unmarked(s).to_string()),
                        Err(_) => {
                            bad.get_or_insert(i);
                            values.push(String::from_utf8_lossy(cell).into_owned());
                        }
                    }
                }
                Ok(Some(match bad {
                    None => Row::Record(Record { line, values }),
                    Some(i) => {
                        let field = self
                            .columns
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("column {}", i + 1));
                        let reject = Reject {
                            line,
                            field,
                            reason: "the line is not valid UTF-8 (save the file as UTF-8)".into(),
                        };
                        Row::Unreadable(reject, values)
                    }
                }))
            }
            Err(e) => match self.lines.broken() {
                Some((line, message)) => Err(SourceError::Csv {
                    path: self.path.clone(),
                    line,
                    message,
                }),
                None => {
                    let line = e.position().map_or(0, |p| self.lines.at(p.byte()));
                    Err(csv_error(&self.path, line, e))
                }
            },
        }
    }
}

/// Rows until the end of the file or the first error that stops reading.
impl Iterator for CsvSource {
    type Item = Result<Row, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
    }
}

/// The delimiter the header line holds most of, outside quotes: `,` `;` tab or `|` (`,` when
/// it holds none).
fn sniff_delimiter(file: std::fs::File) -> u8 {
    let mut head = Vec::with_capacity(4096);
    let _ = file.take(64 * 1024).read_to_end(&mut head);
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut counts = [(b',', 0), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in line {
        if *b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| d == b) {
            c.1 += 1;
        }
    }
    // The first of the most frequent: a comma wins a tie.
    counts
        .iter()
        .fold((b',', 0), |best, c| if c.1 > best.1 { *c } else { best })
        .0
}

fn csv_error(path: &Path, line: u64, e: csv::Error) -> SourceError {
    SourceError::Csv {
        path: path.into(),
        line,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod fuzz {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::campaign::definition::{CampaignFile, Channel};
    use crate::campaign::load::Loader;
    use crate::campaign::validate::RowChecker;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn arbitrary_bytes_never_panic_the_csv_loader_and_every_row_is_counted(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            header_first in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.csv");
            let mut bytes = if header_first { b"phone,name\n".to_vec() } else { vec![] };
            bytes.extend(&body);
            std::fs::write(&path, &bytes).unwrap();
            let def = CampaignFile { bot_id: Some(1), channel: Some(Channel::Sms), message: Some("Hi".into()), csv: Some(path.clone()), ..Default::default() }
                .with(CampaignFile::default())
                .unwrap();
            let Ok(mut csv) = CsvSource::open(&path, None) else { return Ok(()) };
            let Ok(checker) = RowChecker::new(&def, csv.columns().to_vec(), None) else { return Ok(()) };
            let mut loader = Loader::new(checker, HashSet::new(), None, Dialect::default()).unwrap();
            let mut queued: u64 = 0;
            loop {
                match csv.next_row() {
                    Ok(Some(Row::Record(r))) => queued += loader.push(r).map_or(0, |b| b.len() as u64),
                    Ok(Some(Row::Unreadable(reject, raw))) => loader.reject_unreadable(reject, &raw),
                    Ok(None) | Err(_) => break,
                }
            }
            let (last, s) = loader.finish().unwrap();
            prop_assert_eq!(s.rows, s.valid + s.rejected + s.duplicates + s.suppressed);
            prop_assert_eq!(queued + last.len() as u64, s.valid);
            prop_assert_eq!(s.rejects.len() as u64, s.rejected);
        }
    }
}
