//! `PhoneNumber`: a normalised, valid, mobile E.164 number. Parsing is the only way to get one.
//!
//! Rules (shared by the loader and the simulator):
//! - spaces, dashes, dots and brackets are separators and are dropped;
//! - a number that starts with `+` or `00`, or one given without a region, is international;
//! - with a region, a national number (`07912 031410` for GB) is read in that region first, and
//!   if that does not give a valid number the digits are tried as international;
//! - only `Mobile` and `FixedLineOrMobile` numbers pass (US/Canada numbers are the latter).

use std::fmt;

use rlibphonenumber::{PhoneNumberType, Region as LibRegion};

/// An ISO 3166 alpha-2 region used to read national numbers (`GB`, `US`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(LibRegion);

impl Region {
    pub fn parse(code: &str) -> Result<Self, PhoneError> {
        let known = LibRegion::from_code(code.trim()).ok().filter(|r| {
            rlibphonenumber::PHONE_NUMBER_UTIL
                .get_country_code_for_region(*r)
                .is_some()
        });
        known
            .map(Region)
            .ok_or_else(|| PhoneError::UnknownRegion(code.to_string()))
    }
}

impl Region {
    /// The two-letter code (`GB`).
    pub fn code(&self) -> String {
        self.0.as_region_str().to_string()
    }
}

impl std::str::FromStr for Region {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

/// Why a phone number was refused. `code()` gives the Convrs error code the API uses for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number contains '{0}', which is not a digit or separator")]
    BadCharacter(char),
    /// `4.47911E+11`: a spreadsheet showed the number in scientific notation, and saved it so.
    #[error(
        "written in scientific notation, as Excel shows long numbers: its last digits are lost. Format the phone column as Text in the spreadsheet (or export it with the numbers as written) and save the file again"
    )]
    ScientificNotation,
    #[error("phone number has {0} digits; international numbers have 8 to 15")]
    BadLength(usize),
    #[error("not a valid phone number for any country (add the country code, or pass --region)")]
    Invalid,
    /// Written with its country (or read in the given region), but no number in use has it.
    #[error("not a phone number in use: the digits match no allocated number range (check them)")]
    Unallocated,
    #[error("not a mobile number (it is {0}); WhatsApp and SMS need a mobile")]
    NotMobile(String),
    #[error("unknown region '{0}': use an ISO 3166 alpha-2 code such as GB or US")]
    UnknownRegion(String),
}

impl PhoneError {
    /// The Convrs API error code for this refusal: 1007 for a wrong length, 1009 when empty,
    /// 1006 otherwise.
    pub fn api_code(&self) -> i64 {
        match self {
            PhoneError::Empty => 1009,
            PhoneError::BadLength(_) => 1007,
            _ => 1006,
        }
    }
}

