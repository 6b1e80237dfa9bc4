//! `status CAMPAIGN --watch` and `list --watch`: the campaigns as they move, redrawn in place
//! on a terminal (progress, the rate over the last half minute against the token's limit, the
//! time left at that rate, recent failures), a plain line per campaign and interval otherwise
//! (logs, `watch`-less terminals, files).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::queue::{CampaignId, CampaignState, Store};
use crate::report::Pace;

/// Where the frames go: redrawn in place on a terminal, appended otherwise.
struct Screen {
    terminal: bool,
    drawn: usize,
    /// The plain lines last printed, without their time: a line is printed again only when
    /// what it says changed.
    said: BTreeMap<usize, String>,
}

impl Screen {
    fn new() -> Self {
        Screen {
            terminal: std::io::stdout().is_terminal(),
            drawn: 0,
            said: BTreeMap::new(),
        }
    }

    /// A frame: on a terminal it replaces the last one; otherwise `plain` is printed, one
    /// `(time, line)` per thing watched, each only when its line changed.
    fn show(&mut self, frame: &[String], plain: &[(String, String)]) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            // Up to the first line of the last frame, and clear to the end of the screen.
            if self.drawn > 0 {
                let _ = write!(out, "\x1b[{}F\x1b[J", self.drawn);
            }
            for line in frame {
                let _ = writeln!(out, "{}", crate::terminal::safe(line));
            }
            self.drawn = frame.len();
        } else {
            for (i, (time, line)) in plain.iter().enumerate() {
                if self.said.get(&i) != Some(line) {
                    let _ = writeln!(out, "{time} {}", crate::terminal::safe(line));
                    self.said.insert(i, line.clone());
                }
            }
        }
        let _ = out.flush();
    }
}

/// The shortest interval the views look at the store.
const SHORTEST: Duration = Duration::from_millis(250);

/// Waits `every` (at least `SHORTEST`), or returns false on Ctrl-C.
async fn next(every: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(every.max(SHORTEST)) => true,
        _ = tokio::signal::ctrl_c() => false,
    }
}

/// One campaign's frame and plain line.
async fn campaign_frame(
    store: &Store,
    id: CampaignId,
    pace: &mut Pace,
) -> anyhow::Result<(Vec<String>, (String, String), CampaignState)> {
    let Some(o) = crate::report::Overview::of(store, id).await? else {
        anyhow::bail!("no campaign {id}: `campaign status` lists them");
    };
    let c = &o.counts;
    let now = store.now_ms();
    let left = c.queued + c.sending;
    let done = c.total - left;
    pace.add(now, done);
    let rate = pace
        .rate()
        .map_or_else(|| "measuring".to_string(), |r| format!("{r:.1}/s"));
    let token = store
        .campaign_token(id)
        .await?
        .unwrap_or_else(|| "-".into());
    let limit = crate::campaign::estimate::TOKEN_RATE;
    let percent = if c.total > 0 {
        done * 100 / c.total
    } else {
        100
    };
    let state = CampaignState::parse(&o.state)?;
    let reason = o
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let mut frame = vec![
        format!(
            "campaign {id} \"{}\": {}{reason}   {}",
            o.name,
            o.state,
            crate::clock::rfc3339_secs(now)
        ),
        format!(
            "{} {done}/{} ({percent}%)  rate {rate} (token {token}, limit {limit}/s)  time left {}",
            bar(percent),
            c.total,
            pace.eta(left)
        ),
        format!(
            "sent {}  delivered {}  read {}  replied {}  failed {}  uncertain {}  expired {}  cancelled {}",
            c.sent + c.delivered + c.read + c.replied,
            c.delivered + c.read + c.replied,
            c.read + c.replied,
            c.replied,
            c.failed,
            c.uncertain,
            c.expired,
            c.cancelled
        ),
    ];
    for failure in o.failures.iter().take(3) {
        frame.push(format!("failed {:>6}  {}", failure.count, failure.reason));
    }
    let plain = format!(
        "campaign {id} {}: {done}/{} done, rate {rate}, time left {}, failed {}, uncertain {}",
        o.state,
        c.total,
        pace.eta(left),
        c.failed,
        c.uncertain
    );
    Ok((frame, (crate::clock::rfc3339_secs(now), plain), state))
}

fn bar(percent: i64) -> String {
    let filled = (percent.clamp(0, 100) / 5) as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(20 - filled))
}

/// `status CAMPAIGN --watch`: until the campaign is finished or cancelled, or Ctrl-C.
pub async fn status(store: &Store, id: CampaignId, every: Duration) -> anyhow::Result<()> {
    let mut screen = Screen::new();
    let mut pace = Pace::default();
    loop {
        let (frame, plain, state) = campaign_frame(store, id, &mut pace).await?;
        screen.show(&frame, &[plain]);
        if matches!(state, CampaignState::Finished | CampaignState::Cancelled) || !next(every).await
        {
            return Ok(());
        }
    }
}

/// `list --watch`: every campaign, and each token's rate, until Ctrl-C.
pub async fn list(store: &Store, every: Duration) -> anyhow::Result<()> {
    let mut screen = Screen::new();
    let mut paces: BTreeMap<i64, Pace> = BTreeMap::new();
    loop {
        let now = store.now_ms();
        let campaigns = store.list_campaigns(now).await?;
        let mut frame = vec![format!(
            "{} campaigns   {}",
            campaigns.len(),
            crate::clock::rfc3339_secs(now)
        )];
        let mut plain = vec![];
        let mut by_token: BTreeMap<String, f64> = BTreeMap::new();
        frame.push(format!(
            "{:>4}  {:<24} {:<11} {:>15} {:>9}  {:<11} time left",
            "id", "name", "state", "sent/total", "rate", "token"
        ));
        for c in &campaigns {
            let pace = paces.entry(c.id.0).or_default();
            pace.add(now, c.sent);
            let rate = pace.rate().unwrap_or(0.0);
            let token = c.token.clone().unwrap_or_else(|| "-".into());
            *by_token.entry(token.clone()).or_default() += rate;
            let line = format!(
                "{:>4}  {:<24} {:<11} {:>15} {:>7.1}/s  {:<11} {}",
                c.id,
                c.name,
                c.state,
                format!("{}/{}", c.sent, c.total),
                rate,
                token,
                if CampaignState::TO_SEND.contains(&c.state) {
                    pace.eta(c.total - c.sent)
                } else {
                    "-".into()
                }
            );
            plain.push((crate::clock::rfc3339_secs(now), line.clone()));
            frame.push(line);
        }
        let limit = crate::campaign::estimate::TOKEN_RATE;
        for (token, rate) in by_token.iter().filter(|(t, _)| *t != "-") {
            frame.push(format!("token {token}: {rate:.1}/s of {limit}/s"));
        }
        screen.show(&frame, &plain);
        if !next(every).await {
            return Ok(());
        }
    }
}
