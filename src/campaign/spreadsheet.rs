//! Cells as spreadsheets read them: a formula neutralised on the way out (`spreadsheet_safe`),
//! the mark taken off on the way in (`unmarked`), and the rejects file written with them.

use std::path::Path;

use super::source::Dialect;
use crate::queue::Reject;

/// Writes rejected rows as CSV: line, field, reason, then the row's own cells. Cells that a
/// spreadsheet would run as a formula (starting with = + - @) get a leading `'`.
pub(super) struct RejectsWriter {
    writer: csv::Writer<std::fs::File>,
    error: Option<csv::Error>,
}

impl RejectsWriter {
    pub(super) fn create(
        path: &Path,
        columns: &[String],
        dialect: Dialect,
    ) -> std::io::Result<Self> {
        let mut file = crate::files::write_private(path)?;
        if dialect.bom {
            std::io::Write::write_all(&mut file, b"\xef\xbb\xbf")?;
        }
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .delimiter(dialect.delimiter)
            .from_writer(file);
        let header = ["line", "field", "reason"]
            .into_iter()
            .map(str::to_string)
            .chain(columns.iter().cloned());
        writer
            .write_record(header.map(|c| spreadsheet_safe(&c)))
            .map_err(std::io::Error::other)?;
        Ok(RejectsWriter {
            writer,
            error: None,
        })
    }

    pub(super) fn write(&mut self, reject: &Reject, values: &[String]) {
        let cells = [
            reject.line.to_string(),
            reject.field.clone(),
            reject.reason.clone(),
        ]
        .into_iter()
        .chain(values.iter().cloned())
        .map(|c| spreadsheet_safe(&c));
        if let Err(e) = self.writer.write_record(cells) {
            self.error.get_or_insert(e);
        }
    }

    pub(super) fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.error {
            return Err(std::io::Error::other(e));
        }
        self.writer.flush()
    }
}

/// Neutralises spreadsheet formulas (CSV injection): a cell starting with `=`, `+`, `-`, `@`,
/// tab or carriage return gets a leading `'`. A signed number (`-2`, a phone `+447911000010`)
/// is left alone: it cannot call anything, and the tool reads its own files back.
pub fn spreadsheet_safe(cell: &str) -> String {
    let signed_number = cell.strip_prefix(['-', '+']).is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    });
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !signed_number {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// Undoes `spreadsheet_safe` on a cell read back: a `'` before `=`, `+`, `-`, `@`, tab or
/// carriage return is the mark, not the data (files from earlier versions marked phones so).
pub fn unmarked(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(spreadsheet_safe("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(spreadsheet_safe("@x"), "'@x");
        assert_eq!(spreadsheet_safe("plain"), "plain");
        assert_eq!(spreadsheet_safe("-2"), "-2");
        assert_eq!(spreadsheet_safe("-2+3"), "'-2+3");
        assert_eq!(spreadsheet_safe("+447911000010"), "+447911000010");
        assert_eq!(
            spreadsheet_safe("+1+cmd|' /C calc'!A0"),
            "'+1+cmd|' /C calc'!A0"
        );
    }

    #[test]
    fn the_mark_comes_off_when_read_back_and_nothing_else_does() {
        for cell in [
            "=SUM(A1)",
            "+447911000010",
            "-2+3",
            "@x",
            "plain",
            "'quoted'",
        ] {
            assert_eq!(unmarked(&spreadsheet_safe(cell)), cell);
        }
        assert_eq!(unmarked("'+447911000010"), "+447911000010");
        assert_eq!(unmarked("'tis"), "'tis");
    }
}
