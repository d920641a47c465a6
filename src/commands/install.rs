//! `git seal install` and `git seal uninstall`.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;

use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::hookconfig::{self, Scope};
use crate::hooks::{self, Step};
use crate::runlog::{Run, Source, Status};
use crate::sync;

/// Wire git-seal's hooks into a repository
///
/// On git 2.54 or later the hooks are entries of the repository's config
/// (`[hook "git-seal-<event>"]`, see `git hook list <event>`), and the hooks directory
/// is left to other hook managers. On older git they are shims in the hooks directory
/// (core.hooksPath, linked worktrees and bare repositories respected): a hook already
/// there that is not git-seal's is kept and chained: it still runs, first, with the
/// same arguments and stdin. Running install again is harmless.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The global `--repo PATH`, made absolute (named in hints)
    #[arg(skip)]
    pub repo: Option<Utf8PathBuf>,
    /// Register the hooks once in your global git config, for every repository you
    /// use (git 2.54 or later)
    #[arg(long, conflicts_with_all = ["repo", "system", "server"])]
    pub global: bool,
    /// Register the hooks once in the machine's git config, for every user (git 2.54
    /// or later)
    #[arg(long, conflicts_with_all = ["repo", "server"])]
    pub system: bool,
    /// How to wire the hooks: `config` entries (git 2.54 or later), shim `files` in
    /// the hooks directory, or `auto` (config when git has it)
    #[arg(long, value_enum, default_value_t = HookForm::Auto)]
    pub hooks: HookForm,
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
///
/// Removes the repository's `hook.git-seal-*` config entries too; hooks of other
/// managers, in config or in the hooks directory, are left as they are.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// The global `--repo PATH`, made absolute (named in hints)
    #[arg(skip)]
    pub repo: Option<Utf8PathBuf>,
    /// Remove the hooks `install --global` registered in your global git config
    #[arg(long, conflicts_with_all = ["repo", "system"])]
    pub global: bool,
    /// Remove the hooks `install --system` registered in the machine's git config
    #[arg(long, conflicts_with = "repo")]
    pub system: bool,
    /// Print what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// How install wires the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookForm {
    /// Config entries when git has them (2.54 or later), else shim files
    Auto,
    /// `hook.git-seal-<event>.*` entries in the config
    Config,
    /// Shims in the hooks directory
    Files,
}

fn user_scope(global: bool, system: bool) -> Option<Scope> {
    match (global, system) {
        (true, _) => Some(Scope::Global),
        (_, true) => Some(Scope::System),
        _ => None,
    }
}

fn needs_config_hooks(git: &hookconfig::Git<'_>, what: &str) -> Result<()> {
    if git.supports_config_hooks() {
        return Ok(());
    }
    let (major, minor) = git.version().unwrap_or((0, 0));
    Err(Error::usage(format!(
        "{what} needs hooks defined in config, which git {major}.{minor} does not run (git 2.54 or later does)"
    ))
    .hint("install into each repository instead: git seal install --repo PATH"))
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
        .hint(format!(
            "copy it to a UTF-8 path and run it from there: install -D -m 755 \"$(command -v git-seal)\" ~/.local/bin/git-seal && ~/.local/bin/git-seal{} install",
            crate::quote::repo_flag()
        ))
    })
}

