//! The API document's template formatting guidelines ("Best Practices to Avoid Account
//! Restrictions"), checked before sending: warnings, not refusals (Meta approved the template;
//! the guidelines are about keeping its quality rating).
//!
//! - "Don't use adjacent placeholders like {{1}} {{2}}".
//! - "Avoid excessive variable placeholders relative to message length": the document gives no
//!   ratio; we warn under two words of fixed text per placeholder.
//! - "Include opt-out options ... especially important for marketing templates": a template
//!   whose category is MARKETING (when the API says; the document's GetWhatsAppTemplate shows
//!   no category, so a template without one is not judged) and whose text and buttons name no
//!   opt-out keyword.

use crate::convrs::wire::Template;
use crate::listening::keywords::DEFAULTS;
use crate::listening::normalise;
use crate::queue::KeywordKind;

/// Fewer words of fixed text than this per placeholder is "excessive".
const WORDS_PER_PLACEHOLDER: usize = 2;

/// What the guidelines would say of the template.
pub fn template_warnings(template: &Template) -> Vec<String> {
    let body = template.body_text();
    let name = &template.name;
    let mut warnings = vec![];
    if let Some(pair) = adjacent_placeholders(body) {
        warnings.push(format!(
            "template {name}: adjacent placeholders ({pair}); WhatsApp's guidelines advise fixed text between them"
        ));
    }
    let placeholders = crate::convrs::wire::placeholder_count(body);
    let words = fixed_words(body);
    if placeholders > 0 && words < placeholders * WORDS_PER_PLACEHOLDER {
        let fixed = match words {
            1 => "1 word".to_string(),
            n => format!("{n} words"),
        };
        warnings.push(format!(
            "template {name}: {placeholders} placeholders for {fixed} of fixed text; WhatsApp's guidelines advise against many placeholders in a short message"
        ));
    }
    if template.category.eq_ignore_ascii_case("MARKETING") && !names_an_opt_out(template) {
        warnings.push(format!(
            "template {name} is a marketing template that tells no way to stop (no STOP, UNSUBSCRIBE or other opt-out word in its text or buttons); WhatsApp's guidelines ask marketing messages for one"
        ));
    }
    warnings
}

/// The first `{{a}} {{b}}` pair with only spaces between, as written.
fn adjacent_placeholders(body: &str) -> Option<String> {
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open..];
        let close = after.find("}}")? + 2;
        let between = &after[close..];
        let gap = between.len() - between.trim_start().len();
        if between.trim_start().starts_with("{{") {
            let next = between[gap..].find("}}")? + 2;
            return Some(after[..close + gap + next].to_string());
        }
        rest = &after[close..];
    }
    None
}

/// The words of `body` outside its placeholders.
fn fixed_words(body: &str) -> usize {
    let mut fixed = String::new();
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        fixed.push_str(&rest[..open]);
        fixed.push(' ');
        match rest[open..].find("}}") {
            Some(close) => rest = &rest[open + close + 2..],
            None => {
                rest = "";
            }
        }
    }
    fixed.push_str(rest);
    fixed
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Whether the template's texts (body, footer, buttons) name an opt-out keyword.
fn names_an_opt_out(template: &Template) -> bool {
    let text = normalise(&serde_json::to_string(&template.components).unwrap_or_default());
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .collect();
    DEFAULTS.iter().any(|(word, kind)| {
        *kind == KeywordKind::Out
            && (words.contains(word) || (word.contains(' ') && text.contains(&format!(" {word} "))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(category: &str, body: &str, extra: serde_json::Value) -> Template {
        let mut components = vec![serde_json::json!({"type": "BODY", "text": body})];
        if !extra.is_null() {
            components.push(extra);
        }
        Template {
            name: "t".into(),
            language: "en".into(),
            status: "APPROVED".into(),
            category: category.into(),
            components,
        }
    }

    #[test]
    fn adjacent_placeholders_are_found_with_spaces_between() {
        assert_eq!(
            adjacent_placeholders("Hi {{1}} {{2}}, your order").as_deref(),
            Some("{{1}} {{2}}")
        );
        assert_eq!(
            adjacent_placeholders("Hi {{1}}{{2}}").as_deref(),
            Some("{{1}}{{2}}")
        );
        assert_eq!(adjacent_placeholders("Hi {{1}}, order {{2}}"), None);
        assert_eq!(adjacent_placeholders("no placeholders"), None);
        assert_eq!(adjacent_placeholders("broken {{1"), None);
    }

    #[test]
    fn the_guidelines_are_said_of_the_templates_that_break_them() {
        let fine = template(
            "UTILITY",
            "Hi {{1}}, your order {{2}} has shipped today.",
            serde_json::Value::Null,
        );
        assert!(
            template_warnings(&fine).is_empty(),
            "{:?}",
            template_warnings(&fine)
        );
        let adjacent = template(
            "UTILITY",
            "Dear customer, {{1}} {{2}} is ready for you to collect.",
            serde_json::Value::Null,
        );
        assert!(template_warnings(&adjacent)[0].contains("adjacent placeholders ({{1}} {{2}})"));
        let dense = template("UTILITY", "{{1}}: {{2}} at {{3}}", serde_json::Value::Null);
        assert!(template_warnings(&dense)[0].contains("3 placeholders for 1 word of"));
        let marketing = template(
            "MARKETING",
            "Hi {{1}}, 20% off everything this weekend only!",
            serde_json::Value::Null,
        );
        assert!(template_warnings(&marketing)[0].contains("tells no way to stop"));
        let with_stop = template(
            "MARKETING",
            "Hi {{1}}, 20% off everything this weekend. Reply STOP to opt out.",
            serde_json::Value::Null,
        );
        assert!(template_warnings(&with_stop).is_empty());
        let with_button = template(
            "MARKETING",
            "Hi {{1}}, 20% off everything this weekend only!",
            serde_json::json!({"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]}),
        );
        assert!(template_warnings(&with_button).is_empty());
        let unknown = template(
            "",
            "Hi {{1}}, 20% off everything this weekend only!",
            serde_json::Value::Null,
        );
        assert!(
            template_warnings(&unknown).is_empty(),
            "no category: not judged"
        );
    }
}
