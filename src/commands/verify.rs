//! `git seal verify`: check seals, and optionally the working tree.

use serde_json::json;

use crate::cache::{CacheMode, Manifests};
use crate::commands::{outln, subject};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::tags::TagProblem;
use crate::verify::{check_worktree, Problem, Reason, Verifier};

/// Check the seals of commits (default HEAD)
///
/// Prints one line per problem, naming the commit and the reason, and exits 1 if
/// there is any. A range (A..B) checks every commit in it; `--all` every commit
/// reachable from the refs given, or from every branch.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commits or ranges to check
    #[arg(value_name = "REV|RANGE")]
    pub revs: Vec<String>,
    /// Check every commit reachable from the REVs given, or from every branch (CI)
    #[arg(long)]
    pub all: bool,
    /// Also check the files on disk against HEAD's manifest
    #[arg(long)]
    pub worktree: bool,
    /// Recompute every manifest from file contents, trusting no digest this machine
    /// remembered from earlier runs
    #[arg(long)]
    pub no_cache: bool,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    // A tag named by itself is checked as a tag: its seal, its evtag checksum, and
    // its target's seal chain.
    let (tags, mut revs) = if args.all {
        (Vec::new(), args.revs.clone())
    } else {
        crate::tags::split_tags(&repo, &args.revs)
    };
    for w in crate::tags::ambiguity_warnings(&repo, &args.revs) {
        eprintln!("{w}");
    }
    let commits = if args.all {
        let tips = if revs.is_empty() {
            repo.branch_tips()?
        } else {
            revs.iter()
                .map(|r| repo.commit(r).map(|c| c.id()))
                .collect::<Result<Vec<_>>>()?
        };
        if tips.is_empty() {
            return Err(nothing_to_verify(&repo));
        }
        repo.history_of(&tips)?
    } else {
        if revs.is_empty() && tags.is_empty() {
            if let Err(e) = repo.git.head() {
                if e.code() == git2::ErrorCode::UnbornBranch
                    || e.code() == git2::ErrorCode::NotFound
                {
                    return Err(nothing_to_verify(&repo));
                }
            }
            revs.push("HEAD".to_string());
        }
        repo.expand_revs(&revs)?
    };
    let view = Ledger::new(&repo, &cfg).view()?;
    let cache_mode = if args.no_cache {
        CacheMode::Off
    } else {
        CacheMode::ReadWrite
    };
    if repo.git.is_shallow() && !args.json {
        // The parents past the shallow boundary are not here: their seals, and the
        // chain's links to them, cannot be checked, and "ok" must not hide that.
        eprintln!(
            "note: this is a shallow clone: seals are checked for the commits it holds, not for the history past its boundary"
        );
        eprintln!(
            "hint: to check the whole history: git fetch --unshallow && git seal verify --all"
        );
    }
    let mut verifier = Verifier::new(&repo, view, cache_mode);
    let mut problems = verifier.check_all(&commits)?;
    // A null parent_seals entry is never silent: over a parent that still has no seal
    // it fails, over one sealed after its child it is a warning.
    let mut warnings = Vec::new();
    for &commit in &commits {
        for reason in verifier.chain_gaps(commit)? {
            let p = Problem { commit, reason };
            if p.reason.is_warning() {
                warnings.push(p);
            } else {
                problems.push(p);
            }
        }
    }
    let mut tag_problems = Vec::new();
    let mut unchecked = Vec::new();
    for tag in &tags {
        let check = crate::tags::check_tag(&repo, &cfg, tag, cache_mode)?;
        for p in check.problems {
            tag_problems.push((tag.as_str(), p));
        }
        unchecked.extend(check.unchecked);
    }
    let mut lines: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{} {}: {}",
                short(p.commit),
                subject(&repo, p.commit),
                p.reason
            )
        })
        .collect();
    lines.extend(
        tag_problems
            .iter()
            .map(|(tag, p)| format!("tag {tag}: {p}")),
    );
    // A ledger tree outside the one canonical shape can hide or swap seals from some
    // reader: it is a problem in itself.
    let shape = Ledger::new(&repo, &cfg).check_shape()?;
    lines.extend(
        shape
            .iter()
            .map(|p| format!("ledger {}: not canonical: {p}", cfg.ledger_ref)),
    );
    if args.worktree {
        let root = repo.workdir.clone().ok_or_else(|| {
            Error::usage("--worktree needs a working tree; this repository is bare")
                .hint("run git seal verify without --worktree")
        })?;
        let head = repo.head_commit()?;
        let manifest = Manifests::new(&repo, cache_mode).manifest_of(&head)?;
        for p in check_worktree(root.as_std_path(), &manifest) {
            lines.push(format!("worktree {p}"));
        }
    }
    if args.json {
        let items: Vec<_> = problems
            .iter()
            .map(|p| json!({"commit": p.commit.to_string(), "reason": p.reason.to_string()}))
            .collect();
        let worktree: Vec<_> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("worktree "))
            .collect();
        let not_checked: Vec<_> = unchecked
            .iter()
            .map(|u| {
                json!({
                    "tag": u.tag,
                    "submodule": {"path": u.submodule.path, "commit": u.submodule.commit.to_string()},
                    "left_out_by_seal": u.left_out_by_seal,
                    "reason": u.to_string(),
                    "fix": u.fix,
                })
            })
            .collect();
        outln(
            serde_json::to_string_pretty(&json!({
                "ok": lines.is_empty(),
                "commits": commits.len(),
                "problems": items,
                "warnings": warnings
                    .iter()
                    .map(|p| json!({"commit": p.commit.to_string(), "reason": p.reason.to_string()}))
                    .collect::<Vec<_>>(),
                "worktree": worktree,
                "not_checked": not_checked,
                "ledger": shape.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            }))
            .unwrap_or_default(),
        )?;
    } else {
        for line in &lines {
            outln(line)?;
        }
        for w in &warnings {
            outln(format!(
                "warning: {} {}: {}",
                short(w.commit),
                subject(&repo, w.commit),
                w.reason
            ))?;
        }
        // What could not be checked is said as exactly that, never as a problem:
        // it does not change the exit code.
        for u in &unchecked {
            outln(format!("tag {}: {u}", u.tag))?;
        }
        if lines.is_empty() {
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!(", {} tag(s)", tags.len())
            };
            let except = if unchecked.is_empty() {
                ""
            } else {
                ", except what is listed as not checked"
            };
            let warned = match warnings.len() {
                0 => String::new(),
                n => format!(", {n} warning(s) above"),
            };
            outln(format!(
                "ok: {} commit(s){tags} verified{except}{warned}",
                commits.len()
            ))?;
            if !warnings.is_empty() {
                eprintln!(
                    "hint: a child sealed before its parent does not pin the parent's seal; each seal still verifies on its own"
                );
            }
        }
        let mut hinted = std::collections::BTreeSet::new();
        for u in &unchecked {
            if hinted.insert(&u.fix) {
                let what = if u.left_out_by_seal {
                    "seal it again, covering the submodule"
                } else {
                    "make it checkable"
                };
                eprintln!("hint: {what}: {}", u.fix);
            }
        }
    }
    if lines.is_empty() {
        return Ok(0);
    }
    if !args.json && !shape.is_empty() {
        eprintln!(
            "hint: the ledger was written by something other than git-seal; list it with git ls-tree -r {}",
            cfg.ledger_ref
        );
    } else if !args.json {
        eprintln!("hint: {}", hint(&problems, &tag_problems));
    }
    Ok(1)
}

