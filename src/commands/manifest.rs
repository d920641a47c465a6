//! `git seal manifest`: print a commit's manifest.

use crate::cache::{CacheMode, Manifests};
use crate::commands::{out, outln};
use crate::error::Result;
use crate::git::Repo;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// JSON, schema git-seal/manifest/v1
    Json,
    /// A checksum file that `sha256sum -c --strict` accepts at the checkout's root
    Sha256sum,
    /// The canonical bytes the digest is taken of
    Canonical,
}

/// Print the SHA-256 manifest of a commit's tree
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit (default HEAD)
    #[arg(default_value = "HEAD")]
    pub rev: String,
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let commit = repo.commit(&args.rev)?;
    let manifest = Manifests::new(&repo, CacheMode::ReadWrite).manifest_of(&commit)?;
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => outln(
            serde_json::to_string_pretty(&manifest.to_json(Some(commit.id()), commit.tree_id()))
                .unwrap_or_default(),
        )?,
        Format::Sha256sum => out(&manifest.to_sha256sum())?,
        Format::Canonical => out(manifest.canonical())?,
    }
    Ok(0)
}
