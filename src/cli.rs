//! The process boundary: parses arguments, runs the command, prints an error as
//! `error:`, `caused by:` and `hint:` lines (git's style) and turns it into the exit
//! code. This is the only place an [`Error`](crate::error::Error) is printed.
//!
//! Under `--json` an error is also a JSON document on stdout (schema
//! `git-seal/error/v1`: kind, exit code, message, causes, hint), so a script reading
//! stdout always gets one JSON document, whether the run succeeded or not; the text
//! still goes to stderr for the person watching.

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
    let json = matches.subcommand().is_some_and(|(_, sub)| {
        sub.try_get_one::<bool>("json")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false)
    });
    match commands::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                let doc = serde_json::to_string_pretty(&e.report()).unwrap_or_default();
                // A closed stdout must not hide the error or change the exit
                // code: stderr still says it.
                use std::io::Write;
                let _ = writeln!(std::io::stdout().lock(), "{doc}");
            }
            eprint!("{}", e.render());
            ExitCode::from(e.kind.exit_code())
        }
    }
}