pub fn run_install(args: InstallArgs) -> Result<u8> {
    let mut wanted = hooks::wanted_hooks(args.server);
    if args.no_tag_hook {
        wanted.retain(|h| *h != "reference-transaction");
    }
    if let Some(scope) = user_scope(args.global, args.system) {
        return install_in_scope(scope, &wanted, &args);
    }
    let repo = Repo::open(args.repo.as_deref())?;
    let location = hooks::locate(&repo)?;
    let here = repo.workdir.as_ref().unwrap_or(&repo.git_dir).clone();
    let git = hookconfig::Git { dir: Some(&here) };
    let config_form = match args.hooks {
        HookForm::Auto => git.supports_config_hooks(),
        HookForm::Config => {
            needs_config_hooks(&git, "--hooks config")?;
            true
        }
        HookForm::Files => false,
    };
    let binary = this_binary()?;
    let dirs = location.dirs.clone();
    if config_form {
        return install_config_hooks(&repo, &git, &location, &wanted, &binary, &args);
    }
    check_owner(&location.owner, &args)?;
    // Shims replace config entries an earlier install wrote: one form at a time.
    let config_steps = hookconfig::plan_uninstall(&git, Scope::Local)?;
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
        print_refspec_plan(&refspecs, args.server)?;
        print_config_steps(&config_steps, "would")?;
        return print_steps(&steps, "would");
    }
    let mut run = Run::start(&repo.seal_dir(), Source::Command("install"), None);
    run.inputs(json!({"hooks_dirs": dirs, "server": args.server}));
    let done = hooks::install(&repo, &steps, &binary)
        .and_then(|()| hookconfig::apply(&git, &config_steps));
    if let Err(e) = done {
        warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
        return Err(e);
    }
    add_refspecs(&repo, &refspecs)?;
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
        let written: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::WriteShim(p) if p.parent() == Some(dir.as_path()) => p.file_name(),
                _ => None,
            })
            .collect();
        outln(format!(
            "git-seal: {} hooks installed in {dir} (binary {binary})",
            written.len()
        ))?;
        let left: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|h| !written.contains(h))
            .collect();
        if !left.is_empty() {
            // pre-commit's `.legacy` or husky's scripts: `status` says which runs what.
            outln(format!(
                "git-seal: left to the hook manager there: {} (see: git seal status)",
                left.join(", ")
            ))?;
        }
    }
    after_install(&repo, &cfg, &refspecs, args.server)
}

/// What `install --dry-run` would do to each remote's fetch refspecs and ledger.
fn print_refspec_plan(refspecs: &[MissingRefspec], server: bool) -> Result<()> {
    for r in refspecs {
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
        if !server {
            outln(format!(
                "would fetch {}'s ledger and merge it into this one",
                r.remote
            ))?;
        }
    }
    Ok(())
}

/// What every install of a client does once its hooks are in place, whichever form
/// they took: bring in the ledger of each remote it added the refspec to, and offer
/// the trust root on first use.
fn after_install(
    repo: &Repo,
    cfg: &Config,
    refspecs: &[MissingRefspec],
    server: bool,
) -> Result<u8> {
    if !server {
        fetch_new_remotes(repo, cfg, refspecs)?;
        // On first use, as SSH asks about an unknown host key; never fails install.
        if let Err(e) = crate::commands::trust::offer(repo) {
            eprintln!("warning: {}", e.message);
        }
    }
    Ok(0)
}

fn add_refspecs(repo: &Repo, refspecs: &[MissingRefspec]) -> Result<()> {
    for r in refspecs {
        if let Some(old) = &r.replaces {
            remove_refspec(repo, &r.remote, old)?;
        }
        repo.git.remote_add_fetch(&r.remote, &r.spec).map_err(|e| {
            Error::environment(format!(
                "cannot add the ledger refspec to {}: {}",
                r.remote,
                e.message()
            ))
        })?;
    }
    Ok(())
}

