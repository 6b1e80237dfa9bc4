//! The API's numeric codes: every error code of the document's tables, every ack code, and the
//! WhatsApp error codes that change what we do next.

use std::fmt;

macro_rules! error_codes {
    ($($variant:ident = $code:literal => $text:literal,)*) => {
        /// An `errorCode` from the API document (1000-3053). Codes the document does not list
        /// are kept as `Other` so nothing is lost.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* Other(i64) }

        impl ErrorCode {
            /// Every code the document lists, in its order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn from_code(code: i64) -> Self {
                match code { $($code => ErrorCode::$variant,)* other => ErrorCode::Other(other) }
            }

            pub fn code(self) -> i64 {
                match self { $(ErrorCode::$variant => $code,)* ErrorCode::Other(c) => c }
            }

            /// The document's description of the code.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)* ErrorCode::Other(_) => "error code not in the API document" }
            }
        }
    };
}

error_codes! {
    MissingToken = 1000 => "Missing API Token",
    InvalidToken = 1001 => "Invalid API Token",
    InvalidEndDate = 1002 => "Invalid end date passed to the API",
    InvalidStartDate = 1003 => "Invalid start date passed to the API",
    UnknownCommand = 1004 => "Unknown command passed to the API",
    UnknownUser = 1005 => "Unknown user (uid)",
    InvalidPhone = 1006 => "Invalid phone number",
    InvalidPhoneLength = 1007 => "Invalid phone number length",
    MissingChatbotId = 1008 => "Missing Chatbot ID",
    MissingPhone = 1009 => "Missing phone number",
    MissingMessage = 1010 => "Missing message",
    MissingRoute = 1011 => "Missing route",
    UnknownRoute = 1012 => "Unknown or invalid route",
    MessageTooLong = 1013 => "Message max characters reached (2000)",
    RouteTooLong = 1014 => "Route name too large (max 256)",
    UnknownChatbot = 1015 => "Unknown ChatBot ID",
    WrongChatbotType = 1016 => "Wrong chatbot type for this operation",
    InvalidJson = 1017 => "Invalid JSON object passed to API",
    WebsocketReused = 1018 => "Websocket connection reused (previous connection closed)",
    WebsocketConnectExpected = 1019 => "Websocket Connect expected as first command",
    UnknownMessageId = 1020 => "Unknown Message ID",
    StartAfterEnd = 1021 => "Start date is after end date",
    InvalidName = 1022 => "Invalid name format",
    InvalidNote = 1023 => "Invalid note format",
    InvalidEmail = 1024 => "Invalid email format",
    MissingUid = 1025 => "Missing uid",
    CannotCreateUser = 2000 => "Unable to create a user",
    UserChattingToAgent = 2001 => "User is chatting to an agent, message cannot be sent",
    InvalidAgentEmail = 2002 => "Unable to assign user to agent (invalid agent email)",
    InternalTimeout = 2003 => "Internal timeout (typically 5 seconds)",
    InternalError = 2004 => "Internal error",
    SmsSendingError = 2005 => "SMS sending error",
    Unsubscribed = 2006 => "User has been unsubscribed from automatic content",
    NumberRateLimit = 2007 => "Rate limit reached for this phone number",
    TokenRateLimit = 2008 => "Rate limit reached for this token",
    WhatsAppBusy = 2009 => "WhatsApp too busy to send more messages",
    NoTemplates = 3000 => "No WhatsApp Templates exist for this ChatBot",
    UnknownTemplate = 3001 => "No WhatsApp template exists for this name and language",
    WhatsAppApiError = 3002 => "WhatsApp API error (see whatsappErrorCode and whatsappErrorDesc)",
    MissingTemplateName = 3003 => "Missing WhatsApp Template name",
    MissingTemplateLanguage = 3004 => "Missing WhatsApp Template language field",
    InvalidTag = 3050 => "Invalid tag format",
    InvalidTagColor = 3051 => "Invalid tag color format (must be hex like #FF5733)",
    InvalidTagDescription = 3052 => "Invalid tag description format",
    UnknownTag = 3053 => "Tag does not exist",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.meaning())
    }
}

/// A message acknowledgement code. Ordered by progress: `Server < Sent < Delivered < Read <
/// Replied`; `NotOnWhatsApp` and `Error` are final failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ack {
    NotOnWhatsApp,
    Error,
    Server,
    Sent,
    Delivered,
    Read,
    Replied,
}

