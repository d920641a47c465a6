//! The push gate: which commits a push sends, whether each has a valid seal, and
//! what the server's ledger must hold for a branch update to land. `pre-push` on
//! the client and `pre-receive` on the server call it and render its [`Report`].
//!
//! Invariants:
//! - Only updates of gated refs are checked: branches always, tags when
//!   `seal.gateTags` is set; deletions send no commits.
//! - **Vetted** means reachable from the current value of a gated ref on the
//!   receiving side: those commits passed this gate when they arrived (or were there
//!   when it was installed). Nothing else is vetted: not commits under tags that are
//!   not gated, nor under any other namespace a pusher can write (refs/pull/…,
//!   refs/notes/…). On the client, the remote's gated refs are its remote-tracking
//!   branches. Every commit a gated update brings that is not vetted is checked.
//! - One walk covers a whole push: its cost is what the push sends, however many
//!   refs it names.
//! - On the server, seals count only when they are in the server's ledger as it
//!   stands before the push: the ledger only grows, so they are still there when the
//!   branch lands, whatever happens to the ledger's own update in the same push. A
//!   push whose commits are sealed only in the ledger it brings is refused with the
//!   fix (push the ledger first, as pre-push does).

use git2::{ObjectType, Oid};

use crate::cache::CacheMode;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::ledger::{Ledger, View};
use crate::verify::{Problem, Verifier};

/// One ref update: for pre-push `<local ref> <new> <remote ref> <old>`, for
/// pre-receive `<old> <new> <ref>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The ref on the receiving side.
    pub refname: String,
    pub old: Oid,
    pub new: Oid,
    /// What the pusher named as the source (pre-push only: `refs/heads/topic`).
    pub local: Option<String>,
}

impl Update {
    pub fn is_delete(&self) -> bool {
        self.new.is_zero()
    }
}

fn oid(s: &str, what: &str, format: git2::ObjectFormat) -> Result<Oid> {
    crate::git::parse_id(s, format).ok_or_else(|| {
        Error::usage(format!(
            "{what}: bad object id '{}' (this repository's ids are {} hex digits, {})",
            crate::quote::printable(s),
            crate::git::hex_len(format),
            crate::git::format_name(format)
        ))
    })
}

/// Parses a hook's stdin: one update per non-blank line of whitespace-separated
/// fields, at the given positions of the old value, the new value and the ref.
fn parse_updates(
    input: &str,
    hook: &str,
    fields: usize,
    [old, new, refname]: [usize; 3],
    format: git2::ObjectFormat,
) -> Result<Vec<Update>> {
    let mut out = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != fields {
            return Err(Error::usage(format!("{hook}: malformed line '{line}'")));
        }
        out.push(Update {
            refname: f[refname].to_string(),
            old: oid(f[old], hook, format)?,
            new: oid(f[new], hook, format)?,
            local: (fields == 4).then(|| f[0].to_string()),
        });
    }
    Ok(out)
}

/// Parses git's pre-push stdin: `<local ref> <local oid> <remote ref> <remote oid>`.
pub fn parse_pre_push(input: &str, format: git2::ObjectFormat) -> Result<Vec<Update>> {
    parse_updates(input, "pre-push", 4, [3, 1, 2], format)
}

/// Parses git's pre-receive stdin: `<old> <new> <ref>`.
pub fn parse_pre_receive(input: &str, format: git2::ObjectFormat) -> Result<Vec<Update>> {
    parse_updates(input, "pre-receive", 3, [0, 1, 2], format)
}

/// Whether updates of `refname` must carry only sealed commits.
fn is_gated(refname: &str, gate_tags: bool) -> bool {
    refname.starts_with("refs/heads/") || (gate_tags && refname.starts_with("refs/tags/"))
}

/// git-seal's local namespace (fetched ledgers, rollback safety refs): never pushed,
/// so a server refuses it rather than keep refs a reader could take for its own.
const LOCAL_NAMESPACE: &str = "refs/seal/";

/// The commits `updates` send, parents first, each once: reachable from a new value
/// and from none of `vetted`, in one walk for the whole push.
fn sent_commits(repo: &Repo, updates: &[&Update], vetted: &[Oid]) -> Result<Vec<Oid>> {
    let mut walk = repo.git.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let mut any = false;
    for u in updates.iter().filter(|u| !u.is_delete()) {
        if let Some(tip) = peel_commit(repo, u.new) {
            walk.push(tip)?;
            any = true;
        }
    }
    if !any {
        return Ok(Vec::new());
    }
    for v in vetted {
        if let Some(c) = peel_commit(repo, *v) {
            walk.hide(c)?;
        }
    }
    Ok(walk.collect::<std::result::Result<Vec<_>, _>>()?)
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
    for r in repo.refs_with_prefix(prefix)? {
        out.push(r.target);
    }
    Ok(out)
}

/// The vetted tips of this repository as a receiving side: its gated refs.
pub fn vetted_here(repo: &Repo, gate_tags: bool) -> Result<Vec<Oid>> {
    let mut tips = tips_under(repo, "refs/heads/")?;
    if gate_tags {
        tips.extend(tips_under(repo, "refs/tags/")?);
    }
    Ok(tips)
}

/// The vetted tips of `remote` as this client last saw it: its remote-tracking
/// branches (what its gate let in).
pub fn vetted_at_remote(repo: &Repo, remote: &str) -> Result<Vec<Oid>> {
    if repo.git.find_remote(remote).is_err() {
        return Ok(Vec::new());
    }
    tips_under(repo, &format!("refs/remotes/{remote}/"))
}

