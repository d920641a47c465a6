//! `git seal hook <name>`: what the shims in the hooks directory call.
//!
//! Sealing hooks (`post-commit`, `post-merge`, `post-applypatch`, `post-rewrite`)
//! never fail: whatever goes wrong becomes one warning and a hint on stderr, a
//! FAILED run record, and exit 0, so git's own operation is never disturbed.

use std::io::Read;

use git2::Oid;
use serde_json::json;

use crate::commands::{subject, warn_log};
use crate::config::{Config, PushMode};
use crate::engine::{seal_commits, SealRun, Sealed};
use crate::error::{Error, Result};
use crate::gate::{self, Update};
use crate::git::{short, Expect, Repo};
use crate::ledger::Ledger;
use crate::runlog::{self, Run, Source, Status};
use crate::sync;
use crate::verify::{Problem, Reason};

/// Run a git hook (called by the shims git-seal installs)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook's name, as git calls it
    pub name: String,
    /// The arguments git passed to the hook
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(args: Args) -> Result<u8> {
    match args.name.as_str() {
        "post-commit" | "post-applypatch" => Ok(sealing_hook(&args.name, |repo| {
            Ok(vec![repo.head_commit()?.id()])
        })),
        "post-merge" => Ok(sealing_hook(&args.name, |repo| {
            // A merge commit was just made; a fast-forward brought others' commits,
            // whose seals come with their ledger.
            let head = repo.head_commit()?;
            Ok(if head.parent_count() > 1 {
                vec![head.id()]
            } else {
                vec![]
            })
        })),
        "post-rewrite" => {
            let input = read_stdin()?;
            Ok(sealing_hook(&args.name, move |repo| {
                if input.trim().is_empty() {
                    // Run by a hook manager that does not forward stdin (the
                    // pre-commit framework): seal what is unsealed behind HEAD.
                    let cfg = Config::load(repo)?;
                    return unsealed_behind(repo, &cfg, repo.head_commit()?.id());
                }
                rewritten(repo, &input)
            }))
        }
        "reference-transaction" => {
            let input = read_stdin()?;
            Ok(tag_hook(args.args.first().map(String::as_str), &input))
        }
        "pre-push" => gate_hook("pre-push", || pre_push(&args.args)),
        "pre-receive" => gate_hook("pre-receive", pre_receive),
        other => Err(Error::usage(format!("unknown hook '{other}'"))
            .hint("reinstall the hooks: git seal install")),
    }
}

/// The commits a post-rewrite hook lists as written (`<old> <new> [extra]` lines), in
/// the order git wrote them, which is parents first.
fn rewritten(repo: &Repo, input: &str) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in input.lines() {
        let Some(new) = line.split_whitespace().nth(1) else {
            continue;
        };
        let oid = repo.parse_id(new).ok_or_else(|| {
            Error::usage(format!(
                "post-rewrite: bad object id '{}'",
                crate::quote::printable(new)
            ))
        })?;
        if repo.git.find_commit(oid).is_ok() && seen.insert(oid) {
            out.push(oid);
        }
    }
    Ok(out)
}

/// How far `unsealed_behind` walks before giving up (`seal --missing` does the rest).
const UNSEALED_WALK_LIMIT: usize = 10_000;

