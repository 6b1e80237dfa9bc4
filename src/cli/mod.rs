//! The command line: global options and one file per subcommand.

mod campaign_args;
mod continued;
mod control;
mod flags;
mod list;
mod progress;
mod report;
mod retry;
mod run;
mod shell;
mod sim;
mod status;
mod suppress;
mod token;
mod track;
mod validate;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::queue::{Purpose, Store, StoreOptions};

/// Something went wrong; the message says what.
pub const EXIT_FAILURE: u8 = 1;
/// A campaign was paused or its token stopped (the message says why).
pub const EXIT_STOPPED: u8 = 3;
/// Another process is sending this campaign.
pub const EXIT_BUSY: u8 = 4;
/// Stopped by Ctrl-C or SIGTERM; run again to resume.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "campaign",
    version,
    about = "Bulk WhatsApp-template and SMS campaigns through the Convrs API"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The Convrs API endpoint (the HTTPS URL shown under Integrations > Convrs API).
    #[arg(long, env = "CONVRS_API_URL", global = true)]
    pub api_url: Option<String>,
    /// Read the API token from this file (otherwise from the CONVRS_TOKEN environment variable).
    /// `campaign worker` takes it several times, one file per token.
    #[arg(long, global = true, value_name = "PATH", action = clap::ArgAction::Append)]
    pub token_file: Vec<PathBuf>,
    /// The campaign database: a path or a sqlite:// URL (postgres:// is not supported yet).
    /// Default: campaign.db, or campaign.sim.db for rehearsals (--sim).
    #[arg(long, env = "CAMPAIGN_DB", global = true, value_name = "PATH|URL")]
    pub db: Option<String>,
    /// How long one API request may take before the client gives up (e.g. 30s; 1s to 10m).
    #[arg(long, global = true, default_value = "30s", value_parser = request_timeout)]
    pub request_timeout: std::time::Duration,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

fn request_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = run::parse_duration(s)?;
    if (std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(600)).contains(&d) {
        Ok(d)
    } else {
        Err(format!("'{s}' is not between 1s and 10m"))
    }
}

/// The database of real sends, unless `--db` names another.
pub const DEFAULT_DB: &str = "campaign.db";
/// The database of rehearsals (`--sim`), unless `--db` names another.
pub const DEFAULT_SIM_DB: &str = "campaign.sim.db";

impl GlobalArgs {
    /// Opens the database for `purpose`: `--db` (or `CAMPAIGN_DB`) if given, else the default
    /// for that purpose. A rehearsal and real sending never share a database.
    pub async fn store(&self, purpose: Purpose) -> anyhow::Result<Store> {
        let db = match (&self.db, purpose) {
            (Some(db), _) => db.as_str(),
            (None, Purpose::Rehearsal) => DEFAULT_SIM_DB,
            (None, _) => DEFAULT_DB,
        };
        let options = StoreOptions {
            purpose,
            ..StoreOptions::default()
        };
        Ok(Store::open_with(db, &options).await?)
    }

    /// The database to read, if there is one: commands that only look (`status`, `list`,
    /// `report`...) never create one. `None` when the file does not exist.
    pub async fn existing_store(&self) -> anyhow::Result<Option<Store>> {
        let db = self.db.as_deref().unwrap_or(DEFAULT_DB);
        let path = db
            .strip_prefix("sqlite://")
            .or_else(|| db.strip_prefix("sqlite:"))
            .map_or(db, |p| p.split('?').next().unwrap_or(p));
        let is_file = !db.contains("://") || db.starts_with("sqlite:");
        if is_file && path != ":memory:" && !std::path::Path::new(path).exists() {
            return Ok(None);
        }
        Ok(Some(self.store(Purpose::Any).await?))
    }

    /// `existing_store`, or an error saying there is no database to look in.
    pub async fn store_to_read(&self) -> anyhow::Result<Store> {
        match self.existing_store().await? {
            Some(store) => Ok(store),
            None => anyhow::bail!("{}", self.no_database()),
        }
    }

    /// "no campaigns here: ...", for when the database does not exist.
    pub fn no_database(&self) -> String {
        let db = self.db.as_deref().unwrap_or(DEFAULT_DB);
        format!(
            "no campaigns here: there is no database {db} (run a campaign first, or name the database with --db or CAMPAIGN_DB)"
        )
    }

    /// The API token, from `--token-file` or `CONVRS_TOKEN`. Never echoed.
    pub fn token(&self) -> anyhow::Result<SecretString> {
        match self.tokens()?.as_slice() {
            [one] => Ok(one.clone()),
            _ => anyhow::bail!(
                "--token-file is given {} times: only `campaign worker` sends on several tokens",
                self.token_file.len()
            ),
        }
    }

