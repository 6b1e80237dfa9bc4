//! What a campaign used: messages the API accepted, the SMS segments they took, and with a
//! price in the campaign file what that cost.

use serde::Serialize;

use crate::campaign::price::Price;
use crate::campaign::sms::{Encoding, analyse};
use crate::queue::{CampaignId, Store, StoreError};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Usage {
    /// Messages the API accepted (what it charges for).
    pub accepted: i64,
    /// SMS only: the segments the accepted messages took, and how many were sent as UCS-2
    /// (70 characters a segment instead of 160).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucs2_messages: Option<i64>,
    /// With a price in the campaign file: the estimated cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cost {
    pub amount: f64,
    pub currency: String,
    /// The price it was worked out from, such as `0.035 GBP per segment`.
    pub price: String,
}

impl Usage {
    /// What campaign `id` used: `accepted` is the funnel's `sent` (messages with an accepted
    /// send); only an SMS campaign's request bodies are read, for their segments.
    pub async fn of(
        store: &Store,
        id: CampaignId,
        accepted: i64,
        sms: bool,
        price: Option<&str>,
    ) -> Result<Usage, StoreError> {
        let (mut segments, mut ucs2) = (0, 0);
        if sms {
            store
                .accepted_payloads(id, |payload| {
                    let text = serde_json::from_str::<serde_json::Value>(payload)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(analyse));
                    if let Some(info) = text {
                        segments += info.segments as i64;
                        ucs2 += i64::from(info.encoding == Encoding::Ucs2);
                    }
                })
                .await?;
        }
        let price = price.and_then(|json| serde_json::from_str::<Price>(json).ok());
        Ok(Usage {
            accepted,
            segments: sms.then_some(segments),
            ucs2_messages: sms.then_some(ucs2),
            cost: price.map(|p| Cost {
                amount: p.cost(accepted, segments),
                currency: p.currency.clone(),
                price: p.describe(),
            }),
        })
    }

    /// One line for people: `12 accepted, 30 SMS segments (2 UCS-2), cost 1.05 GBP (0.035 GBP
    /// per segment)`.
    pub fn describe(&self) -> String {
        let mut line = format!("{} accepted", self.accepted);
        if let (Some(segments), Some(ucs2)) = (self.segments, self.ucs2_messages) {
            line += &format!(", {segments} SMS segments");
            if ucs2 > 0 {
                let messages = if ucs2 == 1 { "message" } else { "messages" };
                line += &format!(" ({ucs2} {messages} in UCS-2, 70 characters a segment)");
            }
        }
        if let Some(c) = &self.cost {
            line += &format!(
                ", estimated cost {} {} ({})",
                money(c.amount),
                c.currency,
                c.price
            );
        }
        line
    }
}

/// Two decimals, or four for an amount under 0.01 that two would show as nothing.
pub(super) fn money(amount: f64) -> String {
    if amount > 0.0 && amount < 0.01 {
        format!("{amount:.4}")
    } else {
        format!("{amount:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_as_one_line() {
        let usage = Usage {
            accepted: 3,
            segments: Some(5),
            ucs2_messages: Some(1),
            cost: Some(Cost {
                amount: 0.175,
                currency: "GBP".into(),
                price: "0.035 GBP per segment".into(),
            }),
        };
        assert_eq!(
            usage.describe(),
            "3 accepted, 5 SMS segments (1 message in UCS-2, 70 characters a segment), \
             estimated cost 0.17 GBP (0.035 GBP per segment)"
        );
        assert_eq!(money(0.0035), "0.0035");
    }
}
