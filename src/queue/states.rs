//! Every value the store keeps in a state-like column, as Rust enums: one list each, from which
//! the migrations' CHECK constraints are written (a test compares them) and the SQL fragments
//! of the rules ("to send", "reached") are built. A value read back that is not on its list is
//! an error naming it, never a default.

use super::StoreError;

/// An enum stored as text: its variants, their text, and a parse that fails loudly.
macro_rules! stored {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the order of the column's CHECK constraint.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// What the store holds for it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value the store holds; anything else is `StoreError::Unknown` naming it.
            pub fn parse(text: &str) -> Result<Self, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Unknown {
                        what: $what,
                        value: other.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        /// Serialised as the store holds it.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl Listed for $name {
            fn text(self) -> &'static str {
                self.as_str()
            }
        }
    };
}

/// An enum stored as text, for building SQL lists of its values.
pub trait Listed: Copy {
    fn text(self) -> &'static str;
}

/// `'a', 'b'`: the values as an SQL list (the text is ours, never a user's).
pub fn sql_list<T: Listed>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", v.text()))
        .collect::<Vec<_>>()
        .join(", ")
}

stored!(
    /// Where a message is.
    MessageState, "message state" {
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Replied = "replied",
        Failed = "failed",
        /// Maybe sent: never resent on a guess.
        Uncertain = "uncertain",
        /// Not sent before its max_age or expires_at.
        Expired = "expired",
        Cancelled = "cancelled",
    }
);

impl MessageState {
    /// Not settled yet: still to be sent, or maybe sent (a campaign with any of these has work).
    pub const TO_SEND: &'static [MessageState] = &[
        MessageState::Queued,
        MessageState::Sending,
        MessageState::Uncertain,
    ];

    /// Accepted by the API and not failed since.
    pub const REACHED: &'static [MessageState] = &[
        MessageState::Sent,
        MessageState::Delivered,
        MessageState::Read,
        MessageState::Replied,
    ];

    /// Reached the recipient's device.
    pub const DELIVERED: &'static [MessageState] = &[
        MessageState::Delivered,
        MessageState::Read,
        MessageState::Replied,
    ];

    /// Seen by the recipient.
    pub const SEEN: &'static [MessageState] = &[MessageState::Read, MessageState::Replied];

    /// Final without a send: nothing more will happen to them.
    pub const NEVER_SENT: &'static [MessageState] = &[
        MessageState::Failed,
        MessageState::Cancelled,
        MessageState::Expired,
    ];
}

stored!(
    /// Where a campaign is.
    CampaignState, "campaign state" {
        Loading = "loading",
        /// Waiting for its token's holder.
        Queued = "queued",
        Running = "running",
        /// Every message sent; acks may still come.
        Sent = "sent",
        /// Sent and followed until its acks settled.
        Finished = "finished",
        /// Messages wait for their send window or the token's daily cap.
        Deferred = "deferred",
        Paused = "paused",
        /// The token was stopped (a stop-token verdict).
        Stopped = "stopped",
        Interrupted = "interrupted",
        Cancelled = "cancelled",
    }
);

impl CampaignState {
    /// Meant to be sent: queued for a sender, being sent (or left so by a sender that died),
    /// or waiting for deferred messages.
    pub const TO_SEND: &'static [CampaignState] = &[
        CampaignState::Queued,
        CampaignState::Running,
        CampaignState::Deferred,
    ];
}

stored!(
    /// A scheduled campaign's batch (one per run).
    BatchState, "batch state" {
        Loading = "loading",
        Loaded = "loaded",
        /// Runs missed beyond the grace.
        Skipped = "skipped",
    }
);

stored!(
    /// What the operator said (`campaign pause|cancel`).
    Control, "campaign control" {
        Paused = "paused",
        Cancelled = "cancelled",
    }
);

stored!(
    /// Who holds a token: a long-running worker, or one `run` of one campaign.
    Role, "token lease role" {
        Worker = "worker",
        Run = "run",
    }
);

stored!(
    /// The state an attempt left its message in.
    AttemptOutcome, "attempt outcome" {
        Sent = "sent",
        /// Back to the queue: a retry, a request that never left, or a stop.
        Queued = "queued",
        Failed = "failed",
        Uncertain = "uncertain",
    }
);

stored!(
    /// What a client's message says, read against the keyword lists (`listening::keywords`).
    Heard, "reply verdict" {
        /// It is an opt-out keyword: the sender is suppressed.
        OptOut = "opt-out",
        /// It is an opt-in keyword: a keyword's (or onUserDisable's) suppression is lifted.
        OptIn = "opt-in",
        Help = "help",
        /// Its first word is an opt-out keyword but it says more ("Cancel my appointment").
        PossibleOptOut = "possible-opt-out",
        Other = "other",
    }
);

