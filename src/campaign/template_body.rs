//! A WhatsApp template's body for each row: its parameters read from their columns, checked
//! as WhatsApp would check them, and rendered into the request and the text the recipient
//! reads.

use crate::convrs::wire::{SendWhatsAppTemplate, TemplateParameter};
use crate::phone::PhoneNumber;

/// A template and the columns of its parameters, in order.
#[derive(Debug)]
pub struct TemplateBody {
    name: String,
    language: String,
    params: Vec<usize>,
    /// Whether a parameter's newlines, tabs and runs of spaces are cleaned (`clean_params`).
    clean: bool,
    /// The template's body, with its `{{1}}` placeholders.
    text: String,
}

impl TemplateBody {
    /// `body` is the template's text (from the API or the cache); its placeholders must be as
    /// many as `params` names, each a column that exists.
    pub fn new(
        (name, language): (&str, &str),
        params: &[String],
        clean: bool,
        body: Option<&str>,
        columns: &[String],
    ) -> Result<Self, String> {
        let text = body.unwrap_or_default().to_string();
        let wanted = crate::convrs::wire::placeholder_count(&text);
        if wanted != params.len() {
            return Err(format!(
                "template {name} ({language}) has {wanted} parameter(s) but --params names {} column(s)",
                params.len()
            ));
        }
        let params = params
            .iter()
            .map(|p| {
                super::columns::find(columns, p, "the parameter", &|c| {
                    format!("name '{c}' in --params (or params in the campaign file)")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TemplateBody {
            name: name.to_string(),
            language: language.to_string(),
            params,
            clean,
            text,
        })
    }

    /// One row's request (JSON, without token) and its text, or the field at fault and why.
    pub fn render(
        &self,
        (bot_id, agent_email): (i64, Option<&String>),
        phone: &PhoneNumber,
        columns: &[String],
        values: &[String],
    ) -> Result<(String, String), (String, String)> {
        let mut parameters = Vec::with_capacity(self.params.len());
        for (n, &col) in self.params.iter().enumerate() {
            let raw = &values[col];
            let value = if self.clean {
                clean_param(raw)
            } else {
                raw.clone()
            };
            let field = || columns[col].clone();
            if value.trim().is_empty() {
                return Err((field(), format!("parameter {{{{{}}}}} is empty", n + 1)));
            }
            if let Some(why) = param_problem(&value) {
                return Err((
                    field(),
                    format!(
                        "parameter {{{{{}}}}} {why} (pass --clean-params, or clean_params = true in a campaign file, to clean it)",
                        n + 1
                    ),
                ));
            }
            parameters.push(value);
        }
        let mut rendered = self.text.clone();
        for (i, v) in parameters.iter().enumerate().rev() {
            rendered = rendered.replace(&format!("{{{{{}}}}}", i + 1), v);
        }
        let request = SendWhatsAppTemplate {
            bot_id,
            phone: phone.to_string(),
            template_name: self.name.clone(),
            language: self.language.clone(),
            parameters: parameters
                .into_iter()
                .map(TemplateParameter::text)
                .collect(),
            agent_email: agent_email.cloned(),
            ..Default::default()
        };
        Ok((
            serde_json::to_string(&request).expect("requests serialise"),
            rendered,
        ))
    }
}

/// Why WhatsApp would refuse this parameter (132018), if it would.
fn param_problem(value: &str) -> Option<&'static str> {
    if value.contains('\n') || value.contains('\r') {
        Some("contains a newline")
    } else if value.contains('\t') {
        Some("contains a tab")
    } else if value.contains("     ") {
        Some("contains more than 4 consecutive spaces")
    } else {
        None
    }
}

/// Newlines and tabs become spaces, runs of spaces become one, ends are trimmed.
fn clean_param(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}
