//! SMS smart encoding: characters that force a message into UCS-2 (70 characters a segment
//! instead of 160) although GSM-7 has a look-alike, such as a curly quote, a long dash or a
//! non-breaking space, are replaced by it. The table is Twilio's published "Smart Encoding"
//! list, in full, with four of its entries mended where they were plainly wrong: the spaces
//! become one space (not two), a tab one space (not seven), `‹`/`›` become `<`/`>` (not the
//! reverse) and `‗` (double low line) `_`.
//!
//! A text is changed only when the result is entirely GSM-7: replacing some characters of a
//! message that stays UCS-2 would change what the recipient reads and save nothing.

use super::sms::is_gsm7;

/// Each character and what replaces it, sorted by character (checked by a test).
const TABLE: &[(char, &str)] = &[
    ('\u{0000}', ""),
    ('\u{0003}', ""),
    ('\u{0004}', ""),
    ('\u{0009}', " "),
    ('\u{0010}', ""),
    ('\u{0011}', ""),
    ('\u{0012}', ""),
    ('\u{0013}', ""),
    ('\u{0014}', ""),
    ('\u{0017}', ""),
    ('\u{0019}', ""),
    ('\u{0060}', "'"),
    ('\u{0080}', " "),
    ('\u{008d}', " "),
    ('\u{0090}', " "),
    ('\u{009b}', " "),
    ('\u{009f}', " "),
    ('\u{00a0}', " "),
    ('\u{00ab}', "\""),
    ('\u{00b4}', "'"),
    ('\u{00bb}', "\""),
    ('\u{00bc}', "1/4"),
    ('\u{00bd}', "1/2"),
    ('\u{00be}', "3/4"),
    ('\u{00f7}', "/"),
    ('\u{01c3}', "!"),
    ('\u{0262}', "G"),
    ('\u{026a}', "I"),
    ('\u{0274}', "N"),
    ('\u{0280}', "R"),
    ('\u{028f}', "Y"),
    ('\u{0299}', "B"),
    ('\u{029c}', "H"),
    ('\u{029f}', "L"),
    ('\u{02b9}', "'"),
    ('\u{02ba}', "\""),
    ('\u{02bb}', "'"),
    ('\u{02bc}', "'"),
    ('\u{02bd}', "'"),
    ('\u{02c6}', "^"),
    ('\u{02c8}', "'"),
    ('\u{02ca}', "'"),
    ('\u{02cb}', "'"),
    ('\u{02d0}', ":"),
    ('\u{02d6}', "+"),
    ('\u{02dc}', "~"),
    ('\u{02ee}', "\""),
    ('\u{02f7}', "~"),
    ('\u{02f8}', ":"),
    ('\u{0302}', "^"),
    ('\u{0303}', "~"),
    ('\u{0313}', "'"),
    ('\u{0314}', "'"),
    ('\u{0326}', ","),
    ('\u{0330}', "~"),
    ('\u{0332}', "_"),
    ('\u{0334}', "~"),
    ('\u{0337}', "/"),
    ('\u{0338}', "/"),
    ('\u{0347}', "="),
    ('\u{1d00}', "A"),
    ('\u{1d04}', "C"),
    ('\u{1d05}', "D"),
    ('\u{1d07}', "E"),
    ('\u{1d0a}', "J"),
    ('\u{1d0b}', "K"),
    ('\u{1d0d}', "M"),
    ('\u{1d0f}', "O"),
    ('\u{1d18}', "P"),
    ('\u{1d1b}', "T"),
    ('\u{1d1c}', "U"),
    ('\u{1d20}', "V"),
    ('\u{1d21}', "W"),
    ('\u{1d22}', "Z"),
    ('\u{1dcd}', "^"),
    ('\u{2000}', " "),
    ('\u{2001}', " "),
    ('\u{2002}', " "),
    ('\u{2003}', " "),
    ('\u{2004}', " "),
    ('\u{2005}', " "),
    ('\u{2006}', " "),
    ('\u{2007}', " "),
    ('\u{2008}', " "),
    ('\u{2009}', " "),
    ('\u{200a}', " "),
    ('\u{200b}', ""),
    ('\u{2010}', "-"),
    ('\u{2013}', "-"),
    ('\u{2014}', "-"),
    ('\u{2015}', "-"),
    ('\u{2017}', "_"),
    ('\u{2018}', "'"),
    ('\u{2019}', "'"),
    ('\u{201a}', ","),
    ('\u{201b}', "'"),
    ('\u{201c}', "\""),
    ('\u{201d}', "\""),
    ('\u{201e}', "\""),
    ('\u{201f}', "\""),
    ('\u{2022}', "-"),
    ('\u{2026}', "..."),
    ('\u{2028}', " "),
    ('\u{2029}', " "),
    ('\u{202f}', " "),
    ('\u{2039}', "<"),
    ('\u{203a}', ">"),
    ('\u{203c}', "!!"),
    ('\u{2043}', "-"),
    ('\u{2044}', "/"),
    ('\u{204e}', "*"),
    ('\u{204f}', ";"),
    ('\u{205f}', " "),
    ('\u{2060}', ""),
    ('\u{20d2}', "|"),
    ('\u{20d3}', "|"),
    ('\u{20e5}', "\\"),
    ('\u{2215}', "/"),
    ('\u{2217}', "*"),
    ('\u{2223}', "|"),
    ('\u{223c}', "~"),
    ('\u{229b}', "*"),
    ('\u{239c}', "|"),
    ('\u{239f}', "|"),
    ('\u{23b8}', "|"),
    ('\u{23b9}', "|"),
    ('\u{23bc}', "-"),
    ('\u{23bd}', "-"),
    ('\u{23d0}', "|"),
    ('\u{2722}', "*"),
    ('\u{2723}', "*"),
    ('\u{2724}', "*"),
    ('\u{2725}', "*"),
    ('\u{2731}', "*"),
    ('\u{2732}', "*"),
    ('\u{2733}', "*"),
    ('\u{273a}', "*"),
    ('\u{273b}', "*"),
    ('\u{273c}', "*"),
    ('\u{273d}', "*"),
    ('\u{2743}', "*"),
    ('\u{2749}', "*"),
    ('\u{274a}', "*"),
    ('\u{274b}', "*"),
    ('\u{275b}', "'"),
    ('\u{275c}', "'"),
    ('\u{275d}', "\""),
    ('\u{275e}', "\""),
    ('\u{2768}', "("),
    ('\u{2769}', ")"),
    ('\u{276a}', "("),
    ('\u{276b}', ")"),
    ('\u{2774}', "{"),
    ('\u{2775}', "}"),
    ('\u{27ee}', "("),
    ('\u{27ef}', ")"),
    ('\u{2982}', ":"),
    ('\u{2985}', "("),
    ('\u{2986}', ")"),
    ('\u{29c6}', "*"),
    ('\u{29f5}', "\\"),
    ('\u{29f8}', "/"),
    ('\u{29f9}', "\\"),
    ('\u{3000}', " "),
    ('\u{3001}', ","),
    ('\u{3002}', "."),
    ('\u{301d}', "\""),
    ('\u{301e}', "\""),
    ('\u{a730}', "F"),
    ('\u{a731}', "S"),
    ('\u{a789}', ":"),
    ('\u{a78a}', "="),
    ('\u{fe10}', "'"),
    ('\u{fe11}', "'"),
    ('\u{fe13}', ":"),
    ('\u{fe14}', ";"),
    ('\u{fe15}', "!"),
    ('\u{fe16}', "?"),
    ('\u{fe50}', ","),
    ('\u{fe51}', ","),
    ('\u{fe52}', "."),
    ('\u{fe54}', ";"),
    ('\u{fe56}', "?"),
    ('\u{fe57}', "!"),
    ('\u{fe59}', "("),
    ('\u{fe5a}', ")"),
    ('\u{fe5b}', "{"),
    ('\u{fe5c}', "}"),
    ('\u{fe5f}', "#"),
    ('\u{fe60}', "&"),
    ('\u{fe61}', "*"),
    ('\u{fe62}', "+"),
    ('\u{fe63}', "-"),
    ('\u{fe64}', "<"),
    ('\u{fe65}', ">"),
    ('\u{fe66}', "="),
    ('\u{fe68}', "\\"),
    ('\u{fe69}', "$"),
    ('\u{fe6a}', "%"),
    ('\u{fe6b}', "@"),
    ('\u{feff}', ""),
    ('\u{ff01}', "!"),
    ('\u{ff02}', "\""),
    ('\u{ff03}', "#"),
    ('\u{ff04}', "$"),
    ('\u{ff05}', "%"),
    ('\u{ff06}', "&"),
    ('\u{ff07}', "'"),
    ('\u{ff08}', "("),
    ('\u{ff09}', ")"),
    ('\u{ff0a}', "*"),
    ('\u{ff0b}', "+"),
    ('\u{ff0c}', ","),
    ('\u{ff0d}', "-"),
    ('\u{ff0e}', "."),
    ('\u{ff0f}', "/"),
    ('\u{ff1a}', ":"),
    ('\u{ff1b}', ";"),
    ('\u{ff1c}', "<"),
    ('\u{ff1d}', "="),
    ('\u{ff1e}', ">"),
    ('\u{ff1f}', "?"),
    ('\u{ff20}', "@"),
    ('\u{ff3b}', "["),
    ('\u{ff3c}', "\\"),
    ('\u{ff3d}', "]"),
    ('\u{ff3e}', "^"),
    ('\u{ff3f}', "_"),
    ('\u{ff5b}', "{"),
    ('\u{ff5c}', "|"),
    ('\u{ff5d}', "}"),
    ('\u{ff5e}', "~"),
    ('\u{ff61}', "."),
    ('\u{ff64}', ","),
];

