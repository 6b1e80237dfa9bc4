//! Wire types: the requests and answers exactly as the API document spells them (camelCase,
//! `botID`, `webhookURL`, `CreatedDate`). The token is not part of these types; the client adds
//! it when it builds the envelope.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod template;
pub use template::{Template, placeholder_count, render_body};

/// A command the client can send: its `cmd` name and its fields.
pub trait Command: Serialize {
    const CMD: &'static str;
}

/// One body parameter of a WhatsApp template (`{"type":"text","text":"David"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateParameter {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

impl TemplateParameter {
    pub fn text(text: impl Into<String>) -> Self {
        TemplateParameter {
            kind: "text".into(),
            text: text.into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendWhatsAppTemplate {
    #[serde(rename = "botID")]
    pub bot_id: i64,
    pub phone: String,
    pub template_name: String,
    pub language: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub parameters: Vec<TemplateParameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_email: Option<String>,
    #[serde(rename = "webhookURL", skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_payload: Option<Value>,
    /// Headers for the callbacks, each `"Name: value"`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub webhook_headers: Vec<String>,
}

impl Command for SendWhatsAppTemplate {
    const CMD: &'static str = "SendWhatsAppTemplate";
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendSmsMessage {
    #[serde(rename = "botID")]
    pub bot_id: i64,
    pub phone: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_email: Option<String>,
}

impl Command for SendSmsMessage {
    const CMD: &'static str = "SendSMSMessage";
}

#[derive(Debug, Clone, Serialize)]
pub struct GetMessageDetails {
    pub mid: String,
}

impl Command for GetMessageDetails {
    const CMD: &'static str = "GetMessageDetails";
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetWhatsAppTemplate {
    #[serde(rename = "botID")]
    pub bot_id: i64,
    pub template_name: String,
    pub language: String,
}

impl Command for GetWhatsAppTemplate {
    const CMD: &'static str = "GetWhatsAppTemplate";
}

/// A free-form WhatsApp text to a user, legal within 24 hours of the user's last message; the
/// document's answer is `ok: 1` without a mid.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendTextMessage {
    pub uid: String,
    pub message: String,
}

impl Command for SendTextMessage {
    const CMD: &'static str = "SendTextMessage";
}

/// The number handed to a flow route configured on the server; answers with a mid, no uid.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SendMessage {
    pub phone: String,
    pub route: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub userdata: Option<serde_json::Map<String, Value>>,
}

impl Command for SendMessage {
    const CMD: &'static str = "SendMessage";
}

/// Adds an existing tag to a user.
#[derive(Debug, Clone, Serialize)]
pub struct SetUserTag {
    pub uid: String,
    pub tag: String,
}

impl Command for SetUserTag {
    const CMD: &'static str = "SetUserTag";
}

/// Creates a tag (3 to 50 characters).
#[derive(Debug, Clone, Serialize)]
pub struct CreateUserTag {
    pub tag: String,
}

impl Command for CreateUserTag {
    const CMD: &'static str = "CreateUserTag";
}

/// Merges data into a user's (no `overwrite`, no `route`).
#[derive(Debug, Clone, Serialize)]
pub struct SetUserData {
    pub uid: String,
    pub data: serde_json::Map<String, Value>,
}

impl Command for SetUserData {
    const CMD: &'static str = "SetUserData";
}

#[derive(Debug, Clone, Serialize)]
pub struct GetConversation {
    pub uid: String,
}

impl Command for GetConversation {
    const CMD: &'static str = "GetConversation";
}

#[derive(Debug, Clone, Serialize)]
pub struct GetUser {
    pub uid: String,
}

impl Command for GetUser {
    const CMD: &'static str = "GetUser";
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GetUsers {
    #[serde(rename = "botID", skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    /// ISO 8601; users created after this date.
    #[serde(rename = "CreatedDate", skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
}

impl Command for GetUsers {
    const CMD: &'static str = "GetUsers";
}

/// Every field any answer may carry. `ok` tells success; the rest depends on the command.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    pub ok: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_error_desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_iso2: Option<String>,
    #[serde(rename = "botID", default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
}

/// A user object (GetUser, GetUsers, events). Every field but `uid` may be missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct User {
    pub uid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub bot: String,
    #[serde(rename = "botID", default)]
    pub bot_id: i64,
    #[serde(default)]
    pub lang: String,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub url: String,
}

/// One message of a conversation (GetConversation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationMessage {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub mid: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub typ: String,
    /// "client", "agent" or "system".
    #[serde(default)]
    pub sender: String,
    /// ISO 8601.
    #[serde(default)]
    pub dt: String,
    #[serde(default)]
    pub bot: String,
}

/// The answer to GetMessageDetails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDetails {
    pub uid: Option<String>,
    pub bot_id: Option<i64>,
    pub ack: i64,
}

/// A delivery-status callback POSTed to `webhookURL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Callback {
    pub ok: i64,
    pub mid: String,
    #[serde(default)]
    pub uid: String,
    #[serde(rename = "botID", default)]
    pub bot_id: i64,
    pub ack: i64,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_payload: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_whatsapp_template_uses_the_documents_field_names() {
        let req = SendWhatsAppTemplate {
            bot_id: 3941,
            phone: "+447922029419".into(),
            template_name: "order_update".into(),
            language: "en".into(),
            parameters: vec![TemplateParameter::text("David")],
            webhook_url: Some("http://x/cb".into()),
            webhook_payload: Some(serde_json::json!({"m": 1})),
            webhook_headers: vec!["X-Secret: s".into()],
            ..Default::default()
        };
        let v = serde_json::to_value(&req).unwrap();
        for key in [
            "botID",
            "phone",
            "templateName",
            "language",
            "parameters",
            "webhookURL",
            "webhookPayload",
            "webhookHeaders",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(
            v["parameters"][0],
            serde_json::json!({"type": "text", "text": "David"})
        );
        assert!(v.get("agentEmail").is_none());
    }

    #[test]
    fn answers_read_the_documents_examples() {
        let a: Answer = serde_json::from_str(
            r#"{"ok":0,"cmd":"SendWhatsAppTemplate","error":"WhatsApp error","errorCode":3002,
                "whatsappErrorCode":131047,"whatsappErrorDesc":"Re-engagement message"}"#,
        )
        .unwrap();
        assert_eq!(
            (a.error_code, a.whatsapp_error_code),
            (Some(3002), Some(131047))
        );
        let d: Answer = serde_json::from_str(
            r#"{"ok":1,"cmd":"GetMessageDetails","uid":"3941-wa3-44151999999","botID":3941,"ack":3}"#,
        )
        .unwrap();
        assert_eq!((d.bot_id, d.ack), (Some(3941), Some(3)));
    }
}
