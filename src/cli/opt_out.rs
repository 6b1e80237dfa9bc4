//! `campaign opt-out list|add|remove|test|possible|confirm`: the keyword lists that read what
//! recipients write, and what is done with them, kept in the database so that every worker
//! shares them.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::GlobalArgs;
use crate::listening::keywords::PROTECTED;
use crate::listening::{CONFIRM_SETTING, Keywords, POSSIBLE_SETTING, normalise};
use crate::queue::{Heard, KeywordKind, Purpose};

#[derive(Debug, Args)]
pub struct OptOutArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(subcommand)]
    pub action: OptOutAction,
}

/// A keyword list.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum List {
    /// Opt-out: the sender is suppressed.
    Out,
    /// Opt-in: a keyword's (or onUserDisable's) suppression of the sender is lifted.
    In,
    /// Help: recorded.
    Help,
}

/// What to do with a possible opt-out ("Cancel my appointment").
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Possible {
    /// Record it and show it in status and reports (the default).
    Record,
    /// Act on it as on an opt-out.
    Act,
}

#[derive(Debug, Subcommand)]
pub enum OptOutAction {
    /// List the keywords, by list.
    List {
        /// One JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Put a word (or words: "stop all") on a list, in any case and with or without accents.
    Add {
        /// The word, as a recipient would write it.
        word: String,
        /// The list: out, in or help.
        #[arg(long = "as", value_name = "LIST")]
        list: List,
    },
    /// Take a word off its list (STOP, START and HELP stay).
    Remove {
        /// The word.
        word: String,
    },
    /// Show what a message would be read as, with the lists in the database.
    Test {
        /// The message, as a recipient would write it.
        text: String,
    },
    /// Whether a message that opens with an opt-out keyword and says more acts (every worker
    /// reads it from the database).
    Possible {
        /// record or act.
        what: Possible,
    },
    /// Answer each opt-out, once, with this text (a WhatsApp text inside the 24-hour window
    /// the opt-out opened, sent by the worker holding the campaign's token); `off` stops it.
    Confirm {
        /// The text, e.g. "You will get no more messages from us. Reply START to undo.", or off.
        text: String,
    },
}

pub async fn run(global: &GlobalArgs, args: &OptOutArgs) -> anyhow::Result<ExitCode> {
    let store = global.store(Purpose::Any).await?;
    match &args.action {
        OptOutAction::List { json } => {
            let words = store.keywords().await?;
            let possible = store.setting(POSSIBLE_SETTING).await?;
            let possible = possible.as_deref().unwrap_or("record");
            if *json {
                let of = |kind: KeywordKind| {
                    words
                        .iter()
                        .filter(|(_, k)| *k == kind)
                        .map(|(w, _)| w.to_uppercase())
                        .collect::<Vec<_>>()
                };
                let out = serde_json::json!({
                    "out": of(KeywordKind::Out),
                    "in": of(KeywordKind::In),
                    "help": of(KeywordKind::Help),
                    "possible_opt_outs": possible,
                });
                println!("{}", crate::terminal::json(&out));
            } else {
                for kind in KeywordKind::ALL {
                    let list: Vec<String> = words
                        .iter()
                        .filter(|(_, k)| k == kind)
                        .map(|(w, _)| w.to_uppercase())
                        .collect();
                    crate::show!("{:<5} {}", kind.as_str(), list.join(", "));
                }
                crate::show!("possible opt-outs: {possible}");
            }
        }
        OptOutAction::Add { word, list } => {
            let word = keyword(word)?;
            let kind = match list {
                List::Out => KeywordKind::Out,
                List::In => KeywordKind::In,
                List::Help => KeywordKind::Help,
            };
            anyhow::ensure!(
                !PROTECTED.contains(&word.as_str())
                    || Keywords::defaults().read(&word) == heard(kind),
                "{} cannot move to another list: STOP, START and HELP stay where they are",
                word.to_uppercase()
            );
            if store.set_keyword(&word, kind).await? {
                crate::show!("{} is now on the {kind} list", word.to_uppercase());
            } else {
                crate::show!("{} was already on the {kind} list", word.to_uppercase());
            }
        }
        OptOutAction::Remove { word } => {
            let word = keyword(word)?;
            anyhow::ensure!(
                !PROTECTED.contains(&word.as_str()),
                "{} cannot be removed: STOP, START and HELP are always keywords",
                word.to_uppercase()
            );
            anyhow::ensure!(
                store.remove_keyword(&word).await?,
                "{} is on no list: `campaign opt-out list` shows them",
                word.to_uppercase()
            );
            crate::show!("{} removed", word.to_uppercase());
        }
        OptOutAction::Test { text } => {
            let keywords = Keywords::new(store.keywords().await?);
            let verdict = keywords.read(text);
            let possible = store.setting(POSSIBLE_SETTING).await?;
            let acts = match verdict {
                Heard::OptOut => "the sender is suppressed",
                Heard::OptIn => {
                    "a keyword's or onUserDisable's suppression of the sender is lifted"
                }
                Heard::Help => "recorded",
                Heard::PossibleOptOut if possible.as_deref() == Some("act") => {
                    "the sender is suppressed (possible opt-outs act: `campaign opt-out possible record` to change)"
                }
                Heard::PossibleOptOut => {
                    "recorded and shown in status and reports (`campaign opt-out possible act` to act on it)"
                }
                Heard::Other => "recorded",
            };
            crate::show!(
                "\"{}\" reads as \"{}\": {}; {acts}",
                crate::terminal::safe(text),
                normalise(text),
                verdict
            );
        }
        OptOutAction::Confirm { text } => {
            let text = text.trim();
            anyhow::ensure!(
                !text.is_empty() && text.chars().count() <= 2000,
                "the confirmation must be 1 to 2000 characters (SendTextMessage's limit), or off"
            );
            let value = if text == "off" { "" } else { text };
            store.set_setting(CONFIRM_SETTING, value).await?;
            if value.is_empty() {
                crate::show!("opt-outs get no confirmation");
            } else {
                crate::show!(
                    "each opt-out gets, once, within the 24 hours it opened: \"{}\"",
                    crate::terminal::safe(value)
                );
            }
        }
        OptOutAction::Possible { what } => {
            let value = match what {
                Possible::Record => "record",
                Possible::Act => "act",
            };
            store.set_setting(POSSIBLE_SETTING, value).await?;
            crate::show!("possible opt-outs: {value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A word as the lists keep it, or why it cannot be one.
fn keyword(word: &str) -> anyhow::Result<String> {
    let word = normalise(word);
    anyhow::ensure!(
        !word.is_empty(),
        "a keyword needs a letter or a digit: punctuation, symbols and emoji around a word are ignored"
    );
    Ok(word)
}

fn heard(kind: KeywordKind) -> Heard {
    match kind {
        KeywordKind::Out => Heard::OptOut,
        KeywordKind::In => Heard::OptIn,
        KeywordKind::Help => Heard::Help,
    }
}
