//! A campaign definition: where the recipients come from and what each one is sent. Built from
//! a campaign file (TOML) and/or command-line flags; flags win (`file`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::price::Price;
use crate::phone::Region;
use crate::timing::Timing;

mod file;
pub use file::{CampaignFile, SqlSource, UsersSource, parse_delimiter};

/// Why a definition could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("cannot read the campaign file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Sms,
    /// SendMessage: the number handed to a flow route configured on the server.
    Route,
    /// SendTextMessage: a free-form text to a user inside the 24-hour window their last
    /// message opened.
    Text,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Whatsapp,
        Channel::Sms,
        Channel::Route,
        Channel::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Sms => "sms",
            Channel::Route => "route",
            Channel::Text => "text",
        }
    }

    /// The channel as the store keeps it (`campaigns.channel`); anything else is WhatsApp.
    pub fn from_stored(stored: &str) -> Channel {
        match stored {
            "sms" => Channel::Sms,
            "route" => Channel::Route,
            "text" => Channel::Text,
            _ => Channel::Whatsapp,
        }
    }

    /// The platform tag of a Convrs uid on this channel (`3941-wa3-...`), where it has one.
    pub fn uid_tag(self) -> Option<&'static str> {
        match self {
            Channel::Whatsapp => Some("wa3"),
            Channel::Sms => Some("cms"),
            // A route's recipient has no uid we know; a text's is in its row.
            Channel::Route | Channel::Text => None,
        }
    }

    /// The API command that sends one message on this channel.
    pub fn send_command(self) -> &'static str {
        match self {
            Channel::Whatsapp => "SendWhatsAppTemplate",
            Channel::Sms => "SendSMSMessage",
            Channel::Route => "SendMessage",
            Channel::Text => "SendTextMessage",
        }
    }
}

/// What each recipient is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MessageSpec {
    /// A WhatsApp template; `params` are the source columns for `{{1}}`, `{{2}}`...
    Template {
        name: String,
        language: String,
        params: Vec<String>,
        clean_params: bool,
    },
    /// An SMS text with `{column}` placeholders; a row where one renders empty is rejected
    /// unless `allow_empty`. With `smart_encoding`, look-alikes of GSM-7 characters are
    /// replaced when that makes the rendered text GSM-7 (`smart.rs`).
    Sms {
        text: String,
        allow_empty: bool,
        smart_encoding: bool,
    },
    /// SendMessage to a flow route, with an optional `{column}` text and user data whose values
    /// are `{column}` texts. `via` is the channel the route's flow answers on, through the
    /// campaign's bot, when the operator names it: only then is the recipient's uid known (for
    /// reconciling an ambiguous answer).
    Route {
        route: String,
        text: Option<String>,
        userdata: Vec<(String, String)>,
        allow_empty: bool,
        via: Option<Channel>,
    },
    /// SendTextMessage with a `{column}` text, to the uid in `uid_column` (else the WhatsApp
    /// user of the row's number), only inside the 24-hour window less `margin_ms`.
    Text(super::text::TextSpec),
}

/// Where the recipients come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Csv(PathBuf),
    Sql {
        url: String,
        query: String,
        /// The operator accepts a role that can write (`allow_writable = true`).
        allow_writable: bool,
    },
    ConvrsUsers {
        bot_id: i64,
        created_after: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub name: String,
    pub bot_id: i64,
    pub message: MessageSpec,
    pub phone_column: String,
    #[serde(serialize_with = "region_code")]
    pub region: Option<Region>,
    pub dedupe_key: Option<String>,
    pub source: Source,
    /// The CSV delimiter, if given; otherwise it is found from the header line.
    pub delimiter: Option<u8>,
    /// What a message or SMS segment costs, for reports.
    pub price: Option<Price>,
    /// When it sends: schedule, expiry, how long a recipient is not sent again.
    pub timing: Timing,
    /// The agent the chat is assigned to (the API's `agentEmail`, templates and SMS).
    pub agent_email: Option<String>,
    /// Tag and data set on each recipient's Convrs user after the send.
    pub after_send: Option<super::after_send::AfterSend>,
}

fn region_code<S: serde::Serializer>(region: &Option<Region>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_some(&region.map(|r| r.code()))
}

impl Definition {
    pub fn channel(&self) -> Channel {
        match self.message {
            MessageSpec::Template { .. } => Channel::Whatsapp,
            MessageSpec::Sms { .. } => Channel::Sms,
            MessageSpec::Route { .. } => Channel::Route,
            MessageSpec::Text(_) => Channel::Text,
        }
    }
}
