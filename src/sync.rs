//! Moving the ledger between repositories (transport only): fetch into a
//! remote-tracking ledger ref, absorb fetched ledgers into the local one, push with
//! retry. The tree, the merge and the append-only rule are `ledger`'s.
//!
//! Invariants:
//! - Fetching never overwrites the local ledger: the remote's ledger lands in
//!   `refs/seal/remotes/<remote>/<name>` and is merged into the local one
//!   ([`absorb_fetched`], `ledger::merge`): local seals keep their slot, fetched ones
//!   are kept for good, so a rewound remote loses nothing here.
//! - Pushes never force: a rejected ledger push is fetched, merged, and retried
//!   with backoff.

use std::process::Stdio;

use git2::Oid;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::ledger::merge::{self, MergeError, Merged};
use crate::ledger::rule::{self, Violation};
use crate::ledger::{backoff, Ledger, Shape};

/// Where a remote's ledger is fetched to.
pub fn tracking_ref(cfg: &Config, remote: &str) -> String {
    crate::ledger::tracking_ref(&cfg.ledger_ref, remote)
}

/// The fetch refspec that brings a remote's ledger with a plain `git fetch`.
pub fn fetch_refspec(cfg: &Config, remote: &str) -> String {
    format!("+{}:{}", cfg.ledger_ref, tracking_ref(cfg, remote))
}

/// What absorbing the fetched ledgers did.
#[derive(Debug, Default)]
pub struct Absorbed {
    /// The local ledger's tip after the last merge that moved it.
    pub tip: Option<Oid>,
    /// Each tracking ledger merged: (tracking ref, what the merge did).
    pub merged: Vec<(String, Merged)>,
    /// Each tracking ledger refused: (tracking ref, why).
    pub refused: Vec<(String, MergeError)>,
}

/// Merges every fetched ledger (`refs/seal/remotes/<remote>/<name>`) into the local
/// one, so that seals of pulled commits live in the local ledger, not only in a
/// tracking ref that the next fetch of a rewound remote force-updates. A fetched
/// ledger the local one already contains costs one ancestry check.
pub fn absorb_fetched(repo: &Repo, cfg: &Config) -> Result<Absorbed> {
    let ledger = Ledger::new(repo, cfg);
    let suffix = format!(
        "/{}",
        cfg.ledger_ref
            .strip_prefix("refs/notes/")
            .unwrap_or(&cfg.ledger_ref)
    );
    let mut tracking = Vec::new();
    for r in repo.git.references_glob("refs/seal/remotes/*")? {
        let r = r?;
        let Some(name) = r
            .name()
            .filter(|n| n.ends_with(&suffix))
            .map(str::to_string)
        else {
            continue;
        };
        if let Ok(commit) = r.peel_to_commit() {
            tracking.push((name, commit.id()));
        }
    }
    let mut out = Absorbed::default();
    for (name, theirs) in tracking {
        match merge::merge_into_local(&ledger, theirs)? {
            Ok(m) => {
                if m.tip.is_some() {
                    out.tip = m.tip;
                    out.merged.push((name, m));
                }
            }
            Err(e) => out.refused.push((name, e)),
        }
    }
    Ok(out)
}

/// Merges `theirs` (a fetched ledger tip) into the local ledger. Returns the new local
/// tip, or `None` when the local ledger already contains `theirs`; a fetched ledger
/// that is not canonical is an error and leaves the local ledger as it was.
pub fn merge_into_local(repo: &Repo, cfg: &Config, theirs: Oid) -> Result<Option<Oid>> {
    Ok(merge::merge_into_local(&Ledger::new(repo, cfg), theirs)??.tip)
}

/// The server's rule for an update of the ledger ref (`ledger::rule`): the first
/// violation, if it is refused.
pub fn append_only_violation(repo: &Repo, old: Oid, new: Oid) -> Result<Option<Violation>> {
    Ok(rule::check_update(repo, Shape::of(repo), old, new)?
        .into_iter()
        .next())
}

/// `git fetch` of the remote's ledger into its tracking ref, then every fetched ledger
/// merged into the local one ([`absorb_fetched`]).
pub fn fetch(repo: &Repo, cfg: &Config, remote: &str) -> Result<Absorbed> {
    let refspec = fetch_refspec(cfg, remote);
    let out = repo
        .git_command()
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
            &refspec,
        ])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("couldn't find remote ref") {
            return Ok(Absorbed::default()); // the remote has no ledger yet
        }
        return Err(Error::usage(format!(
            "cannot fetch the ledger from {remote}: {}",
            err.trim()
        ))
        .hint(format!(
            "check the remote, then retry: git seal fetch {remote}"
        )));
    }
    absorb_fetched(repo, cfg)
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
        let moved = err.contains("fetch first")
            || err.contains("non-fast-forward")
            || err.contains("rejected");
        if !moved || attempt > cfg.max_retries {
            return Err(Error::usage(format!(
                "cannot push the ledger to {remote} ({attempt} attempts): {err}"
            ))
            .hint(format!("retry by hand: git seal push {remote}")));
        }
        let absorbed = fetch(repo, cfg, remote)?;
        let tracking = tracking_ref(cfg, remote);
        if let Some((_, e)) = absorbed.refused.iter().find(|(r, _)| *r == tracking) {
            // Their ledger cannot be merged, so ours can never fast-forward theirs.
            return Err(
                Error::from(e.clone()).context(format!("cannot push the ledger to {remote}"))
            );
        }
        std::thread::sleep(backoff(cfg.retry_base_ms, attempt));
    }
}
