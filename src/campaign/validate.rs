//! Row checks: a source row becomes a message ready to queue, or a reject naming its field.

use crate::phone::{PhoneNumber, Region};
use crate::queue::Reject;

use super::definition::{Definition, MessageSpec};
use super::render::Pattern;
use super::sms::{SmartEffect, SmsInfo};

/// The largest field we accept.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// One row of a source: its line (header = line 1) and its values in column order.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: u64,
    pub values: Vec<String>,
}

/// A row that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub line: u64,
    /// The recipient's number; a text to a user of another platform has none.
    pub phone: Option<PhoneNumber>,
    /// The recipient as the store keys it: the number, else the uid.
    pub recipient: String,
    /// The recipient's Convrs uid, for a text (its 24-hour window is checked at load).
    pub uid: Option<String>,
    pub dedupe_key: String,
    /// The request body without token, frozen.
    pub payload: String,
    /// What the recipient reads (for previews).
    pub text: String,
    pub sms: Option<SmsInfo>,
    /// What smart encoding did to this SMS, or would do if it were on.
    pub smart: Option<SmartEffect>,
    /// The recipient's zone, for a campaign with a send window.
    pub zone: Option<chrono_tz::Tz>,
    /// The data set on the recipient's user after the send (JSON), for a campaign with one.
    pub context: Option<String>,
}

/// The checks for one definition against one set of columns.
#[derive(Debug)]
pub struct RowChecker {
    columns: Vec<String>,
    /// The phone column (a text campaign to uids has none).
    phone: Option<usize>,
    region: Option<Region>,
    bot_id: i64,
    agent_email: Option<String>,
    body: Body,
    dedupe: Option<Pattern>,
    zones: Option<super::zones::ZoneFinder>,
    context: Option<super::after_send::ContextData>,
    /// What the operator should know of how the columns were read (a phone column found by
    /// its alias).
    pub notes: Vec<String>,
}

#[derive(Debug)]
enum Body {
    Template(super::template_body::TemplateBody),
    Sms(super::sms_body::SmsBody),
    Route(super::route::RouteBody),
    Text(super::text::TextBody),
}

