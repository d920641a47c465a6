//! One module per subcommand: an `Args` struct (its doc comment is the help) and a
//! `run` function. This layer and `cli` are the only ones that print or read the
//! process environment; the core below them returns values and errors.

use std::io::Write;

use clap::Subcommand;

use crate::error::{Error, Result};

pub mod countersign;
pub mod diff;
pub mod docs;
pub mod export;
pub mod hook;
pub mod install;
pub mod log;
pub mod manifest;
pub mod provenance;
pub mod run;
pub mod seal;
pub mod show;
pub mod snapshot;
pub mod status;
pub mod sync;
pub mod trust;
pub mod verify;

#[derive(Debug, Subcommand)]
pub enum Command {
    Install(install::InstallArgs),
    Uninstall(install::UninstallArgs),
    Status(status::Args),
    Seal(seal::Args),
    Countersign(countersign::Args),
    Show(show::Args),
    Manifest(manifest::Args),
    Verify(verify::Args),
    Export(export::Args),
    Snapshot(snapshot::SnapshotArgs),
    Rollback(snapshot::RollbackArgs),
    Diff(diff::Args),
    Log(log::Args),
    Run(run::RunArgs),
    Record(run::RecordArgs),
    Provenance(provenance::Args),
    Push(sync::PushArgs),
    Fetch(sync::FetchArgs),
    Hook(hook::Args),
    Trust(trust::Args),
    Completions(docs::CompletionsArgs),
    Man(docs::ManArgs),
}

/// `--repo PATH`, for every command alike: git-seal runs in PATH as `git -C PATH`
/// runs git there (relative paths in other arguments are then read from PATH too).
/// The one place the flag is handled; returns PATH made absolute, for hints.
pub fn enter(path: &camino::Utf8Path) -> Result<camino::Utf8PathBuf> {
    let missing = || {
        Error::usage(format!("--repo {path}: no such directory"))
            .hint("name an existing repository: git seal --repo PATH status")
    };
    let abs = path.canonicalize_utf8().map_err(|_| missing())?;
    if !abs.is_dir() {
        return Err(missing());
    }
    std::env::set_current_dir(&abs).map_err(|e| {
        Error::usage(format!("cannot enter --repo {path}: {e}"))
            .hint("name a directory you can read: git seal --repo PATH status")
    })?;
    crate::quote::set_repo_flag(abs.as_str());
    Ok(abs)
}

/// Runs a command (in `repo`, when `--repo` named one and [`enter`] went there);
/// the result is the process exit code.
pub fn run(command: Command, repo: Option<camino::Utf8PathBuf>) -> Result<u8> {
    crate::git::rehash_objects_on_read(false);
    match command {
        Command::Install(mut a) => {
            a.repo = repo;
            install::run_install(a)
        }
        Command::Uninstall(mut a) => {
            a.repo = repo;
            install::run_uninstall(a)
        }
        Command::Status(a) => status::run(a),
        Command::Seal(a) => seal::run(a),
        Command::Countersign(a) => countersign::run(a),
        Command::Show(a) => show::run(a),
        Command::Manifest(a) => manifest::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Export(a) => export::run(a),
        Command::Snapshot(a) => snapshot::run_snapshot(a),
        Command::Rollback(a) => snapshot::run_rollback(a),
        Command::Diff(a) => diff::run(a),
        Command::Log(a) => log::run(a),
        Command::Run(a) => run::run_run(a),
        Command::Record(a) => run::run_record(a),
        Command::Provenance(a) => provenance::run(a),
        Command::Push(a) => sync::run_push(a),
        Command::Fetch(a) => sync::run_fetch(a),
        Command::Hook(a) => hook::run(a),
        Command::Trust(a) => trust::run(a),
        Command::Completions(a) => docs::run_completions(a),
        Command::Man(a) => docs::run_man(a),
    }
}

/// Writes to stdout; a closed pipe (`git seal log | head`) ends quietly.
pub fn out(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::environment("cannot write output").with_source(e)),
        Ok(()) => Ok(()),
    }
}

/// Writes a line to stdout.
pub fn outln(line: impl AsRef<str>) -> Result<()> {
    let mut s = line.as_ref().to_string();
    s.push('\n');
    out(s.as_bytes())
}

/// Whether to colour what goes to stdout, as git decides it: `NO_COLOR` (set and not
/// empty) turns colour off; `color.ui` `never`/`false` turns it off and `always`
/// turns it on; otherwise only when stdout is a terminal (never into a pipe).
pub fn use_color(repo: &crate::git::Repo) -> bool {
    use std::io::IsTerminal;
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    match repo
        .config_string("color.ui")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        Some("never" | "false" | "no" | "off" | "0") => false,
        Some("always") => true,
        _ => std::io::stdout().is_terminal(),
    }
}

/// Prints a run-log warning, if any (a log failure never fails the run).
pub fn warn_log(warning: Option<String>) {
    if let Some(w) = warning {
        eprintln!("{w}");
    }
}

/// The subject line of a commit, for messages (control characters escaped: the
/// commit may be someone else's).
pub fn subject(repo: &crate::git::Repo, oid: git2::Oid) -> String {
    repo.git
        .find_commit(oid)
        .ok()
        .and_then(|c| c.summary().ok().flatten().map(crate::quote::printable))
        .unwrap_or_default()
}