/// On an unborn branch (or with no branch at all) there is nothing to check yet.
fn nothing_to_verify(repo: &Repo) -> Error {
    let branch = repo
        .git
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().map(str::to_string))
        .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_string));
    let what = match branch {
        Some(b) => format!(
            "branch '{}' has no commits yet",
            crate::quote::printable(&b)
        ),
        None => "this repository has no commits yet".into(),
    };
    Error::usage(format!("nothing to verify: {what}"))
        .hint("make a first commit, then verify it: git commit --allow-empty -m 'first commit'")
}

/// The one next step for the gravest kind of problem found: content or a seal that
/// changed after sealing, then what was never sealed.
fn hint(problems: &[Problem], tag_problems: &[(&str, TagProblem)]) -> String {
    if problems.is_empty() && tag_problems.is_empty() {
        // Only the working tree differs from HEAD's manifest.
        return "see what differs from HEAD's commit: git status --short && git diff --stat".into();
    }
    let unsealed_commits = problems
        .iter()
        .filter(|p| matches!(p.reason, Reason::NoSeal | Reason::UnsealedParent { .. }))
        .count()
        + tag_problems
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p,
                    TagProblem::Target {
                        reason: Reason::NoSeal,
                        ..
                    }
                )
            })
            .count();
    let unsealed_tags: Vec<&str> = tag_problems
        .iter()
        .filter(|(_, p)| *p == TagProblem::NoSeal)
        .map(|(tag, _)| *tag)
        .collect();
    if unsealed_commits + unsealed_tags.len() < problems.len() + tag_problems.len() {
        "a seal that does not match was changed after sealing, or the content was: \
         read it with git seal show REV, and check the object store with git fsck"
            .into()
    } else if unsealed_commits > 0 {
        "seal what has no seal with: git seal seal --missing".into()
    } else {
        format!(
            "seal tags by hand with: git seal seal {}",
            unsealed_tags.join(" ")
        )
    }
}
