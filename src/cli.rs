//! The process boundary: parses arguments, runs the command, prints an error as
//! `error:` and `hint:` lines (git's style) and turns it into the exit code.

use std::process::ExitCode;

use camino::Utf8PathBuf;
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::commands::{self, Command};

/// Automatic, independently verifiable provenance for any git repository
#[derive(Debug, Parser)]
#[command(name = "git-seal", version)]
pub struct Cli {
    /// Run as if git-seal was started in PATH (like git -C PATH)
    #[arg(long, global = true, value_name = "PATH")]
    pub repo: Option<Utf8PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

pub fn main() -> ExitCode {
    // Usage lines say `git seal …`, as people type it; completions and man pages
    // name the program `git-seal` (commands/docs).
    let matches = Cli::command().bin_name("git seal").get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match &cli.repo {
        Some(path) => commands::enter(path).and_then(|abs| commands::run(cli.command, Some(abs))),
        None => commands::run(cli.command, None),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", e.message);
            if let Some(hint) = &e.hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.kind.exit_code())
        }
    }
}
