//! What a WhatsApp send carries so that its delivery callbacks reach our receiver and name the
//! message and attempt they are about (`webhookURL`, `webhookPayload`, `webhookHeaders`).

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

/// The header every callback must carry, with the per-installation secret.
pub const SECRET_HEADER: &str = "X-Campaign-Secret";

/// Where Convrs should post callbacks, and the secret they must carry.
#[derive(Debug, Clone)]
pub struct CallbackTarget {
    pub url: String,
    pub secret: SecretString,
}

impl CallbackTarget {
    /// The fields a WhatsApp send carries so its callbacks reach us and name the message.
    /// The one place the webhook secret is exposed, to be sent.
    pub fn fields(&self, campaign: i64, message: i64, attempt: i64) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("webhookURL".into(), json!(self.url));
        fields.insert(
            "webhookPayload".into(),
            json!({ "campaign": campaign, "message": message, "attempt": attempt }),
        );
        fields.insert(
            "webhookHeaders".into(),
            json!([format!("{SECRET_HEADER}: {}", self.secret.expose_secret())]),
        );
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_fields_name_the_message_and_carry_the_secret() {
        let t = CallbackTarget {
            url: "http://x/callback".into(),
            secret: SecretString::from("s3"),
        };
        let f = t.fields(7, 42, 3);
        assert_eq!(
            f["webhookPayload"],
            json!({"campaign": 7, "message": 42, "attempt": 3})
        );
        assert_eq!(f["webhookHeaders"], json!(["X-Campaign-Secret: s3"]));
        assert!(!format!("{t:?}").contains("s3"));
    }
}