/// The unsealed commits behind `head`, parents first: a walk that stops at sealed
/// commits, so it costs what was rewritten, not the history.
fn unsealed_behind(repo: &Repo, cfg: &Config, head: Oid) -> Result<Vec<Oid>> {
    let view = Ledger::new(repo, cfg).view()?;
    let mut found = Vec::new();
    let mut queue = vec![head];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(oid) = queue.pop() {
        if !seen.insert(oid) || view.note_oid(oid)?.is_some() {
            continue;
        }
        if found.len() == UNSEALED_WALK_LIMIT {
            break;
        }
        found.push(oid);
        queue.extend(repo.git.find_commit(oid)?.parent_ids());
    }
    // Parents first, so that each seal can name its parent's: a walk from HEAD that
    // stops at the sealed frontier yields exactly these, in that order.
    let found_set: std::collections::BTreeSet<Oid> = found.iter().copied().collect();
    let mut walk = repo.git.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.push(head)?;
    for oid in &found {
        for parent in repo.git.find_commit(*oid)?.parent_ids() {
            if !found_set.contains(&parent) {
                walk.hide(parent)?;
            }
        }
    }
    Ok(walk.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Opens the repository for a hook that must not fail, and starts its run record.
/// `None` (after a warning) when there is no repository to work in.
fn start_hook(name: &str) -> Option<(Repo, Run)> {
    let repo = match Repo::open(None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warning: git-seal ({name}): nothing sealed: {e}");
            return None;
        }
    };
    let run = start_run(&repo, name);
    Some((repo, run))
}

/// The run record of hook `name`, started now, naming HEAD.
fn start_run(repo: &Repo, name: &str) -> Run {
    let head = repo.head().ok().and_then(|h| h.target);
    Run::start(
        &repo.seal_dir(),
        Source::Hook(name),
        head.map(|h| h.to_string()),
    )
}

/// Runs a sealing hook: seals what `targets` names, records the run, never fails.
fn sealing_hook(name: &str, targets: impl FnOnce(&Repo) -> Result<Vec<Oid>>) -> u8 {
    let Some((repo, mut run)) = start_hook(name) else {
        return 0;
    };
    // A signing key that cannot be used leaves the seal unsigned, never unwritten.
    let (signer, mut unsigned) = match crate::signing::SealSigner::from_config(&repo, None) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e)),
    };
    let result = Config::load(&repo).and_then(|cfg| {
        let commits = targets(&repo)?;
        let sealed = seal_commits(
            &repo,
            &cfg,
            &commits,
            &SealRun {
                force: false,
                dry_run: false,
                progress: None,
                replace_foreign: true,
                signer: signer.as_ref(),
                signing_required: false,
            },
        )?;
        Ok((cfg, commits, sealed))
    });
    match result {
        Ok((cfg, commits, sealed)) => {
            let (listed, total) =
                runlog::bounded_list(commits.iter().map(|c| json!(c.to_string())));
            run.inputs(json!({"commits": listed, "commits_total": total}));
            let Sealed {
                written,
                already,
                attempts,
                unsigned: sign_failed,
            } = sealed;
            if cfg.verbose {
                for (oid, digest) in &written {
                    eprintln!("git-seal: sealed {} {digest}", short(*oid));
                }
            }
            unsigned = unsigned.or(sign_failed).filter(|_| !written.is_empty());
            if let Some(e) = &unsigned {
                eprintln!("warning: git-seal ({name}): sealed, but unsigned: {e}");
                eprintln!(
                    "hint: {}",
                    e.hint()
                        .unwrap_or_else(|| "check the key with: git seal status".into())
                );
            }
            let status = if written.is_empty() {
                Status::Skipped
            } else if unsigned.is_some() {
                Status::Partial
            } else {
                Status::Success
            };
            let (outputs, sealed_total) = runlog::bounded_list(
                written
                    .iter()
                    .map(|(o, d)| json!({"commit": o.to_string(), "digest": d})),
            );
            let (already_listed, already_total) =
                runlog::bounded_list(already.iter().map(|c| json!(c.to_string())));
            warn_log(run.finish(
                status,
                json!({"sealed": outputs, "sealed_total": sealed_total,
                       "already": already_listed, "already_total": already_total,
                       "unsigned": unsigned.as_ref().map(|e| e.to_string())}),
                attempts.max(1),
                match &unsigned {
                    Some(e) => format!(
                        "sealed {} unsigned ({e}), {} already sealed",
                        written.len(),
                        already.len()
                    ),
                    None => format!("sealed {}, {} already sealed", written.len(), already.len()),
                },
            ));
        }
        Err(e) => {
            eprintln!("warning: git-seal ({name}): nothing sealed: {}", e.message);
            eprintln!("hint: seal later with: git seal seal --missing");
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message));
        }
    }
    0
}

/// What a gate decided, for its run record.
struct GateOutcome {
    code: u8,
    status: Status,
    outputs: serde_json::Value,
    attempts: u32,
    message: String,
}

