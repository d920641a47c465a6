//! `git seal log`: read the run records.

use serde_json::Value;

use crate::commands::outln;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::runlog::{self, parse_time, Record, Status};

/// Show the run records of hooks and commands
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs that ended with this status
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// Only runs started at or after this time (RFC 3339)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// One JSON record per line
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let since = args
        .since
        .as_deref()
        .map(|s| {
            parse_time(s).ok_or_else(|| {
                Error::usage(format!("--since '{s}' is not an RFC 3339 time"))
                    .hint("e.g. --since 2026-11-01T00:00:00Z")
            })
        })
        .transpose()?;
    let contents = runlog::read(&repo.seal_dir())?;
    let keep = |r: &Record| {
        args.status.is_none_or(|s| r.status == s)
            && since.is_none_or(|t| parse_time(&r.started_at).is_some_and(|s| s >= t))
    };
    for r in contents.records.iter().filter(|r| keep(r)) {
        if args.json {
            outln(serde_json::to_string(r).unwrap_or_default())?;
        } else {
            let what = r.hook.as_deref().or(r.command.as_deref()).unwrap_or("?");
            let head = r
                .head
                .as_deref()
                .map(|h| &h[..h.len().min(7)])
                .unwrap_or("-");
            outln(format!(
                "{}  {:<8} {:<16} {:<7} {}",
                r.started_at,
                r.status.as_str(),
                what,
                head,
                match &r.message {
                    m if m.is_empty() => Value::Null.to_string(),
                    m => m.clone(),
                }
            ))?;
        }
    }
    Ok(0)
}
