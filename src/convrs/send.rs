//! Sends, as decisions: the client posts and answers with what came back; `Verdict` turns it
//! into what the dispatcher does (so the client does not depend on the policy).

use serde_json::Value;

use super::wire::{self, Command as _};
use super::{Client, Verdict};

impl Client {
    /// Sends a frozen request body (the command's fields as stored, without token); `extra`
    /// fields (e.g. the webhook ones, which are not frozen) are added to it.
    #[tracing::instrument(skip_all, fields(cmd = cmd))]
    pub async fn send_frozen(
        &self,
        cmd: &str,
        payload: &str,
        extra: Option<&serde_json::Map<String, Value>>,
    ) -> Verdict {
        let mut body: Value = match serde_json::from_str(payload) {
            Ok(v) => v,
            Err(e) => {
                return Verdict::Rejected {
                    reason: format!("stored payload is not JSON: {e}"),
                    code: None,
                    suppress: false,
                };
            }
        };
        if let (Some(extra), Value::Object(fields)) = (extra, &mut body) {
            fields.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let result = self.post_value(cmd, &body).await;
        if cmd == wire::SendTextMessage::CMD {
            return Verdict::of_text(result);
        }
        Verdict::of_send(result)
    }

    pub async fn send_whatsapp_template(&self, req: &wire::SendWhatsAppTemplate) -> Verdict {
        Verdict::of_send(self.call(req).await)
    }

    pub async fn send_sms(&self, req: &wire::SendSmsMessage) -> Verdict {
        Verdict::of_send(self.call(req).await)
    }
}
