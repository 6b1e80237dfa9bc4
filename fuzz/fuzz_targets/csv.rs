//! Arbitrary bytes as a CSV file: the reader and the row checks never panic, every row read
//! is counted once (valid, rejected, duplicate or suppressed), and every reject is kept.
#![no_main]

use std::collections::HashSet;

use campaign::campaign::definition::{CampaignFile, Channel};
use campaign::campaign::load::Loader;
use campaign::campaign::source::{CsvSource, Row};
use campaign::campaign::validate::RowChecker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.csv");
    std::fs::write(&path, data).unwrap();
    let def = CampaignFile {
        bot_id: Some(1),
        channel: Some(Channel::Sms),
        message: Some("Hi {name}".into()),
        allow_empty: Some(true),
        csv: Some(path.clone()),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap();
    let Ok(mut csv) = CsvSource::open(&path, None) else {
        return;
    };
    let Ok(checker) = RowChecker::new(&def, csv.columns().to_vec(), None) else {
        return;
    };
    let mut loader = Loader::new(checker, HashSet::new(), None).unwrap();
    let mut queued: u64 = 0;
    loop {
        match csv.next_row() {
            Ok(Some(Row::Record(r))) => {
                queued += loader.push(r).map_or(0, |b| b.len() as u64)
            }
            Ok(Some(Row::Unreadable(reject, raw))) => loader.reject_unreadable(reject, &raw),
            Ok(None) | Err(_) => break,
        }
    }
    let (last, s) = loader.finish().unwrap();
    assert_eq!(s.rows, s.valid + s.rejected + s.duplicates + s.suppressed);
    assert_eq!(queued + last.len() as u64, s.valid);
    assert_eq!(s.rejects.len() as u64, s.rejected);
});
