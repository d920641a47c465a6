//! `git seal snapshot` and `git seal rollback`.

use camino::Utf8PathBuf;
use chrono::{SecondsFormat, Utc};
use git2::Signature;
use serde_json::json;

use crate::cache::{CacheMode, Manifests};
use crate::commands::export::write_all_or_none;
use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::runlog::{Run, Source, Status};
use crate::seal::Identity;
use crate::snapshot::{self, RollbackRecord};
use crate::tags::{self, SnapshotFiles};
use crate::verify::{check_worktree, Verifier};

/// Freeze HEAD as a sealed snapshot tag, snapshot/NAME@YYYY-MM-DD
///
/// The tag is annotated and sealed; its full manifest and checksum file are frozen
/// in the ledger beside the seal. A second snapshot of the same name on the same
/// day gets a .2, .3 … suffix. Refused (exit 1) when HEAD has no valid seal.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// The snapshot's name (the tag is snapshot/NAME@<local date>)
    pub name: String,
    /// The tag message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Also write the seal, manifest JSON and checksum file into DIR
    #[arg(long, value_name = "DIR")]
    pub export: Option<Utf8PathBuf>,
    /// Print what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Return to a snapshot: TAG, or the newest snapshot that still verifies
///
/// Keeps a safety ref of where you were (refs/seal/safety/<time>), moves the current
/// branch (or a detached HEAD) to the snapshot, checks the files on disk against its
/// manifest, and records the reason in the ledger and the run log. Nothing is ever
/// deleted: with --force, uncommitted changes are stashed and kept by a ref too.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The snapshot tag (default: the newest snapshot that verifies)
    pub tag: Option<String>,
    /// Why: recorded with the rollback
    #[arg(long, required_unless_present = "list")]
    pub reason: Option<String>,
    /// Roll back even with uncommitted changes (they are stashed and kept)
    #[arg(long)]
    pub force: bool,
    /// Print what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// List past rollbacks
    #[arg(long, conflicts_with_all = ["tag", "force", "dry_run"])]
    pub list: bool,
}

fn identity(repo: &Repo) -> Result<Identity> {
    let (name, email) = repo.identity()?;
    Ok(Identity { name, email })
}

pub fn run_snapshot(args: SnapshotArgs) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let head = repo.head_commit()?;
    let date = chrono::Local::now().format("%Y-%m-%d").to_string();
    let tag = snapshot::tag_name(&repo, &args.name, &date)?;
    let view = Ledger::new(&repo, &cfg).view()?;
    let problems = Verifier::new(&repo, view, CacheMode::ReadWrite).check(head.id())?;
    if !problems.is_empty() {
        let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::check(format!(
            "HEAD ({}) has no valid seal, so it cannot be a snapshot: {}",
            short(head.id()),
            why.join("; ")
        ))
        .hint("seal it first: git seal seal"));
    }
    let manifest = Manifests::new(&repo, CacheMode::ReadOnly).manifest_of(&head)?;
    let files = SnapshotFiles {
        manifest_json: (serde_json::to_string_pretty(
            &manifest.to_json(Some(head.id()), head.tree_id()),
        )
        .unwrap_or_default()
            + "\n")
            .into_bytes(),
        checksums: manifest.to_sha256sum(),
    };
    let safe = tag.replace('/', "_");
    let export_paths = args.export.as_ref().map(|dir| {
        (
            dir.clone(),
            [
                Utf8PathBuf::from(format!("seals/SEAL-{safe}.yaml")),
                Utf8PathBuf::from(format!("manifests/MANIFEST-{safe}.json")),
                Utf8PathBuf::from(format!("checksums/CHECKSUMS-{safe}.sha256")),
            ],
        )
    });
    if args.dry_run {
        outln(format!(
            "would create tag {tag} at {}, seal it, and freeze its manifest ({} files) in the ledger",
            short(head.id()),
            manifest.files()
        ))?;
        if let Some((dir, paths)) = &export_paths {
            for p in paths {
                outln(format!("would write {}", dir.join(p)))?;
            }
        }
        return Ok(0);
    }
    let me = identity(&repo)?;
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("snapshot"),
        Some(head.id().to_string()),
    );
    run.inputs(json!({"name": args.name, "tag": tag, "export": args.export}));
    let tagger = Signature::now(&me.name, &me.email)?;
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| format!("snapshot {}", args.name));
    repo.git
        .tag(&tag, head.as_object(), &tagger, &message, false)?;
    let sealed = match tags::seal_tag(&repo, &cfg, &tag, Some(&files), false) {
        Ok(s) => s,
        Err(e) => {
            // No tag without its seal.
            let _ = repo.git.tag_delete(&tag);
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
            return Err(e);
        }
    };
    if let Some((dir, paths)) = &export_paths {
        let contents = [
            sealed.yaml.clone().into_bytes(),
            files.manifest_json,
            files.checksums,
        ];
        let pairs: Vec<_> = paths.iter().cloned().zip(contents).collect();
        if let Err(e) = write_all_or_none(dir, &pairs) {
            warn_log(run.finish(
                Status::Partial,
                json!({"tag": tag, "digest": sealed.seal.digest}),
                1,
                e.message.clone(),
            ));
            return Err(e.context(format!(
                "snapshot {tag} was made and sealed, but its export failed"
            )));
        }
    }
    warn_log(run.finish(
        Status::Success,
        json!({"tag": tag, "digest": sealed.seal.digest, "target": head.id().to_string()}),
        1,
        format!("snapshot {tag}"),
    ));
    outln(format!(
        "snapshot {tag} at {} sealed {}",
        short(head.id()),
        sealed.seal.digest
    ))?;
    if let Some((dir, paths)) = &export_paths {
        for p in paths {
            outln(dir.join(p).as_str())?;
        }
    }
    Ok(0)
}