/// What replaces `c`: the table's entry, a fullwidth digit or Latin letter's ASCII form, or
/// `None` when it has no look-alike.
fn replacement(c: char) -> Option<std::borrow::Cow<'static, str>> {
    if let Ok(i) = TABLE.binary_search_by_key(&c, |(k, _)| *k) {
        return Some(TABLE[i].1.into());
    }
    // Fullwidth 0-9 (U+FF10..), A-Z (U+FF21..) and a-z (U+FF41..) are in the table too, as
    // ranges: each is its ASCII form.
    let ascii = match c {
        '\u{ff10}'..='\u{ff19}' | '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}' => {
            char::from_u32(c as u32 - 0xff10 + 0x30)
        }
        _ => None,
    }?;
    Some(ascii.to_string().into())
}

/// `text` with every look-alike replaced, when that changes it and leaves it entirely GSM-7;
/// otherwise `None` (already GSM-7, or UCS-2 either way).
pub fn transliterate(text: &str) -> Option<String> {
    if is_gsm7(text) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match replacement(c) {
            Some(r) => out.push_str(&r),
            None => out.push(c),
        }
    }
    is_gsm7(&out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::sms::{Encoding, analyse};

    #[test]
    fn the_table_is_sorted_without_repeats_and_every_replacement_is_gsm7() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
        for (c, r) in TABLE {
            assert!(is_gsm7(r), "{c:?} -> {r:?}");
            assert!(!is_gsm7(&c.to_string()), "{c:?} is GSM-7 already");
        }
    }

    #[test]
    fn curly_quotes_dashes_and_spaces_become_gsm7_look_alikes() {
        let text = "\u{201c}Hi\u{201d} \u{2014} it\u{2019}s\u{a0}ready\u{2026}";
        assert_eq!(analyse(text).encoding, Encoding::Ucs2);
        let changed = transliterate(text).unwrap();
        assert_eq!(changed, "\"Hi\" - it's ready...");
        assert_eq!(analyse(&changed).encoding, Encoding::Gsm7);
    }

    #[test]
    fn fullwidth_letters_and_digits_become_ascii() {
        assert_eq!(transliterate("ＡＢｃ１２").unwrap(), "ABc12");
    }

    #[test]
    fn a_text_that_stays_ucs2_is_left_as_written() {
        // The emoji has no look-alike: replacing the quotes would save nothing.
        assert_eq!(transliterate("\u{2019}ok\u{2019} 😀"), None);
        assert_eq!(transliterate("Привет"), None);
    }

    #[test]
    fn a_gsm7_text_is_left_alone() {
        assert_eq!(transliterate("Hello {name}, 50€ off"), None);
    }
}