/// Install as config entries in the repository's config. The hooks directory is
/// another manager's: only git-seal's own shims (an install by older git) leave it,
/// each chained hook back at its name, and only from a directory that is this
/// repository's own.
fn install_config_hooks(
    repo: &Repo,
    git: &hookconfig::Git<'_>,
    location: &hooks::HooksLocation,
    wanted: &[&str],
    binary: &Utf8Path,
    args: &InstallArgs,
) -> Result<u8> {
    let steps = if location.owner == hooks::Owner::Repository {
        let every: Vec<&str> = hooks::CLIENT_HOOKS
            .iter()
            .chain(hooks::SERVER_HOOKS)
            .copied()
            .collect();
        hooks::plan_removal(&location.dirs, &every)
    } else {
        Vec::new()
    };
    let config_steps = hookconfig::plan_install(git, Scope::Local, wanted, binary)?;
    let cfg = Config::load(repo)?;
    let refspecs = if args.no_fetch_refspec {
        Vec::new()
    } else {
        missing_refspecs(repo, &cfg)?
    };
    if args.dry_run {
        print_refspec_plan(&refspecs, args.server)?;
        print_steps(&steps, "would")?;
        return print_config_steps(&config_steps, "would");
    }
    let mut run = Run::start(&repo.seal_dir(), Source::Command("install"), None);
    run.inputs(json!({"config": "local", "server": args.server}));
    let done =
        hooks::install(repo, &steps, binary).and_then(|()| hookconfig::apply(git, &config_steps));
    if let Err(e) = done {
        warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
        return Err(e);
    }
    add_refspecs(repo, &refspecs)?;
    warn_log(run.finish(
        Status::Success,
        json!({"hooks": wanted, "form": "config"}),
        1,
        format!("installed {} hooks in the local config", wanted.len()),
    ));
    for step in &steps {
        outln(format!("{step}"))?;
    }
    outln(format!(
        "git-seal: {} hooks installed in the repository's config (binary {binary}); see: git hook list post-commit",
        wanted.len()
    ))?;
    after_install(repo, &cfg, &refspecs, args.server)
}

/// `install --global` / `--system`: config entries once for every repository.
fn install_in_scope(scope: Scope, wanted: &[&str], args: &InstallArgs) -> Result<u8> {
    let git = hookconfig::Git { dir: None };
    needs_config_hooks(&git, &format!("install --{}", scope.name()))?;
    if args.hooks == HookForm::Files {
        return Err(Error::usage(format!(
            "--{} registers config hooks; shim files go into one repository",
            scope.name()
        ))
        .hint("git seal install --repo PATH --hooks files"));
    }
    let binary = this_binary()?;
    let steps = hookconfig::plan_install(&git, scope, wanted, &binary)?;
    if args.dry_run {
        return print_config_steps(&steps, "would");
    }
    hookconfig::apply(&git, &steps)?;
    outln(format!(
        "git-seal: {} hooks installed in the {} config (binary {binary}); every repository runs them: git hook list post-commit",
        wanted.len(),
        scope.name()
    ))?;
    outln("hint: add the ledger's fetch refspec to a repository's remotes with: git seal install --repo PATH")?;
    Ok(0)
}

fn print_config_steps(steps: &[hookconfig::Step], verb: &str) -> Result<u8> {
    for step in steps {
        outln(format!("{verb} {step}"))?;
    }
    Ok(0)
}

/// A fresh clone has its remote's commits but not their seals (clone fetches no
/// notes): each remote that just got the ledger's refspec is fetched and merged
/// once, so `status` and `verify` see others' seals before anything is sealed
/// here. A remote that cannot be reached leaves a warning, never a failed install.
fn fetch_new_remotes(repo: &Repo, cfg: &Config, added: &[MissingRefspec]) -> Result<()> {
    for r in added {
        match sync::fetch(repo, cfg, &r.remote) {
            Ok(sync::Fetched::NoLedger) => {
                outln(format!("git-seal: {} has no ledger yet", r.remote))?;
            }
            Ok(sync::Fetched::Absorbed(absorbed)) => {
                // The fetch's own hook may have merged it already: say where it is.
                let tip = crate::ledger::Ledger::new(repo, cfg).tip()?;
                let state = match tip {
                    Some(t) => format!("{} at {}", cfg.ledger_ref, crate::git::short(t)),
                    None => format!("{} is empty", cfg.ledger_ref),
                };
                outln(format!(
                    "git-seal: fetched {}'s ledger and merged it: {state}",
                    r.remote
                ))?;
                if let Some((tracking, e)) = absorbed.refused.first() {
                    eprintln!("warning: git-seal: {tracking} not merged: {}", e);
                }
            }
            Err(e) => {
                eprintln!(
                    "warning: git-seal: cannot fetch {}'s ledger: {}",
                    r.remote, e.message
                );
                eprintln!(
                    "hint: fetch it later: {}",
                    crate::quote::git_seal(&format!("fetch {}", crate::quote::shell(&r.remote)))
                );
            }
        }
    }
    Ok(())
}

