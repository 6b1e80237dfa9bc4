//! SMS encoding: GSM 03.38 (7-bit) when every character fits, UCS-2 otherwise, and the number
//! of segments the message takes (160/153 for GSM-7, 70/67 for UCS-2). In a message of several
//! segments, a character that takes two units (a GSM-7 escape pair such as `€`, a UTF-16
//! surrogate pair such as an emoji) is never split: it starts the next segment instead.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[serde(rename = "gsm-7")]
    Gsm7,
    #[serde(rename = "ucs-2")]
    Ucs2,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsInfo {
    pub encoding: Encoding,
    /// Length in encoding units: septets (extension characters count 2) or UTF-16 units.
    pub units: usize,
    pub segments: usize,
}

/// What smart encoding did to one SMS (`applied`), or would have done were it on: the text
/// became GSM-7 and took `segments_saved` fewer segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmartEffect {
    pub applied: bool,
    pub segments_saved: usize,
}

/// How many septets `c` takes in GSM-7, or `None` when GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' => Some(2),
        // Printable ASCII is in the basic set but for the grave accent (and the above).
        '`' => None,
        ' '..='~' | '\n' | '\r' => Some(1),
        c if GSM_BASIC.contains(c) => Some(1),
        c if GSM_EXTENSION.contains(c) => Some(2),
        _ => None,
    }
}

/// Whether GSM-7 carries every character of `text`.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

pub fn analyse(text: &str) -> SmsInfo {
    let septets = text
        .chars()
        .try_fold(0, |sum, c| gsm7_septets(c).map(|w| sum + w));
    let (encoding, units, single, multi, width): (_, _, _, _, fn(char) -> usize) = match septets {
        Some(units) => (Encoding::Gsm7, units, 160, 153, |c| {
            gsm7_septets(c).unwrap_or(1)
        }),
        None => (
            Encoding::Ucs2,
            text.encode_utf16().count(),
            70,
            67,
            char::len_utf16,
        ),
    };
    let segments = match units {
        0 => 0,
        n if n <= single => 1,
        _ => segments(text.chars().map(width), multi),
    };
    SmsInfo {
        encoding,
        units,
        segments,
    }
}

/// Segments for characters of the given widths, `multi` units at a time, a character that
/// does not fit whole starting the next.
fn segments(widths: impl Iterator<Item = usize>, multi: usize) -> usize {
    let (mut count, mut used) = (1, 0);
    for w in widths {
        if used + w > multi {
            count += 1;
            used = 0;
        }
        used += w;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_gsm7_and_splits_at_153() {
        assert_eq!(
            analyse(&"a".repeat(160)),
            SmsInfo {
                encoding: Encoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        assert_eq!(analyse(&"a".repeat(161)).segments, 2);
        assert_eq!(analyse(&"a".repeat(306)).segments, 2);
        assert_eq!(analyse(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_count_twice() {
        let info = analyse(&format!("{}€", "a".repeat(159)));
        assert_eq!(
            (info.encoding, info.units, info.segments),
            (Encoding::Gsm7, 161, 2)
        );
    }

    #[test]
    fn anything_outside_gsm_makes_it_ucs2_split_at_67() {
        assert_eq!(analyse("Olá ✓").encoding, Encoding::Ucs2);
        assert_eq!(analyse(&"ж".repeat(70)).segments, 1);
        assert_eq!(analyse(&"ж".repeat(71)).segments, 2);
        assert_eq!(analyse(&"ж".repeat(135)).segments, 3);
        assert_eq!(analyse("😀").units, 2);
    }

    #[test]
    fn the_ascii_shortcut_agrees_with_the_gsm_tables() {
        for c in (0..0x3000).filter_map(char::from_u32) {
            let by_table = if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            };
            assert_eq!(gsm7_septets(c), by_table, "{c:?}");
        }
    }

    #[test]
    fn an_escape_pair_at_a_segment_boundary_starts_the_next_segment() {
        // 152 + 2 + 152 = 306 septets, two segments' worth, but `€` cannot be split across
        // the first boundary (153), so it takes three.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let info = analyse(&text);
        assert_eq!((info.encoding, info.units), (Encoding::Gsm7, 306));
        assert_eq!(info.segments, 3);
        assert_eq!(
            analyse(&format!("{}€{}", "a".repeat(151), "a".repeat(153))).segments,
            2
        );
    }

    #[test]
    fn a_surrogate_pair_at_a_segment_boundary_starts_the_next_segment() {
        let text = format!("{}😀{}", "a".repeat(66), "a".repeat(66));
        let info = analyse(&text);
        assert_eq!((info.encoding, info.units), (Encoding::Ucs2, 134));
        assert_eq!(info.segments, 3);
    }
}
