//! `campaign status [CAMPAIGN] [--json]`: the campaigns, or one campaign's counts.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::GlobalArgs;
use crate::queue::{CampaignId, Store};
use crate::report::Overview;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// A campaign id or name (without it: every campaign).
    pub campaign: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Follow the campaign as it moves: redrawn in place on a terminal, a line per interval
    /// otherwise; ends when it is finished or cancelled (or Ctrl-C).
    #[arg(long, requires = "campaign")]
    pub watch: bool,
    /// How often --watch looks.
    #[arg(long, value_name = "DURATION", value_parser = super::flags::parse_duration, default_value = "2s", requires = "watch")]
    pub every: std::time::Duration,
}

pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let Some(store) = global.existing_store().await? else {
        // Nothing to show is not an error; a campaign asked for that is not there is.
        if args.campaign.is_some() {
            anyhow::bail!("{}", global.no_database());
        }
        if args.json {
            crate::show!("[]");
        } else {
            crate::show!("{}", global.no_database());
        }
        return Ok(ExitCode::SUCCESS);
    };
    match &args.campaign {
        Some(name) if args.watch => {
            let id = super::control::resolve(&store, name).await?;
            super::watch::status(&store, id, args.every).await?
        }
        Some(name) => {
            let id = super::control::resolve(&store, name).await?;
            print_campaign(&store, id, args.json).await?
        }
        None if args.json => {
            let mut list = vec![];
            for (id, name, state, reason) in store.campaigns().await? {
                let counts = store.counts(id).await?;
                list.push(json!({"id": id, "name": name, "state": state, "reason": reason, "counts": counts}));
            }
            println!("{}", crate::terminal::json(&serde_json::Value::Array(list)));
        }
        // The same table as `campaign list`: dates, progress, who sends it.
        None => super::list::print_table(&store).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// One campaign as `status --json` prints it.
pub async fn campaign_json(store: &Store, id: CampaignId) -> anyhow::Result<serde_json::Value> {
    let Some(o) = Overview::of(store, id).await? else {
        anyhow::bail!("no campaign {id}: `campaign status` lists them");
    };
    Ok(serde_json::to_value(&o)?)
}

pub async fn print_campaign(store: &Store, id: CampaignId, as_json: bool) -> anyhow::Result<()> {
    let Some(o) = Overview::of(store, id).await? else {
        anyhow::bail!("no campaign {id}: `campaign status` lists them");
    };
    if as_json {
        println!("{}", crate::terminal::json(&o));
        return Ok(());
    }
    let reason = o
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    crate::show!("campaign {id} \"{}\": {}{reason}", o.name, o.state);
    let (c, f) = (&o.counts, &o.funnel);
    crate::show!(
        "funnel: queued {} -> sent {} -> delivered {} -> read {} -> replied {}",
        f.queued,
        f.sent,
        f.delivered,
        f.read,
        f.replied
    );
    crate::show!(
        "now: queued {}, sending {}, sent {}, delivered {}, read {}, replied {}, failed {}, uncertain {}, cancelled {}, expired {} (total {})",
        c.queued,
        c.sending,
        c.sent,
        c.delivered,
        c.read,
        c.replied,
        c.failed,
        c.uncertain,
        c.cancelled,
        c.expired,
        c.total
    );
    if let Some(n) = o.untracked.filter(|n| *n > 0) {
        crate::show!(
            "untracked {n}: texts the API accepted without a message id that their conversations never showed; sent, but no delivery or read can be learnt for them"
        );
    }
    if o.delivery.by_callback.is_some() || o.delivery.by_polling.is_some() {
        crate::show!(
            "median time to delivered: {}",
            crate::report::delivery_times(&o.delivery)
        );
    }
    if o.usage.accepted > 0 {
        crate::show!("used: {}", o.usage.describe());
    }
    for b in o.batches.iter().take(10) {
        let at = crate::clock::rfc3339_secs(b.slot);
        match b.state.as_str() {
            "skipped" => crate::show!("skipped     {}", b.reason.as_deref().unwrap_or(&at)),
            state => crate::show!(
                "batch {:>5}  run of {at}: {state}, {} messages",
                b.id,
                b.messages
            ),
        }
    }
    if let Some(token) = store.campaign_token(id).await?
        && let Some((cap, used)) = store.daily_use(&token, store.now_ms()).await?
    {
        crate::show!(
            "daily limit of token {token}: {used} of {cap} recipients started in the last 24 hours{}",
            if used >= cap {
                "; the rest wait for a place"
            } else {
                ""
            }
        );
    }
    for failure in &o.failures {
        crate::show!("failed {:>6}  {}", failure.count, failure.reason);
    }
    for d in &o.deferred {
        let at = crate::clock::rfc3339_secs;
        let when = if d.first_at == d.last_at {
            at(d.first_at)
        } else {
            format!("{} to {}", at(d.first_at), at(d.last_at))
        };
        crate::show!("deferred {:>4}  next attempt {when}: {}", d.count, d.reason);
    }
    let r = &o.replies;
    if r.total() > 0 {
        crate::show!("replies: {}", r.describe());
        if let Some(confirmed) = r.confirmed() {
            crate::show!("opt-outs' confirmations: {confirmed}");
        }
    }
    if let Some(context) = &o.context {
        crate::show!(
            "context after the send: {}",
            crate::report::context_line(context)
        );
    }
    for reply in r.listed.iter().rev().take(10) {
        crate::show!(
            "{:<16}  {} {}: \"{}\"",
            reply.verdict,
            crate::clock::rfc3339_secs(reply.at_ms),
            reply.recipient,
            crate::terminal::safe(&reply.text)
        );
    }
    if r.listed.len() > 10 {
        crate::show!(
            "... and {} more: `campaign status {id} --json` or the report lists them all",
            r.listed.len() - 10
        );
    }
    if c.uncertain > 0 {
        crate::show!(
            "{} uncertain: `campaign retry {id} --uncertain` sends them again if you decide so",
            c.uncertain
        );
    }
    Ok(())
}