/// Refuses to write into a hooks directory that is not this repository's alone,
/// unless the user said so.
fn check_owner(owner: &hooks::Owner, args: &InstallArgs) -> Result<()> {
    let files = if args.hooks == HookForm::Files {
        " --hooks files"
    } else {
        ""
    };
    match owner {
        hooks::Owner::Shared { scope, origin } if !args.allow_shared_hooks => Err(Error::usage(
            format!(
                "core.hooksPath is set in your {scope} config ({origin}): every repository                  that uses it shares that hooks directory, so git-seal left it alone"
            ),
        )
        .hint(format!(
            "to seal every repository that uses it: {}",
            crate::quote::git_seal(&format!("install{files} --allow-shared-hooks"))
        ))),
        hooks::Owner::Tracked { dir } if !args.allow_tracked_hooks => Err(Error::usage(format!(
            "the hooks directory {dir} holds files this repository tracks, so git-seal left it alone"
        ))
        .hint(format!(
            "to chain its hooks and add git-seal's beside them: {}",
            crate::quote::git_seal(&format!("install{files} --allow-tracked-hooks"))
        ))),
        _ => Ok(()),
    }
}
pub fn run_uninstall(args: UninstallArgs) -> Result<u8> {
    if let Some(scope) = user_scope(args.global, args.system) {
        let git = hookconfig::Git { dir: None };
        let steps = hookconfig::plan_uninstall(&git, scope)?;
        if args.dry_run {
            return print_config_steps(&steps, "would");
        }
        hookconfig::apply(&git, &steps)?;
        if steps.is_empty() {
            outln(format!(
                "git-seal: no git-seal hooks in the {} config; nothing to do",
                scope.name()
            ))?;
        }
        return print_config_steps(&steps, "done:");
    }
    let repo = Repo::open(args.repo.as_deref())?;
    let steps = hooks::plan_uninstall(&repo)?;
    let here = repo.workdir.as_ref().unwrap_or(&repo.git_dir).clone();
    let git = hookconfig::Git { dir: Some(&here) };
    let config_steps = hookconfig::plan_uninstall(&git, Scope::Local)?;
    let cfg = Config::load(&repo)?;
    let refspecs = present_refspecs(&repo, &cfg)?;
    if args.dry_run {
        for (remote, spec) in &refspecs {
            outln(format!(
                "would remove fetch refspec {spec} from remote {remote}"
            ))?;
        }
        print_config_steps(&config_steps, "would")?;
        return print_steps(&steps, "would");
    }
    for (remote, spec) in &refspecs {
        remove_refspec(&repo, remote, spec)?;
        outln(format!("removed fetch refspec {spec} from remote {remote}"))?;
    }
    let mut run = Run::start(&repo.seal_dir(), Source::Command("uninstall"), None);
    run.inputs(json!({}));
    let result =
        hooks::uninstall(&repo, &steps).and_then(|()| hookconfig::apply(&git, &config_steps));
    let (status, msg) = match &result {
        Ok(()) => (
            Status::Success,
            format!("{} steps", steps.len() + config_steps.len()),
        ),
        Err(e) => (Status::Failed, e.message.clone()),
    };
    warn_log(run.finish(status, json!({}), 1, msg));
    result?;
    if steps.is_empty() && config_steps.is_empty() && refspecs.is_empty() {
        outln("git-seal: no git-seal hooks were installed; nothing to do")?;
    } else {
        for step in &steps {
            outln(format!("{step}"))?;
        }
        print_config_steps(&config_steps, "done:")?;
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
    Ok(specs
        .iter()
        .flatten()
        .flatten()
        .map(str::to_string)
        .collect())
}

/// The remotes that lack the ledger's fetch refspec.
pub fn missing_refspecs(repo: &Repo, cfg: &Config) -> Result<Vec<MissingRefspec>> {
    let mut out = Vec::new();
    for name in repo.git.remotes()?.iter().flatten().flatten() {
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
    for name in repo.git.remotes()?.iter().flatten().flatten() {
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