pub fn run_rollback(args: RollbackArgs) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    if args.list {
        let past = snapshot::rollbacks(&repo, &cfg)?;
        if past.is_empty() {
            outln("no rollbacks recorded")?;
        }
        for r in past {
            outln(format!(
                "{}  {} -> {} ({})  by {} <{}>  safety {}  reason: {}",
                r.at,
                &r.from[..7.min(r.from.len())],
                &r.to[..7.min(r.to.len())],
                r.tag,
                r.by.name,
                r.by.email,
                r.safety_ref,
                r.reason
            ))?;
        }
        return Ok(0);
    }
    let reason = args.reason.clone().unwrap_or_default();
    let tag = match &args.tag {
        Some(tag) => {
            let problems = tags::verify_tag(&repo, &cfg, tag, CacheMode::ReadWrite)?;
            if !problems.is_empty() {
                return Err(Error::check(format!(
                    "{tag} does not verify, so it is no known-good state: {}",
                    tags::describe(&problems)
                ))
                .hint("roll back to the newest snapshot that verifies: git seal rollback --reason '…'"));
            }
            tag.clone()
        }
        None => {
            let (good, skipped) = snapshot::last_known_good(&repo, &cfg)?;
            for (tag, problems) in &skipped {
                eprintln!("skipping {tag}: {}", tags::describe(problems));
            }
            good.ok_or_else(|| {
                Error::check("no snapshot verifies: there is no known-good state to return to")
                    .hint("make one from a sealed commit: git seal snapshot NAME")
            })?
        }
    };
    let target = tags::tag_state(&repo, &tag)?.target;
    let head = repo.head_commit()?.id();
    let dirty = repo.run_git(&["status", "--porcelain", "--untracked-files=no"])?;
    let dirty: Vec<String> = dirty
        .lines()
        .map(|l| l.get(3..).unwrap_or(l).to_string())
        .collect();
    if !dirty.is_empty() && !args.force {
        return Err(Error::check(format!(
            "the working tree has uncommitted changes: {}",
            dirty.join(", ")
        ))
        .hint("commit or stash them, or pass --force (they are then stashed and kept)"));
    }
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut safety = format!("refs/seal/safety/{stamp}");
    let mut n = 1;
    while repo.git.find_reference(&safety).is_ok() {
        n += 1;
        safety = format!("refs/seal/safety/{stamp}-{n}");
    }
    let on_branch = repo.git.head()?.is_branch();
    if args.dry_run {
        outln(format!("would keep {} as {safety}", short(head)))?;
        if !dirty.is_empty() {
            outln(format!(
                "would stash and keep the changes to {}",
                dirty.join(", ")
            ))?;
        }
        let how = if on_branch {
            "move the current branch"
        } else {
            "check out"
        };
        outln(format!(
            "would {how} to {tag} ({}), verify the files, and record the reason",
            short(target)
        ))?;
        return Ok(0);
    }
    let me = identity(&repo)?;
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("rollback"),
        Some(head.to_string()),
    );
    run.inputs(json!({"tag": tag, "reason": reason, "force": args.force}));
    repo.git.reference(
        &safety,
        head,
        false,
        &format!("git-seal rollback: {reason}"),
    )?;
    let stash_ref = if dirty.is_empty() {
        None
    } else {
        repo.run_git(&[
            "stash",
            "push",
            "--quiet",
            "-m",
            &format!("git-seal rollback to {tag}"),
        ])?;
        let stash = repo.git.refname_to_id("refs/stash")?;
        let name = format!("{safety}-worktree");
        repo.git.reference(
            &name,
            stash,
            false,
            "git-seal rollback: uncommitted changes",
        )?;
        Some(name)
    };
    let moved = if on_branch {
        repo.run_git(&["reset", "--hard", "--quiet", &target.to_string()])
    } else {
        repo.run_git(&["checkout", "--detach", "--quiet", &target.to_string()])
    };
    if let Err(e) = moved {
        warn_log(run.finish(
            Status::Failed,
            json!({"safety_ref": safety}),
            1,
            e.message.clone(),
        ));
        return Err(e.context(format!(
            "rollback to {tag} failed; where you were is kept as {safety}"
        )));
    }
    let commit = repo.git.find_commit(target)?;
    let manifest = Manifests::new(&repo, CacheMode::ReadWrite).manifest_of(&commit)?;
    let root = repo
        .workdir
        .clone()
        .ok_or_else(|| Error::usage("rollback needs a working tree"))?;
    let problems = check_worktree(root.as_std_path(), &manifest);
    let record = RollbackRecord {
        schema: snapshot::ROLLBACK_SCHEMA.into(),
        run_id: uuid::Uuid::now_v7().to_string(),
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        by: me.clone(),
        reason: reason.clone(),
        tag: tag.clone(),
        from: head.to_string(),
        to: target.to_string(),
        safety_ref: safety.clone(),
        stash_ref: stash_ref.clone(),
        worktree_verified: problems.is_empty(),
    };
    let yaml = serde_norway::to_string(&record).unwrap_or_default();
    let who = Signature::now(&me.name, &me.email)?;
    let path = format!("rollbacks/{}.yaml", record.run_id);
    let recorded = Ledger::new(&repo, &cfg).append_with_files(
        &[],
        &[(path, yaml.into_bytes())],
        false,
        &who,
        &format!("rollback to {tag}"),
    );
    let outputs = json!({"from": head.to_string(), "to": target.to_string(), "tag": tag, "safety_ref": safety, "stash_ref": stash_ref, "worktree_problems": problems.len()});
    let status = if recorded.is_ok() && problems.is_empty() {
        Status::Success
    } else {
        Status::Partial
    };
    warn_log(run.finish(status, outputs, 1, format!("rollback to {tag}: {reason}")));
    outln(format!(
        "rolled back to {tag} ({}) from {}; where you were is kept as {safety}",
        short(target),
        short(head)
    ))?;
    if let Some(s) = &stash_ref {
        outln(format!("uncommitted changes kept as {s} (git stash list)"))?;
    }
    for p in &problems {
        outln(format!("worktree {p}"))?;
    }
    if let Err(e) = recorded {
        return Err(e.context("rolled back, but the ledger record could not be written"));
    }
    if problems.is_empty() {
        outln("worktree verified against the snapshot's manifest")?;
        Ok(0)
    } else {
        Ok(1)
    }
}
