//! The command line: global options and one file per subcommand.

mod campaign_args;
mod continued;
mod control;
mod flags;
pub use flags::parse_duration;
mod global;
mod list;
mod lookup;
mod opt_out;
mod progress;
mod report;
mod retry;
mod run;
mod run_end;
mod scheduled;
mod send_args;
mod send_test;
mod shell;
mod sim;
mod status;
mod suppress;
mod template;
mod token;
mod track;
mod validate;
mod watch;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use global::{ApiArgs, DEFAULT_DB, DEFAULT_SIM_DB, DbArg, GlobalArgs, TokenArgs};

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
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a Convrs API simulator over HTTP (no token or money needed).
    Sim(sim::SimArgs),
    /// Load, send, and wait for delivery acks; run again to resume.
    Run(Box<run::RunArgs>),
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
    /// Send one message of a campaign to test recipients, rendered from a row of its source,
    /// and follow its acks; nothing of it is part of the campaign.
    SendTest(Box<send_test::SendTestArgs>),
    /// Collect acks that come after a run ended and reconcile uncertain messages, then exit.
    Track(track::TrackArgs),
    /// Pause a campaign, also while a run sends it: nothing more of it is sent until resumed.
    Pause(control::ControlArgs),
    /// Lift an operator's pause; the campaign goes on where it stopped at its next run.
    Resume(control::ControlArgs),
    /// Cancel a campaign: its messages not sent yet are cancelled; those sent are left alone.
    Cancel(control::ControlArgs),
    /// Let campaigns send with the configured token again after a stop-token verdict.
    ClearTokenStop(token::ClearArgs),
    /// Send every campaign queued on the given tokens until SIGTERM; serve callbacks, events,
    /// /healthz and /metrics.
    Worker(worker::WorkerArgs),
    /// Manage the suppression list.
    Suppress(suppress::SuppressArgs),
    /// The keywords that read recipients' messages: STOP suppresses, START lifts it.
    OptOut(opt_out::OptOutArgs),
    /// What happened to one recipient across campaigns: messages, acks, replies, suppression.
    Lookup(lookup::LookupArgs),
    /// Fetch one WhatsApp template: status, category, parameters, texts, and a preview.
    Template(Box<template::TemplateArgs>),
    /// The WhatsApp templates this database has seen (the API has no command to list them).
    Templates(template::TemplatesArgs),
    /// Scheduled campaigns: list them with their next runs, add one from its file, remove one.
    Schedule(scheduled::ScheduleArgs),
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
            Command::Lookup(a) => a.json,
            Command::Template(a) => a.json,
            Command::Templates(a) => a.json,
            Command::Validate(a) => a.json,
            Command::SendTest(a) => a.json,
            Command::Schedule(a) => {
                matches!(a.action, scheduled::ScheduleAction::List { json: true, .. })
            }
            _ => false,
        }
    }
}