impl GateOutcome {
    /// The push goes through (exit 0), recorded with `status`.
    fn passed(status: Status, outputs: serde_json::Value, attempts: u32, message: String) -> Self {
        GateOutcome {
            code: 0,
            status,
            outputs,
            attempts,
            message,
        }
    }

    /// The push is refused (exit 1), recorded as FAILED.
    fn refused(outputs: serde_json::Value, attempts: u32, message: String) -> Self {
        GateOutcome {
            code: 1,
            status: Status::Failed,
            outputs,
            attempts,
            message,
        }
    }
}

/// Runs a gate hook and records it. A gate that cannot do its job refuses: an
/// error is printed and the push is refused (exit 1), never waved through.
fn gate_hook(name: &str, gate: impl FnOnce() -> Result<(Run, GateOutcome)>) -> Result<u8> {
    match gate() {
        Ok((run, o)) => {
            warn_log(run.finish(o.status, o.outputs, o.attempts, o.message));
            Ok(o.code)
        }
        Err(e) => Err(
            Error::check(format!("{name}: push refused: {}", e.message)).hint(
                e.hint
                    .unwrap_or_else(|| "fix the problem above and push again".into()),
            ),
        ),
    }
}

fn read_stdin() -> Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    Ok(input)
}

/// The updates a pre-push run is about: git's stdin, or, when the pre-commit
/// framework runs the hook (it consumes stdin and passes the first pushed ref's
/// range in PRE_COMMIT_* variables), that one range.
fn pre_push_updates(repo: &Repo, input: &str) -> Result<(Vec<Update>, Option<String>)> {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if input.trim().is_empty() {
        // A new branch whose history reaches a root commit: the framework passes
        // only the branch names ("all files"); everything not on the remote is sent.
        let to = from_env("PRE_COMMIT_TO_REF").or_else(|| from_env("PRE_COMMIT_LOCAL_BRANCH"));
        if let Some(to) = to {
            let new = repo.commit(&to)?.id();
            let old = match from_env("PRE_COMMIT_FROM_REF") {
                Some(from) => repo
                    .commit(&from)
                    .map(|c| c.id())
                    .unwrap_or_else(|_| repo.zero_id()),
                None => repo.zero_id(),
            };
            let refname =
                from_env("PRE_COMMIT_REMOTE_BRANCH").unwrap_or_else(|| "refs/heads/HEAD".into());
            return Ok((
                vec![Update {
                    refname,
                    old,
                    new,
                    local: Some(to),
                }],
                from_env("PRE_COMMIT_REMOTE_NAME"),
            ));
        }
    }
    Ok((gate::parse_pre_push(input, repo.object_format())?, None))
}

/// The first updates (bounded: `runlog::bounded_list`); the total is `updates.len()`.
fn updates_json(updates: &[Update]) -> serde_json::Value {
    runlog::bounded_list(
        updates
            .iter()
            .map(|u| json!({"ref": u.refname, "old": u.old.to_string(), "new": u.new.to_string()})),
    )
    .0
}

/// The outcome of a gate that found problems: the push is refused (exit 1).
fn refusal(checked: usize, problems: &[Problem]) -> GateOutcome {
    let (listed, total) = runlog::bounded_list(
        problems
            .iter()
            .map(|p| json!({"commit": p.commit.to_string(), "reason": p.reason.to_string()})),
    );
    GateOutcome::refused(
        json!({"checked": checked, "problems": listed, "problems_total": total}),
        1,
        format!(
            "refused: {} problem(s) in {checked} commit(s) checked",
            problems.len()
        ),
    )
}

