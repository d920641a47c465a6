//! `git seal hook <name>`: what the shims in the hooks directory call.
//!
//! Sealing hooks (`post-commit`, `post-merge`, `post-applypatch`, `post-rewrite`)
//! never fail: whatever goes wrong becomes one warning and a hint on stderr, a
//! FAILED run record, and exit 0, so git's own operation is never disturbed.

use std::io::Read;

use git2::Oid;
use serde_json::json;

use crate::commands::warn_log;
use crate::config::Config;
use crate::engine::{seal_commits, SealRun, Sealed};
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::runlog::{Run, Source, Status};

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
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            Ok(sealing_hook(&args.name, move |repo| {
                rewritten(repo, &input)
            }))
        }
        other => Err(Error::usage(format!("unknown hook '{other}'"))
            .hint("reinstall the hooks: git seal install")),
    }
}

/// The commits a post-rewrite hook lists as written (`<old> <new> [extra]` lines), in
/// the order git wrote them, which is parents first.
fn rewritten(repo: &Repo, input: &str) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    for line in input.lines() {
        let Some(new) = line.split_whitespace().nth(1) else {
            continue;
        };
        let oid = Oid::from_str(new)
            .map_err(|_| Error::usage(format!("post-rewrite: bad object id '{new}'")))?;
        if repo.git.find_commit(oid).is_ok() && !out.contains(&oid) {
            out.push(oid);
        }
    }
    Ok(out)
}

/// Runs a sealing hook: seals what `targets` names, records the run, never fails.
fn sealing_hook(name: &str, targets: impl FnOnce(&Repo) -> Result<Vec<Oid>>) -> u8 {
    let repo = match Repo::open(None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warning: git-seal ({name}): nothing sealed: {e}");
            return 0;
        }
    };
    let head = repo.git.head().ok().and_then(|h| h.target());
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Hook(name),
        head.map(|h| h.to_string()),
    );
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
            },
        )?;
        Ok((cfg, commits, sealed))
    });
    match result {
        Ok((cfg, commits, sealed)) => {
            run.inputs(json!({"commits": ids(&commits)}));
            let Sealed {
                written,
                already,
                attempts,
            } = sealed;
            if cfg.verbose {
                for (oid, digest) in &written {
                    eprintln!("git-seal: sealed {} {digest}", short(*oid));
                }
            }
            let status = if written.is_empty() {
                Status::Skipped
            } else {
                Status::Success
            };
            let outputs: Vec<_> = written
                .iter()
                .map(|(o, d)| json!({"commit": o.to_string(), "digest": d}))
                .collect();
            warn_log(run.finish(
                status,
                json!({"sealed": outputs, "already": ids(&already)}),
                attempts.max(1),
                format!("sealed {}, {} already sealed", written.len(), already.len()),
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

fn ids(oids: &[Oid]) -> Vec<String> {
    oids.iter().map(Oid::to_string).collect()
}
