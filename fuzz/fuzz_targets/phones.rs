//! Arbitrary phone cells in any region: parsed into an E.164 mobile or refused, never a
//! panic; what parses parses again to itself.
#![no_main]

use campaign::phone::{PhoneNumber, Region};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for region in [None, Region::parse("GB").ok(), Region::parse("US").ok()] {
        if let Ok(phone) = PhoneNumber::parse(&text, region) {
            assert!(phone.as_str().starts_with('+'));
            assert_eq!(PhoneNumber::parse(phone.as_str(), None).ok(), Some(phone));
        }
    }
});
