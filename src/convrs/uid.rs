//! Convrs user ids: `{botID}-{platform}-{id}`; WhatsApp (`wa3`) and SMS (`cms`) users' ids end
//! in their number's digits (the document's examples: `3941-wa3-44151999999`,
//! `3941-cms-44151999999`).

use crate::phone::PhoneNumber;

/// The uid of a WhatsApp (`wa3`) or SMS (`cms`) user of `bot` by its number (E.164, with or
/// without `+`): `3941-wa3-447911123456`. The inverse of `phone_of_uid`.
pub fn uid_of_number(bot: i64, tag: &str, phone: &str) -> String {
    format!("{bot}-{tag}-{}", phone.trim_start_matches('+'))
}

/// A test recipient given as a number or a uid, as a uid: a number (in `region` when national)
/// is its WhatsApp user on `bot`; anything else is taken as the uid it is.
pub fn whatsapp_uid_for(bot: i64, given: &str, region: Option<crate::phone::Region>) -> String {
    match PhoneNumber::parse(given, region) {
        Ok(number) if !given.contains("-wa3-") => uid_of_number(bot, "wa3", number.as_str()),
        _ => given.trim().to_string(),
    }
}

/// `3941-wa3-447911123456` -> (`3941`, `wa3`, `447911123456`): the bot, the platform and the
/// user's id on it.
pub fn uid_parts(uid: &str) -> Option<(&str, &str, &str)> {
    let mut parts = uid.splitn(3, '-');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// `3941-wa3-447911123456` -> `+447911123456` (WhatsApp and SMS uids carry the number).
pub fn phone_of_uid(uid: &str) -> Option<PhoneNumber> {
    let (_bot, tag, digits) = uid_parts(uid)?;
    matches!(tag, "wa3" | "cms")
        .then(|| PhoneNumber::parse(&format!("+{digits}"), None).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_and_sms_uids_give_the_number() {
        assert_eq!(
            phone_of_uid("3941-wa3-447911123456").unwrap().as_str(),
            "+447911123456"
        );
        assert_eq!(
            phone_of_uid("3941-cms-447911123456").unwrap().as_str(),
            "+447911123456"
        );
        assert!(phone_of_uid("73-tel-615940546").is_none());
        assert!(phone_of_uid("garbage").is_none());
    }
}
