//! The `campaign` binary: parse the command line, set up logging, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = campaign::cli::Cli::parse();
    campaign::cli::init_tracing(cli.verbose);
    let json = cli.command.json();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(campaign::cli::EXIT_FAILURE);
        }
    };
    match runtime.block_on(campaign::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let code = campaign::cli::EXIT_FAILURE;
            if json {
                let error = serde_json::json!({ "error": format!("{e:#}"), "code": code });
                eprintln!("{}", campaign::terminal::json(&error));
            } else {
                campaign::tell!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}