    /// Whether a token is configured at all.
    pub fn has_token(&self) -> bool {
        !self.token_file.is_empty() || std::env::var_os("CONVRS_TOKEN").is_some()
    }

    /// Every token given: one per `--token-file`, else `CONVRS_TOKEN`. Never echoed.
    pub fn tokens(&self) -> anyhow::Result<Vec<SecretString>> {
        let raw: Vec<(String, String)> = if self.token_file.is_empty() {
            let token = std::env::var("CONVRS_TOKEN").map_err(|_| {
                anyhow::anyhow!(
                    "no API token: set CONVRS_TOKEN or pass --token-file PATH (`run --sim` needs none)"
                )
            })?;
            vec![("CONVRS_TOKEN".to_string(), token)]
        } else {
            self.token_file
                .iter()
                .map(|path| {
                    std::fs::read_to_string(path)
                        .map(|t| (path.display().to_string(), t))
                        .with_context(|| format!("cannot read the token file {}", path.display()))
                })
                .collect::<anyhow::Result<_>>()?
        };
        raw.into_iter()
            .map(|(from, token)| {
                let token = token.trim();
                anyhow::ensure!(!token.is_empty(), "the API token in {from} is empty");
                Ok(SecretString::from(token.to_string()))
            })
            .collect()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a Convrs API simulator over HTTP (no token or money needed).
    Sim(sim::SimArgs),
    /// Load, send, and wait for delivery acks; run again to resume.
    Run(run::RunArgs),
    /// Write a campaign's report: one CSV row per recipient, or an HTML page with charts.
    Report(report::ReportArgs),
    /// Queue uncertain or failed messages of a campaign again (the operator's decision).
    Retry(retry::RetryArgs),
    /// List every campaign: state, token fingerprint, dates, progress, who sends it now.
    List(list::ListArgs),
    /// Show the campaigns, or one campaign's counts.
    Status(status::StatusArgs),
    /// Load and check a campaign's source without sending anything.
    Validate(validate::ValidateArgs),
    /// Collect acks that come after a run ended and reconcile uncertain messages, then exit.
    Track(track::TrackArgs),
    /// Pause a campaign, also while a run sends it: nothing more of it is sent until resumed.
    Pause(control::ControlArgs),
    /// Lift an operator's pause; the campaign goes on where it stopped at its next run.
    Resume(control::ControlArgs),
    /// Cancel a campaign: its messages not sent yet are cancelled; those sent are left alone.
    Cancel(control::ControlArgs),
    /// Let campaigns send with the configured token again after a stop-token verdict.
    ClearTokenStop,
    /// Send every campaign queued on the given tokens until SIGTERM; serve callbacks, events,
    /// /healthz and /metrics.
    Worker(worker::WorkerArgs),
    /// Manage the suppression list.
    Suppress(suppress::SuppressArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Print the manual page (roff): `campaign man > campaign.1`.
    Man,
}

impl Command {
    /// Whether the command was asked for JSON (`--json`): its errors are JSON too.
    pub fn json(&self) -> bool {
        match self {
            Command::Run(a) => a.json,
            Command::Report(a) => a.json,
            Command::Retry(a) => a.json,
            Command::List(a) => a.json,
            Command::Status(a) => a.json,
            Command::Validate(a) => a.json,
            _ => false,
        }
    }
}

pub fn init_tracing(global: &GlobalArgs) {
    let default = match global.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sim(args) => sim::run(args).await,
        Command::Run(args) => run::run(&cli.global, &args).await,
        Command::Report(args) => report::run(&cli.global, &args).await,
        Command::Retry(args) => retry::run(&cli.global, &args).await,
        Command::List(args) => list::run(&cli.global, &args).await,
        Command::Status(args) => status::run(&cli.global, &args).await,
        Command::Validate(args) => validate::run(&cli.global, &args).await,
        Command::Track(args) => track::run(&cli.global, &args).await,
        Command::Pause(args) => control::run(&cli.global, &args, control::Action::Pause).await,
        Command::Resume(args) => control::run(&cli.global, &args, control::Action::Resume).await,
        Command::Cancel(args) => control::run(&cli.global, &args, control::Action::Cancel).await,
        Command::ClearTokenStop => token::clear(&cli.global).await,
        Command::Suppress(args) => suppress::run(&cli.global, &args).await,
        Command::Worker(args) => worker::run(&cli.global, &args).await,
        Command::Completions(args) => shell::completions(&args),
        Command::Man => shell::man(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and argument of every subcommand says what it is for.
    #[test]
    fn every_option_and_argument_has_a_description() {
        use clap::CommandFactory;
        let mut missing = vec![];
        let cli = Cli::command();
        let mut commands = vec![(String::from("campaign"), cli)];
        while let Some((path, cmd)) = commands.pop() {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (about)", sub.get_name()));
                }
                commands.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
        }
        missing.sort();
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
