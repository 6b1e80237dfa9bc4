//! A route campaign's rows: SendMessage hands each number to a flow route configured on the
//! server, with an optional text and user data rendered from the row's columns.

use serde_json::{Map, Value};

use super::definition::{Channel, DefinitionError, MessageSpec};
use super::render::Pattern;
use crate::convrs::wire::SendMessage;
use crate::phone::PhoneNumber;

/// The most characters SendMessage takes in `message` (error 1013).
const MAX_MESSAGE: usize = 2000;

/// A route campaign's message: the route (1 to 256 characters, as the API takes it), an
/// optional text, user data, and the channel the route answers on.
pub fn message(
    route: Option<String>,
    text: Option<String>,
    userdata: Option<std::collections::BTreeMap<String, String>>,
    allow_empty: Option<bool>,
    via: Option<Channel>,
) -> Result<MessageSpec, DefinitionError> {
    let invalid = |m: &str| DefinitionError::Invalid(m.to_string());
    let route = route
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| invalid("no route: a route campaign names its flow route (route = \"welcome\", or --route NAME)"))?;
    if route.chars().count() > 256 {
        return Err(invalid(
            "the route name is longer than the API takes (256 characters, error 1014)",
        ));
    }
    if via == Some(Channel::Route) {
        return Err(invalid(
            "route_via names the channel the route answers on: whatsapp or sms",
        ));
    }
    Ok(MessageSpec::Route {
        route,
        text,
        userdata: userdata.unwrap_or_default().into_iter().collect(),
        allow_empty: allow_empty.unwrap_or(false),
        via,
    })
}

/// A route campaign's message, its placeholders resolved against the source's columns.
#[derive(Debug)]
pub struct RouteBody {
    route: String,
    text: Option<Pattern>,
    userdata: Vec<(String, Pattern)>,
    allow_empty: bool,
}

impl RouteBody {
    pub fn new(
        route: &str,
        text: Option<&str>,
        userdata: &[(String, String)],
        allow_empty: bool,
        columns: &[String],
    ) -> Result<Self, String> {
        let text = text
            .map(|t| Pattern::resolve(t, columns).map_err(|e| format!("message: {e}")))
            .transpose()?;
        let userdata = userdata
            .iter()
            .map(|(key, value)| {
                Pattern::resolve(value, columns)
                    .map(|p| (key.clone(), p))
                    .map_err(|e| format!("userdata.{key}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(RouteBody {
            route: route.to_string(),
            text,
            userdata,
            allow_empty,
        })
    }

    /// The frozen request and what the recipient is shown (the text, else the route), or the
    /// field and reason the row is rejected for.
    pub fn render(
        &self,
        phone: &PhoneNumber,
        values: &[String],
    ) -> Result<(String, String), (String, String)> {
        let empty = |field: String, column: &str| {
            (
                field,
                format!(
                    "{{{column}}} is empty for this row; fill it in, or pass --allow-empty \
                     (allow_empty = true in a campaign file) to send it so"
                ),
            )
        };
        let mut message = None;
        if let Some(pattern) = &self.text {
            if !self.allow_empty
                && let Some(column) = pattern.empty_placeholder(values)
            {
                return Err(empty("message".into(), column));
            }
            let text = pattern.render(values);
            let chars = text.chars().count();
            if chars > MAX_MESSAGE {
                return Err((
                    "message".into(),
                    format!("the message has {chars} characters; the limit is {MAX_MESSAGE}"),
                ));
            }
            message = Some(text);
        }
        let mut userdata = Map::new();
        for (key, pattern) in &self.userdata {
            if !self.allow_empty
                && let Some(column) = pattern.empty_placeholder(values)
            {
                return Err(empty(format!("userdata.{key}"), column));
            }
            userdata.insert(key.clone(), Value::String(pattern.render(values)));
        }
        let shown = message
            .clone()
            .unwrap_or_else(|| format!("(handed to route {})", self.route));
        let request = SendMessage {
            phone: phone.to_string(),
            route: self.route.clone(),
            message,
            userdata: (!userdata.is_empty()).then_some(userdata),
        };
        let payload = serde_json::to_string(&request).expect("requests serialise");
        Ok((payload, shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<String> {
        ["phone", "name", "plan"].map(String::from).to_vec()
    }

    #[test]
    fn the_text_and_user_data_render_from_the_row() {
        let body = RouteBody::new(
            "welcome",
            Some("Hi {name}"),
            &[("plan".into(), "{plan}".into())],
            false,
            &columns(),
        )
        .unwrap();
        let phone = PhoneNumber::parse("+447911123456", None).unwrap();
        let values = ["+447911123456", "Ann", "gold"].map(String::from);
        let (payload, shown) = body.render(&phone, &values).unwrap();
        let v: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"phone": "+447911123456", "route": "welcome",
                "message": "Hi Ann", "userdata": {"plan": "gold"}})
        );
        assert_eq!(shown, "Hi Ann");
    }

    #[test]
    fn an_empty_user_data_value_is_a_reject_naming_its_key() {
        let body = RouteBody::new(
            "welcome",
            None,
            &[("plan".into(), "{plan}".into())],
            false,
            &columns(),
        )
        .unwrap();
        let phone = PhoneNumber::parse("+447911123456", None).unwrap();
        let values = ["+447911123456", "Ann", ""].map(String::from);
        let (field, reason) = body.render(&phone, &values).unwrap_err();
        assert_eq!(field, "userdata.plan");
        assert!(reason.contains("{plan} is empty"), "{reason}");
    }

    #[test]
    fn an_unknown_column_in_user_data_names_the_key() {
        let err = RouteBody::new(
            "w",
            None,
            &[("tier".into(), "{tier}".into())],
            false,
            &columns(),
        )
        .unwrap_err();
        assert!(err.starts_with("userdata.tier:"), "{err}");
    }
}
