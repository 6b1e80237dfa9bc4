//! `{column}` placeholder texts (SMS messages, dedupe keys), resolved against the source's
//! columns once, then rendered per row.

/// A text with `{column}` placeholders, each resolved to a column index.
#[derive(Debug, Clone)]
pub struct Pattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Column(usize, String),
}

impl Pattern {
    /// Resolves every `{name}` against `columns`; an unknown name is an error naming it and the
    /// columns that exist. `{{` and `}}` stand for literal braces.
    pub fn resolve(text: &str, columns: &[String]) -> Result<Self, String> {
        let mut parts = vec![];
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    let index = columns
                        .iter()
                        .position(|c| c == name.trim())
                        .ok_or_else(|| {
                            format!(
                                "placeholder {{{name}}} names no column; the columns are: {}",
                                columns.join(", ")
                            )
                        })?;
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                    parts.push(Part::Column(index, columns[index].clone()));
                }
                other => literal.push(other),
            }
        }
        parts.push(Part::Literal(literal));
        parts.retain(|p| !matches!(p, Part::Literal(l) if l.is_empty()));
        Ok(Pattern { parts })
    }

    pub fn render(&self, values: &[String]) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Column(i, _) => {
                    out.push_str(values.get(*i).map(String::as_str).unwrap_or(""))
                }
            }
        }
        out
    }

    /// The first placeholder whose column is empty (or only spaces) in `values`, by name.
    pub fn empty_placeholder(&self, values: &[String]) -> Option<&str> {
        self.parts.iter().find_map(|part| match part {
            Part::Column(i, name) if values.get(*i).is_none_or(|v| v.trim().is_empty()) => {
                Some(name.as_str())
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_from_their_columns() {
        let cols = vec!["phone".to_string(), "name".to_string()];
        let p = Pattern::resolve("Hi {name}, {{literal}}", &cols).unwrap();
        assert_eq!(p.render(&["+44".into(), "Ann".into()]), "Hi Ann, {literal}");
    }

    #[test]
    fn an_unknown_placeholder_lists_the_columns() {
        let err = Pattern::resolve("Hi {nam}", &["phone".into(), "name".into()]).unwrap_err();
        assert!(
            err.contains("{nam}") && err.contains("phone, name"),
            "{err}"
        );
    }
}
