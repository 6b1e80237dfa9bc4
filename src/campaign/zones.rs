//! Which countries have one time zone: a number from one of them is in that zone; and the
//! zone of each recipient of a campaign with a send window.

use chrono_tz::Tz;

/// Finds each recipient's zone, for a campaign with a send window.
#[derive(Debug, Clone)]
pub struct ZoneFinder {
    column: Option<(usize, String)>,
    fallback: Tz,
}

impl ZoneFinder {
    /// `None` without a send window; an error names a `timezone_column` the source lacks.
    pub fn new(timing: &crate::timing::Timing, columns: &[String]) -> Result<Option<Self>, String> {
        if timing.send_window.is_none() {
            return Ok(None);
        }
        let column = match &timing.timezone_column {
            None => None,
            Some(name) => Some((
                columns.iter().position(|c| c == name).ok_or_else(|| {
                    format!(
                        "the timezone column '{name}' does not exist; the columns are: {}",
                        columns.join(", ")
                    )
                })?,
                name.clone(),
            )),
        };
        Ok(Some(ZoneFinder {
            column,
            fallback: timing.fallback_zone(),
        }))
    }

    /// The number's country's zone, else the row's (an empty cell passes), else the
    /// campaign's; an error names the column of a cell that is no zone.
    pub fn zone(
        &self,
        phone: Option<&crate::phone::PhoneNumber>,
        values: &[String],
    ) -> Result<Tz, (String, String)> {
        if let Some(tz) = phone
            .and_then(|p| p.region_code())
            .as_deref()
            .and_then(region_zone)
        {
            return Ok(tz);
        }
        if let Some((i, name)) = &self.column {
            let cell = values.get(*i).map(|v| v.trim()).unwrap_or("");
            if !cell.is_empty() {
                return cell.parse().map_err(|_| {
                    (
                        name.clone(),
                        format!("'{cell}' is not a time zone: give an IANA name such as America/New_York"),
                    )
                });
            }
        }
        Ok(self.fallback)
    }
}

/// The zone of a number's country when it has one (tzdb's zone.tab: countries listed with a
/// single zone, and Germany and Cyprus, whose second zones have kept the same clock since
/// 1970). Countries with several (US, CA, AU, BR, RU, MX, ES...) have none: the row's
/// `timezone_column` or the campaign's `timezone` decides.
pub fn region_zone(region: &str) -> Option<Tz> {
    SINGLE_ZONE
        .binary_search_by(|(code, _)| code.cmp(&region))
        .ok()
        .and_then(|i| SINGLE_ZONE[i].1.parse().ok())
}

