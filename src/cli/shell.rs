//! `campaign completions SHELL` and `campaign man`: shell completions (clap_complete) and the
//! manual page in roff (clap_mangen), both made from the same definitions as `--help`.

use std::process::ExitCode;

use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script, e.g. `campaign completions bash > /etc/bash_completion.d/campaign`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "campaign", &mut script);
    print(&script)
}

/// Prints the manual page, e.g. `campaign man > campaign.1 && man ./campaign.1`.
pub fn man() -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(super::Cli::command()).render(&mut page)?;
    print(&page)
}

/// Writes `bytes` to stdout; a reader that stopped early (`| head`) is not an error.
fn print(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
