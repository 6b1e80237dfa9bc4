//! The API document's "Monitor your quality rating", enforced: a campaign whose audience is
//! turning away pauses itself, with the figures in its reason, before Meta pauses its template
//! or restricts the account. Judged once at least `min_delivered` messages are delivered:
//!
//! - the read rate (read of delivered; WhatsApp only, SMS has no read receipts) under
//!   `min_read_bp` (the document: "businesses with strong engagement typically maintain read
//!   rates of 65-80%"; default 40%);
//! - the recipients who opted out (a keyword) or blocked the bot (onUserDisable) in answer to
//!   it, over `max_turned_away_bp` of those delivered (default 1%).
//!
//! A read receipt a recipient turned off counts as unread: the read rate is a floor, and the
//! threshold is set low for it.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::queue::{CampaignId, QualityFigures, QualityPolicy, Store, StoreError};

/// How a policy is written on the command line, and what it says of a campaign (the type is
/// the store's, kept with the campaign's send options).
impl QualityPolicy {
    /// `off`, or `MIN_DELIVERED,MIN_READ%,MAX_OPT_OUT%` (`200,40%,1%`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "off" {
            return Ok(QualityPolicy::OFF);
        }
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let basis_points = |p: &str| -> Result<u32, String> {
            let n: f64 = p
                .trim_end_matches('%')
                .trim()
                .parse()
                .map_err(|_| format!("'{p}' is not a percentage"))?;
            if (0.0..=100.0).contains(&n) {
                Ok((n * 100.0).round() as u32)
            } else {
                Err(format!("'{p}' is not between 0% and 100%"))
            }
        };
        match parts.as_slice() {
            [min, read, away] => Ok(QualityPolicy {
                min_delivered: min
                    .parse()
                    .ok()
                    .filter(|n: &i64| *n >= 1)
                    .ok_or_else(|| format!("'{min}' is not a count of messages (1 or more)"))?,
                min_read_bp: basis_points(read)?,
                max_turned_away_bp: basis_points(away)?,
            }),
            _ => Err(format!(
                "'{s}' is not MIN_DELIVERED,MIN_READ%,MAX_OPT_OUT% (e.g. 200,40%,1%) or off"
            )),
        }
    }

    /// Why the campaign should pause, if it should.
    pub fn judge(&self, f: &QualityFigures) -> Option<String> {
        if f.unsent == 0 || f.delivered < self.min_delivered.max(1) {
            return None;
        }
        // n / delivered against bp / 10000, in integers.
        let scaled = |n: i64| i128::from(n) * 10_000;
        let of_delivered = |bp: u32| i128::from(bp) * i128::from(f.delivered);
        let pct = |n: i64| format!("{:.1}%", n as f64 * 100.0 / f.delivered as f64);
        let bp = |bp: u32| format!("{:.1}%", f64::from(bp) / 100.0);
        if !f.sms && scaled(f.read) < of_delivered(self.min_read_bp) {
            return Some(format!(
                "paused by its quality check: {} read of {} delivered ({}), under {}; engaged senders see 65-80%, and a low read rate leads Meta to pause templates. Check the audience and the template, then `campaign resume` (or run with --quality off)",
                f.read,
                f.delivered,
                pct(f.read),
                bp(self.min_read_bp)
            ));
        }
        if scaled(f.turned_away) > of_delivered(self.max_turned_away_bp) {
            return Some(format!(
                "paused by its quality check: {} of {} delivered recipients opted out or blocked the bot ({}), over {}. Check the audience and the template, then `campaign resume` (or run with --quality off)",
                f.turned_away,
                f.delivered,
                pct(f.turned_away),
                bp(self.max_turned_away_bp)
            ));
        }
        None
    }
}

/// How often a sender judges each campaign it tracks.
pub const QUALITY_EVERY: Duration = Duration::from_secs(30);

/// Judges campaigns at most once per `every` each (the figures are counts over the store).
#[derive(Debug)]
pub struct QualityWatch {
    every: Duration,
    judged: HashMap<CampaignId, Instant>,
}

impl QualityWatch {
    pub fn new(every: Duration) -> Self {
        QualityWatch {
            every,
            judged: HashMap::new(),
        }
    }

    /// Judges the campaign if it was not judged within `every`, and pauses it if it should.
    /// Returns the reason when this call paused it.
    pub async fn watch(
        &mut self,
        store: &Store,
        campaign: CampaignId,
        policy: &QualityPolicy,
    ) -> Result<Option<String>, StoreError> {
        if *policy == QualityPolicy::OFF
            || self
                .judged
                .get(&campaign)
                .is_some_and(|at| at.elapsed() < self.every)
        {
            return Ok(None);
        }
        self.judged.insert(campaign, Instant::now());
        let figures = store.quality_figures(campaign).await?;
        let Some(reason) = policy.judge(&figures) else {
            return Ok(None);
        };
        if !store.pause_for(campaign, &reason).await? {
            return Ok(None);
        }
        tracing::warn!(%campaign, "{reason}");
        Ok(Some(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(delivered: i64, read: i64, turned_away: i64) -> QualityFigures {
        QualityFigures {
            delivered,
            read,
            turned_away,
            unsent: 100,
            sms: false,
        }
    }

    #[test]
    fn a_campaign_is_judged_only_once_enough_is_delivered_and_while_it_has_more_to_send() {
        let p = QualityPolicy::default();
        assert_eq!(p.judge(&figures(199, 0, 50)), None, "too early to judge");
        assert!(
            p.judge(&figures(200, 79, 0))
                .unwrap()
                .contains("79 read of 200 delivered (39.5%), under 40.0%")
        );
        assert_eq!(
            p.judge(&figures(200, 80, 2)),
            None,
            "40% read, 1% away: fine"
        );
        assert!(
            p.judge(&figures(200, 80, 3))
                .unwrap()
                .contains("3 of 200 delivered recipients opted out or blocked the bot (1.5%)")
        );
        let done = QualityFigures {
            unsent: 0,
            ..figures(200, 0, 50)
        };
        assert_eq!(p.judge(&done), None, "nothing left to hold back");
        let sms = QualityFigures {
            sms: true,
            ..figures(200, 0, 0)
        };
        assert_eq!(p.judge(&sms), None, "SMS has no read receipts");
        assert_eq!(
            QualityPolicy::OFF.judge(&figures(1_000_000, 0, 1_000_000)),
            None
        );
    }

    #[test]
    fn the_policy_reads_as_counts_and_percentages_or_off() {
        assert_eq!(
            QualityPolicy::parse("200,40%,1%").unwrap(),
            QualityPolicy::default()
        );
        assert_eq!(QualityPolicy::parse("off").unwrap(), QualityPolicy::OFF);
        assert_eq!(
            QualityPolicy::parse(" 500, 50 , 2% ")
                .unwrap()
                .min_delivered,
            500
        );
        for bad in ["200", "0,40%,1%", "200,140%,1%", "x,40%,1%", "200,40%,y"] {
            assert!(QualityPolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
