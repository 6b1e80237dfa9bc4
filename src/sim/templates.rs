//! The simulator's WhatsApp template catalogue: built-in demo templates, or a TOML/JSON file.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::convrs::wire::placeholder_count;

/// One template: its body text decides how many parameters a send must carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDef {
    pub name: String,
    pub language: String,
    pub body: String,
    /// APPROVED (default), PAUSED or DISABLED.
    #[serde(default = "approved")]
    pub status: String,
    /// MARKETING, UTILITY (default) or AUTHENTICATION.
    #[serde(default = "utility")]
    pub category: String,
}

fn utility() -> String {
    "UTILITY".into()
}

fn approved() -> String {
    "APPROVED".into()
}

impl TemplateDef {
    pub fn parameter_count(&self) -> usize {
        placeholder_count(&self.body)
    }

    /// The body with `{{n}}` replaced by the parameters, as the recipient would see it.
    pub fn render(&self, params: &[String]) -> String {
        crate::convrs::wire::render_body(&self.body, params)
    }

    /// The template as GetWhatsAppTemplate returns it (Meta's component structure).
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "components": [{ "type": "BODY", "text": self.body }],
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    template: Vec<TemplateDef>,
}

/// Reads `[[template]]` tables from a `.toml` file, or a JSON array (or `{"template": [...]}`).
pub fn load(path: &Path) -> Result<Vec<TemplateDef>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str::<TemplateFile>(&text)
            .map(|f| f.template)
            .map_err(|e| e.to_string())
    } else {
        serde_json::from_str::<Vec<TemplateDef>>(&text)
            .or_else(|_| serde_json::from_str::<TemplateFile>(&text).map(|f| f.template))
            .map_err(|e| e.to_string())
    };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

/// Templates every simulator knows unless `--templates` replaces them.
pub fn builtin() -> Vec<TemplateDef> {
    let t = |name: &str, language: &str, body: &str, status: &str| TemplateDef {
        name: name.into(),
        language: language.into(),
        body: body.into(),
        status: status.into(),
        category: if name.starts_with("promo_") {
            "MARKETING".into()
        } else {
            utility()
        },
    };
    vec![
        t(
            "followup_inquiry_request",
            "en",
            "Hello! Do you have any more questions about your inquiry?",
            "APPROVED",
        ),
        t(
            "order_update",
            "en",
            "There is an update on your order. Reply to this message for details.",
            "APPROVED",
        ),
        t(
            "order_confirmation",
            "en",
            "Hi {{1}}, your order {{2}} is confirmed.",
            "APPROVED",
        ),
        t(
            "appointment_reminder",
            "en",
            "Hi {{1}}, a reminder of your appointment on {{2}} at {{3}}.",
            "APPROVED",
        ),
        t(
            "appointment_reminder",
            "es",
            "Hola {{1}}, le recordamos su cita el {{2}} a las {{3}}.",
            "APPROVED",
        ),
        t(
            "promo_paused",
            "en",
            "Hi {{1}}, our sale starts today!",
            "PAUSED",
        ),
        t("promo_disabled", "en", "Hi {{1}}, last chance!", "DISABLED"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_replaces_every_placeholder() {
        let t = &builtin()[2];
        assert_eq!(t.parameter_count(), 2);
        assert_eq!(
            t.render(&["Ann".into(), "ORD-1".into()]),
            "Hi Ann, your order ORD-1 is confirmed."
        );
    }

    #[test]
    fn a_toml_file_with_an_unknown_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "[[template]]\nname='a'\nlanguage='en'\nbody='x'\ncolour='red'\n",
        )
        .unwrap();
        assert!(load(&path).unwrap_err().contains("colour"));
        std::fs::write(
            &path,
            "[[template]]\nname='a'\nlanguage='en'\nbody='Hi {{1}}'\n",
        )
        .unwrap();
        assert_eq!(load(&path).unwrap()[0].parameter_count(), 1);
    }
}
