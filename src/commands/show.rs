//! `git seal show`: print a commit's seal.

use crate::commands::{out, outln};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::seal::Seal;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Print the seal of a commit
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit (default HEAD)
    #[arg(default_value = "HEAD")]
    pub rev: String,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let commit = repo.commit(&args.rev)?.id();
    let view = Ledger::new(&repo, &cfg).view()?;
    let Some(text) = view.note(commit)? else {
        return Err(
            Error::check(format!("commit {} has no seal", short(commit))).hint(format!(
                "seal it: git seal seal {}",
                crate::quote::shell(&args.rev)
            )),
        );
    };
    let parsed = Seal::parse(&text).map_err(|e| {
        Error::usage(format!("the seal of {} cannot be read: {e}", short(commit))).hint(format!(
            "replace it with a fresh seal: git seal seal --force {commit}"
        ))
    })?;
    match (args.json, args.format) {
        (true, _) | (_, Format::Json) => {
            outln(serde_json::to_string_pretty(&parsed.seal.to_json()).unwrap_or_default())
        }
        (false, Format::Yaml) => out(text.as_bytes()),
    }?;
    Ok(0)
}
