//! Moving the ledger between repositories: fetch into a remote-tracking ledger ref,
//! merge, push with retry, and the server's append-only rule.
//!
//! Invariants:
//! - Fetching never overwrites the local ledger: the remote's ledger lands in
//!   `refs/seal/remotes/<remote>/<name>` and is merged into the local one.
//! - A merge is the union of both ledgers. Where both hold a different seal for one
//!   commit, the upstream's (the remote's) stays the note, so the server's ledger
//!   only ever grows, and the local one is kept at `alternates/<commit>/<blob id>`
//!   in the ledger tree, where parent chains that name it still find it. No seal is
//!   ever lost.
//! - Pushes never force: a rejected ledger push is fetched, merged, and retried
//!   with backoff.

use std::collections::BTreeMap;
use std::process::Stdio;

use git2::{FileMode, ObjectType, Oid, Signature, Tree, TreeBuilder};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::ledger::{backoff, Ledger, FANOUT_LIMIT};

/// Where a remote's ledger is fetched to.
pub fn tracking_ref(cfg: &Config, remote: &str) -> String {
    crate::ledger::tracking_ref(&cfg.ledger_ref, remote)
}

/// The fetch refspec that brings a remote's ledger with a plain `git fetch`:
/// `+refs/notes/seal*:refs/seal/remotes/<remote>/seal*`.
///
/// It is a pattern on purpose. git treats an exact refspec as a demand (a remote
/// without that ref fails the whole fetch: "couldn't find remote ref") and a pattern
/// as an offer (zero matches is fine, on every git since patterns exist), so `git
/// fetch`, `git pull`, `git fetch --all` and `git remote update` behave against a
/// remote without a ledger exactly as without git-seal, and the first fetch after the
/// remote gains one brings it. The `*` also matches ledgers whose names extend ours
/// (`refs/notes/seal-x`); they land beside ours under `refs/seal/remotes/` and are
/// never read, since readers look up the exact tracking ref.
pub fn fetch_refspec(cfg: &Config, remote: &str) -> String {
    format!("+{}*:{}*", cfg.ledger_ref, tracking_ref(cfg, remote))
}

/// The exact refspec earlier versions added, which breaks fetches from remotes
/// without a ledger: install replaces it and uninstall removes it.
pub fn legacy_fetch_refspec(cfg: &Config, remote: &str) -> String {
    format!("+{}:{}", cfg.ledger_ref, tracking_ref(cfg, remote))
}

/// What a fetch of a remote's ledger found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The remote has no ledger.
    NoLedger,
    /// The remote's ledger is already in the local one.
    UpToDate,
    /// The remote's ledger was merged; the local ledger is now at this tip.
    Merged(Oid),
}

/// The notes of a ledger tree (commit hex → blob), at any fanout, and the entries
/// that are not notes (path → (id, mode)).
#[derive(Default)]
struct Contents {
    notes: BTreeMap<String, Oid>,
    other: BTreeMap<String, (Oid, i32)>,
}

fn read_tree(
    repo: &Repo,
    tree: &Tree<'_>,
    prefix: &str,
    path: &str,
    out: &mut Contents,
) -> Result<()> {
    for e in tree.iter() {
        let Some(name) = e.name() else { continue };
        let hex = format!("{prefix}{name}");
        let is_hex = name.bytes().all(|b| b.is_ascii_hexdigit());
        match e.kind() {
            Some(ObjectType::Blob) if is_hex && hex.len() == 40 => {
                out.notes.insert(hex.to_ascii_lowercase(), e.id());
            }
            Some(ObjectType::Tree) if is_hex && name.len() == 2 && hex.len() < 40 => {
                read_tree(repo, &repo.git.find_tree(e.id())?, &hex, path, out)?;
            }
            Some(ObjectType::Tree) => {
                let sub = format!("{path}{name}/");
                read_other(repo, &repo.git.find_tree(e.id())?, &sub, out)?;
            }
            _ => {
                out.other
                    .insert(format!("{path}{name}"), (e.id(), e.filemode_raw()));
            }
        }
    }
    Ok(())
}

fn read_other(repo: &Repo, tree: &Tree<'_>, path: &str, out: &mut Contents) -> Result<()> {
    for e in tree.iter() {
        let Some(name) = e.name() else { continue };
        if e.kind() == Some(ObjectType::Tree) {
            read_other(
                repo,
                &repo.git.find_tree(e.id())?,
                &format!("{path}{name}/"),
                out,
            )?;
        } else {
            out.other
                .insert(format!("{path}{name}"), (e.id(), e.filemode_raw()));
        }
    }
    Ok(())
}

fn contents(repo: &Repo, commit: Oid) -> Result<Contents> {
    let mut out = Contents::default();
    let tree = repo.git.find_commit(commit)?.tree()?;
    read_tree(repo, &tree, "", "", &mut out)?;
    Ok(out)
}

