//! `git seal log`: read the run records.

use crate::commands::outln;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::runlog::{self, parse_time, Entry, Status};

/// Show the run records of hooks and commands
///
/// Reads the live log and its rotated files together, oldest first. Lines that are
/// not valid records (a write torn by a crash) are skipped; --check lists them.
/// Times are UTC (RFC 3339, `Z`), in the records and in --since/--until.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs that ended with this status (any case: failed, FAILED)
    #[arg(long, value_enum, ignore_case = true)]
    pub status: Option<Status>,
    /// Only runs of this hook (e.g. pre-push)
    #[arg(long, value_name = "NAME")]
    pub hook: Option<String>,
    /// Only runs of this command (e.g. seal)
    #[arg(long, value_name = "NAME")]
    pub command: Option<String>,
    /// Only runs started at or after this time: RFC 3339, YYYY-MM-DD (midnight UTC),
    /// or any date git understands ("yesterday", "10 minutes ago", "2026-11-01 09:30",
    /// read as UTC)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only runs started before this time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only runs whose head, inputs or outputs name this commit (full id or prefix)
    #[arg(long, value_name = "ID")]
    pub commit: Option<String>,
    /// Only pipeline steps of this name (git seal run/record --name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Only pipeline steps that read or wrote this file or directory
    #[arg(long, value_name = "PATH")]
    pub path: Option<std::path::PathBuf>,
    /// Only this repository's own log, not the records shared in the ledger
    #[arg(long)]
    pub local: bool,
    /// Print the in-toto Statement v1 (link predicate v0.3) of pipeline run RUN_ID
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["json", "check"])]
    pub in_toto: Option<String>,
    /// JSON Lines: one run record (schema git-seal/run/v2; older lines v1) per line, as stored
    #[arg(long)]
    pub json: bool,
    /// Report lines that are not valid records (torn writes) and exit 1 if any
    #[arg(long)]
    pub check: bool,
}

fn time_arg(
    repo: &Repo,
    flag: &str,
    s: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(s) = s else { return Ok(None) };
    let parsed = parse_time(s)
        .or_else(|| parse_time(&format!("{s}T00:00:00Z")))
        .or_else(|| (s.trim() == "now").then(chrono::Utc::now))
        .or_else(|| git_date(repo, s));
    parsed.map(Some).ok_or_else(|| {
        Error::usage(format!(
            "{flag} '{}' is not a date git-seal or git understands",
            crate::quote::printable(s)
        ))
        .hint(format!(
            "e.g. {flag} yesterday, {flag} '10 minutes ago', {flag} 2026-11-01 or {flag} 2026-11-01T09:30:00Z"
        ))
    })
}

/// A date as git reads one (its approxidate, as for `git log --since`), in UTC.
/// `git config --type=expiry-date` is git's careful parser: it refuses what is not
/// a date instead of reading it as "now"; the value goes in through the
/// environment, so no quoting is involved.
fn git_date(repo: &Repo, s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let out = repo
        .git_command()
        .args(["config", "--type=expiry-date", "seal.logdate"])
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "seal.logdate")
        .env("GIT_CONFIG_VALUE_0", s)
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let secs: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    chrono::DateTime::from_timestamp(secs, 0)
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let since = time_arg(&repo, "--since", args.since.as_deref())?;
    let until = time_arg(&repo, "--until", args.until.as_deref())?;
    let mut contents = runlog::read(&repo.seal_dir())?;
    if let Some(id) = &args.in_toto {
        return in_toto(&repo, &contents, id);
    }
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
    if !args.local {
        // The local log reads even when the ledger cannot be: its records are here.
        let (shared, problems) = crate::config::Config::load(&repo)
            .and_then(|cfg| crate::steps::shared(&repo, &cfg))
            .unwrap_or_else(|e| {
                eprintln!("warning: shared run records not read: {}", e.message);
                (Vec::new(), Vec::new())
            });
        for p in problems {
            eprintln!("warning: {p}");
        }
        let local: std::collections::HashSet<String> =
            contents.records.iter().map(|r| r.run_id.clone()).collect();
        for s in shared {
            if !local.contains(&s.record.run_id) {
                contents.records.push(Entry::of_record(&s.record));
            }
        }
        contents
            .records
            .sort_by(|a, b| a.started_at.cmp(&b.started_at));
    }
    let path = match &args.path {
        None => None,
        Some(p) => {
            let root =
                repo.workdir
                    .as_ref()
                    .map(|w| std::fs::canonicalize(w.as_std_path()))
                    .transpose()?
                    .ok_or_else(|| {
                        Error::usage("--path needs a worktree (a bare repository has no files)")
                            .hint(format!(
                                "list the runs without it: {}",
                                crate::quote::git_seal("log")
                            ))
                    })?;
            Some(crate::steps::declare(&root, &std::env::current_dir()?, p)?)
        }
    };
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
            && args
                .name
                .as_ref()
                .is_none_or(|n| r.name.as_ref() == Some(n))
            && path.as_ref().is_none_or(|p| names_path(r, p))
    };
    let color = !args.json && crate::commands::use_color(&repo);
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