impl Command {
    /// The database, token and API options the command was given (each command takes only
    /// those that apply to it), with their environment variables and defaults.
    pub fn global(&self) -> GlobalArgs {
        let g = GlobalArgs::with_db;
        match self {
            Command::Run(a) => g(&a.db).and_api(&a.campaign.api),
            Command::Validate(a) => g(&a.db).and_api(&a.campaign.api),
            Command::SendTest(a) => g(&a.db).and_api(&a.campaign.api),
            Command::Track(a) => g(&a.db).and_api(&a.api),
            Command::Worker(a) => g(&a.db).and_api(&a.api),
            Command::ClearTokenStop(a) => g(&a.db).and_token(&a.token),
            Command::Report(a) => g(&a.db),
            Command::Retry(a) => g(&a.db),
            Command::List(a) => g(&a.db),
            Command::Status(a) => g(&a.db),
            Command::Pause(a) | Command::Resume(a) | Command::Cancel(a) => g(&a.db),
            Command::Suppress(a) => g(&a.db),
            Command::OptOut(a) => g(&a.db),
            Command::Lookup(a) => g(&a.db),
            Command::Template(a) => g(&a.db).and_api(&a.api),
            Command::Templates(a) => g(&a.db),
            Command::Schedule(a) => match &a.action {
                scheduled::ScheduleAction::Add { token, .. } => g(&a.db).and_token(token),
                _ => g(&a.db),
            },
            Command::Sim(_) | Command::Completions(_) | Command::Man => g(&DbArg::default()),
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info,sqlx::postgres::notice=warn",
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
    let global = cli.command.global();
    match cli.command {
        Command::Sim(args) => sim::run(args).await,
        Command::Run(args) => run::run(&global, &args).await,
        Command::Report(args) => report::run(&global, &args).await,
        Command::Retry(args) => retry::run(&global, &args).await,
        Command::List(args) => list::run(&global, &args).await,
        Command::Status(args) => status::run(&global, &args).await,
        Command::Validate(args) => validate::run(&global, &args).await,
        Command::SendTest(args) => send_test::run(&global, &args).await,
        Command::Track(args) => track::run(&global, &args).await,
        Command::Pause(args) => control::run(&global, &args, control::Action::Pause).await,
        Command::Resume(args) => control::run(&global, &args, control::Action::Resume).await,
        Command::Cancel(args) => control::run(&global, &args, control::Action::Cancel).await,
        Command::ClearTokenStop(_) => token::clear(&global).await,
        Command::Suppress(args) => suppress::run(&global, &args).await,
        Command::OptOut(args) => opt_out::run(&global, &args).await,
        Command::Lookup(args) => lookup::run(&global, &args).await,
        Command::Template(args) => template::show(&global, &args).await,
        Command::Templates(args) => template::list(&global, &args).await,
        Command::Schedule(args) => scheduled::schedule(&global, &args).await,
        Command::Worker(args) => worker::run(&global, &args).await,
        Command::Completions(args) => shell::completions(&args),
        Command::Man => shell::man(),
    }
}

/// The whole program: parse the command line, set up logging, run, map errors to exit codes.
/// It lives here rather than in `main.rs` so that the program's async functions are compiled
/// once, into this library: a binary that polls them itself compiles them all again (Rust
/// instantiates an async function's body where it is polled). Measured on two cores, release:
/// library and binary 124.6 s before, 95.1 s after (BENCHMARKS.md, "Building").
pub fn main() -> ExitCode {
    use clap::Parser;
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let json = cli.command.json();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                let error = serde_json::json!({ "error": format!("{e:#}"), "code": EXIT_FAILURE });
                eprintln!("{}", crate::terminal::json(&error));
            } else {
                crate::tell!("error: {e:#}");
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary only calls `main` here: one that polled the program's async functions itself
    /// would compile them all again, 56 of a clean release build's 342 s (BENCHMARKS.md,
    /// "Building").
    #[test]
    fn the_binary_polls_nothing_itself() {
        let binary = include_str!("../main.rs");
        for polling in ["block_on", ".await", "Runtime"] {
            assert!(!binary.contains(polling), "src/main.rs has {polling}");
        }
    }

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

    /// Each command lists only the options that apply to it.
    #[test]
    fn commands_take_only_the_options_that_apply_to_them() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let options = |name: &str| -> Vec<String> {
            let cmd = cli.find_subcommand(name).unwrap();
            cmd.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect()
        };
        for (command, takes, not) in [
            (
                "sim",
                &[][..],
                &["db", "token-file", "api-url", "request-timeout"][..],
            ),
            (
                "status",
                &["db"],
                &["token-file", "api-url", "request-timeout"],
            ),
            ("report", &["db"], &["token-file", "api-url"]),
            ("clear-token-stop", &["db", "token-file"], &["api-url"]),
            (
                "run",
                &["db", "token-file", "api-url", "request-timeout"],
                &[],
            ),
            (
                "worker",
                &["db", "token-file", "api-url", "request-timeout"],
                &[],
            ),
        ] {
            let has = options(command);
            for option in takes {
                assert!(
                    has.iter().any(|o| o == option),
                    "{command} takes --{option}"
                );
            }
            for option in not {
                assert!(
                    !has.iter().any(|o| o == option),
                    "{command} has no --{option}"
                );
            }
        }
    }
}
