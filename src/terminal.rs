//! Text from outside (a CSV cell, a file name, an API answer, a database row) as it may be
//! shown on a terminal. A value can hold control characters: an escape sequence that moves the
//! cursor, rewrites the line or sets the window title, a carriage return that hides what came
//! before, a bidi override that reverses what follows. Human output shows them escaped
//! (`\x1b`, `\r`, `\u{202e}`); JSON output escapes them as JSON does.

use std::borrow::Cow;
use std::fmt::Write;

/// `n` and the noun that goes with it: "1 message", "2 messages".
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whether `c` changes how a terminal shows what follows rather than showing itself.
fn is_control(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped, line breaks and tabs included: one value.
pub fn safe(text: &str) -> Cow<'_, str> {
    escaped(text, |_| false)
}

/// `text` with every control character escaped but line breaks and tabs: a message of several
/// lines, such as an error.
pub fn safe_lines(text: &str) -> Cow<'_, str> {
    escaped(text, |c| matches!(c, '\n' | '\t'))
}

/// `value` as one line of JSON for a program to read: serde_json escapes C0 controls; C1
/// controls, DEL and bidi overrides, which JSON allows raw, are escaped (`\u009b`) too.
pub fn json(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot write JSON: {e}") }).to_string()
    });
    if !text.chars().any(is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if is_control(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `println!` for what a person reads: control characters that came in with values (a name,
/// a phone, a file name, an API's text) are shown escaped.
#[macro_export]
macro_rules! show {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::terminal::safe_lines(&format!($($arg)*))) };
}

/// `eprintln!` likewise.
#[macro_export]
macro_rules! tell {
    () => { eprintln!() };
    ($($arg:tt)*) => { eprintln!("{}", $crate::terminal::safe_lines(&format!($($arg)*))) };
}

fn escaped(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_control(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_control(c) || keep(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_carriage_returns_and_bidi_overrides_are_shown_escaped() {
        assert_eq!(safe("Ann\x1b]0;pwned\x07"), "Ann\\x1b]0;pwned\\x07");
        assert_eq!(safe("ok\rFAILED"), "ok\\rFAILED");
        assert_eq!(safe("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(safe("\u{9b}31m"), "\\x9b31m");
        assert_eq!(safe("a\nb"), "a\\nb");
        assert_eq!(safe_lines("a\nb\x1b[2J"), "a\nb\\x1b[2J");
    }

    #[test]
    fn json_for_programs_escapes_what_json_allows_raw_and_stays_json() {
        let value = serde_json::json!({ "name": "Ann\u{9b}31m\u{202e}x\u{1b}[2J" });
        let text = json(&value);
        assert!(!text.chars().any(is_control), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn ordinary_text_is_left_as_it_is_without_a_copy() {
        for text in ["Zoë Ñúñez", "+44 7911 123456", "日本語", "emoji 🎉", ""] {
            assert!(matches!(safe(text), Cow::Borrowed(t) if t == text));
        }
    }
}
