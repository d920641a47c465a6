//! `git seal push` and `git seal fetch`: move the ledger by hand.

use serde_json::json;

use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Expect, Repo};
use crate::ledger::Ledger;
use crate::runlog::{Run, Source, Status};
use crate::sync;

/// Push the ledger to a remote, merging the remote's first if it moved on
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The remote (default: the current branch's, else origin)
    pub remote: Option<String>,
    /// Print what would be pushed and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Fetch a remote's ledger and merge it into the local one
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// The remote (default: the current branch's, else origin)
    pub remote: Option<String>,
    /// Print what would be fetched and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The remote to use: the one named, else the current branch's upstream's, else origin.
fn remote_of(repo: &Repo, named: Option<String>) -> Result<String> {
    let remote = named
        .or_else(|| {
            let head = repo.head().ok()?;
            let branch = head.symref?.strip_prefix("refs/heads/")?.to_string();
            repo.git
                .config()
                .ok()?
                .get_string(&format!("branch.{branch}.remote"))
                .ok()
        })
        .unwrap_or_else(|| "origin".into());
    if repo.git.find_remote(&remote).is_err() && !remote.contains('/') && !remote.contains(':') {
        return Err(Error::usage(format!("no remote named '{remote}'"))
            .hint(format!("name one: {}", crate::quote::git("remote -v"))));
    }
    Ok(remote)
}

pub fn run_push(args: PushArgs) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let remote = remote_of(&repo, args.remote)?;
    if args.dry_run {
        let tip = Ledger::new(&repo, &cfg).tip()?;
        outln(match tip {
            Some(t) => format!("would push {} at {} to {remote}", cfg.ledger_ref, short(t)),
            None => format!("would push nothing: the ledger {} is empty", cfg.ledger_ref),
        })?;
        return Ok(0);
    }
    let mut run = Run::start(&repo.seal_dir(), Source::Command("push"), None);
    run.inputs(json!({"remote": remote}));
    match sync::push(&repo, &cfg, &remote) {
        Ok(attempts) => {
            let tip = Ledger::new(&repo, &cfg).tip()?;
            if let (Some(t), Ok(_)) = (tip, repo.git.find_remote(&remote)) {
                let _ = repo.update_ref(
                    &sync::tracking_ref(&cfg, &remote),
                    t,
                    Expect::Any,
                    "git-seal: pushed",
                );
            }
            let tip = tip.map(short).unwrap_or_else(|| "(empty)".into());
            warn_log(run.finish(Status::Success, json!({"tip": tip}), attempts, ""));
            outln(format!(
                "ledger {} pushed to {remote} at {tip}",
                cfg.ledger_ref
            ))?;
            Ok(0)
        }
        Err(e) => {
            warn_log(run.finish(
                Status::Failed,
                json!({}),
                cfg.max_retries + 1,
                e.message.clone(),
            ));
            Err(e)
        }
    }
}

pub fn run_fetch(args: FetchArgs) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let remote = remote_of(&repo, args.remote)?;
    if args.dry_run {
        outln(format!(
            "would fetch {}'s {} into {} and merge it into the local ledger",
            remote,
            cfg.ledger_ref,
            sync::tracking_ref(&cfg, &remote)
        ))?;
        return Ok(0);
    }
    let mut run = Run::start(&repo.seal_dir(), Source::Command("fetch"), None);
    run.inputs(json!({"remote": remote}));
    match sync::fetch(&repo, &cfg, &remote) {
        Ok(sync::Fetched::NoLedger) => {
            let msg = format!(
                "{remote} has no ledger ({}); nothing to merge",
                cfg.ledger_ref
            );
            warn_log(run.finish(Status::Success, json!({ "tip": null }), 1, &msg));
            outln(msg)?;
            Ok(0)
        }
        Ok(sync::Fetched::Absorbed(absorbed)) => {
            for (tracking, m) in &absorbed.merged {
                for path in &m.conflicts {
                    eprintln!(
                        "warning: git-seal: {tracking} holds another {path}; the local one is kept"
                    );
                }
            }
            let msg = match absorbed.tip {
                Some(t) => format!("ledger {} now at {}", cfg.ledger_ref, short(t)),
                None => format!("ledger {} already up to date with {remote}", cfg.ledger_ref),
            };
            if let Some((tracking, e)) = absorbed.refused.first() {
                let e: Error = e.clone().into();
                warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
                return Err(e.context(tracking));
            }
            warn_log(run.finish(
                Status::Success,
                json!({"tip": absorbed.tip.map(|t| t.to_string())}),
                1,
                &msg,
            ));
            outln(msg)?;
            Ok(0)
        }
        Err(e) => {
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
            Err(e)
        }
    }
}
