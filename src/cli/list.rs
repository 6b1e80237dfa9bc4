//! `campaign list [--json]`: every campaign with its state, token (a fingerprint), dates,
//! progress and who is sending it now.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    /// One JSON array instead of a table.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw the table in place as campaigns move, with each campaign's and token's rate
    /// (a line per campaign and interval when not a terminal), until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// How often --watch looks.
    #[arg(long, value_name = "DURATION", value_parser = super::flags::parse_duration, default_value = "2s", requires = "watch")]
    pub every: std::time::Duration,
}

pub async fn run(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let Some(store) = global.existing_store().await? else {
        if args.json {
            crate::show!("[]");
        } else {
            crate::show!("{}", global.no_database());
        }
        return Ok(ExitCode::SUCCESS);
    };
    if args.json {
        let campaigns = store.list_campaigns(store.now_ms()).await?;
        println!("{}", crate::terminal::json(&campaigns));
        return Ok(ExitCode::SUCCESS);
    }
    if args.watch {
        super::watch::list(&store, args.every).await?;
    } else {
        print_table(&store).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The campaigns as a table: id, name, state, token, dates, progress, who sends it now.
pub async fn print_table(store: &crate::queue::Store) -> anyhow::Result<()> {
    let campaigns = store.list_campaigns(store.now_ms()).await?;
    if campaigns.is_empty() {
        crate::show!("no campaigns yet");
        return Ok(());
    }
    crate::show!(
        "{:>4}  {:<24} {:<12} {:<11} {:<17} {:<17} {:>15}  sending now",
        "id",
        "name",
        "state",
        "token",
        "created",
        "last activity",
        "sent/total"
    );
    let short = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
    for c in &campaigns {
        crate::show!(
            "{:>4}  {:<24} {:<12} {:<11} {:<17} {:<17} {:>15}  {}",
            c.id,
            c.name,
            c.state,
            c.token.as_deref().unwrap_or("-"),
            short(&c.created_at),
            short(&c.updated_at),
            format!("{}/{}", c.sent, c.total),
            who(c),
        );
    }
    Ok(())
}

/// Who sends the campaign now, or why no one does.
fn who(c: &crate::queue::Listed) -> String {
    match (&c.sending_now, &c.token_holder) {
        (Some(owner), Some(holder)) if holder.ends_with(owner.as_str()) => holder.clone(),
        (Some(owner), _) => owner.clone(),
        (None, Some(holder)) if c.waiting_for_token => {
            format!("waiting for its token ({holder} holds it)")
        }
        (None, _) if c.waiting_for_token => "waiting for its token".into(),
        (None, Some(holder))
            if holder.starts_with("worker") && c.state == crate::queue::CampaignState::Queued =>
        {
            format!("queued for {holder}")
        }
        _ => "-".into(),
    }
}