/// A valid mobile number in E.164 form (`+447912031410`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses `raw` following the module rules.
    pub fn parse(raw: &str, region: Option<Region>) -> Result<Self, PhoneError> {
        if is_scientific(raw) {
            return Err(PhoneError::ScientificNotation);
        }
        let (international, digits) = strip(raw)?;
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        // A number with its country, or read in a region, that is not valid is mistyped;
        // one without either may only lack its country.
        let why = if international || region.is_some() {
            PhoneError::Unallocated
        } else {
            PhoneError::Invalid
        };
        let as_international = || check_international(&digits, why.clone());
        match (international, region) {
            (false, Some(region)) => match parse_valid(&digits, Some(region.0)) {
                // A national number can carry the region's international prefix (`011` in the
                // US): what it dials must pass the same checks as the number typed with `+`.
                Some(number) => {
                    let dialled = number.to_string().len() - 1;
                    if !(8..=15).contains(&dialled) {
                        return Err(PhoneError::BadLength(dialled));
                    }
                    into_mobile(number, None)
                }
                None => as_international(),
            },
            _ => as_international(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 3166 alpha-2 region of the number (`GB`), when it has one.
    pub fn region_code(&self) -> Option<String> {
        rlibphonenumber::PhoneNumber::parse(&self.0, None)
            .ok()
            .and_then(|n| n.get_region_code())
            .map(|r| r.as_region_str().to_string())
    }

    /// The digits without the leading `+`, as used in Convrs uids (`3941-wa3-447912031410`).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Drops separators and an international prefix; returns (was international, digits).
fn strip(raw: &str) -> Result<(bool, String), PhoneError> {
    let trimmed = raw.trim();
    let mut digits = String::with_capacity(trimmed.len());
    let mut international = false;
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => international = true,
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            other => return Err(PhoneError::BadCharacter(other)),
        }
    }
    if !international && let Some(rest) = digits.strip_prefix("00") {
        digits = rest.to_string();
        international = true;
    }
    Ok((international, digits))
}

fn check_international(digits: &str, invalid: PhoneError) -> Result<PhoneNumber, PhoneError> {
    if !(8..=15).contains(&digits.len()) {
        return Err(PhoneError::BadLength(digits.len()));
    }
    let number = parse_valid(&format!("+{digits}"), None).ok_or(invalid)?;
    into_mobile(number, Some(digits))
}

fn parse_valid(text: &str, region: Option<LibRegion>) -> Option<rlibphonenumber::PhoneNumber> {
    rlibphonenumber::PhoneNumber::parse(text, region)
        .ok()
        .filter(|n| n.is_valid())
}

/// `number` as we keep it, if it is a mobile. `typed` are the digits typed after `+` when the
/// number was read as international: what we keep is what we send and what the next parse
/// must give back, and libphonenumber may drop a trunk `0` typed after the country code
/// (`+27 0...`), leaving a number too short for the API that is not valid by itself (found by
/// fuzzing). Such a number, changed from what was typed, must parse again to itself.
fn into_mobile(
    number: rlibphonenumber::PhoneNumber,
    typed: Option<&str>,
) -> Result<PhoneNumber, PhoneError> {
    match number.get_type() {
        PhoneNumberType::Mobile | PhoneNumberType::FixedLineOrMobile => {}
        other => return Err(PhoneError::NotMobile(format!("{other:?}"))),
    }
    let e164 = number.to_string();
    let digits = e164.len() - 1;
    if !(8..=15).contains(&digits) {
        return Err(PhoneError::BadLength(digits));
    }
    match typed {
        Some(typed) if typed != &e164[1..] => match parse_valid(&e164, None) {
            Some(again) if again.to_string() == e164 => Ok(PhoneNumber(e164)),
            _ => Err(PhoneError::Unallocated),
        },
        _ => Ok(PhoneNumber(e164)),
    }
}

/// `4.47911E+11`, `4,47911E+11` (a comma-decimal locale), `4E11`.
fn is_scientific(raw: &str) -> bool {
    let Some((mantissa, exponent)) = raw.trim().split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    mantissa_ok && digits(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_in_scientific_notation_is_refused_saying_how_to_export_it() {
        for raw in ["4.47911E+11", "4,47911E+11", "4.47911e11", " 4E11 "] {
            let err = PhoneNumber::parse(raw, None).unwrap_err();
            assert!(
                matches!(err, PhoneError::ScientificNotation),
                "{raw}: {err}"
            );
            assert!(err.to_string().contains("Format the phone column as Text"));
        }
        assert!(matches!(
            PhoneNumber::parse("+44 E", None),
            Err(PhoneError::BadCharacter('E'))
        ));
    }

    #[test]
    fn a_number_that_normalises_too_short_is_refused_and_what_parses_parses_again_to_itself() {
        // `0027082347`: +27 then a trunk 0 libphonenumber drops, leaving 7 digits.
        assert!(PhoneNumber::parse("0027082347", None).is_err());
        for raw in [
            "+447922029419",
            "07922 029419",
            "+1 415 555 2671",
            "0033612345678",
        ] {
            let region = Region::parse("GB").ok();
            if let Ok(phone) = PhoneNumber::parse(raw, region) {
                assert_eq!(
                    PhoneNumber::parse(phone.as_str(), None),
                    Ok(phone.clone()),
                    "{raw}"
                );
            }
        }
    }

    fn gb() -> Option<Region> {
        Some(Region::parse("GB").unwrap())
    }

    #[test]
    fn every_format_in_the_api_document_normalises_to_the_same_number() {
        for raw in [
            "+447922029419",
            "447922029419",
            "+44 792 202 9419",
            "44-792-202-9419",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, None).unwrap().as_str(),
                "+447922029419",
                "{raw}"
            );
        }
    }

    #[test]
    fn double_zero_prefix_and_brackets_dots_are_accepted() {
        let n = PhoneNumber::parse("0044 (7922) 029.419", None).unwrap();
        assert_eq!(n.as_str(), "+447922029419");
    }

    #[test]
    fn a_national_number_is_read_in_the_given_region() {
        let n = PhoneNumber::parse("07912 031410", gb()).unwrap();
        assert_eq!(n.as_str(), "+447912031410");
        assert_eq!(n.digits(), "447912031410");
    }

    #[test]
    fn digits_that_are_not_national_fall_back_to_international_with_a_region() {
        let n = PhoneNumber::parse("4915112345678", gb()).unwrap();
        assert_eq!(n.as_str(), "+4915112345678");
    }

    #[test]
    fn a_national_number_without_region_is_refused() {
        assert!(PhoneNumber::parse("07912 031410", None).is_err());
    }

    #[test]
    fn landlines_are_refused_but_us_numbers_pass_as_fixed_line_or_mobile() {
        let err = PhoneNumber::parse("+44 20 7946 0958", None).unwrap_err();
        assert!(matches!(err, PhoneError::NotMobile(_)), "{err:?}");
        assert!(PhoneNumber::parse("+1 415 555 2671", None).is_ok());
    }

    #[test]
    fn wrong_lengths_and_letters_get_their_own_errors() {
        assert_eq!(
            PhoneNumber::parse("+1234", None),
            Err(PhoneError::BadLength(4))
        );
        assert_eq!(
            PhoneNumber::parse("+44 7922 ABC", None),
            Err(PhoneError::BadCharacter('A'))
        );
        assert_eq!(PhoneNumber::parse("  ", None), Err(PhoneError::Empty));
        assert_eq!(PhoneError::BadLength(4).api_code(), 1007);
        assert_eq!(PhoneError::Invalid.api_code(), 1006);
        assert_eq!(PhoneError::Unallocated.api_code(), 1006);
    }

    #[test]
    fn a_national_number_dialling_a_too_short_international_one_is_rejected_like_it() {
        let us = Some(Region::parse("US").unwrap());
        assert_eq!(
            PhoneNumber::parse("0112781725", us),
            PhoneNumber::parse("+2781725", None)
        );
        assert!(PhoneNumber::parse("0112781725", us).is_err());
        assert_eq!(
            PhoneNumber::parse("011 44 7912 031410", us)
                .unwrap()
                .as_str(),
            "+447912031410"
        );
    }

    #[test]
    fn unknown_regions_are_refused() {
        assert!(Region::parse("XX").is_err());
        assert!(Region::parse("gb").is_ok());
    }

    #[test]
    fn only_a_number_without_its_country_is_told_to_add_one() {
        let gb = Some(Region::parse("GB").unwrap());
        // Well formed, but in no allocated range: the hint is to check the digits.
        assert_eq!(
            PhoneNumber::parse("+44 7911 300000", None),
            Err(PhoneError::Unallocated)
        );
        assert_eq!(
            PhoneNumber::parse("07911 300000", gb),
            Err(PhoneError::Unallocated)
        );
        assert!(PhoneError::Unallocated.to_string().contains("check them"));
        // National, and no region: it may only lack its country.
        assert_eq!(
            PhoneNumber::parse("07911 123456", None),
            Err(PhoneError::Invalid)
        );
    }
}
