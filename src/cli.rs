//! The process boundary: parses arguments, runs the command, prints an error as
//! `error:`, `caused by:` and `hint:` lines (git's style) and turns it into the exit
//! code. This is the only place an [`Error`](crate::error::Error) is printed.
//!
//! Under `--json` an error is also a JSON document on stdout (schema
//! `git-seal/error/v1`: kind, exit code, message, causes, hint), so a script reading
//! stdout always gets one JSON document, whether the run succeeded or not; the text
//! still goes to stderr for the person watching.

use std::ffi::OsString;
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
    let (cli, json) = match parse_hook(std::env::args_os()) {
        Some(cli) => (cli, false),
        None => parse(),
    };
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

/// The whole command line, and whether it asks for `--json`.
fn parse() -> (Cli, bool) {
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
    (cli, json)
}

/// `git-seal hook <name> [<arg>…]`, what a shim runs on every commit, parsed by the
/// hook subcommand's own parser: building the whole command tree first took a
/// twentieth of a post-commit hook. Only a line with no argument that looks like an
/// option after `hook`, which both parsers read the same way; anything else
/// (`None`) goes through [`parse`], which also words the errors.
fn parse_hook(mut args: impl Iterator<Item = OsString>) -> Option<Cli> {
    let bin = args.next()?;
    if args.next()? != "hook" {
        return None;
    }
    let rest: Vec<OsString> = args.collect();
    if rest.is_empty() || rest.iter().any(|a| a.as_encoded_bytes().starts_with(b"-")) {
        return None;
    }
    let parser = <commands::hook::Args as clap::Args>::augment_args(clap::Command::new("hook"));
    let matches = parser
        .try_get_matches_from(std::iter::once(bin).chain(rest))
        .ok()?;
    Some(Cli {
        repo: None,
        command: Command::Hook(commands::hook::Args::from_arg_matches(&matches).ok()?),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_hook_parser_reads_what_the_whole_parser_reads_or_leaves_the_line_to_it() {
        let taken = [
            &["git-seal", "hook", "post-commit"][..],
            &[
                "git-seal",
                "hook",
                "pre-push",
                "origin",
                "https://example.com/r.git",
            ],
            &["git-seal", "hook", "reference-transaction", "committed"],
            &["git-seal", "hook", "post-rewrite", "amend"],
        ];
        for args in taken {
            let fast = parse_hook(line(args).into_iter()).expect("taken by the hook parser");
            let whole = Cli::try_parse_from(line(args)).expect("parses");
            assert_eq!(format!("{fast:?}"), format!("{whole:?}"), "{args:?}");
        }
        let left = [
            &["git-seal"][..],
            &["git-seal", "hook"],
            &["git-seal", "verify", "--all"],
            &["git-seal", "hook", "pre-push", "--repo", "x"],
            &["git-seal", "hook", "-h"],
            &["git-seal", "--repo", "x", "hook", "post-commit"],
        ];
        for args in left {
            assert!(parse_hook(line(args).into_iter()).is_none(), "{args:?}");
        }
    }
}