/// Prints the refusal: per bad commit its short id, subject and reason, then the fix.
fn print_refusal(repo: &Repo, problems: &[Problem], sent_from: &[String], remote: &str) {
    let mut seen = std::collections::BTreeSet::new();
    let commits: Vec<Oid> = problems
        .iter()
        .map(|p| p.commit)
        .filter(|c| seen.insert(*c))
        .collect();
    let policy_only = problems.iter().all(|p| {
        matches!(
            p.reason,
            Reason::NotTrusted(_) | Reason::MissingCountersign { .. }
        )
    });
    if policy_only {
        eprintln!(
            "error: push refused: {} commit(s) do not meet the signing policy",
            commits.len()
        );
    } else {
        eprintln!(
            "error: push refused: {} commit(s) without a valid seal",
            commits.len()
        );
    }
    for p in problems {
        eprintln!(
            "  {} {}: {}",
            short(p.commit),
            subject(repo, p.commit),
            p.reason
        );
    }
    let only_missing = problems.iter().all(|p| p.reason == Reason::NoSeal);
    let countersign = problems.iter().find_map(|p| match &p.reason {
        Reason::MissingCountersign { role, .. } => Some((p.commit, role)),
        _ => None,
    });
    let untrusted = problems
        .iter()
        .any(|p| matches!(p.reason, Reason::NotTrusted(_)));
    if let Some((tip, role)) = countersign {
        // Children come first: the first is the tip, whose countersign covers the
        // sealed chain behind it. Someone else runs it (two-person rule).
        eprintln!(
            "hint: a second person countersigns the tip, then pushes the ledger: git seal countersign {tip} --role {} && git seal push {}",
            crate::quote::shell(role),
            crate::quote::shell(remote)
        );
    }
    if untrusted {
        eprintln!(
            "hint: seals must be signed by a key in the receiving side's allowed signers (git seal status shows yours); commit again with the key configured: git config gpg.format ssh && git config user.signingKey ~/.ssh/id_ed25519"
        );
    }
    if countersign.is_some() || untrusted {
        // The fix is above.
    } else if only_missing {
        // Name what was pushed: HEAD may be another branch, where --missing alone
        // would seal nothing that this push sends. Names come from the pusher.
        let tips: Vec<String> = sent_from.iter().map(|t| crate::quote::shell(t)).collect();
        eprintln!(
            "hint: seal them, then push again: git seal seal --missing {}",
            tips.join(" ")
        );
    } else {
        let ids: Vec<String> = commits.iter().map(|c| short(*c)).collect();
        eprintln!(
            "hint: inspect with git seal verify {}; re-seal what you trust: git seal seal --force {}",
            ids.join(" "),
            ids.join(" ")
        );
    }
}

fn pre_push(args: &[String]) -> Result<(Run, GateOutcome)> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let input = read_stdin()?;
    let (updates, env_remote) = pre_push_updates(&repo, &input)?;
    let remote = env_remote
        .or_else(|| args.first().cloned())
        .unwrap_or_else(|| "origin".into());
    let mut run = start_run(&repo, "pre-push");
    run.inputs(json!({
        "remote": remote,
        "updates": updates_json(&updates),
        "updates_total": updates.len(),
    }));
    if std::env::var("SEAL_SKIP").as_deref() == Ok("1") {
        eprintln!("warning: git-seal: SEAL_SKIP=1: push not checked (recorded as SKIPPED)");
        return Ok((
            run,
            GateOutcome::passed(
                Status::Skipped,
                json!({}),
                0,
                "bypassed with SEAL_SKIP=1".into(),
            ),
        ));
    }
    let remote_is_named = repo.git.find_remote(&remote).is_ok();
    // Seals fetched from any remote go with this push: merged into the local ledger
    // first, so a gated remote receives them with the commits.
    if let Ok(a) = sync::absorb_fetched(&repo, &cfg) {
        for (tracking, e) in &a.refused {
            eprintln!("warning: git-seal: {tracking} not merged: {e}");
        }
    }
    let vetted = gate::vetted_at_remote(&repo, &remote)?;
    let view = Ledger::new(&repo, &cfg).view()?;
    let checked = gate::check(&repo, view, &updates, cfg.gate_tags, &vetted)?;
    let commits = checked.commits;
    if !checked.problems.is_empty() {
        print_refusal(
            &repo,
            &checked.problems,
            &gate::sent_from(&updates, cfg.gate_tags),
            &remote,
        );
        return Ok((run, refusal(commits, &checked.problems)));
    }
    if git_argv().is_some_and(|argv| crate::gate::is_dry_run_push(&argv)) {
        // `git push --dry-run` runs pre-push too; it must not push the ledger for real.
        return Ok((
            run,
            GateOutcome::passed(
                Status::Success,
                json!({"checked": commits, "ledger_pushed": false, "dry_run": true}),
                1,
                format!("{commits} commit(s) checked (dry run: ledger not pushed)"),
            ),
        ));
    }
    let (attempts, pushed, warning) = push_ledger_along(&repo, &cfg, &remote, remote_is_named);
    if let Some(w) = &warning {
        if cfg.push == PushMode::Strict {
            eprintln!(
                "error: push refused: seal.push is strict and the ledger could not be pushed: {w}"
            );
            eprintln!(
                "hint: retry with git seal push {}, or git config seal.push best-effort",
                crate::quote::shell(&remote)
            );
            return Ok((
                run,
                GateOutcome::refused(
                    json!({"checked": commits}),
                    attempts,
                    format!("ledger push failed: {w}"),
                ),
            ));
        }
        eprintln!("warning: git-seal: the ledger was not pushed: {w}");
        eprintln!("hint: push it later with: git seal push {remote}");
    }
    let status = if warning.is_some() {
        Status::Partial
    } else {
        Status::Success
    };
    Ok((
        run,
        GateOutcome::passed(
            status,
            json!({"checked": commits, "ledger_pushed": pushed}),
            attempts,
            format!("{commits} commit(s) checked"),
        ),
    ))
}

