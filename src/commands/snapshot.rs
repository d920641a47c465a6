//! `git seal snapshot` and `git seal rollback`.

use camino::Utf8PathBuf;
use serde_json::json;

use crate::cache::CacheMode;
use crate::commands::export::write_all_or_none;
use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::Result;
use crate::git::{short, Repo};
use crate::quote::c_style;
use crate::runlog::{Run, Source, Status};
use crate::snapshot::{self, ChosenBy, RollbackPlan};

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
    /// Then push the tag, a safety/NAME branch at it and the ledger to REMOTE (default
    /// origin) in one atomic push, under seal.push (off: without the ledger; strict:
    /// all or nothing)
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin", conflicts_with = "dry_run")]
    pub push: Option<String>,
}

/// Return to a snapshot: TAG, or the closest one in HEAD's history that verifies
///
/// Without TAG, the snapshot chosen is the one whose commit comes first walking
/// HEAD's first-parent history, then its whole history, and that verifies: never by
/// date. A snapshot not in HEAD's history is taken only when named. Keeps a safety
/// ref of where you were (refs/seal/safety/<time>), moves the current branch (or a
/// detached HEAD) to the snapshot, checks the files on disk against its manifest,
/// and records the reason in the ledger and the run log. Nothing is ever lost:
/// uncommitted changes, and untracked files where the snapshot has files, are
/// refused (exit 1) or, with --force, stashed and kept by a ref and moved into
/// .git/seal/aside/<time>/. Onto where HEAD already is, with nothing to restore, it
/// does and records nothing.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The snapshot tag (default: the closest snapshot in HEAD's history that verifies)
    pub tag: Option<String>,
    /// Why: recorded with the rollback
    #[arg(long, required_unless_present = "list")]
    pub reason: Option<String>,
    /// Roll back even with uncommitted changes or untracked files in the way (they are stashed, or moved aside, and kept)
    #[arg(long)]
    pub force: bool,
    /// Print the plan (chosen snapshot, those passed over and why, what would be kept where) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// List past rollbacks
    #[arg(long, conflicts_with_all = ["tag", "force", "dry_run"])]
    pub list: bool,
    /// With --list: machine-readable output (schema git-seal/rollback-list/v1, each
    /// record as the ledger stores it)
    #[arg(long, requires = "list")]
    pub json: bool,
    /// Then push the safety ref (as branch safety/rollback-<time>) and the ledger to
    /// REMOTE (default origin) in one atomic push, under seal.push
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin", conflicts_with_all = ["dry_run", "list"])]
    pub push: Option<String>,
}

/// Pushes `refspecs` with the ledger to `remote` (recorded as a run of
/// `what`), printing what landed. Returns the pushed summary for the notify event,
/// or the refusal.
fn push_refs(
    repo: &Repo,
    cfg: &Config,
    what: &str,
    remote: &str,
    refspecs: Vec<String>,
    head: git2::Oid,
) -> std::result::Result<serde_json::Value, crate::error::Error> {
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command(what),
        Some(head.to_string()),
    );
    run.inputs(json!({"remote": remote, "refspecs": refspecs}));
    match crate::sync::push_with_ledger(repo, cfg, remote, &refspecs) {
        Ok(done) => {
            if let Some(w) = &done.warning {
                eprintln!("{w}");
            }
            let status = if done.warning.is_some() {
                Status::Partial
            } else {
                Status::Success
            };
            let pushed = json!({"remote": remote, "refs": refspecs, "ledger": done.ledger,
                                "atomic": done.atomic, "attempts": done.attempts});
            warn_log(run.finish(
                status,
                pushed.clone(),
                done.attempts,
                done.warning.clone().unwrap_or_default(),
            ));
            let with = if done.ledger { " and the ledger" } else { "" };
            let dsts: Vec<&str> = refspecs
                .iter()
                .filter_map(|r| r.split_once(':').map(|(_, d)| d))
                .collect();
            let how = if done.atomic { ", atomically" } else { "" };
            let _ = outln(format!("pushed {}{with} to {remote}{how}", dsts.join(", ")));
            Ok(pushed)
        }
        Err(e) => {
            warn_log(run.finish(
                Status::Failed,
                json!({"remote": remote}),
                1,
                e.message.clone(),
            ));
            Err(e)
        }
    }
}

