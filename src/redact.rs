//! What may be shown or stored of a URL: never its credentials (`user:password@` becomes
//! `…@`), nor the value (`redacted`) of a query parameter that looks like a secret (`?password=`, `?sslpassword=`,
//! `?secret=`, `?token=`, `?api_key=`...). Used for every URL this tool prints or stores: the
//! database, a SQL source, the API and callback URLs, a redirect's target.

/// `raw` with its credentials replaced by `…` and secret query values by `redacted`. A text that is not a
/// URL (a file path) is returned as it is, but for anything after a `?`.
pub fn url(raw: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(raw) else {
        return fallback(raw);
    };
    let had_credentials = !parsed.username().is_empty() || parsed.password().is_some();
    if had_credentials && (parsed.set_username("").is_err() || parsed.set_password(None).is_err()) {
        return fallback(raw);
    }
    if parsed.query_pairs().any(|(key, _)| is_secret(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret(&key) {
                    "redacted".to_string()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    let shown = parsed.to_string();
    match (had_credentials, shown.split_once("://")) {
        (true, Some((scheme, rest))) => format!("{scheme}://…@{rest}"),
        _ => shown,
    }
}

/// Whether a query parameter of this name carries a secret.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "pass", "pwd", "secret", "token", "key", "auth", "cred", "sig",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// For what does not parse as a URL: credentials cut by hand, and no query at all.
fn fallback(raw: &str) -> String {
    let raw = match raw.split_once('?') {
        Some((before, _)) => format!("{before}?…"),
        None => raw.to_string(),
    };
    match (raw.find("://"), raw.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &raw[..scheme], &raw[at + 1..])
        }
        _ => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_are_never_shown() {
        assert_eq!(url("postgres://u:secret@db/x"), "postgres://…@db/x");
        assert_eq!(
            url("postgresql://only-user@db:5432/x"),
            "postgresql://…@db:5432/x"
        );
        assert_eq!(
            url("https://a:b@api.example.com/v1"),
            "https://…@api.example.com/v1"
        );
    }

    #[test]
    fn secret_query_parameters_are_shown_without_their_values() {
        assert_eq!(
            url("postgres://db/x?sslmode=require&password=hunter2&sslpassword=p2"),
            "postgres://db/x?sslmode=require&password=redacted&sslpassword=redacted"
        );
        let shown = url("https://hooks.example.com/events?secret=abc&Token=t&api_key=k&x=1");
        for secret in ["abc", "=t&", "=k&"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.ends_with("&x=1"), "{shown}");
    }

    #[test]
    fn paths_and_plain_urls_are_left_as_they_are() {
        for plain in [
            "sqlite://a.db",
            "sqlite:crm.db",
            "/var/lib/campaign/c.db",
            "campaign.db",
            "postgres://db.internal:5432/campaigns?sslmode=require",
        ] {
            assert_eq!(url(plain), plain);
        }
        assert_eq!(url("weird path?password=x"), "weird path?…");
        assert_eq!(url("not a url://u:p@h?pass=1"), "not a url://…@h?…");
    }
}
