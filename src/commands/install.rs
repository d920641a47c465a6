//! `git seal install` and `git seal uninstall`.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;

use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::hooks::{self, Step};
use crate::runlog::{Run, Source, Status};
use crate::sync;

/// Wire git-seal's hooks into a repository
///
/// Respects core.hooksPath, linked worktrees and bare repositories. A hook already
/// there that is not git-seal's is kept and chained: it still runs, first, with the
/// same arguments and stdin. Running install again is harmless.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The repository (default: the one the current directory is in)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<Utf8PathBuf>,
    /// Also install the server-side pre-receive gate
    #[arg(long)]
    pub server: bool,
    /// Print what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not install the reference-transaction hook that seals tags (git runs it
    /// twice per ref a fetch updates; tags are then sealed with git seal seal TAG)
    #[arg(long)]
    pub no_tag_hook: bool,
    /// Do not add the ledger's fetch refspec to existing remotes (by default a plain
    /// `git fetch` then brings seals too; what `git push` pushes never changes)
    #[arg(long)]
    pub no_fetch_refspec: bool,
}

/// Remove git-seal's hooks, restoring the hooks directory as it was before install
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// The repository (default: the one the current directory is in)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<Utf8PathBuf>,
    /// Print what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

fn this_binary() -> Result<Utf8PathBuf> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::usage(format!("cannot locate the git-seal binary: {e}")))?;
    Utf8PathBuf::from_path_buf(exe).map_err(|p| {
        Error::usage(format!(
            "the git-seal binary's path {} is not UTF-8",
            p.display()
        ))
        .hint("install git-seal under a UTF-8 path: ./install.sh --prefix ~/.local")
    })
}

pub fn run_install(args: InstallArgs) -> Result<u8> {
    let repo = Repo::open(args.repo.as_deref())?;
    let dir = hooks::hooks_dir(&repo)?;
    let mut wanted = hooks::wanted_hooks(args.server);
    if args.no_tag_hook {
        wanted.retain(|h| *h != "reference-transaction");
    }
    let steps = hooks::plan_install(&dir, &wanted)?;
    let cfg = Config::load(&repo)?;
    let refspecs = if args.no_fetch_refspec {
        Vec::new()
    } else {
        ledger_refspecs(&repo, &cfg, false)?
    };
    if args.dry_run {
        for (remote, spec) in &refspecs {
            outln(format!("would add fetch refspec {spec} to remote {remote}"))?;
        }
        return print_steps(&steps, "would");
    }
    let binary = this_binary()?;
    let mut run = Run::start(&repo.seal_dir(), Source::Command("install"), None);
    run.inputs(json!({"hooks_dir": dir, "server": args.server}));
    if let Err(e) = hooks::install(&repo, &dir, &steps, &binary) {
        warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
        return Err(e);
    }
    for (remote, spec) in &refspecs {
        repo.git.remote_add_fetch(remote, spec).map_err(|e| {
            Error::usage(format!(
                "cannot add the ledger refspec to {remote}: {}",
                e.message()
            ))
        })?;
    }
    let chained: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Chain { to, .. } => Some(to.to_string()),
            _ => None,
        })
        .collect();
    warn_log(run.finish(
        Status::Success,
        json!({"hooks": wanted, "chained": chained}),
        1,
        format!("installed {} hooks", wanted.len()),
    ));
    for step in steps.iter().filter(|s| matches!(s, Step::Chain { .. })) {
        outln(format!("kept: {step}"))?;
    }
    outln(format!(
        "git-seal: {} hooks installed in {dir} (binary {binary})",
        wanted.len()
    ))?;
    Ok(0)
}

pub fn run_uninstall(args: UninstallArgs) -> Result<u8> {
    let repo = Repo::open(args.repo.as_deref())?;
    let steps = hooks::plan_uninstall(&repo)?;
    let cfg = Config::load(&repo)?;
    let refspecs = ledger_refspecs(&repo, &cfg, true)?;
    if args.dry_run {
        for (remote, spec) in &refspecs {
            outln(format!(
                "would remove fetch refspec {spec} from remote {remote}"
            ))?;
        }
        return print_steps(&steps, "would");
    }
    for (remote, spec) in &refspecs {
        let key = format!("remote.{remote}.fetch");
        let pattern = format!("^{}$", regex_escape(spec));
        repo.git.config()?.remove_multivar(&key, &pattern)?;
    }
    let mut run = Run::start(&repo.seal_dir(), Source::Command("uninstall"), None);
    run.inputs(json!({}));
    let result = hooks::uninstall(&repo, &steps);
    let (status, msg) = match &result {
        Ok(()) => (Status::Success, format!("{} steps", steps.len())),
        Err(e) => (Status::Failed, e.message.clone()),
    };
    warn_log(run.finish(status, json!({}), 1, msg));
    result?;
    if steps.is_empty() {
        outln("git-seal: no git-seal hooks were installed; nothing to do")?;
    } else {
        for step in &steps {
            outln(format!("{step}"))?;
        }
    }
    Ok(0)
}

/// (remote, the ledger's fetch refspec) for each remote that has it (`present`) or
/// lacks it.
fn ledger_refspecs(repo: &Repo, cfg: &Config, present: bool) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for name in repo.git.remotes()?.iter().flatten() {
        let spec = sync::fetch_refspec(cfg, name);
        let remote = repo.git.find_remote(name)?;
        let has = remote.fetch_refspecs()?.iter().flatten().any(|s| s == spec);
        if has == present {
            out.push((name.to_string(), spec));
        }
    }
    Ok(out)
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn print_steps(steps: &[Step], verb: &str) -> Result<u8> {
    if steps.is_empty() {
        outln("nothing to do")?;
    }
    for step in steps {
        outln(format!("{verb} {step}"))?;
    }
    Ok(0)
}

/// For `status`: the path install recorded for the binary, if it is still there.
pub fn recorded_binary(repo: &Repo) -> Option<Utf8PathBuf> {
    hooks::read_record(repo)
        .map(|r| r.binary)
        .filter(|b| Utf8Path::new(b).exists())
}