/// Writes a ledger tree from scratch: notes fanned out as far as their number needs,
/// other entries at their paths.
fn write_tree(repo: &Repo, c: &Contents) -> Result<Oid> {
    let notes: Vec<(&str, Oid)> = c.notes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut root = repo.git.treebuilder(None)?;
    write_notes(repo, &mut root, &notes, 0)?;
    let other: Vec<(&str, Oid, i32)> = c
        .other
        .iter()
        .map(|(path, (id, mode))| (path.as_str(), *id, *mode))
        .collect();
    insert_paths(repo, &mut root, &other)?;
    Ok(root.write()?)
}

/// Inserts `entries` (paths relative to `builder`'s tree) into it, writing a subtree
/// for each directory.
fn insert_paths(
    repo: &Repo,
    builder: &mut git2::TreeBuilder<'_>,
    entries: &[(&str, Oid, i32)],
) -> Result<()> {
    let mut dirs: BTreeMap<&str, Vec<(&str, Oid, i32)>> = BTreeMap::new();
    for (path, id, mode) in entries {
        match path.split_once('/') {
            Some((dir, rest)) => dirs.entry(dir).or_default().push((rest, *id, *mode)),
            None => {
                builder.insert(path, *id, *mode)?;
            }
        }
    }
    for (dir, sub) in dirs {
        let mut b = repo.git.treebuilder(None)?;
        insert_paths(repo, &mut b, &sub)?;
        builder.insert(dir, b.write()?, FileMode::Tree.into())?;
    }
    Ok(())
}

fn write_notes(
    repo: &Repo,
    b: &mut TreeBuilder<'_>,
    notes: &[(&str, Oid)],
    depth: usize,
) -> Result<()> {
    if notes.len() <= FANOUT_LIMIT || depth >= 19 {
        for (hex, blob) in notes {
            b.insert(&hex[depth * 2..], *blob, FileMode::Blob.into())?;
        }
        return Ok(());
    }
    let mut start = 0;
    while start < notes.len() {
        let dir = &notes[start].0[depth * 2..depth * 2 + 2];
        let end = start
            + notes[start..]
                .iter()
                .take_while(|(h, _)| &h[depth * 2..depth * 2 + 2] == dir)
                .count();
        let mut sub = repo.git.treebuilder(None)?;
        write_notes(repo, &mut sub, &notes[start..end], depth + 1)?;
        b.insert(dir, sub.write()?, FileMode::Tree.into())?;
        start = end;
    }
    Ok(())
}

/// Merges `theirs` (an upstream ledger tip) into the local ledger. Returns the new
/// local tip, or `None` when the local ledger already contains `theirs`.
pub fn merge_into_local(repo: &Repo, cfg: &Config, theirs: Oid) -> Result<Option<Oid>> {
    let git = &repo.git;
    let (tip, _) = Ledger::new(repo, cfg).update("merge upstream ledger", |view| {
        Ok(match view.tip {
            None => Some(theirs),
            Some(o) if o == theirs || git.graph_descendant_of(o, theirs)? => None,
            Some(o) if git.graph_descendant_of(theirs, o)? => Some(theirs),
            Some(o) => Some(merge_commit(repo, o, theirs)?),
        })
    })?;
    Ok(tip)
}

fn merge_commit(repo: &Repo, ours: Oid, theirs: Oid) -> Result<Oid> {
    let mut merged = contents(repo, theirs)?;
    let mine = contents(repo, ours)?;
    for (commit, blob) in mine.notes {
        match merged.notes.get(&commit) {
            None => {
                merged.notes.insert(commit, blob);
            }
            Some(b) if *b == blob => {}
            Some(_) => {
                let alt = format!("alternates/{commit}/{blob}");
                merged.other.insert(alt, (blob, FileMode::Blob.into()));
            }
        }
    }
    for (path, entry) in mine.other {
        merged.other.entry(path).or_insert(entry);
    }
    let tree = repo.git.find_tree(write_tree(repo, &merged)?)?;
    let sig = Signature::now("git-seal", "git-seal@localhost")?;
    let parents = [&repo.git.find_commit(theirs)?, &repo.git.find_commit(ours)?];
    Ok(repo
        .git
        .commit(None, &sig, &sig, "merge upstream ledger", &tree, &parents)?)
}

