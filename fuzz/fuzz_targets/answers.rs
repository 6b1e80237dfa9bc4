//! Arbitrary API answers (any status, any body): the client reads an answer or an error, never
//! panics, and the secret it sent appears in neither, however the body encodes it.
#![no_main]

use campaign::convrs::Verdict;
use campaign::convrs::client::read_answer;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "2730b3490cf32a1c";

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else {
        return;
    };
    let status = 100 + u16::from(status) * 2;
    // The body may echo the secret: plain, or as the fuzzer mangles it.
    let mut echoed = body.to_vec();
    echoed.extend_from_slice(SECRET.as_bytes());
    for body in [body, &echoed[..]] {
        let read = read_answer(status, body, &[SECRET]);
        let shown = format!("{read:?} {}", read.as_ref().err().map(ToString::to_string).unwrap_or_default());
        assert!(!shown.contains(SECRET), "{shown}");
        let verdict = format!("{:?}", Verdict::of_send(read));
        assert!(!verdict.contains(SECRET), "{verdict}");
    }
});