/// Pushes the ledger with the branches, per `seal.push`, unless the remote already
/// has this very tip. Returns (attempts, pushed, warning).
fn push_ledger_along(
    repo: &Repo,
    cfg: &Config,
    remote: &str,
    named: bool,
) -> (u32, bool, Option<String>) {
    if cfg.push == PushMode::Off {
        return (0, false, None);
    }
    let tip = match Ledger::new(repo, cfg).tip() {
        Ok(Some(t)) => t,
        Ok(None) => return (0, false, None),
        Err(e) => return (0, false, Some(e.message)),
    };
    let tracking = sync::tracking_ref(cfg, remote);
    if named && repo.ref_target(&tracking).ok().flatten() == Some(tip) {
        return (0, false, None);
    }
    match sync::push(repo, cfg, remote) {
        Ok(attempts) => {
            // A remote with the ledger's fetch refspec had its tracking ref moved by
            // `git push` itself, to what it pushed (a ref read fewer on reftable).
            if named && !sync::push_moves_tracking(repo, cfg, remote) {
                if let Ok(Some(t)) = Ledger::new(repo, cfg).tip() {
                    let _ = repo.update_ref(&tracking, t, Expect::Any, "git-seal: pushed");
                }
            }
            (attempts, true, None)
        }
        Err(e) => (cfg.max_retries + 1, false, Some(e.message)),
    }
}

fn pre_receive() -> Result<(Run, GateOutcome)> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let updates = gate::parse_pre_receive(&read_stdin()?, repo.object_format())?;
    let mut run = Run::start(&repo.seal_dir(), Source::Hook("pre-receive"), None);
    run.inputs(json!({
        "updates": updates_json(&updates),
        "updates_total": updates.len(),
    }));
    let report = gate::pre_receive(&repo, &cfg, &updates)?;
    let commits = report.commits;
    if let Some(why) = &report.refused {
        eprintln!("error: push refused: {why}");
        eprintln!(
            "hint: fetch and merge the ledger instead of rewriting it, then push again: git seal fetch && git seal push"
        );
        return Ok((run, GateOutcome::refused(json!({}), 1, why.clone())));
    }
    if report.needs_ledger_first {
        // The server cannot know the pusher's name for it: `origin` is the name a
        // clone gives the remote it came from.
        let why = format!(
            "{} commit(s) are sealed only in the ledger this push brings, which is not the server's until it lands",
            commits
        );
        eprintln!("error: push refused: {why}");
        // Name the refs pushed, so the pasted `git push` sends them whatever the
        // pusher's push.default and upstreams are.
        let refs: Vec<String> = gate::sent_from(&updates, cfg.gate_tags)
            .iter()
            .map(|r| crate::quote::shell(r))
            .collect();
        eprintln!(
            "hint: push the ledger first, then the branch (what pre-push does): git seal push origin && git push origin {}",
            refs.join(" ")
        );
        return Ok((run, refusal(commits, &report.problems)));
    }
    if !report.problems.is_empty() {
        print_refusal(
            &repo,
            &report.problems,
            &gate::sent_from(&updates, cfg.gate_tags),
            "origin",
        );
        eprintln!(
            "hint: then push the ledger, before the branch: git seal push origin && git push"
        );
        return Ok((run, refusal(commits, &report.problems)));
    }
    Ok((
        run,
        GateOutcome::passed(
            Status::Success,
            json!({"checked": commits}),
            1,
            format!("{commits} commit(s) checked"),
        ),
    ))
}

