//! The process boundary: parses arguments, runs the command, prints an error as
//! `error:` and `hint:` lines (git's style) and turns it into the exit code.

use std::process::ExitCode;

use clap::Parser;

use crate::commands::{self, Command};

/// Automatic, independently verifiable provenance for any git repository
#[derive(Debug, Parser)]
#[command(name = "git-seal", bin_name = "git seal", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
