//! The opt-out keywords: how a client's message is read against the lists.
//!
//! A message is normalised (case-folded, accents removed, punctuation, symbols and emoji
//! around it stripped, spaces inside collapsed), so "Stop." = "STOP", "Arrête" = "ARRETE" and
//! "stop 🛑" = "STOP". A message that *is* a keyword acts; one whose first word (or two) is an
//! opt-out keyword followed by more ("Cancel my appointment") is a possible opt-out.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::queue::{Heard, KeywordKind};

/// The lists every new database starts with (migration 0016 writes them; a test compares).
pub const DEFAULTS: &[(&str, KeywordKind)] = &[
    ("stop", KeywordKind::Out),
    ("stopall", KeywordKind::Out),
    ("stop all", KeywordKind::Out),
    ("unsubscribe", KeywordKind::Out),
    ("cancel", KeywordKind::Out),
    ("end", KeywordKind::Out),
    ("quit", KeywordKind::Out),
    ("revoke", KeywordKind::Out),
    ("optout", KeywordKind::Out),
    ("opt out", KeywordKind::Out),
    ("opt-out", KeywordKind::Out),
    ("remove", KeywordKind::Out),
    ("arret", KeywordKind::Out),
    ("arrete", KeywordKind::Out),
    ("arrett", KeywordKind::Out),
    ("td", KeywordKind::Out),
    // Not "yes": templates say "reply YES to confirm".
    ("start", KeywordKind::In),
    ("unstop", KeywordKind::In),
    ("help", KeywordKind::Help),
    ("info", KeywordKind::Help),
    ("aide", KeywordKind::Help),
];

/// The words no operator can remove: one of each list.
pub const PROTECTED: &[&str] = &["stop", "start", "help"];

/// `text` as the lists compare it: lower case, no accents, no punctuation, symbols or emoji
/// at either end, one space between words.
pub fn normalise(text: &str) -> String {
    let folded: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    folded
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lists in force (read from the store).
#[derive(Debug, Clone, Default)]
pub struct Keywords {
    words: HashMap<String, KeywordKind>,
}

impl Keywords {
    pub fn new(words: impl IntoIterator<Item = (String, KeywordKind)>) -> Self {
        Keywords {
            words: words.into_iter().collect(),
        }
    }

    /// The default lists.
    pub fn defaults() -> Self {
        Keywords::new(DEFAULTS.iter().map(|(w, k)| (w.to_string(), *k)))
    }

    /// What a client's message says.
    pub fn read(&self, text: &str) -> Heard {
        let said = normalise(text);
        if let Some(kind) = self.words.get(&said) {
            return match kind {
                KeywordKind::Out => Heard::OptOut,
                KeywordKind::In => Heard::OptIn,
                KeywordKind::Help => Heard::Help,
            };
        }
        let opens_with_opt_out = self.words.iter().any(|(word, kind)| {
            *kind == KeywordKind::Out
                && said
                    .strip_prefix(word.as_str())
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|next| !next.is_alphanumeric())
        });
        if opens_with_opt_out {
            Heard::PossibleOptOut
        } else {
            Heard::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_surrounding_punctuation_symbols_and_emoji_do_not_count() {
        assert_eq!(normalise("  Stop. "), "stop");
        assert_eq!(normalise("Arrête"), "arrete");
        assert_eq!(normalise("ARRÊTE!!"), "arrete");
        assert_eq!(normalise("🛑 STOP 🛑"), "stop");
        assert_eq!(normalise("\"opt   OUT\""), "opt out");
        assert_eq!(normalise("Opt-Out"), "opt-out");
        assert_eq!(normalise("İPTAL"), "iptal");
        assert_eq!(normalise("..."), "");
    }

    #[test]
    fn a_message_that_is_a_keyword_acts_and_one_that_opens_with_one_is_possible() {
        let k = Keywords::defaults();
        for stop in [
            "STOP",
            "Stop.",
            "stop all",
            "Arrête",
            "unsubscribe!",
            "OPT OUT",
        ] {
            assert_eq!(k.read(stop), Heard::OptOut, "{stop}");
        }
        assert_eq!(k.read("Start"), Heard::OptIn);
        assert_eq!(
            k.read("yes"),
            Heard::Other,
            "YES confirms, it does not opt in"
        );
        assert_eq!(k.read("help?"), Heard::Help);
        for possible in ["Cancel my appointment", "STOP please", "stop, thanks"] {
            assert_eq!(k.read(possible), Heard::PossibleOptOut, "{possible}");
        }
        for other in ["Stopping by later", "Endless thanks", "Thanks!", "", "🛑"] {
            assert_eq!(k.read(other), Heard::Other, "{other}");
        }
    }

    #[test]
    fn the_defaults_are_already_normalised_and_each_list_keeps_its_protected_word() {
        for (word, _) in DEFAULTS {
            assert_eq!(normalise(word), *word);
        }
        let k = Keywords::defaults();
        assert_eq!(k.read("STOP"), Heard::OptOut);
        assert_eq!(k.read("START"), Heard::OptIn);
        assert_eq!(k.read("HELP"), Heard::Help);
        assert_eq!(PROTECTED.len(), 3);
    }

    /// Migration 0016 seeds the lists of both engines from the same words as `DEFAULTS`.
    #[test]
    fn the_migration_seeds_the_default_lists() {
        for sql in [
            include_str!("../../migrations/sqlite/0016_listening.sql"),
            include_str!("../../migrations/postgres/0016_listening.sql"),
        ] {
            for (word, kind) in DEFAULTS {
                let pair = format!("('{word}', '{}')", kind.as_str());
                assert!(sql.contains(&pair), "{pair}");
            }
        }
    }
}
