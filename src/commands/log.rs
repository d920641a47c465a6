//! `git seal log`: read the run records.

use std::io::IsTerminal;

use crate::commands::outln;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::runlog::{self, parse_time, Entry, Status};

/// Show the run records of hooks and commands
///
/// Reads the live log and its rotated files together, oldest first. Lines that are
/// not valid records (a write torn by a crash) are skipped; --check lists them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs that ended with this status
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// Only runs of this hook (e.g. pre-push)
    #[arg(long, value_name = "NAME")]
    pub hook: Option<String>,
    /// Only runs of this command (e.g. seal)
    #[arg(long, value_name = "NAME")]
    pub command: Option<String>,
    /// Only runs started at or after this time (RFC 3339, or YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only runs started before this time (RFC 3339, or YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only runs whose head, inputs or outputs name this commit (full id or prefix)
    #[arg(long, value_name = "ID")]
    pub commit: Option<String>,
    /// One JSON record per line
    #[arg(long)]
    pub json: bool,
    /// Report lines that are not valid records (torn writes) and exit 1 if any
    #[arg(long)]
    pub check: bool,
}

fn time_arg(flag: &str, s: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(s) = s else { return Ok(None) };
    let parsed = parse_time(s).or_else(|| parse_time(&format!("{s}T00:00:00Z")));
    parsed.map(Some).ok_or_else(|| {
        Error::usage(format!("{flag} '{s}' is not an RFC 3339 time or a date")).hint(format!(
            "e.g. {flag} 2026-11-01 or {flag} 2026-11-01T09:30:00Z"
        ))
    })
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let since = time_arg("--since", args.since.as_deref())?;
    let until = time_arg("--until", args.until.as_deref())?;
    let contents = runlog::read(&repo.seal_dir())?;
    if args.check {
        for (file, line) in &contents.bad_lines {
            outln(format!(
                "{file}:{line}: not a valid run record (torn write?)"
            ))?;
        }
        outln(format!(
            "{} record(s), {} bad line(s)",
            contents.records.len(),
            contents.bad_lines.len()
        ))?;
        return Ok(if contents.bad_lines.is_empty() { 0 } else { 1 });
    }
    let keep = |r: &Entry| {
        let started = parse_time(&r.started_at);
        args.status.is_none_or(|s| r.status == s)
            && args
                .hook
                .as_ref()
                .is_none_or(|h| r.hook.as_ref() == Some(h))
            && args
                .command
                .as_ref()
                .is_none_or(|c| r.command.as_ref() == Some(c))
            && since.is_none_or(|t| started.is_some_and(|s| s >= t))
            && until.is_none_or(|t| started.is_some_and(|s| s < t))
            && args.commit.as_ref().is_none_or(|c| names_commit(r, c))
    };
    let color = !args.json
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = String::new();
    for r in contents.records.iter().filter(|r| keep(r)) {
        if args.json {
            // The record as stored: nothing a reader did not write is added.
            out.push_str(&r.line);
        } else {
            out.push_str(&table_row(r, color));
        }
        out.push('\n');
    }
    crate::commands::out(out.as_bytes())?;
    Ok(0)
}

/// Whether a record names `commit` (a full id or a prefix of at least 4 digits) as
/// its head or as a value in its inputs or outputs.
fn names_commit(r: &Entry, commit: &str) -> bool {
    if commit.len() < 4 {
        return false;
    }
    if r.head.as_deref().is_some_and(|h| h.starts_with(commit)) {
        return true;
    }
    // Decode the whole record only when its text can name the commit at all.
    r.line.contains(commit)
        && r.record()
            .is_some_and(|full| mentions(&full.inputs, commit) || mentions(&full.outputs, commit))
}

fn mentions(v: &serde_json::Value, commit: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s.starts_with(commit),
        serde_json::Value::Array(a) => a.iter().any(|x| mentions(x, commit)),
        serde_json::Value::Object(o) => o.values().any(|x| mentions(x, commit)),
        _ => false,
    }
}

fn table_row(r: &Entry, color: bool) -> String {
    let what = r.hook.as_deref().or(r.command.as_deref()).unwrap_or("?");
    let head = r
        .head
        .as_deref()
        .map_or("-", |h| crate::limits::prefix(h, 7));
    let status = format!("{:<8}", r.status.as_str());
    let status = if color {
        let code = match r.status {
            Status::Success => "32",
            Status::Partial => "33",
            Status::Failed => "31",
            Status::Skipped => "2",
        };
        format!("\x1b[{code}m{status}\x1b[0m")
    } else {
        status
    };
    format!(
        "{:<24}  {status}  {what:<21}  {head:<7}  {}",
        r.started_at, r.message
    )
}