/// Whether a pipeline step's record read or wrote `path` (or a file under it).
fn names_path(r: &Entry, path: &str) -> bool {
    let Some(full) = r.record() else {
        return false;
    };
    let under = |a: &crate::steps::Artifact| {
        path.is_empty() || a.path == path || a.path.starts_with(&format!("{path}/"))
    };
    crate::steps::artifacts(&full.inputs).iter().any(under)
        || crate::steps::artifacts(&full.outputs).iter().any(under)
}

/// Prints the in-toto Statement of run `id` (a full run id or a unique prefix).
fn in_toto(repo: &Repo, contents: &runlog::Contents, id: &str) -> Result<u8> {
    let cfg = crate::config::Config::load(repo)?;
    let mut found: Vec<runlog::Record> = contents
        .records
        .iter()
        .filter(|e| e.run_id.starts_with(id) && !id.is_empty())
        .filter_map(Entry::record)
        .collect();
    let (shared, _) = crate::steps::shared(repo, &cfg)?;
    for s in shared {
        if s.record.run_id.starts_with(id) && !found.iter().any(|f| f.run_id == s.record.run_id) {
            found.push(s.record);
        }
    }
    let record = match found.as_slice() {
        [one] => one,
        [] => {
            return Err(Error::check(format!(
                "no run record {} in the log or the ledger",
                crate::quote::printable(id)
            ))
            .hint("list pipeline runs: git seal log --json | grep '\"source\":\"run\"'"))
        }
        _ => {
            return Err(Error::usage(format!(
                "run id {} is ambiguous ({} records)",
                crate::quote::printable(id),
                found.len()
            ))
            .hint("give the whole run id"))
        }
    };
    if record.source.as_deref() != Some(crate::steps::SOURCE) {
        return Err(Error::check(format!(
            "run {} is a hook's or command's record, not a pipeline step's",
            record.run_id
        ))
        .hint("export a commit's seal instead: git seal export HEAD --in-toto"));
    }
    let statement = crate::intoto::of_run(record)?;
    outln(serde_json::to_string_pretty(&statement).unwrap_or_default())?;
    Ok(0)
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
    let step;
    let what = match (&r.source, &r.name) {
        (Some(source), Some(name)) if source == crate::steps::SOURCE => {
            step = format!("run {}", crate::quote::printable(name));
            step.as_str()
        }
        _ => r.hook.as_deref().or(r.command.as_deref()).unwrap_or("?"),
    };
    let head = r.head.as_deref().map_or("-".to_string(), |h| {
        crate::quote::printable(crate::limits::prefix(h, 7))
    });
    let status = format!("{:<8}", r.status.as_str());
    let status = if color {
        use anstyle::{AnsiColor, Style};
        let style = match r.status {
            Status::Success => Style::new().fg_color(Some(AnsiColor::Green.into())),
            Status::Partial => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            Status::Failed => Style::new().fg_color(Some(AnsiColor::Red.into())),
            Status::Skipped => Style::new().dimmed(),
        };
        format!("{style}{status}{style:#}")
    } else {
        status
    };
    format!(
        "{:<24}  {status}  {what:<21}  {head:<7}  {}",
        crate::quote::printable(&r.started_at),
        crate::quote::printable(&r.message)
    )
}
