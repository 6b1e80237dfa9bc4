//! How `campaign run` sends its campaign: its rate, number rate, attempts, requests in flight,
//! reconciliation's safe delay, ack polls and priority. A flag not given takes the campaign's
//! stored choice (from the run that queued it, or an earlier run of it), else its default. What
//! comes out is stored with the campaign and applied by whichever process sends it: this run,
//! the worker it is handed to, a worker after a restart or a takeover.

use std::time::Duration;

use clap::Args;

use super::flags::{in_flight, parse_duration, parse_quality, parse_sweep};
use crate::convrs::CallbackTarget;
use crate::dispatch::DispatchConfig;
use crate::engine::Settings;
use crate::queue::QualityPolicy;
use crate::queue::SendOptions;
use crate::tracking::PollSchedule;

/// A message due later than this does not hold the run: it is deferred.
pub(super) const DEFER_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Sends per second of this campaign, within its token's limit (1 to 10000)
    /// [default: 10, or as the campaign was last sent]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: Option<u32>,
    /// Sends per second per phone number (1 to 100) [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub number_rate: Option<u32>,
    /// Attempts before a transiently failing message is failed (1 to 100) [default: 5]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=100))]
    pub max_attempts: Option<i64>,
    /// Requests in flight at once (1 to 1024) [default: 16]
    #[arg(long, value_name = "N", value_parser = in_flight)]
    pub in_flight: Option<usize>,
    /// How long after an ambiguous attempt ended an empty conversation proves it was not
    /// sent; must be longer than --request-timeout [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub reconcile_after: Option<Duration>,
    /// When to poll GetMessageDetails first after a send; later polls widen (x6, x30, x180...)
    /// [default: 10s, 1s with --sim]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub poll_first: Option<Duration>,
    /// Stop polling messages older than this [default: 24h]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub poll_max_age: Option<Duration>,
    /// GetMessageDetails calls per second (1 to 1000) [default: 5]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub poll_rate: Option<u32>,
    /// How long after an SMS is sent its conversation is read for replies (STOP), at 1 min,
    /// 10 min, 1 h, 6 h, 24 h and 72 h (x the first poll interval / 10 s); `off` never reads
    /// [default: 72h]
    #[arg(long, value_name = "DURATION|off", value_parser = parse_sweep)]
    pub reply_sweep: Option<Duration>,
    /// Pause the campaign when, after MIN_DELIVERED messages delivered, under MIN_READ% of
    /// them are read (WhatsApp) or over MAX_OPT_OUT% of their recipients opt out or block the
    /// bot; `off` never pauses [default: 200,40%,1%]
    #[arg(long, value_name = "MIN_DELIVERED,MIN_READ%,MAX_OPT_OUT%|off", value_parser = parse_quality)]
    pub quality: Option<QualityPolicy>,
    /// This campaign's share of its token when other campaigns send on it at once: a campaign
    /// of priority 3 gets three sends for every one of priority 1 (1 to 10) [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub priority: Option<u32>,
}

impl SendArgs {
    /// What the operator chose: the flags given now over those stored with the campaign.
    pub fn chosen(&self, stored: Option<SendOptions>) -> SendOptions {
        let ms = |d: Duration| d.as_millis() as u64;
        let mut c = stored.unwrap_or_default();
        c.rate = self.rate.or(c.rate);
        c.number_rate = self.number_rate.or(c.number_rate);
        c.max_attempts = self.max_attempts.or(c.max_attempts);
        c.in_flight = self.in_flight.or(c.in_flight);
        c.reconcile_after_ms = self.reconcile_after.map(ms).or(c.reconcile_after_ms);
        c.poll_first_ms = self.poll_first.map(ms).or(c.poll_first_ms);
        c.poll_max_age_ms = self.poll_max_age.map(ms).or(c.poll_max_age_ms);
        c.poll_rate = self.poll_rate.or(c.poll_rate);
        c.reply_sweep_ms = self.reply_sweep.map(ms).or(c.reply_sweep_ms);
        c.quality = self.quality.or(c.quality);
        c
    }

    /// The settings of a send of `command`: what was `chosen`, else the defaults.
    pub fn settings(
        &self,
        command: &'static str,
        callback: Option<CallbackTarget>,
        sim: bool,
        chosen: &SendOptions,
    ) -> Settings {
        // The simulator acks within a second; a real API within seconds to minutes.
        let first_poll = Duration::from_secs(if sim { 1 } else { 10 });
        let defaults = Settings {
            dispatch: DispatchConfig {
                rate: 10,
                number_rate: 1,
                max_attempts: 5,
                in_flight: 16,
                command,
                callback,
                first_poll,
                defer_after: DEFER_AFTER,
            },
            polls: PollSchedule {
                first: first_poll,
                max_age: Duration::from_secs(24 * 3600),
                rate: 5,
                reply_sweep: PollSchedule::default().reply_sweep,
                quality: QualityPolicy::default(),
                // A rehearsal's earlier runs had their own receivers, gone with them.
                replies_by_callback: !sim,
                settled_after: sim.then_some(super::campaign_args::REHEARSAL_SETTLED),
            },
            reconcile_after: Duration::from_secs(60),
        };
        let mut s = defaults.with_own(Some(chosen));
        s.dispatch.first_poll = s.polls.first;
        s
    }
}
