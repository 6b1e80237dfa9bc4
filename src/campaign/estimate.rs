//! What a campaign will cost and how long its sending takes, before anything is sent
//! (`validate`, `run --dry-run`): the file's price times what would be queued, and the messages
//! at the token's rate (the API document: "Only 10 messages can be sent per second per token"),
//! spread over days by a daily limit.

use serde::{Deserialize, Serialize};

use super::definition::Definition;
use super::load::Summary;

/// The API document's limit of sends a second on one token.
pub const TOKEN_RATE: u32 = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Messages it would send: the valid ones.
    pub messages: u64,
    /// The price times the messages (or SMS segments), when the campaign file has a price.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency: Option<String>,
    /// Sends a second it is reckoned at.
    pub rate: u32,
    /// How long sending them takes at `rate`.
    pub send_seconds: u64,
    /// The days it spans under the campaign's daily limit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub days: Option<u64>,
}

impl Estimate {
    pub fn of(def: &Definition, summary: &Summary, rate: u32) -> Estimate {
        let messages = summary.valid;
        let segments = summary.sms.as_ref().map_or(0, |s| s.segments);
        let rate = rate.max(1);
        Estimate {
            messages,
            cost: def
                .price
                .as_ref()
                .map(|p| round_cents(p.cost(messages as i64, segments as i64))),
            currency: def.price.as_ref().map(|p| p.currency.clone()),
            rate,
            send_seconds: messages.div_ceil(rate as u64),
            days: def
                .timing
                .daily_limit
                .filter(|limit| *limit > 0)
                .map(|limit| messages.div_ceil(limit as u64)),
        }
    }

    /// One line for a person: `10 messages would cost 0.36 GBP; at 10 a second sending takes
    /// about 1 s`.
    pub fn describe(&self) -> String {
        let mut line = crate::terminal::counted(self.messages, "message", "messages");
        if let (Some(cost), Some(currency)) = (self.cost, &self.currency) {
            line.push_str(&format!(" would cost {cost:.2} {currency}"));
        }
        line.push_str(&format!(
            "; at {} a second sending takes about {}",
            self.rate,
            spoken(self.send_seconds)
        ));
        if let Some(days) = self.days.filter(|d| *d > 1) {
            line.push_str(&format!(", spread by the daily limit over {days} days"));
        }
        line
    }
}

fn round_cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// `1 h 5 min`, `3 min 20 s`, `42 s`.
fn spoken(seconds: u64) -> String {
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::definition::{CampaignFile, Channel};
    use crate::campaign::load::SmsTotals;
    use crate::campaign::price::Price;

    fn sms(price: Option<Price>, daily_limit: Option<u32>) -> Definition {
        CampaignFile {
            bot_id: Some(1),
            channel: Some(Channel::Sms),
            message: Some("Hi".into()),
            csv: Some("x.csv".into()),
            price,
            daily_limit,
            ..Default::default()
        }
        .with(CampaignFile::default())
        .unwrap()
    }

    fn summary(valid: u64, segments: u64) -> Summary {
        Summary {
            valid,
            sms: Some(SmsTotals {
                segments,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_cost_is_the_price_times_the_segments_and_the_time_the_messages_at_the_rate() {
        let price = Price {
            per_message: None,
            per_segment: Some(0.035),
            currency: "GBP".into(),
        };
        let e = Estimate::of(
            &sms(Some(price), None),
            &summary(12_345, 24_690),
            TOKEN_RATE,
        );
        assert_eq!((e.cost, e.send_seconds, e.days), (Some(864.15), 1235, None));
        assert_eq!(
            e.describe(),
            "12345 messages would cost 864.15 GBP; at 10 a second sending takes about 20 min 35 s"
        );
    }

    #[test]
    fn without_a_price_only_the_time_and_a_daily_limit_spreads_it_over_days() {
        let e = Estimate::of(
            &sms(None, Some(5_000)),
            &summary(12_000, 12_000),
            TOKEN_RATE,
        );
        assert_eq!((e.cost, e.days), (None, Some(3)));
        assert_eq!(
            e.describe(),
            "12000 messages; at 10 a second sending takes about 20 min 0 s, spread by the daily limit over 3 days"
        );
        assert_eq!(spoken(3_900), "1 h 5 min");
    }
}
