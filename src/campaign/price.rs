//! What a campaign costs: a price per message or per SMS segment, from the campaign file's
//! `price = { per_segment = 0.035, currency = "GBP" }`. Reports multiply it by what the API
//! accepted; it is an estimate from the operator's own tariff, not an invoice.

use serde::{Deserialize, Serialize};

use super::definition::{Channel, DefinitionError};

/// A price as the campaign file gives it. Not part of a campaign's settings: a new tariff is
/// the same campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_message: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_segment: Option<f64>,
    pub currency: String,
}

impl Price {
    /// Checks the price for a campaign on `channel`: one amount, not negative, and per segment
    /// only for SMS (a WhatsApp message has no segments).
    pub fn check(self, channel: Channel) -> Result<Price, DefinitionError> {
        let invalid = |m: String| Err(DefinitionError::Invalid(format!("price: {m}")));
        let amount = match (self.per_message, self.per_segment) {
            (Some(_), Some(_)) => {
                return invalid("give per_message or per_segment, not both".into());
            }
            (None, None) => {
                return invalid(
                    "give per_message = AMOUNT or per_segment = AMOUNT, and currency".into(),
                );
            }
            (Some(a), None) | (None, Some(a)) => a,
        };
        if !amount.is_finite() || amount < 0.0 {
            return invalid(format!("{amount} is not a price: give 0 or more"));
        }
        if self.per_segment.is_some() && channel != Channel::Sms {
            return invalid("per_segment is for SMS; a WhatsApp campaign has per_message".into());
        }
        if self.currency.trim().is_empty() {
            return invalid("currency is empty: give one, such as \"GBP\" or \"USD\"".into());
        }
        Ok(self)
    }

    /// The cost of `messages` messages taking `segments` segments in all.
    pub fn cost(&self, messages: i64, segments: i64) -> f64 {
        match (self.per_message, self.per_segment) {
            (_, Some(each)) => each * segments as f64,
            (Some(each), None) => each * messages as f64,
            (None, None) => 0.0,
        }
    }

    /// `0.035 GBP per segment`.
    pub fn describe(&self) -> String {
        match (self.per_message, self.per_segment) {
            (_, Some(each)) => format!("{each} {} per segment", self.currency),
            (Some(each), None) => format!("{each} {} per message", self.currency),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(per_message: Option<f64>, per_segment: Option<f64>) -> Price {
        Price {
            per_message,
            per_segment,
            currency: "GBP".into(),
        }
    }

    #[test]
    fn a_price_is_one_amount_that_fits_the_channel() {
        assert!(price(Some(0.05), None).check(Channel::Whatsapp).is_ok());
        assert!(price(None, Some(0.035)).check(Channel::Sms).is_ok());
        for (bad, channel, says) in [
            (price(Some(1.0), Some(1.0)), Channel::Sms, "not both"),
            (price(None, None), Channel::Sms, "per_message = AMOUNT"),
            (price(Some(-1.0), None), Channel::Sms, "give 0 or more"),
            (
                price(None, Some(0.1)),
                Channel::Whatsapp,
                "per_segment is for SMS",
            ),
        ] {
            let err = bad.check(channel).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_segment_price_counts_segments_and_a_message_price_messages() {
        assert_eq!(price(None, Some(0.5)).cost(3, 7), 3.5);
        assert_eq!(price(Some(0.5), None).cost(3, 7), 1.5);
    }
}