/// Runs `seal.notifyCommand` (protected config only) with `event`; never fails.
fn notify(repo: &Repo, kind: &str, fields: serde_json::Value) {
    match crate::notify::configured(repo) {
        Some(command) => {
            let event = crate::notify::event(repo, kind, fields);
            if let Some(w) = crate::notify::run(repo, &command, &event) {
                eprintln!("{w}");
            }
        }
        None if crate::notify::ignored_local(repo) => eprintln!(
            "warning: seal.notifyCommand in this repository's own config is ignored: it is read only from your global or system config or git -c\nhint: git config --global seal.notifyCommand \"$(git config --local seal.notifyCommand)\""
        ),
        None => {}
    }
}

pub fn run_snapshot(args: SnapshotArgs) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let date = chrono::Local::now().format("%Y-%m-%d").to_string();
    let mode = CacheMode::unless_dry_run(args.dry_run);
    let plan = snapshot::plan_snapshot(
        &repo,
        &cfg,
        &args.name,
        args.message.as_deref(),
        &date,
        mode,
    )?;
    let (tag, head) = (plan.tag.clone(), plan.head);
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
            short(head),
            plan.file_count
        ))?;
        if let Some((dir, paths)) = &export_paths {
            for p in paths {
                outln(format!("would write {}", dir.join(p)))?;
            }
        }
        return Ok(0);
    }
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("snapshot"),
        Some(head.to_string()),
    );
    run.inputs(json!({"name": args.name, "tag": tag, "export": args.export}));
    let sealed = match snapshot::create_snapshot(&repo, &cfg, &plan) {
        Ok(s) => s,
        Err(e) => {
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
            return Err(e);
        }
    };
    if let Some((dir, paths)) = &export_paths {
        let contents = [
            sealed.yaml.clone().into_bytes(),
            plan.files.manifest_json.clone(),
            plan.files.checksums.clone(),
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
        json!({"tag": tag, "digest": sealed.seal.digest, "target": head.to_string(),
               "evtag_not_covered": sealed.seal.evtag.not_covered}),
        1,
        format!("snapshot {tag}"),
    ));
    outln(format!(
        "snapshot {tag} at {} sealed {}",
        short(head),
        sealed.seal.digest
    ))?;
    if let Some(note) = sealed.seal.leaves_out_note() {
        eprintln!("note: {note}");
    }
    if let Some((dir, paths)) = &export_paths {
        for p in paths {
            outln(dir.join(p).as_str())?;
        }
    }
    let pushed = args.push.as_ref().map(|remote| {
        let refspecs = vec![
            format!("refs/tags/{tag}:refs/tags/{tag}"),
            format!("{head}:refs/heads/safety/{}", args.name),
        ];
        push_refs(&repo, &cfg, "snapshot-push", remote, refspecs, head)
    });
    let (who, email) = repo.identity().unwrap_or_default();
    notify(
        &repo,
        "snapshot",
        json!({
            "name": args.name, "tag": tag, "commit": head.to_string(),
            "digest": sealed.seal.digest, "by": {"name": who, "email": email},
            "pushed": match &pushed { Some(Ok(p)) => p.clone(), _ => json!(null) },
            "push_error": match &pushed { Some(Err(e)) => json!(e.message), _ => json!(null) },
        }),
    );
    if let Some(Err(e)) = pushed {
        return Err(e.context(format!("snapshot {tag} was made and sealed here")));
    }
    Ok(0)
}

