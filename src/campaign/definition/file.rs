//! The campaign file (TOML) and the command-line flags laid over it (a flag given wins),
//! checked into a `Definition`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Channel, Definition, DefinitionError, MessageSpec, Source};
use crate::campaign::price::Price;
use crate::phone::Region;
use crate::timing::TimingFile;

/// The campaign file's keys. Unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    pub name: Option<String>,
    pub channel: Option<Channel>,
    pub bot_id: Option<i64>,
    pub template: Option<String>,
    pub language: Option<String>,
    pub params: Option<Vec<String>>,
    pub message: Option<String>,
    pub phone_column: Option<String>,
    pub region: Option<String>,
    pub dedupe_key: Option<String>,
    pub clean_params: Option<bool>,
    pub allow_empty: Option<bool>,
    pub smart_encoding: Option<bool>,
    pub delimiter: Option<String>,
    pub csv: Option<PathBuf>,
    pub sql: Option<SqlSource>,
    pub convrs_users: Option<UsersSource>,
    pub price: Option<Price>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub grace: Option<String>,
    pub dedupe_window: Option<String>,
    pub max_age: Option<String>,
    pub expires_at: Option<String>,
    pub send_window: Option<crate::timing::window::WindowFile>,
    pub timezone_column: Option<String>,
    pub daily_limit: Option<u32>,
    pub frequency_cap: Option<crate::timing::FrequencyCapFile>,
    pub agent_email: Option<String>,
    pub route: Option<String>,
    pub userdata: Option<std::collections::BTreeMap<String, String>>,
    pub route_via: Option<Channel>,
    pub after_send: Option<crate::campaign::after_send::AfterSendFile>,
    pub uid_column: Option<String>,
    pub window_margin: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSource {
    pub url: String,
    pub query: String,
    /// Run the query even as a role that can write (a superuser, or one with write rights).
    pub allow_writable: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersSource {
    pub bot_id: i64,
    pub created_after: Option<String>,
}

impl CampaignFile {
    pub fn read(path: &Path) -> Result<Self, DefinitionError> {
        let text = std::fs::read_to_string(path).map_err(|error| DefinitionError::Read {
            path: path.into(),
            error,
        })?;
        let mut file: CampaignFile = toml::from_str(&text).map_err(|e| DefinitionError::Toml {
            path: path.into(),
            message: e.to_string(),
        })?;
        // A campaign is known by its name: by default, the campaign file's.
        if file.name.is_none() {
            file.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        // A relative CSV path is relative to the campaign file.
        if let Some(csv) = &file.csv
            && csv.is_relative()
        {
            file.csv = Some(path.parent().unwrap_or(Path::new(".")).join(csv));
        }
        Ok(file)
    }

    /// Lays `flags` over this file (a flag that is given wins) and checks the result.
    pub fn with(mut self, flags: CampaignFile) -> Result<Definition, DefinitionError> {
        macro_rules! overlay { ($($f:ident),*) => { $( if flags.$f.is_some() { self.$f = flags.$f; } )* } }
        overlay!(
            name,
            channel,
            bot_id,
            template,
            language,
            params,
            message,
            phone_column,
            region,
            dedupe_key,
            clean_params,
            allow_empty,
            smart_encoding,
            delimiter,
            csv,
            route,
            uid_column
        );
        self.build()
    }

    fn build(mut self) -> Result<Definition, DefinitionError> {
        let invalid = |m: &str| DefinitionError::Invalid(m.to_string());
        let channel = self.channel.unwrap_or(Channel::Whatsapp);
        let bot_id = self
            .bot_id
            .ok_or_else(|| invalid("no bot: pass --bot ID (or bot_id = N in the campaign file)"))?;
        if channel != Channel::Route
            && (self.route.is_some() || self.userdata.is_some() || self.route_via.is_some())
        {
            return Err(invalid(
                "route, userdata and route_via are for channel = \"route\" (SendMessage)",
            ));
        }
        if channel != Channel::Text && (self.uid_column.is_some() || self.window_margin.is_some()) {
            return Err(invalid(
                "uid_column and window_margin are for channel = \"text\" (SendTextMessage)",
            ));
        }
        if channel != Channel::Sms && self.smart_encoding == Some(true) {
            return Err(invalid(
                "smart_encoding is for SMS: only an SMS is sent in GSM-7 or UCS-2 segments",
            ));
        }
        let message = self.message_spec(channel)?;
        let source = self.source()?;
        let region = self
            .region
            .map(|r| Region::parse(&r))
            .transpose()
            .map_err(|e| DefinitionError::Invalid(e.to_string()))?;
        let name = self.name.unwrap_or_else(|| match &source {
            Source::Csv(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Source::Sql { .. } => "sql campaign".into(),
            Source::ConvrsUsers { .. } => "convrs users campaign".into(),
        });
        let delimiter = self.delimiter.as_deref().map(parse_delimiter).transpose()?;
        let price = self.price.map(|p| p.check(channel)).transpose()?;
        let timing = TimingFile {
            schedule: self.schedule,
            timezone: self.timezone,
            grace: self.grace,
            dedupe_window: self.dedupe_window,
            max_age: self.max_age,
            expires_at: self.expires_at,
            send_window: self.send_window,
            timezone_column: self.timezone_column,
            daily_limit: self.daily_limit,
            frequency_cap: self.frequency_cap,
        }
        .check()
        .map_err(DefinitionError::Invalid)?;
        if timing.dedupe_window_ms.is_some() && self.dedupe_key.is_none() {
            return Err(invalid(
                "dedupe_window is how long a dedupe_key keeps a recipient from being sent again: add dedupe_key = \"{phone}\" (or another column)",
            ));
        }
        Ok(Definition {
            name,
            bot_id,
            message,
            phone_column: self.phone_column.unwrap_or_else(|| "phone".into()),
            region,
            dedupe_key: self.dedupe_key,
            source,
            delimiter,
            price,
            timing,
            agent_email: self.agent_email.map(check_agent_email).transpose()?,
            after_send: self.after_send.map(|a| a.check()).transpose()?,
        })
    }

    /// What each recipient is sent, by channel; the keys it takes are taken out of the file.
    fn message_spec(&mut self, channel: Channel) -> Result<MessageSpec, DefinitionError> {
        let invalid = |m: &str| DefinitionError::Invalid(m.to_string());
        Ok(match channel {
            Channel::Route => crate::campaign::route::message(
                self.route.take(),
                self.message.take(),
                self.userdata.take(),
                self.allow_empty,
                self.route_via.take(),
            )?,
            Channel::Text => {
                if self.template.is_some() {
                    return Err(invalid(
                        "--template is for WhatsApp templates; a text campaign sends --message TEXT",
                    ));
                }
                crate::campaign::text::message(
                    self.message.take(),
                    self.uid_column.take(),
                    self.window_margin.take(),
                    self.allow_empty,
                )?
            }
            Channel::Whatsapp => {
                if self.message.is_some() {
                    return Err(invalid(
                        "--message is for SMS; a WhatsApp campaign sends --template",
                    ));
                }
                MessageSpec::Template {
                    name: self.template.take().ok_or_else(|| {
                        invalid("no template: pass --template NAME --language CODE")
                    })?,
                    language: self.language.take().ok_or_else(|| {
                        invalid("no template language: pass --language CODE (e.g. en)")
                    })?,
                    params: self.params.take().unwrap_or_default(),
                    clean_params: self.clean_params.unwrap_or(false),
                }
            }
            Channel::Sms => {
                if self.template.is_some() {
                    return Err(invalid(
                        "--template is for WhatsApp; an SMS campaign sends --message TEXT",
                    ));
                }
                MessageSpec::Sms {
                    text: self
                        .message
                        .take()
                        .ok_or_else(|| invalid("no message: pass --message TEXT"))?,
                    allow_empty: self.allow_empty.unwrap_or(false),
                    smart_encoding: self.smart_encoding.unwrap_or(false),
                }
            }
        })
    }

    /// Where the recipients come from: exactly one of csv, sql and convrs_users.
    fn source(&mut self) -> Result<Source, DefinitionError> {
        let invalid = |m: &str| DefinitionError::Invalid(m.to_string());
        let sources = [
            self.csv.is_some(),
            self.sql.is_some(),
            self.convrs_users.is_some(),
        ];
        Ok(
            match (self.csv.take(), self.sql.take(), self.convrs_users.take()) {
                _ if sources.iter().filter(|s| **s).count() > 1 => {
                    return Err(invalid("name one source: csv, sql or convrs_users"));
                }
                (Some(csv), _, _) => Source::Csv(std::path::absolute(&csv).unwrap_or(csv)),
                (_, Some(sql), _) => Source::Sql {
                    url: sql.url,
                    query: sql.query,
                    allow_writable: sql.allow_writable.unwrap_or(false),
                },
                (_, _, Some(u)) => {
                    if let Some(after) = &u.created_after
                        && after != crate::campaign::users::SINCE_LAST_RUN
                        && crate::clock::parse_iso(after).is_none()
                    {
                        return Err(DefinitionError::Invalid(format!(
                            "convrs_users.created_after {after:?} is not a date: give one such as \"2024-01-01\" or \"2024-01-01T09:00:00Z\", or \"{}\" for the users created since the campaign's last scheduled run",
                            crate::campaign::users::SINCE_LAST_RUN
                        )));
                    }
                    Source::ConvrsUsers {
                        bot_id: u.bot_id,
                        created_after: u.created_after,
                    }
                }
                _ => {
                    return Err(invalid(
                        "no source: give a CSV file, or csv/sql/convrs_users in the campaign file",
                    ));
                }
            },
        )
    }
}

/// An agent's e-mail address as the API would take it: one `@` with text on both sides, no
/// spaces. The API checks it for real (2002 stops the campaign); this catches a typo before a
/// single message is queued.
fn check_agent_email(email: String) -> Result<String, DefinitionError> {
    let email = email.trim().to_string();
    let plausible = match email.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if plausible && email.len() <= 254 {
        Ok(email)
    } else {
        Err(DefinitionError::Invalid(format!(
            "agent_email {email:?} is not an e-mail address; give the address of the agent the chats are assigned to, such as \"john@company.com\""
        )))
    }
}

/// `,`, `;`, `|`, `tab` (or a tab character), or any other single ASCII character.
pub fn parse_delimiter(given: &str) -> Result<u8, DefinitionError> {
    match given {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        one if one.len() == 1 && one.is_ascii() && one != "\"" => Ok(one.as_bytes()[0]),
        other => Err(DefinitionError::Invalid(format!(
            "delimiter '{other}': give one character, such as ',' ';' '|', or tab"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> CampaignFile {
        CampaignFile {
            bot_id: Some(3941),
            template: Some("order_confirmation".into()),
            language: Some("en".into()),
            csv: Some("x.csv".into()),
            ..Default::default()
        }
    }

    #[test]
    fn flags_alone_define_a_whatsapp_campaign_named_after_the_file() {
        let def = CampaignFile::default().with(flags()).unwrap();
        assert_eq!(def.name, "x");
        assert_eq!(def.channel(), Channel::Whatsapp);
        assert_eq!(def.phone_column, "phone");
    }

    #[test]
    fn an_unknown_key_in_the_campaign_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "bot_id = 1\ntemplat = \"x\"\n").unwrap();
        let err = CampaignFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("templat") && err.contains("c.toml"), "{err}");
    }

    #[test]
    fn missing_pieces_say_which_flag_to_pass() {
        let mut f = flags();
        f.bot_id = None;
        assert!(
            CampaignFile::default()
                .with(f)
                .unwrap_err()
                .to_string()
                .contains("--bot")
        );
        let sms = CampaignFile {
            channel: Some(Channel::Sms),
            template: None,
            ..flags()
        };
        assert!(
            CampaignFile::default()
                .with(sms)
                .unwrap_err()
                .to_string()
                .contains("--message")
        );
    }
}
