//! `git seal seal`: seal commits by hand, or backfill every unsealed one.

use git2::Oid;
use serde_json::json;

use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::engine::{seal_commits, SealRun};
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::runlog::{Run, Source, Status};

/// Seal commits by hand (default HEAD)
///
/// Commits that already have a seal keep it. REV may be a commit, a range (A..B) or
/// several of them; --missing seals every unsealed commit reachable from them (or
/// from HEAD).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commits or ranges to seal
    #[arg(value_name = "REV|RANGE")]
    pub revs: Vec<String>,
    /// Seal every unsealed commit reachable from the REVs given (default HEAD)
    #[arg(long)]
    pub missing: bool,
    /// Replace existing seals that no longer verify (a seal that verifies is refused;
    /// the replaced one is kept in the ledger's alternates/)
    #[arg(long)]
    pub force: bool,
    /// Print what would be sealed and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let head = repo.head_commit()?.id();
    // A tag named by itself gets a tag seal; that does not seal its commit.
    let (tags, revs) = crate::tags::split_tags(&repo, &args.revs);
    for w in crate::tags::ambiguity_warnings(&repo, &args.revs) {
        eprintln!("{w}");
    }
    let commits = if args.missing {
        let ranged = revs.iter().any(|r| r.contains("..") || r.starts_with('^'));
        let tips = if revs.is_empty() {
            vec![head]
        } else {
            repo.expand_revs(&revs)?
        };
        if ranged {
            // A range names the commits themselves: the unsealed ones among them.
            let view = Ledger::new(&repo, &cfg).view()?;
            let mut out = Vec::new();
            for oid in tips {
                if view.note_oid(oid)?.is_none() {
                    out.push(oid);
                }
            }
            out
        } else {
            unsealed(&repo, &cfg, &tips)?
        }
    } else if revs.is_empty() && tags.is_empty() {
        vec![head]
    } else {
        repo.expand_revs(&revs)?
    };
    if !args.force {
        refuse_unreadable(&repo, &cfg, &commits)?;
    }
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("seal"),
        Some(head.to_string()),
    );
    run.inputs(json!({"revs": args.revs, "missing": args.missing, "commits": commits.len()}));
    let signer = crate::signing::SealSigner::from_config(&repo, None).map_err(|e| {
        let hint = e.hint().unwrap_or_else(|| "git seal status".into());
        Error::usage(format!("cannot sign seals: {e}")).hint(hint)
    })?;
    let bar = progress_bar(commits.len());
    let tick = || bar.inc(1);
    let result = seal_commits(
        &repo,
        &cfg,
        &commits,
        &SealRun {
            force: args.force,
            dry_run: args.dry_run,
            progress: Some(&tick),
            replace_foreign: false,
            signer: signer.as_ref(),
            signing_required: true,
        },
    );
    bar.finish_and_clear();
    let sealed = match result {
        Ok(s) => s,
        Err(e) => {
            if !args.dry_run {
                warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
            }
            if e.hint.is_some() {
                return Err(e);
            }
            return Err(e.hint(format!(
                "nothing was written; retry: {}",
                crate::quote::git_seal("seal --missing")
            )));
        }
    };
    let verb = if args.dry_run { "would seal" } else { "sealed" };
    if sealed.written.len() <= 20 {
        for (oid, digest) in &sealed.written {
            outln(format!("{verb} {} {digest}", short(*oid)))?;
        }
    }
    outln(format!(
        "{verb} {} commit(s); {} already sealed",
        sealed.written.len(),
        sealed.already.len()
    ))?;
    // The first of them, and how many: a backfill of git's own history listed 81,966
    // commits, a 10 MB log line whose read-back check took 155 MB.
    let (written, sealed_total) = crate::runlog::bounded_list(
        sealed
            .written
            .iter()
            .map(|(o, d)| json!({"commit": o.to_string(), "digest": d})),
    );
    // Tags are sealed inside the same run, so its record says what happened to them
    // too: a tag sealed is a success, a tag that fails fails the run (or leaves it
    // partial when something was sealed first).
    let mut tags_done = Vec::new();
    for tag in &tags {
        let t = match crate::tags::seal_tag(
            &repo,
            &cfg,
            tag,
            None,
            args.dry_run,
            crate::tags::TagSigning {
                signer: signer.as_ref(),
                required: true,
            },
        ) {
            Ok(t) => t,
            Err(e) => {
                if !args.dry_run {
                    let some = sealed_total > 0 || tags_done.iter().any(|(_, w)| *w);
                    let status = if some {
                        Status::Partial
                    } else {
                        Status::Failed
                    };
                    let tags_json = tags_json(&tags_done);
                    warn_log(run.finish(
                        status,
                        json!({"sealed": written, "sealed_total": sealed_total,
                               "already": sealed.already.len(),
                               "tags": tags_json, "failed_tag": tag}),
                        sealed.attempts.max(1),
                        format!("tag {tag}: {}", e.message),
                    ));
                }
                return Err(e);
            }
        };
        let what = if t.written { verb } else { "already sealed" };
        outln(format!("{what} tag {tag} {}", t.seal.digest))?;
        if let Some(note) = t.seal.leaves_out_note() {
            eprintln!("note: {note}");
        }
        tags_done.push(((tag.clone(), t.seal.digest.clone()), t.written));
    }
    if !args.dry_run {
        let tags_written = tags_done.iter().filter(|(_, w)| *w).count();
        let status = if sealed.written.is_empty() && tags_written == 0 {
            Status::Skipped
        } else {
            Status::Success
        };
        let message = if tags.is_empty() {
            format!("sealed {}", sealed.written.len())
        } else {
            format!("sealed {}, {tags_written} tag(s)", sealed.written.len())
        };
        warn_log(run.finish(
            status,
            json!({"sealed": written, "sealed_total": sealed_total,
                   "already": sealed.already.len(), "tags": tags_json(&tags_done)}),
            sealed.attempts,
            message,
        ));
    }
    Ok(0)
}

/// The tags a run sealed (or found sealed), for its record.
fn tags_json(done: &[((String, String), bool)]) -> Vec<serde_json::Value> {
    done.iter()
        .map(|((tag, digest), written)| json!({"tag": tag, "digest": digest, "written": written}))
        .collect()
}

/// Every commit reachable from `head` that has no seal, parents first.
pub fn unsealed(repo: &Repo, cfg: &Config, tips: &[Oid]) -> Result<Vec<Oid>> {
    let view = Ledger::new(repo, cfg).view()?;
    let mut out = Vec::new();
    for oid in repo.history_of(tips)? {
        if view.note_oid(oid)?.is_none() {
            out.push(oid);
        }
    }
    Ok(out)
}

/// A note that is not a readable seal is not silently kept: re-sealing must be asked for.
fn refuse_unreadable(repo: &Repo, cfg: &Config, commits: &[Oid]) -> Result<()> {
    let view = Ledger::new(repo, cfg).view()?;
    for &oid in commits {
        if let Some(text) = view.note_bounded(oid)? {
            let parsed = match text {
                Ok(text) => crate::seal::Seal::parse(&text)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Err(too_large) => Err(too_large.to_string()),
            };
            if let Err(e) = parsed {
                return Err(Error::usage(format!(
                    "the ledger's note for {} is not a readable seal: {e}",
                    short(oid)
                ))
                .hint(format!(
                    "replace it with a fresh seal: {}",
                    crate::quote::git_seal(&format!("seal --force {oid}"))
                )));
            }
        }
    }
    Ok(())
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if len < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("sealing {bar:30} {pos}/{len} commits ({eta})")
    {
        bar.set_style(style);
    }
    bar
}
