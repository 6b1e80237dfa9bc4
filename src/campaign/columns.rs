//! Finding a definition's columns in a source's header: by name; a missing one is named with
//! the columns that exist, a near namesake (`Phone` for `phone`) with the option to pass, and a
//! header that reads as one column holding another delimiter with the option that splits it.
//! The phone column, when the definition names the default `phone` and there is none, is
//! found by its common names (Mobile, MSISDN, Telefon...).

/// Names a spreadsheet's phone column goes by, compared as `same_name` does.
const PHONE_ALIASES: &[&str] = &[
    "phone",
    "phone number",
    "phone no",
    "mobile",
    "mobile number",
    "mobile phone",
    "mobile no",
    "cell",
    "cell phone",
    "cellphone",
    "msisdn",
    "tel",
    "telephone",
    "telefon",
    "telefonnummer",
    "handy",
    "handynummer",
    "telefono",
    "teléfono",
    "téléphone",
    "telemovel",
    "telemóvel",
    "celular",
    "whatsapp",
    "whatsapp number",
    "gsm",
];

/// The index of column `name`, or an error naming what is missing (`what`), the columns, a
/// near namesake with `fix` (the option that names it) and a delimiter hint.
pub fn find(
    columns: &[String],
    name: &str,
    what: &str,
    fix: &dyn Fn(&str) -> String,
) -> Result<usize, String> {
    columns.iter().position(|c| c == name).ok_or_else(|| {
        let close = columns.iter().find(|c| same_name(c, name));
        format!(
            "{what} column '{name}' does not exist; the columns are: {}{}{}",
            columns.join(", "),
            close
                .map(|c| format!(". Did you mean '{c}'? {}", fix(c)))
                .unwrap_or_default(),
            delimiter_hint(columns)
        )
    })
}

/// The phone column: `name` itself, or for the default name `phone` the one column whose
/// name is a common name of a phone column, with a note saying which it is.
pub fn phone(columns: &[String], name: &str) -> Result<(usize, Option<String>), String> {
    let option = |c: &str| {
        format!("pass --phone-column '{c}' (or phone_column = \"{c}\" in the campaign file)")
    };
    if let Some(i) = columns.iter().position(|c| c == name) {
        return Ok((i, None));
    }
    if name != "phone" {
        return find(columns, name, "the phone", &option).map(|i| (i, None));
    }
    let aliases: Vec<usize> = (0..columns.len())
        .filter(|&i| PHONE_ALIASES.iter().any(|a| same_name(&columns[i], a)))
        .collect();
    match aliases[..] {
        [i] => Ok((
            i,
            Some(format!(
                "there is no column 'phone': the phone numbers are read from column '{}' \
                 (--phone-column names another)",
                columns[i]
            )),
        )),
        [] => find(columns, name, "the phone", &option).map(|i| (i, None)),
        _ => {
            let named: Vec<&str> = aliases.iter().map(|&i| columns[i].as_str()).collect();
            Err(format!(
                "there is no column 'phone', and several could hold the phone numbers: {}; \
                 pass --phone-column NAME (or phone_column = \"NAME\" in the campaign file)",
                named.join(", ")
            ))
        }
    }
}

/// Whether two column names differ only in case, spaces, `_` and `-` (`Phone`, `first name`).
fn same_name(a: &str, b: &str) -> bool {
    let plain = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-' && *c != '.')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    plain(a) == plain(b)
}

/// When the header reads as one column holding another delimiter, which option would split it.
fn delimiter_hint(columns: &[String]) -> String {
    let [only] = columns else {
        return String::new();
    };
    [(';', "';'"), ('\t', "tab"), (',', "','"), ('|', "'|'")]
        .iter()
        .find(|(d, _)| only.contains(*d))
        .map(|(_, name)| {
            format!(
                " (the header reads as one column with {name} in it: pass --delimiter {name}, or delimiter = \"{}\" in a campaign file)",
                name.trim_matches('\'')
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_missing_column_with_a_near_namesake_says_which_option_to_pass() {
        let err = phone(&columns(&["Phone Nr", "first_name"]), "tel_no").unwrap_err();
        assert!(!err.contains("Did you mean"), "no namesake: {err}");
        let err = phone(&columns(&["Tel No", "first_name"]), "tel_no").unwrap_err();
        assert!(
            err.contains("Did you mean 'Tel No'? pass --phone-column 'Tel No'"),
            "{err}"
        );
        let err = find(
            &columns(&["phone", "First Name"]),
            "first_name",
            "the parameter",
            &|c| format!("name '{c}' in --params"),
        )
        .unwrap_err();
        assert!(
            err.contains("Did you mean 'First Name'? name 'First Name' in --params"),
            "{err}"
        );
    }

    #[test]
    fn without_a_phone_column_one_by_a_common_name_is_taken_and_named() {
        for header in [
            "Phone",
            "Mobile",
            "MSISDN",
            "Telefon",
            "mobile_number",
            "Tel.",
            "Handynummer",
        ] {
            let (i, note) = phone(&columns(&["Name", header]), "phone").unwrap();
            assert_eq!(i, 1, "{header}");
            assert!(
                note.unwrap().contains(&format!("column '{header}'")),
                "{header}"
            );
        }
        assert_eq!(
            phone(&columns(&["phone", "Mobile"]), "phone").unwrap(),
            (0, None)
        );
    }

    #[test]
    fn two_columns_by_common_names_are_not_guessed_between() {
        let err = phone(&columns(&["Mobile", "Telephone"]), "phone").unwrap_err();
        assert!(
            err.contains("several could hold the phone numbers: Mobile, Telephone"),
            "{err}"
        );
    }

    #[test]
    fn a_named_phone_column_is_not_replaced_by_an_alias() {
        let err = phone(&columns(&["Mobile"]), "cell").unwrap_err();
        assert!(
            err.contains("the phone column 'cell' does not exist"),
            "{err}"
        );
    }
}
