//! The push gate: which commits a ref update sends, and whether each has a valid
//! seal. Shared by `pre-push` on the client and `pre-receive` on the server.
//!
//! Invariants:
//! - Only updates of gated refs are checked: branches always, tags when
//!   `seal.gateTags` is set; deletions send no commits.
//! - "Sent" means reachable from the new value and from nothing the other side is
//!   known to have (the old value, and the `hide` tips the caller names), so a push
//!   costs what it sends, not what the repository holds.

use std::collections::HashSet;

use git2::{ObjectType, Oid};

use crate::cache::CacheMode;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::ledger::View;
use crate::verify::{Problem, Verifier};

/// One ref update: for pre-push `<local ref> <new> <remote ref> <old>`, for
/// pre-receive `<old> <new> <ref>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The ref on the receiving side.
    pub refname: String,
    pub old: Oid,
    pub new: Oid,
}

impl Update {
    pub fn is_delete(&self) -> bool {
        self.new.is_zero()
    }
}

fn oid(s: &str, what: &str) -> Result<Oid> {
    Oid::from_str(s).map_err(|_| Error::usage(format!("{what}: bad object id '{s}'")))
}

/// Parses a hook's stdin: one update per non-blank line of whitespace-separated
/// fields, at the given positions of the old value, the new value and the ref.
fn parse_updates(
    input: &str,
    hook: &str,
    fields: usize,
    [old, new, refname]: [usize; 3],
) -> Result<Vec<Update>> {
    let mut out = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != fields {
            return Err(Error::usage(format!("{hook}: malformed line '{line}'")));
        }
        out.push(Update {
            refname: f[refname].to_string(),
            old: oid(f[old], hook)?,
            new: oid(f[new], hook)?,
        });
    }
    Ok(out)
}

/// Parses git's pre-push stdin: `<local ref> <local oid> <remote ref> <remote oid>`.
pub fn parse_pre_push(input: &str) -> Result<Vec<Update>> {
    parse_updates(input, "pre-push", 4, [3, 1, 2])
}

/// Parses git's pre-receive stdin: `<old> <new> <ref>`.
pub fn parse_pre_receive(input: &str) -> Result<Vec<Update>> {
    parse_updates(input, "pre-receive", 3, [0, 1, 2])
}

/// Whether updates of `refname` must carry only sealed commits.
fn is_gated(refname: &str, gate_tags: bool) -> bool {
    refname.starts_with("refs/heads/") || (gate_tags && refname.starts_with("refs/tags/"))
}

/// The commits `updates` send, parents first, each once: reachable from a new value
/// and not from its old value or any of `hide`.
fn sent_commits(repo: &Repo, updates: &[&Update], hide: &[Oid]) -> Result<Vec<Oid>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for u in updates.iter().filter(|u| !u.is_delete()) {
        let Some(tip) = peel_commit(repo, u.new) else {
            continue;
        };
        let mut walk = repo.git.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        walk.push(tip)?;
        let old = (!u.old.is_zero()).then_some(u.old);
        for h in old.iter().chain(hide) {
            if let Some(c) = peel_commit(repo, *h) {
                walk.hide(c)?;
            }
        }
        for c in walk {
            let c = c?;
            if seen.insert(c) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// The commit an object id names (peeling tags), if it is known here.
fn peel_commit(repo: &Repo, id: Oid) -> Option<Oid> {
    let obj = repo.git.find_object(id, None).ok()?;
    match obj.kind() {
        Some(ObjectType::Commit) => Some(id),
        _ => obj.peel_to_commit().ok().map(|c| c.id()),
    }
}

/// Tips of every ref under `prefix` (e.g. `refs/remotes/origin/`).
pub fn tips_under(repo: &Repo, prefix: &str) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    for r in repo.git.references_glob(&format!("{prefix}*"))? {
        if let Some(t) = r?.resolve().ok().and_then(|r| r.target()) {
            out.push(t);
        }
    }
    Ok(out)
}

/// What a gate found: how many commits the updates send, and the problems with them.
pub struct Checked {
    pub commits: usize,
    pub problems: Vec<Problem>,
}

/// Checks every commit the gated `updates` send (hiding what the other side has)
/// against the ledger `view`.
pub fn check(
    repo: &Repo,
    view: View<'_>,
    updates: &[Update],
    gate_tags: bool,
    hide: &[Oid],
) -> Result<Checked> {
    let gated: Vec<&Update> = updates
        .iter()
        .filter(|u| is_gated(&u.refname, gate_tags))
        .collect();
    let commits = sent_commits(repo, &gated, hide)?;
    let problems = Verifier::new(repo, view, CacheMode::ReadWrite).check_all(&commits)?;
    Ok(Checked {
        commits: commits.len(),
        problems,
    })
}

/// git's subcommand in a git command line and the arguments after it, skipping the
/// program and git's own options (`-c k=v`, `-C dir`, `--git-dir=…`).
pub fn git_subcommand(argv: &[String]) -> Option<(&str, &[String])> {
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        match arg.as_str() {
            "-c" | "-C" | "--git-dir" | "--work-tree" | "--namespace" | "--config-env" => i += 2,
            a if a.starts_with('-') => i += 1,
            a => return Some((a, &argv[i + 1..])),
        }
    }
    None
}

/// Whether a git command line is a `git push` with `--dry-run` (or `-n`, alone or
/// among other short flags). Options that take a separate value are skipped with it.
pub fn is_dry_run_push(argv: &[String]) -> bool {
    let Some(("push", args)) = git_subcommand(argv) else {
        return false;
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--" => return false,
            "--dry-run" => return true,
            "--push-option" | "--repo" | "--receive-pack" | "--exec" => {
                args.next();
            }
            a if a.starts_with("--") => {}
            a if a.starts_with('-') => {
                // A cluster of short flags; `-o` takes the rest (or the next word).
                for flag in a[1..].chars() {
                    match flag {
                        'n' => return true,
                        'o' => {
                            if a.ends_with('o') {
                                args.next();
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn dry_run_pushes_are_recognised() {
        assert!(is_dry_run_push(&argv("git push --dry-run origin main")));
        assert!(is_dry_run_push(&argv("git -c a=b push -vn origin")));
        assert!(is_dry_run_push(&argv("/usr/bin/git -C x push origin -n")));
        assert!(!is_dry_run_push(&argv("git push origin main")));
        assert!(!is_dry_run_push(&argv("git push -o -n origin")));
        assert!(!is_dry_run_push(&argv("git push -- -n")));
        assert!(!is_dry_run_push(&argv("git fetch --dry-run")));
    }
}
