//! The process boundary: parses arguments, runs the command, prints an error as
//! `error:` and `hint:` lines (git's style) and turns it into the exit code.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::commands::{self, Command};

/// Automatic, independently verifiable provenance for any git repository
#[derive(Debug, Parser)]
#[command(name = "git-seal", version)]
pub struct Cli {
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
    match commands::run(cli.command) {
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