/// `reference-transaction`: seals every tag a committed transaction created or moved.
/// The shim has already dropped every call that is not `committed` and every
/// transaction with no tag and no fetched ledger (`refs/seal/remotes/`) in it; the
/// lines it passes may name other refs too, which are skipped here. Never fails.
fn tag_hook(state: Option<&str>, input: &str) -> u8 {
    if state != Some("committed") {
        return 0;
    }
    let tags: Vec<String> = input
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (new, refname) = (f.get(1)?, f.get(2)?);
            let name = refname.strip_prefix("refs/tags/")?;
            (!new.bytes().all(|b| b == b'0')).then(|| name.to_string())
        })
        .collect();
    let fetched_ledger = input.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(2)
            .is_some_and(|r| r.starts_with("refs/seal/remotes/"))
            && f.get(1).is_some_and(|n| !n.bytes().all(|b| b == b'0'))
    });
    if fetched_ledger {
        absorb_hook();
    }
    if tags.is_empty() {
        return 0;
    }
    let Some((repo, mut run)) = start_hook("reference-transaction") else {
        return 0;
    };
    run.inputs(json!({ "tags": tags }));
    if let Some(command) = transfer_command() {
        // Made elsewhere: their seals travel with the remote's ledger.
        let message =
            format!("tags from git {command} are not sealed here; seal one with git seal seal TAG");
        warn_log(run.finish(Status::Skipped, json!({}), 0, message));
        return 0;
    }
    let mut sealed = Vec::new();
    let mut failed = Vec::new();
    let cfg = match Config::load(&repo) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: git-seal (reference-transaction): tags not sealed: {e}");
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message));
            return 0;
        }
    };
    let signer = crate::signing::SealSigner::from_config(&repo, None);
    if let Err(e) = &signer {
        eprintln!("warning: git-seal: tags sealed unsigned: {e}");
    }
    let signing = crate::tags::TagSigning {
        signer: signer.as_ref().ok().and_then(Option::as_ref),
        required: false,
    };
    for tag in &tags {
        match crate::tags::seal_tag(&repo, &cfg, tag, None, false, signing) {
            Ok(t) => {
                if let Some(e) = &t.unsigned {
                    eprintln!("warning: git-seal: tag {tag} sealed, but unsigned: {e}");
                    failed.push(json!({"tag": tag, "unsigned": e.to_string()}));
                }
                if cfg.verbose && t.written {
                    eprintln!("git-seal: sealed tag {tag} {}", t.seal.digest);
                }
                if let Some(note) = t.seal.leaves_out_note().filter(|_| t.written) {
                    eprintln!("git-seal: {note}");
                }
                sealed.push(json!({"tag": tag, "digest": t.seal.digest, "written": t.written}));
            }
            Err(e) => {
                eprintln!(
                    "warning: git-seal: tag {} not sealed: {}",
                    crate::quote::c_style(tag.as_bytes()),
                    e.message
                );
                match &e.hint {
                    Some(hint) => eprintln!("hint: {hint}"),
                    None => eprintln!(
                        "hint: seal it later with: git seal seal {}",
                        crate::quote::shell(tag)
                    ),
                }
                failed.push(json!({"tag": tag, "error": e.message}));
            }
        }
    }
    let status = match (sealed.is_empty(), failed.is_empty()) {
        (_, true) => Status::Success,
        (false, false) => Status::Partial,
        (true, false) => Status::Failed,
    };
    let message = format!("{} tag(s) sealed, {} failed", sealed.len(), failed.len());
    warn_log(run.finish(
        status,
        json!({"sealed": sealed, "failed": failed}),
        1,
        message,
    ));
    0
}

