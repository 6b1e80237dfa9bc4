//! SMS encoding: GSM 03.38 (7-bit) when every character fits, UCS-2 otherwise, and the number
//! of segments the message takes (160/153 for GSM-7, 70/67 for UCS-2).

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

pub fn analyse(text: &str) -> SmsInfo {
    let mut septets = 0;
    for c in text.chars() {
        if GSM_BASIC.contains(c) {
            septets += 1;
        } else if GSM_EXTENSION.contains(c) {
            septets += 2;
        } else {
            let units = text.encode_utf16().count();
            return SmsInfo {
                encoding: Encoding::Ucs2,
                units,
                segments: segments(units, 70, 67),
            };
        }
    }
    SmsInfo {
        encoding: Encoding::Gsm7,
        units: septets,
        segments: segments(septets, 160, 153),
    }
}

fn segments(units: usize, single: usize, multi: usize) -> usize {
    match units {
        0 => 0,
        n if n <= single => 1,
        n => n.div_ceil(multi),
    }
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
}
