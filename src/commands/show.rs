//! `git seal show`: print the seal of a commit, or of a tag named by itself.

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

/// Print the seal of a commit, or of a tag
///
/// A tag named by itself (`git seal show v1.4`) shows the tag's seal; `v1.4^{commit}`
/// shows its commit's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit or tag (default HEAD)
    #[arg(default_value = "HEAD")]
    pub rev: String,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let json = args.json || matches!(args.format, Format::Json);
    let (tags, _) = crate::tags::split_tags(&repo, std::slice::from_ref(&args.rev));
    if let Some(tag) = tags.first() {
        let Some((seal, text)) = crate::tags::current_seal(&repo, &cfg, tag)? else {
            return Err(Error::check(format!("tag {tag} has no seal")).hint(format!(
                "seal it: git seal seal {}",
                crate::quote::shell(tag)
            )));
        };
        if json {
            outln(serde_json::to_string_pretty(&seal).unwrap_or_default())?;
        } else {
            out(text.as_bytes())?;
        }
        return Ok(0);
    }
    let commit = repo.commit(&args.rev)?.id();
    let view = Ledger::new(&repo, &cfg).view()?;
    let Some(text) = view.note(commit)? else {
        return Err(
            Error::check(format!("commit {} has no seal", short(commit)))
                .hint(format!("seal it: git seal seal {}", args.rev)),
        );
    };
    let parsed = Seal::parse(&text).map_err(|e| {
        Error::usage(format!("the seal of {} cannot be read: {e}", short(commit))).hint(format!(
            "replace it with a fresh seal: git seal seal --force {commit}"
        ))
    })?;
    if json {
        outln(serde_json::to_string_pretty(&parsed.seal.to_json()).unwrap_or_default())?;
    } else {
        out(text.as_bytes())?;
    }
    Ok(0)
}