impl Ack {
    pub const ALL: [Ack; 7] = [
        Ack::NotOnWhatsApp,
        Ack::Error,
        Ack::Server,
        Ack::Sent,
        Ack::Delivered,
        Ack::Read,
        Ack::Replied,
    ];

    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            -2 => Ack::NotOnWhatsApp,
            -1 => Ack::Error,
            0 => Ack::Server,
            1 => Ack::Sent,
            2 => Ack::Delivered,
            3 => Ack::Read,
            10 => Ack::Replied,
            _ => return None,
        })
    }

    pub fn code(self) -> i64 {
        match self {
            Ack::NotOnWhatsApp => -2,
            Ack::Error => -1,
            Ack::Server => 0,
            Ack::Sent => 1,
            Ack::Delivered => 2,
            Ack::Read => 3,
            Ack::Replied => 10,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Ack::NotOnWhatsApp => "user does not exist on WhatsApp",
            Ack::Error => "an error occurred",
            Ack::Server => "message is at the server",
            Ack::Sent => "message has been sent",
            Ack::Delivered => "message has been delivered to the user's device",
            Ack::Read => "message has been seen/read by the user",
            Ack::Replied => "user has replied to the template message",
        }
    }

    /// No later ack can follow this one.
    pub fn is_final(self) -> bool {
        matches!(self, Ack::NotOnWhatsApp | Ack::Error | Ack::Replied)
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Ack::NotOnWhatsApp | Ack::Error)
    }

    /// Whether moving from `self` to `next` is progress. Final acks stay; a success never
    /// moves backwards, so replayed or reordered callbacks change nothing; and a message that
    /// reached the device (delivered, read) never becomes a failure.
    pub fn advances_to(self, next: Ack) -> bool {
        if self.is_final() {
            return false;
        }
        if next.is_failure() {
            return self.code() < Ack::Delivered.code();
        }
        next.code() > self.code()
    }
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.meaning())
    }
}

/// Failures another attempt of the same payload cannot fix: bad numbers, bad messages, bad
/// template parameters (API codes, and WhatsApp's as stored with their message). The verdict
/// rejects them; `campaign retry --failed` never queues them again.
pub const PERMANENT_FAILURES: [i64; 8] = [
    1006, // InvalidPhone
    1007, // InvalidPhoneLength
    1009, // MissingPhone
    1010, // MissingMessage
    1013, // MessageTooLong
    whatsapp::PARAM_COUNT_MISMATCH,
    whatsapp::PARAM_FORMAT_MISMATCH,
    whatsapp::PARAM_INVALID,
];

/// WhatsApp (Meta) error codes that appear as `whatsappErrorCode` with API error 3002.
pub mod whatsapp {
    pub const UNDELIVERABLE: i64 = 131026;
    pub const REENGAGEMENT: i64 = 131047;
    pub const SPAM_RATE_LIMIT: i64 = 131048;
    pub const ECOSYSTEM_ENGAGEMENT: i64 = 131049;
    pub const MARKETING_OPT_OUT: i64 = 131050;
    pub const PAIR_RATE_LIMIT: i64 = 131056;
    pub const RATE_LIMIT: i64 = 130429;
    pub const PARAM_COUNT_MISMATCH: i64 = 132000;
    pub const PARAM_FORMAT_MISMATCH: i64 = 132012;
    pub const TEMPLATE_PAUSED: i64 = 132015;
    pub const TEMPLATE_DISABLED: i64 = 132016;
    pub const PARAM_INVALID: i64 = 132018;

    /// A short description for the codes we know.
    pub fn describe(code: i64) -> &'static str {
        match code {
            UNDELIVERABLE => "Message undeliverable",
            REENGAGEMENT => "Re-engagement message",
            SPAM_RATE_LIMIT => "Spam rate limit hit",
            ECOSYSTEM_ENGAGEMENT => "Meta chose not to deliver (ecosystem engagement)",
            MARKETING_OPT_OUT => "User stopped marketing messages",
            PAIR_RATE_LIMIT => "Business/consumer pair rate limit hit",
            RATE_LIMIT => "Rate limit hit",
            PARAM_COUNT_MISMATCH => "Number of parameters does not match the template",
            PARAM_FORMAT_MISMATCH => "Parameter format does not match the template",
            TEMPLATE_PAUSED => "Template is paused",
            TEMPLATE_DISABLED => "Template is disabled",
            PARAM_INVALID => "Template parameter is invalid (newline, tab or more than 4 spaces)",
            _ => "WhatsApp error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_error_code_round_trips() {
        assert_eq!(ErrorCode::ALL.len(), 45);
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), *code);
            assert!(!matches!(code, ErrorCode::Other(_)));
        }
        assert_eq!(ErrorCode::from_code(4242), ErrorCode::Other(4242));
    }

    #[test]
    fn every_ack_code_round_trips_and_unknown_ones_are_refused() {
        for ack in Ack::ALL {
            assert_eq!(Ack::from_code(ack.code()), Some(ack));
        }
        assert_eq!(Ack::from_code(4), None);
    }

    #[test]
    fn acks_only_move_forward_and_failures_are_final() {
        assert!(Ack::Server.advances_to(Ack::Delivered));
        assert!(!Ack::Read.advances_to(Ack::Delivered));
        assert!(!Ack::Read.advances_to(Ack::Read));
        assert!(Ack::Read.advances_to(Ack::Replied));
        assert!(Ack::Sent.advances_to(Ack::Error));
        assert!(!Ack::Error.advances_to(Ack::Delivered));
        assert!(!Ack::NotOnWhatsApp.advances_to(Ack::Replied));
        assert!(!Ack::Replied.advances_to(Ack::Error));
    }

    #[test]
    fn a_delivered_or_read_message_never_becomes_a_failure() {
        for reached in [Ack::Delivered, Ack::Read] {
            assert!(!reached.advances_to(Ack::Error), "{reached}");
            assert!(!reached.advances_to(Ack::NotOnWhatsApp), "{reached}");
        }
    }
}