/// The server's rule for an update of the ledger ref: a fast-forward that removes
/// or changes no seal. Returns why it is refused, if it is.
pub fn append_only_violation(repo: &Repo, old: Oid, new: Oid) -> Result<Option<String>> {
    if new.is_zero() {
        return Ok(Some("the ledger may not be deleted".into()));
    }
    if old.is_zero() || old == new {
        return Ok(None);
    }
    if !repo.git.graph_descendant_of(new, old)? {
        return Ok(Some(
            "the ledger update is not a fast-forward (history rewritten)".into(),
        ));
    }
    let before = contents(repo, old)?;
    let after = contents(repo, new)?;
    for (commit, blob) in &before.notes {
        match after.notes.get(commit) {
            None => {
                return Ok(Some(format!(
                    "the update removes the seal of {}",
                    &commit[..7]
                )))
            }
            Some(b) if b != blob => {
                return Ok(Some(format!(
                    "the update changes the seal of {}",
                    &commit[..7]
                )))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// `git fetch` of the remote's ledger into its tracking ref, then a merge. A remote
/// without a ledger is not an error: the refspec is a pattern that may match nothing
/// (see [`fetch_refspec`]), so no decision rests on git's (translated) messages.
pub fn fetch(repo: &Repo, cfg: &Config, remote: &str) -> Result<Fetched> {
    let refspec = fetch_refspec(cfg, remote);
    let tracking = tracking_ref(cfg, remote);
    let out = repo
        .git_command()
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--prune",
            remote,
            &refspec,
        ])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(Error::usage(format!(
            "cannot fetch the ledger from {remote}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint(format!(
            "check the remote (git remote -v), then retry: git seal fetch {remote}"
        )));
    }
    let Ok(theirs) = repo.git.refname_to_id(&tracking) else {
        return Ok(Fetched::NoLedger);
    };
    Ok(match merge_into_local(repo, cfg, theirs)? {
        Some(tip) => Fetched::Merged(tip),
        None => Fetched::UpToDate,
    })
}

/// Pushes the local ledger to `remote`, fetching and merging when the remote's ledger
/// moved on, with backoff between attempts. Returns the attempts used.
pub fn push(repo: &Repo, cfg: &Config, remote: &str) -> Result<u32> {
    let refspec = format!("{0}:{0}", cfg.ledger_ref);
    let mut attempt = 0;
    loop {
        attempt += 1;
        if Ledger::new(repo, cfg).tip()?.is_none() {
            return Ok(attempt);
        }
        // --no-verify: this push carries only the ledger, which our own pre-push
        // does not gate; it must not re-enter the hook that is running it.
        let out = repo
            .git_command()
            .args(["push", "--quiet", "--no-verify", remote, &refspec])
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            return Ok(attempt);
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // Whether the remote's ledger moved on is decided from the refs a fetch
        // brings, not from git's (translated) message: if the fetch merged something
        // new, the push can be retried; otherwise it failed for another reason.
        let moved = attempt <= cfg.max_retries
            && matches!(fetch(repo, cfg, remote), Ok(Fetched::Merged(_)));
        if !moved {
            return Err(Error::usage(format!(
                "cannot push the ledger to {remote} ({attempt} attempts): {err}"
            ))
            .hint(format!("retry by hand: git seal push {remote}")));
        }
        std::thread::sleep(backoff(cfg.retry_base_ms, attempt));
    }
}

/// How the local ledger stands to one remote's, from local refs only (no network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RemoteLedger {
    /// The remote lacks the ledger's fetch refspec (added after install): fetches
    /// do not bring its seals.
    NoRefspec,
    /// The refspec is there, but the remote has not been fetched since.
    NotFetched,
    /// The last fetch from the remote found no ledger there.
    NoLedger,
    /// The remote's ledger as last fetched or pushed, against the local one.
    Tracked {
        /// Ledger commits here that the remote lacks.
        ahead: usize,
        /// Ledger commits there that are not merged here.
        behind: usize,
    },
}

/// The state of `remote`'s ledger as this repository last saw it.
pub fn remote_ledger(
    repo: &Repo,
    cfg: &Config,
    remote: &str,
    local_tip: Option<Oid>,
) -> Result<RemoteLedger> {
    if let Ok(theirs) = repo.git.refname_to_id(&tracking_ref(cfg, remote)) {
        let (ahead, behind) = match local_tip {
            None => (0, 1),
            Some(ours) if ours == theirs => (0, 0),
            Some(ours) => repo.git.graph_ahead_behind(ours, theirs)?,
        };
        return Ok(RemoteLedger::Tracked { ahead, behind });
    }
    let r = repo.git.find_remote(remote)?;
    let spec = fetch_refspec(cfg, remote);
    if !r.fetch_refspecs()?.iter().flatten().any(|s| s == spec) {
        return Ok(RemoteLedger::NoRefspec);
    }
    let fetched = r
        .url()
        .is_some_and(|url| fetch_head_names(repo, url).unwrap_or(false));
    Ok(if fetched {
        RemoteLedger::NoLedger
    } else {
        RemoteLedger::NotFetched
    })
}

/// Whether the last fetch (FETCH_HEAD) was from `url`. git writes each fetched
/// ref there as `… of <url>`, the URL without a trailing `/` or `.git`.
fn fetch_head_names(repo: &Repo, url: &str) -> Option<bool> {
    use std::io::Read;
    let trim = |u: &str| {
        let u = u.trim_end_matches('/');
        u.strip_suffix(".git").unwrap_or(u).to_string()
    };
    let want = format!(" of {}", trim(url));
    let mut text = String::new();
    // FETCH_HEAD lists every fetched ref; the first 64 KiB say which remote it was.
    std::fs::File::open(repo.git_dir.join("FETCH_HEAD"))
        .ok()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    Some(text.lines().any(|l| l.ends_with(&want)))
}
