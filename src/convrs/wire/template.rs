//! A WhatsApp template as the API returns it, and its body's `{{n}}` placeholders.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A WhatsApp template as GetWhatsAppTemplate returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub status: String,
    /// MARKETING, UTILITY or AUTHENTICATION (Meta's categories), when the API says: the
    /// document's example shows none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(default)]
    pub components: Vec<Value>,
}

impl Template {
    /// The texts of the BODY components.
    fn bodies(&self) -> impl Iterator<Item = &str> {
        self.components
            .iter()
            .filter(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("body"))
            })
            .filter_map(|c| c.get("text").and_then(Value::as_str))
    }

    /// The text of the BODY component (empty when there is none).
    pub fn body_text(&self) -> &str {
        self.bodies().next().unwrap_or_default()
    }

    /// The number of distinct `{{n}}` placeholders in the BODY component (the highest n).
    pub fn body_parameter_count(&self) -> usize {
        self.bodies().map(placeholder_count).max().unwrap_or(0)
    }
}

/// A template body with `{{n}}` replaced by the parameters, as the recipient sees it.
pub fn render_body(body: &str, params: &[String]) -> String {
    let mut text = body.to_string();
    for (i, p) in params.iter().enumerate().rev() {
        text = text.replace(&format!("{{{{{}}}}}", i + 1), p);
    }
    text
}

/// The highest `{{n}}` in `text` (0 when there is none).
pub fn placeholder_count(text: &str) -> usize {
    let mut max = 0;
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}")
            && let Ok(n) = rest[..end].trim().parse::<usize>()
        {
            max = max.max(n);
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_counted_by_their_highest_number() {
        assert_eq!(placeholder_count("Hi {{1}}, order {{2}} ships {{2}}"), 2);
        assert_eq!(placeholder_count("no placeholders {{x}}"), 0);
        assert_eq!(placeholder_count("{{ 3 }}"), 3);
    }
}