impl RowChecker {
    /// Resolves the definition's columns. `template_body` is the template's body text (WhatsApp).
    /// Errors name what is missing and list the columns that exist.
    pub fn new(
        def: &Definition,
        columns: Vec<String>,
        template_body: Option<&str>,
    ) -> Result<Self, String> {
        let phone_column = super::columns::phone(&columns, &def.phone_column);
        let mut notes = vec![];
        let mut phone = None;
        // A text campaign reads its recipient itself (a uid column, else the phone's).
        if !matches!(def.message, MessageSpec::Text(_)) {
            let (i, note) = phone_column.clone()?;
            phone = Some(i);
            notes.extend(note);
        }
        let body = match &def.message {
            MessageSpec::Text(spec) => {
                let (body, text_notes) = super::text::TextBody::new(
                    spec,
                    &columns,
                    phone_column,
                    def.bot_id,
                    def.region,
                )?;
                notes.extend(text_notes);
                Body::Text(body)
            }
            MessageSpec::Template {
                name,
                language,
                params,
                clean_params,
            } => Body::Template(super::template_body::TemplateBody::new(
                (name, language),
                params,
                *clean_params,
                template_body,
                &columns,
            )?),
            MessageSpec::Sms {
                text,
                allow_empty,
                smart_encoding,
            } => Body::Sms(super::sms_body::SmsBody::new(
                text,
                *allow_empty,
                *smart_encoding,
                &columns,
            )?),
            MessageSpec::Route {
                route,
                text,
                userdata,
                allow_empty,
                ..
            } => Body::Route(super::route::RouteBody::new(
                route,
                text.as_deref(),
                userdata,
                *allow_empty,
                &columns,
            )?),
        };
        let dedupe = def
            .dedupe_key
            .as_deref()
            .map(|k| Pattern::resolve(k, &columns).map_err(|e| format!("dedupe_key: {e}")))
            .transpose()?;
        let zones = super::zones::ZoneFinder::new(&def.timing, &columns)?;
        let context = def
            .after_send
            .as_ref()
            .map(|a| super::after_send::ContextData::new(a, &columns))
            .transpose()?;
        Ok(RowChecker {
            zones,
            context,
            phone,
            region: def.region,
            bot_id: def.bot_id,
            agent_email: def.agent_email.clone(),
            body,
            dedupe,
            columns,
            notes,
        })
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Whether a row's recipient is a uid (a text campaign with a uid column).
    pub fn reads_uids(&self) -> bool {
        matches!(&self.body, Body::Text(body) if body.reads_uids())
    }

    /// The column a row's recipient is read from.
    pub fn recipient_column(&self) -> &str {
        match (&self.body, self.phone) {
            (Body::Text(body), _) => body.recipient_column(&self.columns),
            (_, Some(i)) => &self.columns[i],
            (_, None) => "",
        }
    }

    pub fn check(&self, record: &Record) -> Result<Checked, Reject> {
        let reject = |field: &str, reason: String| Reject {
            line: record.line,
            field: field.to_string(),
            reason,
        };
        if record.values.len() != self.columns.len() {
            return Err(reject(
                "",
                format!(
                    "the row has {} fields, the header has {}",
                    record.values.len(),
                    self.columns.len()
                ),
            ));
        }
        // No database takes a NUL in text (PostgreSQL refuses it): a reject, never a failed load.
        if let Some(i) = record.values.iter().position(|v| v.contains('\0')) {
            return Err(reject(
                &self.columns[i],
                "the field holds a NUL byte: is the file UTF-16 or not text? Save it as UTF-8 \
                 (CSV UTF-8 in Excel)"
                    .into(),
            ));
        }
        if let Some(i) = record.values.iter().position(|v| v.len() > MAX_FIELD_BYTES) {
            return Err(reject(
                &self.columns[i],
                "the field is longer than 64 KiB".into(),
            ));
        }
        let mut phone = None;
        if let Some(column) = self.phone {
            let number = PhoneNumber::parse(&record.values[column], self.region).map_err(|e| {
                reject(
                    &self.columns[column],
                    format!("'{}': {e}", record.values[column]),
                )
            })?;
            phone = Some(number);
        }
        let mut smart = None;
        let mut uid = None;
        let sender = (self.bot_id, self.agent_email.as_ref());
        let (payload, text, sms) = match &self.body {
            Body::Text(body) => {
                let rendered = body
                    .render(&self.columns, &record.values)
                    .map_err(|(field, reason)| reject(&field, reason))?;
                phone = rendered.phone;
                uid = Some(rendered.uid);
                (rendered.payload, rendered.text, None)
            }
            Body::Template(body) => {
                let (payload, text) = body
                    .render(sender, number(&phone), &self.columns, &record.values)
                    .map_err(|(field, reason)| reject(&field, reason))?;
                (payload, text, None)
            }
            Body::Sms(body) => {
                let rendered = body
                    .render(sender, number(&phone), &record.values)
                    .map_err(|(field, reason)| reject(&field, reason))?;
                smart = rendered.smart;
                (rendered.payload, rendered.text, Some(rendered.info))
            }
            Body::Route(body) => {
                let (payload, shown) = body
                    .render(number(&phone), &record.values)
                    .map_err(|(field, reason)| reject(&field, reason))?;
                (payload, shown, None)
            }
        };
        // The number, else (a text to another platform's user) the uid.
        let recipient = match (&phone, &uid) {
            (Some(number), _) => number.to_string(),
            (None, Some(uid)) => uid.clone(),
            (None, None) => unreachable!("every row has a number or a uid"),
        };
        let dedupe_key = match &self.dedupe {
            Some(pattern) => {
                let key = pattern.render(&record.values);
                if key.trim().is_empty() {
                    return Err(reject(
                        "dedupe_key",
                        "the dedupe key is empty for this row".into(),
                    ));
                }
                key
            }
            None => recipient.clone(),
        };
        let zone = match &self.zones {
            Some(zones) => Some(
                zones
                    .zone(phone.as_ref(), &record.values)
                    .map_err(|(field, reason)| reject(&field, reason))?,
            ),
            None => None,
        };
        Ok(Checked {
            line: record.line,
            phone,
            recipient,
            uid,
            dedupe_key,
            payload,
            text,
            sms,
            smart,
            zone,
            context: self.context.as_ref().map(|c| c.render(&record.values)),
        })
    }
}

/// The row's number, on every channel but text (`RowChecker::new` requires its column).
fn number(phone: &Option<PhoneNumber>) -> &PhoneNumber {
    phone.as_ref().expect("a phone column")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::definition::{CampaignFile, Channel};

    fn checker(clean: bool) -> RowChecker {
        let def = CampaignFile {
            bot_id: Some(3941),
            template: Some("t".into()),
            language: Some("en".into()),
            params: Some(vec!["name".into(), "order".into()]),
            clean_params: Some(clean),
            csv: Some("x.csv".into()),
            region: Some("GB".into()),
            ..Default::default()
        }
        .with(CampaignFile::default())
        .unwrap();
        RowChecker::new(
            &def,
            vec!["phone".into(), "name".into(), "order".into()],
            Some("Hi {{1}}, order {{2}}"),
        )
        .unwrap()
    }

    fn row(values: &[&str]) -> Record {
        Record {
            line: 2,
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_good_row_becomes_a_frozen_payload() {
        let c = checker(false)
            .check(&row(&["07911 123456", "Ann", "O-1"]))
            .unwrap();
        assert_eq!(c.recipient, "+447911123456");
        assert_eq!(c.text, "Hi Ann, order O-1");
        assert_eq!(c.dedupe_key, "+447911123456");
        let payload: serde_json::Value = serde_json::from_str(&c.payload).unwrap();
        assert_eq!(payload["parameters"][1]["text"], "O-1");
        assert_eq!(payload["templateName"], "t");
    }

    #[test]
    fn bad_rows_name_their_field() {
        let c = checker(false);
        assert_eq!(
            c.check(&row(&["12", "Ann", "O-1"])).unwrap_err().field,
            "phone"
        );
        assert_eq!(
            c.check(&row(&["07911 123456", " ", "O-1"]))
                .unwrap_err()
                .field,
            "name"
        );
        let tab = c.check(&row(&["07911 123456", "Ann", "O\t1"])).unwrap_err();
        assert!(
            tab.reason.contains("tab") && tab.field == "order",
            "{tab:?}"
        );
        assert!(
            c.check(&row(&["07911 123456", "Ann"]))
                .unwrap_err()
                .reason
                .contains("2 fields")
        );
    }

    #[test]
    fn clean_params_turns_whitespace_runs_into_one_space() {
        let c = checker(true)
            .check(&row(&["07911 123456", "Ann\n  Lee", "O-1"]))
            .unwrap();
        assert_eq!(c.text, "Hi Ann Lee, order O-1");
    }

    #[test]
    fn a_parameter_count_that_does_not_match_the_template_is_refused_up_front() {
        let def = CampaignFile {
            bot_id: Some(1),
            template: Some("t".into()),
            language: Some("en".into()),
            csv: Some("x".into()),
            ..Default::default()
        }
        .with(CampaignFile::default())
        .unwrap();
        let err = RowChecker::new(&def, vec!["phone".into()], Some("Hi {{1}}")).unwrap_err();
        assert!(err.contains("1 parameter"), "{err}");
        let _ = Channel::Sms;
    }
}