/// A fetch updated a fetched ledger (`refs/seal/remotes/…`): merge every fetched
/// ledger into the local one, so pulled commits' seals are kept for good. Never
/// fails; a server (receive-pack) never merges what a pusher sent, and a `git push`
/// moves a tracking ref only to what it pushed from here, which brings no seal
/// (whatever else a push named is merged by the next fetch or pre-push, as always).
fn absorb_hook() {
    if git_command().is_some_and(|c| c.ends_with("receive-pack") || c == "push") {
        return;
    }
    let Some((repo, run)) = start_hook("reference-transaction") else {
        return;
    };
    let absorbed = Config::load(&repo).and_then(|cfg| sync::absorb_fetched(&repo, &cfg));
    match absorbed {
        Ok(a) => {
            let mut status = Status::Success;
            for (tracking, e) in &a.refused {
                eprintln!("warning: git-seal: {tracking} not merged: {e}");
                eprintln!(
                    "hint: inspect it with git ls-tree -r {}",
                    crate::quote::shell(tracking)
                );
                status = Status::Partial;
            }
            for (tracking, m) in &a.merged {
                for path in &m.conflicts {
                    eprintln!(
                        "warning: git-seal: {tracking} holds another {path}; the local one is kept"
                    );
                }
            }
            let merged: Vec<_> = a
                .merged
                .iter()
                .map(|(r, m)| json!({"ref": r, "added": m.added, "kept_aside": m.kept_aside}))
                .collect();
            let message = format!(
                "{} fetched ledger(s) merged, {} refused",
                a.merged.len(),
                a.refused.len()
            );
            warn_log(run.finish(status, json!({"merged": merged}), 1, message));
        }
        Err(e) => {
            eprintln!("warning: git-seal: fetched seals not merged: {}", e.message);
            eprintln!("hint: merge them with: git seal fetch");
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message));
        }
    }
}

/// The git command that ran this hook, if it brings refs from elsewhere (fetch,
/// pull, clone, or a push received). Where git's command line cannot be read, `None`, and tags are sealed.
fn transfer_command() -> Option<String> {
    let argv = git_argv()?;
    let (command, _) = crate::gate::git_subcommand(&argv)?;
    matches!(
        command,
        "fetch" | "pull" | "clone" | "fetch-pack" | "receive-pack"
    )
    .then(|| command.to_string())
}

/// The command line of the git process that runs this hook, from
/// `/proc/<git's pid>/cmdline` (the shim passes git's pid as `SEAL_GIT_PID`).
fn git_argv() -> Option<Vec<String>> {
    let pid = std::env::var("SEAL_GIT_PID")
        .ok()
        .or_else(nearest_git_ancestor)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Run by another hook manager (a husky script, pre-commit, lefthook), without our
/// shim to pass git's pid: the nearest `git` among this process's ancestors is the
/// one running the hook (Linux `/proc`; elsewhere none is found).
fn nearest_git_ancestor() -> Option<String> {
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..16 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid …": comm may itself hold spaces and parentheses.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        // `git seal hook …` (how such scripts call us) is a git too: skip it.
        if stat.get(open + 1..close)? == "git" && !runs_seal(pid) {
            return Some(pid.to_string());
        }
        let ppid: u32 = stat.get(close + 2..)?.split(' ').nth(1)?.parse().ok()?;
        if ppid <= 1 {
            return None;
        }
        pid = ppid;
    }
    None
}

/// Whether process `pid` is `git seal …`.
fn runs_seal(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    crate::gate::git_subcommand(&argv).is_some_and(|(command, _)| command == "seal")
}

/// The git command that ran this hook (`fetch`, `receive-pack` …), from git's
/// command line.
fn git_command() -> Option<String> {
    let argv = git_argv()?;
    crate::gate::git_subcommand(&argv).map(|(command, _)| command.to_string())
}
