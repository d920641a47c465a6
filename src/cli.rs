//! The process boundary: parses arguments, runs the command, prints an error as
//! `error:`, `caused by:` and `hint:` lines (git's style) and turns it into the exit
//! code. This is the only place an [`Error`](crate::error::Error) is printed.
//!
//! Under `--json` an error is also a JSON document on stdout (schema
//! `git-seal/error/v1`: kind, exit code, message, causes, hint), so a script reading
//! stdout always gets one JSON document, whether the run succeeded or not; the text
//! still goes to stderr for the person watching.

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
    let matches = match Cli::command().bin_name("git seal").try_get_matches() {
        Ok(m) => m,
        Err(e) => parse_error(e),
    };
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
    let result = match &cli.repo {
        Some(path) => commands::enter(path).and_then(|abs| commands::run(cli.command, Some(abs))),
        None => commands::run(cli.command, None),
    };
    match result {
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

/// A command line clap refuses. Under `--json` the refusal is also the error
/// document on stdout, as every other error is; help and version are not errors.
fn parse_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let asked_json = std::env::args_os().skip(1).any(|a| a == "--json");
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if asked_json && !shown {
        let text = e.render().to_string();
        let message = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        let err = crate::error::Error::usage(message).hint("see the usage: git seal -h");
        let doc = serde_json::to_string_pretty(&err.report()).unwrap_or_default();
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{doc}");
    }
    e.exit()
}
