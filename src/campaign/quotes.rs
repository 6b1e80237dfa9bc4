//! Where a CSV's records and quoted fields begin, followed byte by byte as csv-core reads them
//! (a field is quoted when its first byte is `"`, `""` inside is a quote, and anything after
//! the closing quote is kept up to the delimiter). csv-core takes a quoted field that is never
//! closed to the end of the file: one field holding the rest of it, in memory, every row after
//! it lost. Here such a field, or a row that never ends, is found once it has run on for
//! `MAX_RECORD_BYTES` (or at the end of the file), with where it began.

/// The longest row taken: fields over 64 KiB are rejects anyway, so a row this long is a
/// quote that was never closed, or a file that is not a CSV.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: a quote if another follows, else the field's end.
    QuoteInQuoted,
}

/// What broke, and the byte offset where it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// A quoted field opened there is not closed by the end of the file, or runs on too long.
    Unclosed { at: u64 },
    /// A row starting there runs on too long without a line ending.
    TooLong { at: u64 },
}

impl Broken {
    pub fn at(self) -> u64 {
        match self {
            Broken::Unclosed { at } | Broken::TooLong { at } => at,
        }
    }

    /// What to tell the operator.
    pub fn message(self) -> String {
        match self {
            Broken::Unclosed { .. } => "a quoted field starts on this line and is never closed \
                 (a '\"' is missing): close it, or save the file again from the spreadsheet"
                .into(),
            Broken::TooLong { .. } => format!(
                "the row starting on this line runs on for more than {} MiB without a line \
                 ending: is this a CSV file?",
                MAX_RECORD_BYTES / (1024 * 1024)
            ),
        }
    }
}

#[derive(Debug)]
pub struct Quotes {
    delimiter: u8,
    state: State,
    record_start: u64,
    quote_start: u64,
}

impl Quotes {
    pub fn new(delimiter: u8) -> Self {
        Quotes {
            delimiter,
            state: State::FieldStart,
            record_start: 0,
            quote_start: 0,
        }
    }

    /// Follows `chunk`, which starts at byte `base` of the file.
    pub fn scan(&mut self, chunk: &[u8], base: u64) -> Result<(), Broken> {
        let d = self.delimiter;
        let mut i = 0;
        while i < chunk.len() {
            match self.state {
                State::FieldStart | State::QuoteInQuoted => {
                    let quoted = self.state == State::QuoteInQuoted;
                    self.state = match chunk[i] {
                        b'"' if quoted => State::Quoted,
                        b'"' => {
                            self.quote_start = base + i as u64;
                            State::Quoted
                        }
                        b if b == d => State::FieldStart,
                        b'\n' | b'\r' => {
                            self.record_start = base + i as u64 + 1;
                            State::FieldStart
                        }
                        _ => State::Unquoted,
                    };
                    i += 1;
                }
                State::Unquoted => match memchr::memchr3(d, b'\n', b'\r', &chunk[i..]) {
                    Some(k) => {
                        if chunk[i + k] != d {
                            self.record_start = base + (i + k) as u64 + 1;
                        }
                        self.state = State::FieldStart;
                        i += k + 1;
                    }
                    None => i = chunk.len(),
                },
                State::Quoted => match memchr::memchr(b'"', &chunk[i..]) {
                    Some(k) => {
                        self.state = State::QuoteInQuoted;
                        i += k + 1;
                    }
                    None => i = chunk.len(),
                },
            }
        }
        let end = base + chunk.len() as u64;
        if self.state == State::Quoted && end - self.quote_start > MAX_RECORD_BYTES {
            return Err(Broken::Unclosed {
                at: self.quote_start,
            });
        }
        if end - self.record_start > MAX_RECORD_BYTES {
            return Err(Broken::TooLong {
                at: self.record_start,
            });
        }
        Ok(())
    }

    /// The file ended: a quoted field still open was never closed.
    pub fn end(&self) -> Result<(), Broken> {
        match self.state {
            State::Quoted => Err(Broken::Unclosed {
                at: self.quote_start,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(text: &[u8], chunk: usize) -> Result<(), Broken> {
        let mut q = Quotes::new(b',');
        for (n, part) in text.chunks(chunk).enumerate() {
            q.scan(part, (n * chunk) as u64)?;
        }
        q.end()
    }

    #[test]
    fn quoted_fields_with_quotes_commas_and_line_breaks_inside_are_whole() {
        let text = b"phone,note\r\n+44,\"a \"\"b\"\", c\r\nd\"\n+45,5'10\" tall\n+46,\"x\"y\n";
        for chunk in [1, 2, 3, 64] {
            assert_eq!(scanned(text, chunk), Ok(()), "chunk {chunk}");
        }
    }

    #[test]
    fn a_quote_never_closed_is_found_where_it_began() {
        let text = b"phone,note\n+44,ok\n+45,\"never closed\n+46,x\n";
        for chunk in [1, 7, 64] {
            assert_eq!(
                scanned(text, chunk),
                Err(Broken::Unclosed { at: 22 }),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_huge_unclosed_field_or_endless_row_stops_after_the_limit_not_at_the_end() {
        let mut q = Quotes::new(b',');
        q.scan(b"phone,note\n+44,\"", 0).unwrap();
        let filler = vec![b'x'; 64 * 1024];
        let mut at = 16u64;
        let broken = loop {
            if let Err(b) = q.scan(&filler, at) {
                break b;
            }
            at += filler.len() as u64;
        };
        assert_eq!(broken, Broken::Unclosed { at: 15 });
        assert!(at <= MAX_RECORD_BYTES + 16);
        let mut q = Quotes::new(b';');
        q.scan(b"phone;note\n", 0).unwrap();
        let mut at = 11;
        let broken = loop {
            if let Err(b) = q.scan(&filler, at) {
                break b;
            }
            at += filler.len() as u64;
        };
        assert_eq!(broken, Broken::TooLong { at: 11 });
    }
}
