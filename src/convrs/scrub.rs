//! Secrets removed from what a server sends back. Some servers echo the request in their
//! answers and errors, token and webhook secret included, and not always as sent: JSON-escaped
//! (`\u0032\u0037...`), percent-encoded (`%32%37...`) or as HTML character references. Before
//! any of an answer can reach an error, a log, the database or a report, every secret is
//! removed from the raw text in each of those forms, and again from every string the JSON
//! decodes to. A text in which a secret can still be found after decoding it repeatedly (an
//! encoding nested in another) is withheld whole.

use std::borrow::Cow;

use serde_json::Value;

/// What replaces a secret.
pub const REMOVED: &str = "[secret removed]";
/// What replaces a text that still held a secret in a form not removed piece by piece.
pub const WITHHELD: &str = "[withheld: it held a secret the client sent]";

/// The secrets one request carried, to be removed from its answer.
pub struct Scrubber<'a> {
    secrets: Vec<&'a str>,
}

impl<'a> Scrubber<'a> {
    /// Empty secrets are ignored (they would match everywhere).
    pub fn new(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Scrubber {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    /// `text` without any secret, in any form it knows.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret) {
                out = Cow::Owned(out.replace(secret, REMOVED));
            }
        }
        // Most answers hold no escape at all: nothing more can hide in them.
        if !out.contains(['\\', '%', '&']) {
            return out;
        }
        if let Some(cut) = self.encoded(&out) {
            out = Cow::Owned(cut);
        }
        if self.still_there(&out) {
            return Cow::Borrowed(WITHHELD);
        }
        out
    }

    /// Every string in `value` (keys too) without any secret.
    pub fn value(&self, value: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.text(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(fields) => {
                let taken = std::mem::take(fields);
                for (key, mut v) in taken {
                    self.value(&mut v);
                    fields.insert(self.text(&key).into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// `text` with each secret found in its decoded form (one level of JSON, percent or HTML
    /// escapes, mixed) replaced where it stands in the raw text; `None` when there is none.
    fn encoded(&self, text: &str) -> Option<String> {
        let decoded = decode(text);
        let chars: Vec<char> = decoded.iter().map(|(c, _)| *c).collect();
        let mut cuts: Vec<(usize, usize)> = vec![];
        for secret in &self.secrets {
            let wanted: Vec<char> = secret.chars().collect();
            let mut i = 0;
            while i + wanted.len() <= chars.len() {
                if chars[i..i + wanted.len()] == wanted[..] {
                    let from = decoded[i].1.0;
                    let to = decoded[i + wanted.len() - 1].1.1;
                    cuts.push((from, to));
                    i += wanted.len();
                } else {
                    i += 1;
                }
            }
        }
        if cuts.is_empty() {
            return None;
        }
        cuts.sort();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (from, to) in cuts {
            if from < at {
                continue;
            }
            out.push_str(&text[at..from]);
            out.push_str(REMOVED);
            at = to;
        }
        out.push_str(&text[at..]);
        Some(out)
    }

    /// Whether a secret can still be read out of `text` by decoding it again and again.
    fn still_there(&self, text: &str) -> bool {
        let mut current = text.to_string();
        for _ in 0..4 {
            if self.secrets.iter().any(|s| current.contains(s)) {
                return true;
            }
            let next: String = decode(&current).into_iter().map(|(c, _)| c).collect();
            if next == current {
                return false;
            }
            current = next;
        }
        self.secrets.iter().any(|s| current.contains(s))
    }
}

/// The characters `text` decodes to, each with the byte range of the raw text it came from:
/// JSON escapes (`\uXXXX`, `\"`, `\/`...), percent escapes of ASCII (`%41`) and HTML
/// character references (`&#65;`, `&#x41;`). Anything else stands for itself.
fn decode(text: &str) -> Vec<(char, (usize, usize))> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let (c, len) = escape_at(text, i).unwrap_or_else(|| {
            let c = text[i..].chars().next().expect("i is on a char boundary");
            (c, c.len_utf8())
        });
        out.push((c, (i, i + len)));
        i += len;
        debug_assert!(i <= bytes.len());
    }
    out
}

/// The escape starting at byte `i`, if one does: the character and its raw length.
fn escape_at(text: &str, i: usize) -> Option<(char, usize)> {
    let rest = &text[i..];
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    if let Some(after) = rest.strip_prefix("\\u") {
        let code = hex(after.get(..4)?)?;
        return Some((char::from_u32(code)?, 6));
    }
    if let Some(after) = rest.strip_prefix('\\') {
        let c = match after.chars().next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            _ => return None,
        };
        return Some((c, 2));
    }
    if let Some(after) = rest.strip_prefix('%') {
        let code = hex(after.get(..2)?)?;
        return (code < 0x80).then_some((code as u8 as char, 3));
    }
    if let Some(after) = rest.strip_prefix("&#") {
        let end = after.find(';')?;
        let digits = &after[..end];
        let code = match digits.strip_prefix(['x', 'X']) {
            Some(h) => hex(h)?,
            None => digits.parse().ok()?,
        };
        return Some((char::from_u32(code)?, 2 + end + 1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "2730b3490cf32a1c";

    fn json_escaped(s: &str) -> String {
        s.chars().map(|c| format!("\\u{:04x}", c as u32)).collect()
    }

    fn percent(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    #[test]
    fn a_secret_is_removed_plain_json_escaped_percent_encoded_and_as_html_references() {
        let s = Scrubber::new([TOKEN]);
        let html: String = TOKEN.chars().map(|c| format!("&#{};", c as u32)).collect();
        let mixed = format!("27{}0b3490cf32a1c", percent("3"));
        for echo in [
            TOKEN.to_string(),
            json_escaped(TOKEN),
            percent(TOKEN),
            html,
            mixed,
        ] {
            let text = format!("error: bad request {{\"token\":\"{echo}\"}} end");
            let clean = s.text(&text);
            assert!(!clean.contains(TOKEN), "{clean}");
            assert!(clean.contains(REMOVED), "{echo}: {clean}");
            assert!(clean.starts_with("error: bad request"), "{clean}");
            let decoded: String = decode(&clean).into_iter().map(|(c, _)| c).collect();
            assert!(!decoded.contains(TOKEN), "{decoded}");
        }
    }

    #[test]
    fn a_secret_nested_in_two_encodings_withholds_the_text() {
        let s = Scrubber::new([TOKEN]);
        let twice = percent(&json_escaped(TOKEN));
        assert_eq!(s.text(&format!("echo {twice}")), WITHHELD);
    }

    #[test]
    fn decoded_json_strings_and_keys_lose_their_secrets() {
        let s = Scrubber::new(["webhook-secret-1", TOKEN]);
        let raw = format!(
            r#"{{"ok":0,"error":"bad token {}","headers":["X-Campaign-Secret: webhook-secret-1"],"{}":1}}"#,
            json_escaped(TOKEN),
            TOKEN
        );
        let mut value: Value = serde_json::from_str(&raw).unwrap();
        s.value(&mut value);
        let shown = value.to_string();
        assert!(
            !shown.contains(TOKEN) && !shown.contains("webhook-secret-1"),
            "{shown}"
        );
        assert_eq!(value["error"], format!("bad token {REMOVED}"));
    }

    #[test]
    fn text_without_secrets_is_untouched() {
        let s = Scrubber::new([TOKEN, ""]);
        let text = "a 100% normal answer with \\u00e9 and &#233; and %zz";
        assert!(matches!(s.text(text), Cow::Borrowed(t) if t == text));
    }
}