stored!(
    /// Which list an opt-out keyword is on.
    KeywordKind, "keyword kind" {
        Out = "out",
        In = "in",
        Help = "help",
    }
);

stored!(
    /// What brought a client's message to us.
    InboundSource, "inbound source" {
        /// An `onUserConversation` event on the webhook (`/events`).
        Event = "event",
        /// The same event over the API's WebSocket.
        WebSocket = "websocket",
        /// GetConversation after an ack 10 (replied).
        Reply = "reply",
        /// GetConversation in the SMS reply sweep.
        Sweep = "sweep",
    }
);

/// `column IN ('a', 'b')`.
pub fn is_in<T: Listed>(column: &str, values: &[T]) -> String {
    format!("{column} IN ({})", sql_list(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each engine's migration 0014 carries the CHECK constraint of each column, written from
    /// the lists above: a value added to an enum and not to the schema (or the other way) fails
    /// here instead of at a customer's first write of it.
    #[test]
    fn the_schema_checks_the_same_lists_as_the_enums() {
        let lists = [
            ("campaigns", "state", sql_list(CampaignState::ALL)),
            ("campaigns", "control", sql_list(Control::ALL)),
            ("messages", "state", sql_list(MessageState::ALL)),
            ("attempts", "outcome", sql_list(AttemptOutcome::ALL)),
            ("token_leases", "role", sql_list(Role::ALL)),
            ("batches", "state", sql_list(BatchState::ALL)),
        ];
        let sqlite = include_str!("../../migrations/sqlite/0014_typed_times.sql");
        let postgres = include_str!("../../migrations/postgres/0014_typed_times.sql");
        for (table, column, list) in lists {
            let check = format!("CHECK ({column} IN ({list}))");
            let sqlite_table = sqlite
                .split(&format!("CREATE TABLE new_{table} ("))
                .nth(1)
                .and_then(|rest| rest.split(");").next())
                .unwrap_or_else(|| panic!("SQLite's 0014 rebuilds {table}"));
            assert!(
                sqlite_table.contains(&check),
                "SQLite's {table}.{column} checks {check}"
            );
            let postgres_check = format!("ADD CONSTRAINT {table}_{column}_check {check}");
            assert!(
                postgres.contains(&postgres_check),
                "PostgreSQL has {postgres_check}"
            );
            assert_eq!(
                sqlite.matches(&format!("CHECK ({column} IN (")).count(),
                postgres.matches(&format!("CHECK ({column} IN (")).count(),
                "as many checks of {column} on both engines"
            );
        }
    }

    /// Migration 0016's tables check the lists of what recipients write.
    #[test]
    fn the_listening_tables_check_the_same_lists_as_the_enums() {
        let checks = [
            format!("CHECK (verdict IN ({}))", sql_list(Heard::ALL)),
            format!("CHECK (kind IN ({}))", sql_list(KeywordKind::ALL)),
            format!("CHECK (source IN ({}))", sql_list(InboundSource::ALL)),
            format!(
                "CHECK (source IN ({}))",
                sql_list(&[InboundSource::Reply, InboundSource::Sweep])
            ),
        ];
        for sql in [
            include_str!("../../migrations/sqlite/0016_listening.sql"),
            include_str!("../../migrations/postgres/0016_listening.sql"),
        ] {
            for check in &checks {
                assert!(sql.contains(check), "{check}");
            }
        }
        // The confirmations' states are `Confirmed`'s (and `sending`, a claim's).
        for sql in [
            include_str!("../../migrations/sqlite/0019_confirmations.sql"),
            include_str!("../../migrations/postgres/0019_confirmations.sql"),
        ] {
            assert!(
                sql.contains("CHECK (state IN ('due', 'sending', 'sent', 'failed', 'expired'))")
            );
        }
    }

    /// The finish statement writes an attempt's outcome as its message's state too.
    #[test]
    fn every_attempt_outcome_is_a_message_state() {
        for outcome in AttemptOutcome::ALL {
            assert_eq!(
                MessageState::parse(outcome.as_str()).unwrap().as_str(),
                outcome.as_str()
            );
        }
        assert_eq!(
            format!("{:<8}|", Role::Run),
            "run     |",
            "Display pads, for tables"
        );
    }

    #[test]
    fn an_unknown_value_is_an_error_naming_it() {
        let err = MessageState::parse("sendng").unwrap_err();
        assert_eq!(
            err.to_string(),
            StoreError::Unknown {
                what: "message state",
                value: "sendng".into()
            }
            .to_string()
        );
        assert!(err.to_string().contains("sendng"), "{err}");
        assert_eq!(Role::parse("run").unwrap(), Role::Run);
        assert!(
            Role::parse("Run").is_err(),
            "no guessing: 'Run' is not a role"
        );
    }
}
