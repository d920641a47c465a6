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
    /// Install the server's gate instead (pre-receive); a server only checks, it
    /// seals nothing
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
    /// Also install into a core.hooksPath that comes from your global or system
    /// config, which every repository using that config shares
    #[arg(long)]
    pub allow_shared_hooks: bool,
    /// Also install into a core.hooksPath that holds files this repository tracks
    /// (a committed hooks directory), chaining the hooks found there
    #[arg(long)]
    pub allow_tracked_hooks: bool,
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
        .map_err(|e| {
            Error::environment(format!("cannot locate the git-seal binary: {e}")).with_source(e)
        })?;
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
    let location = hooks::locate(&repo)?;
    check_owner(&location.owner, &args)?;
    let dirs = location.dirs;
    let mut wanted = hooks::wanted_hooks(args.server);
    if args.no_tag_hook {
        wanted.retain(|h| *h != "reference-transaction");
    }
    let mut steps = Vec::new();
    if args.server {
        let client_only: Vec<&str> = hooks::CLIENT_HOOKS
            .iter()
            .copied()
            .filter(|h| !wanted.contains(h))
            .collect();
        steps = hooks::plan_removal(&dirs, &client_only);
    }
    steps.extend(hooks::plan_install(&dirs, &wanted)?);
    let cfg = Config::load(&repo)?;
    let refspecs = if args.no_fetch_refspec {
        Vec::new()
    } else {
        missing_refspecs(&repo, &cfg)?
    };
    if args.dry_run {
        for r in &refspecs {
            outln(format!(
                "would add fetch refspec {} to remote {}",
                r.spec, r.remote
            ))?;
            if let Some(old) = &r.replaces {
                outln(format!(
                    "would remove fetch refspec {old} from remote {}",
                    r.remote
                ))?;
            }
        }
        return print_steps(&steps, "would");
    }
    let binary = this_binary()?;
    let mut run = Run::start(&repo.seal_dir(), Source::Command("install"), None);
    run.inputs(json!({"hooks_dirs": dirs, "server": args.server}));
    if let Err(e) = hooks::install(&repo, &steps, &binary) {
        warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
        return Err(e);
    }
    for r in &refspecs {
        if let Some(old) = &r.replaces {
            remove_refspec(&repo, &r.remote, old)?;
        }
        repo.git.remote_add_fetch(&r.remote, &r.spec).map_err(|e| {
            Error::environment(format!(
                "cannot add the ledger refspec to {}: {}",
                r.remote,
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
    for dir in &dirs {
        outln(format!(
            "git-seal: {} hooks installed in {dir} (binary {binary})",
            wanted.len()
        ))?;
    }
    if !args.server {
        // On first use, as SSH asks about an unknown host key; never fails install.
        if let Err(e) = crate::commands::trust::offer(&repo) {
            eprintln!("warning: {}", e.message);
        }
    }
    Ok(0)
}

/// Refuses to write into a hooks directory that is not this repository's alone,
/// unless the user said so.
fn check_owner(owner: &hooks::Owner, args: &InstallArgs) -> Result<()> {
    let repo_arg = args
        .repo
        .as_ref()
        .map(|p| format!(" --repo {}", crate::quote::shell(p.as_str())))
        .unwrap_or_default();
    match owner {
        hooks::Owner::Shared { scope, origin } if !args.allow_shared_hooks => Err(Error::usage(
            format!(
                "core.hooksPath is set in your {scope} config ({origin}): every repository                  that uses it shares that hooks directory, so git-seal left it alone"
            ),
        )
        .hint(format!(
            "to seal every repository that uses it: git seal install{repo_arg} --allow-shared-hooks"
        ))),
        hooks::Owner::Tracked { dir } if !args.allow_tracked_hooks => Err(Error::usage(format!(
            "the hooks directory {dir} holds files this repository tracks, so git-seal left it alone"
        ))
        .hint(format!(
            "to chain its hooks and add git-seal's beside them: git seal install{repo_arg} --allow-tracked-hooks"
        ))),
        _ => Ok(()),
    }
}
pub fn run_uninstall(args: UninstallArgs) -> Result<u8> {
    let repo = Repo::open(args.repo.as_deref())?;
    let steps = hooks::plan_uninstall(&repo)?;
    let cfg = Config::load(&repo)?;
    let refspecs = present_refspecs(&repo, &cfg)?;
    if args.dry_run {
        for (remote, spec) in &refspecs {
            outln(format!(
                "would remove fetch refspec {spec} from remote {remote}"
            ))?;
        }
        return print_steps(&steps, "would");
    }
    for (remote, spec) in &refspecs {
        remove_refspec(&repo, remote, spec)?;
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

/// A fetch refspec install adds to a remote (replacing the exact one that earlier
/// versions added, which fails fetches from remotes without a ledger).
pub struct MissingRefspec {
    pub remote: String,
    pub spec: String,
    pub replaces: Option<String>,
}

fn fetch_refspecs(repo: &Repo, remote: &str) -> Result<Vec<String>> {
    let remote = repo.git.find_remote(remote)?;
    let specs = remote.fetch_refspecs()?;
    Ok(specs.iter().flatten().map(str::to_string).collect())
}

/// The remotes that lack the ledger's fetch refspec.
pub fn missing_refspecs(repo: &Repo, cfg: &Config) -> Result<Vec<MissingRefspec>> {
    let mut out = Vec::new();
    for name in repo.git.remotes()?.iter().flatten() {
        let specs = fetch_refspecs(repo, name)?;
        let spec = sync::fetch_refspec(cfg, name);
        if specs.contains(&spec) {
            continue;
        }
        let legacy = sync::legacy_fetch_refspec(cfg, name);
        out.push(MissingRefspec {
            remote: name.to_string(),
            spec,
            replaces: specs.contains(&legacy).then_some(legacy),
        });
    }
    Ok(out)
}

/// (remote, refspec) for each ledger fetch refspec git-seal added (either shape).
fn present_refspecs(repo: &Repo, cfg: &Config) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for name in repo.git.remotes()?.iter().flatten() {
        let ours = [
            sync::fetch_refspec(cfg, name),
            sync::legacy_fetch_refspec(cfg, name),
        ];
        for spec in fetch_refspecs(repo, name)? {
            if ours.contains(&spec) {
                out.push((name.to_string(), spec));
            }
        }
    }
    Ok(out)
}

fn remove_refspec(repo: &Repo, remote: &str, spec: &str) -> Result<()> {
    let key = format!("remote.{remote}.fetch");
    let pattern = format!("^{}$", regex_escape(spec));
    repo.git.config()?.remove_multivar(&key, &pattern)?;
    Ok(())
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
