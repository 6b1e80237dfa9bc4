//! The file's own line numbers for CSV records. csv-core ends a record at `\r`, `\n` or `\r\n`
//! and numbers lines its own way, which is one too low for CRLF files (what Excel writes) and
//! wrong for mixed endings. `LineCounter` sees every byte the CSV reader reads and notes where
//! each line starts; `Lines::at` turns a record's byte offset into its line number. A line ends at
//! LF, CRLF or a lone CR; a quoted field spanning lines counts them all. It also follows the
//! quoting (`quotes`), so a quoted field never closed, or a row that never ends, stops the
//! read at once with the line where it began, instead of the rest of the file in one field.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

use super::quotes::{Broken, Quotes};

#[derive(Debug, Default)]
struct Breaks {
    /// Byte offsets where a line starts (just after a line ending) not yet asked about.
    starts: VecDeque<u64>,
    /// Lines that start at or before the last offset asked about (line 1 included).
    passed: u64,
    /// Bytes read so far.
    read: u64,
    /// Whether the last byte read was a CR (a CRLF may be split across two reads).
    after_cr: bool,
    /// Runs of line-ending bytes (blank lines included), as `[from, to)`: csv-core may place a
    /// record's start anywhere in the run before it (at the LF of a CRLF, at a skipped blank
    /// line), while the record itself starts at `to`.
    runs: VecDeque<(u64, u64)>,
    run_from: Option<u64>,
    /// What broke the file, and the line where it began.
    broken: Option<(u64, String)>,
}

/// Line numbers of byte offsets, as noted by a `LineCounter`.
#[derive(Debug, Clone)]
pub struct Lines(Arc<Mutex<Breaks>>);

impl Lines {
    /// What broke the file (a quote never closed, a row that never ends): the line where it
    /// began, and what to say.
    pub fn broken(&self) -> Option<(u64, String)> {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        b.broken.clone()
    }

    /// The line holding byte `offset`. Offsets must be asked about in increasing order (as
    /// records come); lines before them are forgotten.
    pub fn at(&self, offset: u64) -> u64 {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while b.runs.front().is_some_and(|(_, to)| *to <= offset) {
            b.runs.pop_front();
        }
        let offset = match b.runs.front() {
            Some((from, to)) if *from <= offset => *to,
            _ => offset,
        };
        while b.starts.front().is_some_and(|start| *start <= offset) {
            b.starts.pop_front();
            b.passed += 1;
        }
        b.passed
    }
}

/// Wraps the reader the CSV parser reads from.
pub struct LineCounter<R> {
    inner: R,
    lines: Lines,
    quotes: Quotes,
}

impl<R: Read> LineCounter<R> {
    /// Counts the lines of a CSV whose fields are separated by `delimiter`.
    pub fn new(inner: R, delimiter: u8) -> (Self, Lines) {
        let lines = Lines(Arc::new(Mutex::new(Breaks {
            passed: 1,
            ..Default::default()
        })));
        (
            LineCounter {
                inner,
                lines: lines.clone(),
                quotes: Quotes::new(delimiter),
            },
            lines,
        )
    }
}

impl Breaks {
    /// The line holding byte `offset`, not yet asked about (it is after every record read).
    fn line_of(&self, offset: u64) -> u64 {
        self.passed + self.starts.partition_point(|start| *start <= offset) as u64
    }

    /// Records what broke the file, as the error the reader returns.
    fn break_off(&mut self, broken: Broken) -> std::io::Error {
        let line = self.line_of(broken.at());
        self.broken = Some((line, broken.message()));
        std::io::Error::new(std::io::ErrorKind::InvalidData, broken.message())
    }
}

impl Breaks {
    /// A line-ending byte at offset `at`.
    fn ending(&mut self, at: u64, byte: u8) {
        if self.after_cr && byte != b'\n' {
            // A CR not followed by LF ended a line by itself.
            self.starts.push_back(at);
        }
        if byte == b'\n' {
            self.starts.push_back(at + 1);
        }
        self.after_cr = byte == b'\r';
        self.run_from.get_or_insert(at);
    }

    /// The first byte after line endings, at offset `at`.
    fn text(&mut self, at: u64) {
        if self.after_cr {
            self.starts.push_back(at);
            self.after_cr = false;
        }
        if let Some(from) = self.run_from.take() {
            self.runs.push_back((from, at));
        }
    }
}

fn is_ending(byte: &u8) -> bool {
    matches!(byte, b'\r' | b'\n')
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        let mut b = self.lines.0.lock().unwrap_or_else(|p| p.into_inner());
        if n == 0 {
            return match self.quotes.end() {
                Err(broken) => Err(b.break_off(broken)),
                Ok(()) => Ok(0),
            };
        }
        let base = b.read;
        // Only line endings and the byte after them matter: jump from one to the next.
        let mut i = 0;
        while i < n {
            let text = chunk[i..].iter().position(is_ending).unwrap_or(n - i);
            if text > 0 {
                b.text(base + i as u64);
                i += text;
            }
            while i < n && is_ending(&chunk[i]) {
                b.ending(base + i as u64, chunk[i]);
                i += 1;
            }
        }
        b.read = base + n as u64;
        match self.quotes.scan(chunk, base) {
            Err(broken) => Err(b.break_off(broken)),
            Ok(()) => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line of each offset in `offsets`, reading `text` in chunks of `chunk` bytes.
    fn lines_of(text: &[u8], chunk: usize, offsets: &[u64]) -> Vec<u64> {
        let (mut counter, lines) = LineCounter::new(text, b',');
        let mut buf = vec![0; chunk];
        while counter.read(&mut buf).unwrap() > 0 {}
        offsets.iter().map(|o| lines.at(*o)).collect()
    }

    #[test]
    fn lf_crlf_cr_and_mixed_endings_give_the_same_lines() {
        for (text, starts) in [
            (&b"a\nb\nc\n"[..], [0u64, 2, 4]),
            (b"a\r\nb\r\nc\r\n", [0, 3, 6]),
            (b"a\rb\rc\r", [0, 2, 4]),
            (b"a\r\nb\nc\r", [0, 3, 5]),
        ] {
            for chunk in [1, 2, 64] {
                assert_eq!(
                    lines_of(text, chunk, &starts),
                    [1, 2, 3],
                    "{text:?} {chunk}"
                );
            }
        }
    }

    #[test]
    fn an_offset_inside_the_line_endings_before_a_record_is_that_records_line() {
        // "a", two blank lines, "b" on line 4: csv-core may point anywhere from the first LF.
        let text = b"a\r\n\r\n\nb\n";
        for offset in 1..=6 {
            assert_eq!(lines_of(text, 3, &[offset]), [4], "offset {offset}");
        }
    }
}
