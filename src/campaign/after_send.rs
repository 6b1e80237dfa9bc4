//! Context after the send (`[after_send]` in a campaign file): once a recipient's message is
//! accepted (or delivered), their Convrs user is tagged (SetUserTag) and given data
//! (SetUserData), so the organisation's agents see who got which campaign.
//!
//! ```toml
//! [after_send]
//! when = "delivered"            # or "accepted" (the default)
//! tag = "spring-sale-2026"      # 3 to 50 characters; must exist unless create_tag = true
//! create_tag = true
//! data = { campaign = "spring sale", order = "{order_id}" }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::definition::DefinitionError;
use super::render::Pattern;

/// When a recipient's context is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// The API accepted the message (it answered with a mid).
    Accepted,
    /// An ack says it reached the phone (2, 3 or 10).
    Delivered,
}

impl When {
    pub fn as_str(self) -> &'static str {
        match self {
            When::Accepted => "accepted",
            When::Delivered => "delivered",
        }
    }
}

/// The `[after_send]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterSendFile {
    pub when: Option<When>,
    pub tag: Option<String>,
    pub create_tag: Option<bool>,
    pub data: Option<BTreeMap<String, String>>,
}

/// A campaign's context after the send, checked. Stored with the campaign (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AfterSend {
    pub when: When,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default)]
    pub create_tag: bool,
    /// Keys and their `{column}` texts, rendered per recipient at load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<(String, String)>,
}

impl AfterSendFile {
    pub fn check(self) -> Result<AfterSend, DefinitionError> {
        let invalid = |m: String| DefinitionError::Invalid(format!("after_send: {m}"));
        let data: Vec<(String, String)> = self.data.unwrap_or_default().into_iter().collect();
        if self.tag.is_none() && data.is_empty() {
            return Err(invalid(
                "give a tag (tag = \"NAME\") or data (data = { key = \"{column}\" }), or leave the table out".into(),
            ));
        }
        if let Some(tag) = &self.tag {
            let chars = tag.chars().count();
            if !(3..=50).contains(&chars) {
                return Err(invalid(format!(
                    "tag {tag:?} has {chars} characters; the API takes 3 to 50 (error 3050)"
                )));
            }
        }
        if self.create_tag == Some(true) && self.tag.is_none() {
            return Err(invalid("create_tag = true needs a tag to create".into()));
        }
        Ok(AfterSend {
            when: self.when.unwrap_or(When::Accepted),
            tag: self.tag,
            create_tag: self.create_tag.unwrap_or(false),
            data,
        })
    }
}

/// A campaign's `data` values resolved against the source's columns, rendered per row.
#[derive(Debug)]
pub struct ContextData {
    data: Vec<(String, Pattern)>,
}

impl ContextData {
    pub fn new(after: &AfterSend, columns: &[String]) -> Result<Self, String> {
        let data = after
            .data
            .iter()
            .map(|(key, text)| {
                Pattern::resolve(text, columns)
                    .map(|p| (key.clone(), p))
                    .map_err(|e| format!("after_send.data.{key}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(ContextData { data })
    }

    /// The row's data as the JSON object SetUserData takes (`{}` when there is none: the job
    /// then only tags).
    pub fn render(&self, values: &[String]) -> String {
        let object: serde_json::Map<String, serde_json::Value> = self
            .data
            .iter()
            .map(|(k, p)| (k.clone(), serde_json::Value::String(p.render(values))))
            .collect();
        serde_json::Value::Object(object).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_neither_tag_nor_data_or_a_bad_tag_is_refused() {
        let err = AfterSendFile::default().check().unwrap_err().to_string();
        assert!(err.contains("give a tag"), "{err}");
        let short = AfterSendFile {
            tag: Some("ab".into()),
            ..Default::default()
        };
        assert!(short.check().unwrap_err().to_string().contains("3 to 50"));
    }

    #[test]
    fn data_renders_per_row_and_a_column_it_names_must_exist() {
        let after = AfterSendFile {
            data: Some(BTreeMap::from([("order".into(), "O-{id}".into())])),
            ..Default::default()
        }
        .check()
        .unwrap();
        assert_eq!(after.when, When::Accepted);
        let columns = ["phone".to_string(), "id".to_string()];
        let data = ContextData::new(&after, &columns).unwrap();
        assert_eq!(
            data.render(&["+44".into(), "7".into()]),
            r#"{"order":"O-7"}"#
        );
        let err = ContextData::new(&after, &columns[..1]).unwrap_err();
        assert!(err.starts_with("after_send.data.order:"), "{err}");
    }
}
