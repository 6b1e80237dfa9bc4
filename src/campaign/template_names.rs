//! Close matches for a template the API does not know (3001), among those the store has seen
//! (the API has no command that lists templates): the same name in another language, or names
//! a typo away.

/// `close_matches` among the templates `store` has seen.
pub async fn close_to(
    store: &crate::queue::Store,
    name: &str,
    language: &str,
    bot: i64,
) -> Result<String, crate::queue::StoreError> {
    let seen: Vec<(i64, String, String)> = store
        .cached_templates()
        .await?
        .into_iter()
        .map(|t| (t.bot_id, t.name, t.language))
        .collect();
    Ok(close_matches(name, language, bot, &seen))
}

/// `Did you mean ...` for template `name` in `language` of `bot`, from the cached templates
/// (bot, name, language); empty when nothing is close.
pub fn close_matches(
    name: &str,
    language: &str,
    bot: i64,
    cached: &[(i64, String, String)],
) -> String {
    let of_bot: Vec<&(i64, String, String)> = cached.iter().filter(|t| t.0 == bot).collect();
    let languages: Vec<&str> = of_bot
        .iter()
        .filter(|t| t.1 == name && t.2 != language)
        .map(|t| t.2.as_str())
        .collect();
    if !languages.is_empty() {
        return format!(". Template {name} is known in: {}", languages.join(", "));
    }
    let mut names: Vec<(f64, &str)> = of_bot
        .iter()
        .map(|t| {
            (
                strsim::normalized_damerau_levenshtein(name, &t.1),
                t.1.as_str(),
            )
        })
        .filter(|(score, n)| *score >= 0.7 && *n != name)
        .collect();
    names.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    names.dedup_by(|a, b| a.1 == b.1);
    if names.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = names.iter().take(3).map(|(_, n)| *n).collect();
    format!(
        ". Did you mean {}? (`campaign templates` lists those seen)",
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached() -> Vec<(i64, String, String)> {
        [
            (3941, "order_confirmation", "en"),
            (3941, "order_confirmation", "es"),
            (3941, "promo_spring", "en"),
            (7, "order_confirmations", "en"),
        ]
        .map(|(b, n, l)| (b, n.to_string(), l.to_string()))
        .to_vec()
    }

    #[test]
    fn a_typo_names_the_close_names_of_the_same_bot() {
        let said = close_matches("order_confirmaton", "en", 3941, &cached());
        assert_eq!(
            said,
            ". Did you mean order_confirmation? (`campaign templates` lists those seen)"
        );
        assert_eq!(close_matches("welcome", "en", 3941, &cached()), "");
    }

    #[test]
    fn a_known_name_in_another_language_names_its_languages() {
        let said = close_matches("order_confirmation", "fr", 3941, &cached());
        assert_eq!(said, ". Template order_confirmation is known in: en, es");
    }
}
