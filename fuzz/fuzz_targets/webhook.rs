//! Arbitrary webhook bodies: a callback or an event is read or refused, never a panic; what is
//! read is within what the document allows (a known ack, a time from 2000 on).
#![no_main]

use campaign::tracking::heard::{EventNews, read_callback, read_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(news) = read_callback(data) {
        assert!(news.at_ms >= 946_684_800_000, "{news:?}");
    }
    if let Ok(EventNews::Suppress { phone, .. }) = read_event(data) {
        assert!(phone.as_str().starts_with('+'));
    }
});
