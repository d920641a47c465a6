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

/// Whether `git push` to `remote` moves the ledger's tracking ref itself: git updates
/// the remote-tracking refs that the remote's fetch refspecs map a pushed ref to, when
/// the push succeeded or found it up to date.
pub fn push_moves_tracking(repo: &Repo, cfg: &Config, remote: &str) -> bool {
    let specs = [
        fetch_refspec(cfg, remote),
        legacy_fetch_refspec(cfg, remote),
    ];
    repo.git.find_remote(remote).is_ok_and(|r| {
        r.fetch_refspecs().is_ok_and(|have| {
            have.iter()
                .flatten()
                .flatten()
                .any(|s| specs.iter().any(|w| w == s))
        })
    })
}

/// What a fetch of a remote's ledger found.
#[derive(Debug)]
pub enum Fetched {
    /// The remote has no ledger.
    NoLedger,
    /// The remote's ledger was fetched, and every fetched ledger merged.
    Absorbed(Absorbed),
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
    for r in repo.refs_with_prefix("refs/seal/remotes/")? {
        if !r.name.ends_with(&suffix) {
            continue;
        }
        if let Ok(commit) = repo
            .git
            .find_object(r.target, None)
            .and_then(|o| o.peel_to_commit())
        {
            tracking.push((r.name, commit.id()));
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
/// merged into the local one ([`absorb_fetched`]). A remote without a ledger is not
/// an error: the refspec is a pattern that may match nothing (see
/// [`fetch_refspec`]), so no decision rests on git's (translated) messages.
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
        .output()
        .map_err(crate::git::cannot_run_git)?;
    if !out.status.success() {
        return Err(Error::environment(format!(
            "cannot fetch the ledger from {remote}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint(format!(
            "check the remote (git remote -v), then retry: {}",
            crate::quote::git_seal(&format!("fetch {remote}"))
        )));
    }
    if repo.ref_target(&tracking).ok().flatten().is_none() {
        return Ok(Fetched::NoLedger);
    }
    Ok(Fetched::Absorbed(absorb_fetched(repo, cfg)?))
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
            .output()
            .map_err(crate::git::cannot_run_git)?;
        if out.status.success() {
            return Ok(attempt);
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // Whether the remote's ledger moved on is decided from the refs a fetch
        // brings, not from git's (translated) message: if the fetch merged something
        // new, the push can be retried; otherwise it failed for another reason.
        // The fetch's own reference-transaction hook may merge what it brings before
        // `fetch` returns, so "moved" is the local tip before against after.
        let before = Ledger::new(repo, cfg).tip()?;
        let fetched = if attempt <= cfg.max_retries {
            Some(fetch(repo, cfg, remote)?)
        } else {
            None
        };
        if let Some(Fetched::Absorbed(a)) = &fetched {
            let tracking = tracking_ref(cfg, remote);
            if let Some((_, e)) = a.refused.iter().find(|(r, _)| *r == tracking) {
                // Their ledger cannot be merged, so ours can never fast-forward theirs.
                return Err(
                    Error::from(e.clone()).context(format!("cannot push the ledger to {remote}"))
                );
            }
        }
        let moved = fetched.is_some() && Ledger::new(repo, cfg).tip()? != before;
        if !moved {
            return Err(Error::environment(format!(
                "cannot push the ledger to {remote} ({attempt} attempts): {err}"
            ))
            .hint(format!(
                "retry by hand: {}",
                crate::quote::git_seal(&format!("push {remote}"))
            )));
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
    if let Some(theirs) = repo.ref_target(&tracking_ref(cfg, remote)).ok().flatten() {
        let (ahead, behind) = match local_tip {
            None => (0, 1),
            Some(ours) if ours == theirs => (0, 0),
            Some(ours) => repo.git.graph_ahead_behind(ours, theirs)?,
        };
        return Ok(RemoteLedger::Tracked { ahead, behind });
    }
    let r = repo.git.find_remote(remote)?;
    let spec = fetch_refspec(cfg, remote);
    if !r
        .fetch_refspecs()?
        .iter()
        .flatten()
        .flatten()
        .any(|s| s == spec)
    {
        return Ok(RemoteLedger::NoRefspec);
    }
    let fetched = r
        .url()
        .is_ok_and(|url| fetch_head_names(repo, url).unwrap_or(false));
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

/// What [`push_with_ledger`] did.
#[derive(Debug, Clone, Default)]
pub struct PushedTogether {
    /// Push attempts used.
    pub attempts: u32,
    /// Whether the ledger went along.
    pub ledger: bool,
    /// Whether the push was atomic (the remote supports `--atomic`).
    pub atomic: bool,
    /// What the caller should warn about (best-effort: the ledger stayed behind).
    pub warning: Option<String>,
}

/// One `git push --porcelain` of `refspecs` (and the ledger, if `ledger`), atomic
/// when `atomic`. Returns (success, the rejected refs' lines, stderr).
fn push_once(
    repo: &Repo,
    cfg: &Config,
    remote: &str,
    refspecs: &[String],
    ledger: bool,
    atomic: bool,
) -> Result<(bool, Vec<String>, String)> {
    let mut cmd = repo.git_command();
    // --no-verify: the refs pushed here were checked by the command pushing them,
    // and git-seal's own pre-push would push the ledger apart from them.
    cmd.args(["push", "--porcelain", "--no-verify"]);
    if atomic {
        cmd.arg("--atomic");
    }
    cmd.arg(remote).args(refspecs);
    if ledger {
        cmd.arg(format!("{0}:{0}", cfg.ledger_ref));
    }
    let out = cmd
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(crate::git::cannot_run_git)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rejected: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with('!'))
        .map(|l| {
            crate::quote::printable(crate::limits::prefix(l.trim_start_matches('!').trim(), 256))
        })
        .take(crate::runlog::LIST_CAP)
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Ok((out.status.success(), rejected, stderr))
}

/// Pushes `refspecs` (a tag, a safety branch) and the ledger to `remote` in one
/// `git push --atomic`, so that either all of them land or none does, under the
/// `seal.push` mode: `off` pushes the refs without the ledger; a push rejected
/// because the remote's ledger moved on is fetched, merged and retried with
/// backoff (`seal.maxRetries`); when it still fails, `best-effort` pushes the refs
/// without the ledger and says so, `strict` refuses (exit 1) with nothing pushed.
/// A remote without atomic pushes gets the ledger first, then the refs.
pub fn push_with_ledger(
    repo: &Repo,
    cfg: &Config,
    remote: &str,
    refspecs: &[String],
) -> Result<PushedTogether> {
    let mut with_ledger =
        cfg.push != crate::config::PushMode::Off && Ledger::new(repo, cfg).tip()?.is_some();
    let mut done = PushedTogether {
        atomic: true,
        ..PushedTogether::default()
    };
    loop {
        done.attempts += 1;
        let (ok, rejected, stderr) =
            push_once(repo, cfg, remote, refspecs, with_ledger, done.atomic)?;
        if ok {
            done.ledger = with_ledger;
            return Ok(done);
        }
        if done.atomic && rejected.is_empty() && stderr.contains("does not support --atomic") {
            // Not atomic: the ledger first (it only grows, so a ledger without the
            // refs is harmless), then the refs.
            done.atomic = false;
            if with_ledger {
                if let Err(e) = push(repo, cfg, remote) {
                    if cfg.push == crate::config::PushMode::Strict {
                        return Err(Error::check(format!(
                            "cannot push the ledger to {remote} (seal.push=strict); nothing was pushed: {}",
                            e.message
                        ))
                        .hint(format!("fetch and retry: {} && {}", crate::quote::git_seal(&format!("fetch {remote}")), crate::quote::git_seal(&format!("push {remote}")))));
                    }
                    done.warning = Some(format!(
                        "warning: the ledger was not pushed to {remote}: {}",
                        e.message
                    ));
                }
                with_ledger = false;
                done.ledger = done.warning.is_none();
            }
            continue;
        }
        let what = if rejected.is_empty() {
            crate::quote::printable(crate::limits::prefix(&stderr, 512))
        } else {
            rejected.join("; ")
        };
        if with_ledger && done.attempts <= cfg.max_retries {
            let before = Ledger::new(repo, cfg).tip()?;
            let moved = matches!(fetch(repo, cfg, remote), Ok(Fetched::Absorbed(_)))
                && Ledger::new(repo, cfg).tip()? != before;
            if moved {
                std::thread::sleep(backoff(cfg.retry_base_ms, done.attempts));
                continue;
            }
        }
        let nothing = if done.atomic {
            "nothing was pushed (atomic push)"
        } else {
            "the refs listed were not pushed"
        };
        if with_ledger && cfg.push == crate::config::PushMode::BestEffort {
            // Best effort: the refs matter more than the ledger riding along.
            with_ledger = false;
            done.warning = Some(format!(
                "warning: pushing the ledger along to {remote} failed ({what}); pushing without it"
            ));
            continue;
        }
        let mode = match cfg.push {
            crate::config::PushMode::Strict => " (seal.push=strict)",
            _ => "",
        };
        return Err(Error::check(format!(
            "push to {remote} refused{mode}: {what}; {nothing}"
        ))
        .hint(format!(
            "see what the remote has: git ls-remote {} 'refs/heads/safety/*' 'refs/tags/snapshot/*'",
            crate::quote::shell(remote)
        )));
    }
}