/// Sorted by country code; from tzdb's zone.tab (countries with one zone line).
#[rustfmt::skip]
const SINGLE_ZONE: &[(&str, &str)] = &[
    ("AD", "Europe/Andorra"), ("AE", "Asia/Dubai"), ("AF", "Asia/Kabul"),
    ("AG", "America/Antigua"), ("AI", "America/Anguilla"), ("AL", "Europe/Tirane"),
    ("AM", "Asia/Yerevan"), ("AO", "Africa/Luanda"), ("AS", "Pacific/Pago_Pago"),
    ("AT", "Europe/Vienna"), ("AW", "America/Aruba"), ("AX", "Europe/Mariehamn"),
    ("AZ", "Asia/Baku"), ("BA", "Europe/Sarajevo"), ("BB", "America/Barbados"),
    ("BD", "Asia/Dhaka"), ("BE", "Europe/Brussels"), ("BF", "Africa/Ouagadougou"),
    ("BG", "Europe/Sofia"), ("BH", "Asia/Bahrain"), ("BI", "Africa/Bujumbura"),
    ("BJ", "Africa/Porto-Novo"), ("BL", "America/St_Barthelemy"), ("BM", "Atlantic/Bermuda"),
    ("BN", "Asia/Brunei"), ("BO", "America/La_Paz"), ("BQ", "America/Kralendijk"),
    ("BS", "America/Nassau"), ("BT", "Asia/Thimphu"), ("BW", "Africa/Gaborone"),
    ("BY", "Europe/Minsk"), ("BZ", "America/Belize"), ("CC", "Indian/Cocos"),
    ("CF", "Africa/Bangui"), ("CG", "Africa/Brazzaville"), ("CH", "Europe/Zurich"),
    ("CI", "Africa/Abidjan"), ("CK", "Pacific/Rarotonga"), ("CM", "Africa/Douala"),
    ("CO", "America/Bogota"), ("CR", "America/Costa_Rica"), ("CU", "America/Havana"),
    ("CV", "Atlantic/Cape_Verde"), ("CW", "America/Curacao"), ("CX", "Indian/Christmas"),
    ("CY", "Asia/Nicosia"), ("CZ", "Europe/Prague"), ("DE", "Europe/Berlin"),
    ("DJ", "Africa/Djibouti"), ("DK", "Europe/Copenhagen"), ("DM", "America/Dominica"),
    ("DO", "America/Santo_Domingo"), ("DZ", "Africa/Algiers"), ("EE", "Europe/Tallinn"),
    ("EG", "Africa/Cairo"), ("EH", "Africa/El_Aaiun"), ("ER", "Africa/Asmara"),
    ("ET", "Africa/Addis_Ababa"), ("FI", "Europe/Helsinki"), ("FJ", "Pacific/Fiji"),
    ("FK", "Atlantic/Stanley"), ("FO", "Atlantic/Faroe"), ("FR", "Europe/Paris"),
    ("GA", "Africa/Libreville"), ("GB", "Europe/London"), ("GD", "America/Grenada"),
    ("GE", "Asia/Tbilisi"), ("GF", "America/Cayenne"), ("GG", "Europe/Guernsey"),
    ("GH", "Africa/Accra"), ("GI", "Europe/Gibraltar"), ("GM", "Africa/Banjul"),
    ("GN", "Africa/Conakry"), ("GP", "America/Guadeloupe"), ("GQ", "Africa/Malabo"),
    ("GR", "Europe/Athens"), ("GS", "Atlantic/South_Georgia"), ("GT", "America/Guatemala"),
    ("GU", "Pacific/Guam"), ("GW", "Africa/Bissau"), ("GY", "America/Guyana"),
    ("HK", "Asia/Hong_Kong"), ("HN", "America/Tegucigalpa"), ("HR", "Europe/Zagreb"),
    ("HT", "America/Port-au-Prince"), ("HU", "Europe/Budapest"), ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"), ("IM", "Europe/Isle_of_Man"), ("IN", "Asia/Kolkata"),
    ("IO", "Indian/Chagos"), ("IQ", "Asia/Baghdad"), ("IR", "Asia/Tehran"),
    ("IS", "Atlantic/Reykjavik"), ("IT", "Europe/Rome"), ("JE", "Europe/Jersey"),
    ("JM", "America/Jamaica"), ("JO", "Asia/Amman"), ("JP", "Asia/Tokyo"),
    ("KE", "Africa/Nairobi"), ("KG", "Asia/Bishkek"), ("KH", "Asia/Phnom_Penh"),
    ("KM", "Indian/Comoro"), ("KN", "America/St_Kitts"), ("KP", "Asia/Pyongyang"),
    ("KR", "Asia/Seoul"), ("KW", "Asia/Kuwait"), ("KY", "America/Cayman"),
    ("LA", "Asia/Vientiane"), ("LB", "Asia/Beirut"), ("LC", "America/St_Lucia"),
    ("LI", "Europe/Vaduz"), ("LK", "Asia/Colombo"), ("LR", "Africa/Monrovia"),
    ("LS", "Africa/Maseru"), ("LT", "Europe/Vilnius"), ("LU", "Europe/Luxembourg"),
    ("LV", "Europe/Riga"), ("LY", "Africa/Tripoli"), ("MA", "Africa/Casablanca"),
    ("MC", "Europe/Monaco"), ("MD", "Europe/Chisinau"), ("ME", "Europe/Podgorica"),
    ("MF", "America/Marigot"), ("MG", "Indian/Antananarivo"), ("MK", "Europe/Skopje"),
    ("ML", "Africa/Bamako"), ("MM", "Asia/Yangon"), ("MO", "Asia/Macau"),
    ("MP", "Pacific/Saipan"), ("MQ", "America/Martinique"), ("MR", "Africa/Nouakchott"),
    ("MS", "America/Montserrat"), ("MT", "Europe/Malta"), ("MU", "Indian/Mauritius"),
    ("MV", "Indian/Maldives"), ("MW", "Africa/Blantyre"), ("MZ", "Africa/Maputo"),
    ("NA", "Africa/Windhoek"), ("NC", "Pacific/Noumea"), ("NE", "Africa/Niamey"),
    ("NF", "Pacific/Norfolk"), ("NG", "Africa/Lagos"), ("NI", "America/Managua"),
    ("NL", "Europe/Amsterdam"), ("NO", "Europe/Oslo"), ("NP", "Asia/Kathmandu"),
    ("NR", "Pacific/Nauru"), ("NU", "Pacific/Niue"), ("OM", "Asia/Muscat"),
    ("PA", "America/Panama"), ("PE", "America/Lima"), ("PH", "Asia/Manila"),
    ("PK", "Asia/Karachi"), ("PL", "Europe/Warsaw"), ("PM", "America/Miquelon"),
    ("PN", "Pacific/Pitcairn"), ("PR", "America/Puerto_Rico"), ("PW", "Pacific/Palau"),
    ("PY", "America/Asuncion"), ("QA", "Asia/Qatar"), ("RE", "Indian/Reunion"),
    ("RO", "Europe/Bucharest"), ("RS", "Europe/Belgrade"), ("RW", "Africa/Kigali"),
    ("SA", "Asia/Riyadh"), ("SB", "Pacific/Guadalcanal"), ("SC", "Indian/Mahe"),
    ("SD", "Africa/Khartoum"), ("SE", "Europe/Stockholm"), ("SG", "Asia/Singapore"),
    ("SH", "Atlantic/St_Helena"), ("SI", "Europe/Ljubljana"), ("SJ", "Arctic/Longyearbyen"),
    ("SK", "Europe/Bratislava"), ("SL", "Africa/Freetown"), ("SM", "Europe/San_Marino"),
    ("SN", "Africa/Dakar"), ("SO", "Africa/Mogadishu"), ("SR", "America/Paramaribo"),
    ("SS", "Africa/Juba"), ("ST", "Africa/Sao_Tome"), ("SV", "America/El_Salvador"),
    ("SX", "America/Lower_Princes"), ("SY", "Asia/Damascus"), ("SZ", "Africa/Mbabane"),
    ("TC", "America/Grand_Turk"), ("TD", "Africa/Ndjamena"), ("TF", "Indian/Kerguelen"),
    ("TG", "Africa/Lome"), ("TH", "Asia/Bangkok"), ("TJ", "Asia/Dushanbe"),
    ("TK", "Pacific/Fakaofo"), ("TL", "Asia/Dili"), ("TM", "Asia/Ashgabat"),
    ("TN", "Africa/Tunis"), ("TO", "Pacific/Tongatapu"), ("TR", "Europe/Istanbul"),
    ("TT", "America/Port_of_Spain"), ("TV", "Pacific/Funafuti"), ("TW", "Asia/Taipei"),
    ("TZ", "Africa/Dar_es_Salaam"), ("UG", "Africa/Kampala"), ("UY", "America/Montevideo"),
    ("VA", "Europe/Vatican"), ("VC", "America/St_Vincent"), ("VE", "America/Caracas"),
    ("VG", "America/Tortola"), ("VI", "America/St_Thomas"), ("VN", "Asia/Ho_Chi_Minh"),
    ("VU", "Pacific/Efate"), ("WF", "Pacific/Wallis"), ("WS", "Pacific/Apia"),
    ("YE", "Asia/Aden"), ("YT", "Indian/Mayotte"), ("ZA", "Africa/Johannesburg"),
    ("ZM", "Africa/Lusaka"), ("ZW", "Africa/Harare"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_country_with_one_zone_gives_its_numbers_that_zone() {
        assert_eq!(region_zone("GB"), Some(chrono_tz::Europe::London));
        assert_eq!(region_zone("DE"), Some(chrono_tz::Europe::Berlin));
        assert_eq!(region_zone("US"), None);
        for (code, zone) in SINGLE_ZONE {
            assert!(zone.parse::<Tz>().is_ok(), "{code} {zone}");
        }
        assert!(SINGLE_ZONE.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    }
}