/// What a gate decided about one push.
#[derive(Debug, Default)]
pub struct Report {
    /// How many commits the gated updates send (checked).
    pub commits: usize,
    /// Every problem with those commits' seals.
    pub problems: Vec<Problem>,
    /// Why the push is refused as a whole, before any commit is looked at (an
    /// update of the ledger that breaks the append-only rule, a local-only ref).
    pub refused: Option<String>,
    /// Server side: the problems would all be gone with the ledger this push brings,
    /// which is not the server's yet.
    pub needs_ledger_first: bool,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.refused.is_none() && self.problems.is_empty()
    }
}

/// What to name, in a hint, for the commits gated `updates` send: the pusher's
/// source refs where known, else the receiving refs, short (`topic`), each once.
pub fn sent_from(updates: &[Update], gate_tags: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in updates
        .iter()
        .filter(|u| !u.is_delete() && is_gated(&u.refname, gate_tags))
    {
        let name = u.local.as_deref().unwrap_or(&u.refname);
        let short = name
            .strip_prefix("refs/heads/")
            .or_else(|| name.strip_prefix("refs/tags/"))
            .unwrap_or(name)
            .to_string();
        if !out.contains(&short) {
            out.push(short);
        }
    }
    out
}

/// Checks every commit the gated `updates` send that is not `vetted`, against the
/// ledger `view`.
pub fn check(
    repo: &Repo,
    view: View<'_>,
    updates: &[Update],
    gate_tags: bool,
    vetted: &[Oid],
) -> Result<Report> {
    let gated: Vec<&Update> = updates
        .iter()
        .filter(|u| is_gated(&u.refname, gate_tags))
        .collect();
    let commits = sent_commits(repo, &gated, vetted)?;
    // Signatures are judged by this side's own allowed signers and policy.
    let resolver = crate::signing::PolicyResolver::from_config(repo)?;
    let policy = crate::policy::SignPolicy::from_config(repo)?;
    let mut verifier = Verifier::new(repo, view, CacheMode::ReadWrite).with_policy(resolver);
    let mut problems = verifier.check_all(&commits)?;
    for u in gated.iter().filter(|u| !u.is_delete()) {
        let rule = policy.for_ref(&u.refname);
        let Some(tip) = peel_commit(repo, u.new).filter(|_| !rule.is_empty()) else {
            continue;
        };
        let old = peel_commit(repo, u.old).unwrap_or(repo.zero_id());
        let landing = crate::policy::landing(repo, old, tip, vetted)?;
        for p in crate::policy::check_rule(&mut verifier, &rule, &landing)? {
            if !problems
                .iter()
                .any(|q| q.commit == p.commit && q.reason == p.reason)
            {
                problems.push(p);
            }
        }
    }
    Ok(Report {
        commits: commits.len(),
        problems,
        ..Report::default()
    })
}

/// The server's gate (`pre-receive`): the ledger's own update must keep it
/// append-only; every gated update's unvetted commits must have valid seals in the
/// ledger as it will be once this push lands.
pub fn pre_receive(repo: &Repo, cfg: &Config, updates: &[Update]) -> Result<Report> {
    if let Some(u) = updates
        .iter()
        .find(|u| u.refname.starts_with(LOCAL_NAMESPACE))
    {
        return Ok(Report {
            refused: Some(format!(
                "{} is in git-seal's local namespace ({LOCAL_NAMESPACE}), which is never pushed",
                u.refname
            )),
            ..Report::default()
        });
    }
    let current = Ledger::new(repo, cfg).tip()?;
    let mut pushed = None;
    for u in updates.iter().filter(|u| u.refname == cfg.ledger_ref) {
        if let Some(why) = crate::sync::append_only_violation(repo, u.old, u.new)? {
            return Ok(Report {
                refused: Some(format!(
                    "{why}; the ledger {} is append-only",
                    cfg.ledger_ref
                )),
                ..Report::default()
            });
        }
        pushed = Some(u.new);
    }
    let vetted = vetted_here(repo, cfg.gate_tags)?;
    let mut report = check(
        repo,
        View::at(repo, current)?,
        updates,
        cfg.gate_tags,
        &vetted,
    )?;
    if !report.problems.is_empty() {
        if let Some(tip) = pushed {
            // Would the ledger this push brings have sealed them? Then say so: it is
            // not the server's until it lands, and a branch may not land before it.
            let with_pushed = check(
                repo,
                View::at(repo, Some(tip))?,
                updates,
                cfg.gate_tags,
                &vetted,
            )?;
            report.needs_ledger_first = with_pushed.problems.is_empty();
            // Else the pushed ledger's own verdict says best what is wrong with what
            // the pusher sent (a seal over the size cap, a forged one).
            if !report.needs_ledger_first {
                report.problems = with_pushed.problems;
            }
        }
    }
    Ok(report)
}

/// git's subcommand in a git command line and the arguments after it, skipping the
/// program and git's own options (`-c k=v`, `-C dir`, `--git-dir=…`).
pub fn git_subcommand(argv: &[String]) -> Option<(&str, &[String])> {
    // Run as a dashed program (`git-receive-pack`, as ssh and http servers do).
    let program = argv.first()?.rsplit('/').next()?;
    if let Some(sub) = program.strip_prefix("git-") {
        return Some((sub, &argv[1..]));
    }
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
