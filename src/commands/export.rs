//! `git seal export`: write a commit's seal, manifest and checksum file as plain files.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;

use crate::cache::CacheMode;
use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::{Error, Result, ResultExt};
use crate::fsutil::write_under;
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::quote;
use crate::runlog::{Run, Source, Status};
use crate::verify::Verifier;

/// Write a commit's seal, manifest and checksums as files
///
/// Writes DIR/seals/SEAL-<id>.yaml, DIR/manifests/MANIFEST-<id>.json and
/// DIR/checksums/CHECKSUMS-<id>.sha256. On failure no file of this run is left.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit (default HEAD)
    #[arg(default_value = "HEAD")]
    pub rev: String,
    /// The directory to write into (needed unless --in-toto)
    #[arg(long, value_name = "DIR")]
    pub out: Option<Utf8PathBuf>,
    /// Print the seal as an in-toto Statement v1 (subjects: the commit's gitCommit
    /// digest and its manifest digest; link predicate v0.3) instead of writing files
    #[arg(long, conflicts_with_all = ["out", "dry_run"])]
    pub in_toto: bool,
    /// Print the files that would be written and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let commit = repo.commit(&args.rev)?;
    let id = commit.id();
    let view = Ledger::new(&repo, &cfg).view()?;
    let Some(seal) = view.note(id)? else {
        return Err(
            Error::check(format!("commit {} has no seal to export", short(id))).hint(format!(
                "seal it first: {}",
                quote::git_seal(&format!("seal {}", quote::shell(&args.rev)))
            )),
        );
    };
    // Only a seal that verifies is exported: files made from a broken or foreign
    // note would pass for provenance they do not carry.
    let mut verifier = Verifier::new(&repo, view, CacheMode::unless_dry_run(args.dry_run));
    let reasons = verifier.check(id)?;
    if let Some(reason) = reasons.first() {
        return Err(Error::check(format!(
            "the seal of {} does not verify ({reason}); nothing exported",
            short(id)
        ))
        .hint(format!(
            "see every problem: {}",
            quote::git_seal(&format!("verify {}", quote::shell(&args.rev)))
        )));
    }
    if args.in_toto {
        let parsed = crate::seal::Seal::parse(&seal)
            .map_err(|e| Error::check(format!("the seal of {} does not parse: {e}", short(id))))?;
        let statement = crate::intoto::of_seal(&parsed.seal.to_json())?;
        outln(serde_json::to_string_pretty(&statement).unwrap_or_default())?;
        return Ok(0);
    }
    let Some(out) = args.out.clone() else {
        // A directory named after the commit: new, so nothing of the user's is touched.
        let dir = format!("seal-export-{}", short(id));
        return Err(Error::usage(
            "--out DIR is needed: the directory the manifest and checksums are written to",
        )
        .hint(format!(
            "e.g. {}",
            quote::git_seal(&format!("export {} --out {dir}", quote::shell(&args.rev)))
        )));
    };
    let manifest = crate::engine::vouched_manifest(
        &repo,
        verifier.view(),
        CacheMode::unless_dry_run(args.dry_run),
        &commit,
    )?;
    let json_text = serde_json::to_string_pretty(&manifest.to_json(Some(id), commit.tree_id()))
        .unwrap_or_default()
        + "\n";
    let files: Vec<(Utf8PathBuf, Vec<u8>)> = vec![
        (
            Utf8PathBuf::from(format!("seals/SEAL-{id}.yaml")),
            seal.into_bytes(),
        ),
        (
            Utf8PathBuf::from(format!("manifests/MANIFEST-{id}.json")),
            json_text.into_bytes(),
        ),
        (
            Utf8PathBuf::from(format!("checksums/CHECKSUMS-{id}.sha256")),
            manifest.to_sha256sum(),
        ),
    ];
    if args.dry_run {
        for (path, _) in &files {
            outln(format!("would write {}", out.join(path)))?;
        }
        return Ok(0);
    }
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("export"),
        Some(id.to_string()),
    );
    run.inputs(json!({"rev": args.rev, "out": out}));
    match write_all_or_none(&out, &files) {
        Ok(()) => {
            let paths: Vec<_> = files.iter().map(|(p, _)| out.join(p).to_string()).collect();
            warn_log(run.finish(Status::Success, json!({"files": paths}), 1, ""));
            for p in paths {
                outln(p)?;
            }
            Ok(0)
        }
        Err(e) => {
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
            Err(e)
        }
    }
}

/// Writes every file under `root` or, on the first failure, removes those this call
/// created. Nothing is written through a symbolic link under `root`.
pub fn write_all_or_none(root: &Utf8Path, files: &[(Utf8PathBuf, Vec<u8>)]) -> Result<()> {
    let mut created: Vec<Utf8PathBuf> = Vec::new();
    for (rel, bytes) in files {
        let path = root.join(rel);
        let existed = path.symlink_metadata().is_ok();
        if let Err(e) = write_under(root, rel, bytes).context(format!("cannot write {path}")) {
            for p in created {
                let _ = fs_err::remove_file(p);
            }
            return Err(
                e.hint("check that the directory is writable, has space and holds no links")
            );
        }
        if !existed {
            created.push(path);
        }
    }
    Ok(())
}