pub fn run_rollback(args: RollbackArgs) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    if args.list {
        let past = snapshot::rollbacks(&repo, &cfg)?;
        if args.json {
            let doc = serde_json::json!({"schema": "git-seal/rollback-list/v1", "rollbacks": past});
            outln(serde_json::to_string_pretty(&doc).unwrap_or_default())?;
            return Ok(0);
        }
        if past.is_empty() {
            outln("no rollbacks recorded")?;
        }
        for r in past {
            outln(format!(
                "{}  {} -> {} ({})  by {} <{}>  safety {}  reason: {}",
                r.at,
                crate::limits::prefix(&r.from, 7),
                crate::limits::prefix(&r.to, 7),
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
    let mode = CacheMode::unless_dry_run(args.dry_run);
    let plan =
        snapshot::plan_rollback(&repo, &cfg, args.tag.as_deref(), &reason, args.force, mode)?;
    let from = short(plan.from);
    let to = format!("{} ({})", plan.tag, short(plan.to));
    // Not checked is not failed: a clone without a submodule's objects still rolls
    // back, and says what it could not check.
    for u in &plan.unchecked {
        eprintln!("note: {}: {u}", plan.tag);
        eprintln!("hint: to check it too: {}", u.fix);
    }
    if args.dry_run {
        return render_plan(&plan).map(|()| 0);
    }
    for p in &plan.passed_over {
        eprintln!("skipping {}: {}", p.tag, p.why);
    }
    if plan.already_there() {
        outln(format!(
            "already there: HEAD is at {to}; nothing to do, nothing recorded"
        ))?;
        return Ok(0);
    }
    let Some(done) = snapshot::apply(&repo, &cfg, &plan)? else {
        return Ok(0);
    };
    warn_log(done.log_warning.clone());
    let r = &done.record;
    outln(format!(
        "rolled back to {to} from {from}; where you were is kept as {}",
        r.safety_ref
    ))?;
    if let Some(s) = &r.stash_ref {
        outln(format!("uncommitted changes kept as {s} (git stash list)"))?;
    }
    if let Some(dir) = &r.aside_dir {
        for f in &r.aside {
            outln(format!(
                "untracked {} was in the way: moved to {dir}/{}",
                c_style(f.as_bytes()),
                c_style(f.as_bytes())
            ))?;
        }
    }
    for p in &done.worktree_problems {
        outln(format!("worktree {p}"))?;
    }
    let pushed = args.push.as_ref().map(|remote| {
        let branch = r
            .safety_ref
            .replace("refs/seal/safety/", "refs/heads/safety/rollback-");
        let refspecs = vec![format!("{}:{branch}", r.safety_ref)];
        push_refs(&repo, &cfg, "rollback-push", remote, refspecs, plan.to)
    });
    notify(
        &repo,
        "rollback",
        json!({
            "tag": r.tag, "commit": r.to, "from": r.from, "reason": r.reason,
            "safety_ref": r.safety_ref, "by": r.by, "run_id": r.run_id,
            "worktree_verified": done.worktree_problems.is_empty(),
            "pushed": match &pushed { Some(Ok(p)) => p.clone(), _ => json!(null) },
            "push_error": match &pushed { Some(Err(e)) => json!(e.message), _ => json!(null) },
        }),
    );
    if let Some(e) = done.not_recorded {
        return Err(e.context("rolled back, but the ledger record could not be written"));
    }
    if let Some(Err(e)) = pushed {
        return Err(e.context("rolled back here"));
    }
    if done.worktree_problems.is_empty() {
        outln("worktree verified against the snapshot's manifest")?;
        Ok(0)
    } else {
        Ok(1)
    }
}

/// Prints what `plan` would do; exits 0 whenever a plan could be made, saying what
/// a real run would refuse and why.
fn render_plan(plan: &RollbackPlan) -> Result<()> {
    let to = format!("{} ({})", plan.tag, short(plan.to));
    let how = match plan.by {
        ChosenBy::Named => "named",
        ChosenBy::Closest => "the closest snapshot in HEAD's history that verifies",
    };
    outln(format!(
        "plan: roll back from {} to {to}: {how}",
        short(plan.from)
    ))?;
    for p in &plan.passed_over {
        outln(format!("passed over {}: {}", p.tag, p.why))?;
    }
    if plan.already_there() {
        outln(format!(
            "already there: HEAD is at {to}; nothing would be done or recorded"
        ))?;
        return Ok(());
    }
    if let Some(e) = plan.refusal() {
        outln(format!("would refuse: {}", e.message))?;
        if let Some(h) = &e.hint {
            outln(format!("hint: {h}"))?;
        }
    }
    let with = if plan.force {
        "would"
    } else {
        "with --force, would"
    };
    outln(format!(
        "would keep {} as {}",
        short(plan.from),
        plan.safety_ref
    ))?;
    if !plan.dirty.is_empty() {
        let files: Vec<String> = plan.dirty.iter().map(|p| c_style(p)).collect();
        outln(format!(
            "{with} stash and keep the changes to {} as {}-worktree",
            files.join(", "),
            plan.safety_ref
        ))?;
    }
    for f in &plan.in_the_way {
        outln(format!(
            "{with} move untracked {} (in the way) to {}/{}",
            c_style(f),
            plan.aside_dir,
            c_style(f)
        ))?;
    }
    let how = match &plan.branch {
        Some(b) => format!("move branch {} to", c_style(b.as_bytes())),
        None => "check out".to_string(),
    };
    outln(format!(
        "would {how} {to}, verify the files, and record the reason in the ledger"
    ))
}
