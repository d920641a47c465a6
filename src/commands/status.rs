//! `git seal status`: hooks, ledger and seal coverage at a glance.

use serde_json::json;

use crate::commands::install::recorded_binary;
use crate::commands::outln;
use crate::config::Config;
use crate::error::Result;
use crate::git::{short, Repo};
use crate::hookconfig;
use crate::hooks;
use crate::ledger::Ledger;
use crate::sync::{self, RemoteLedger};

/// Show whether hooks are installed, the ledger's state, and seal coverage
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let server = repo.git.is_bare();
    let mut installed = hooks::installed(&repo, server)?;
    let listed = hook_lists(&repo, &mut installed)?;
    let ledger = Ledger::new(&repo, &cfg);
    let tip = ledger.tip()?;
    let view = ledger.view()?;
    let (mut sealed, mut unsealed) = (0u64, 0u64);
    if let Ok(head) = repo.head_commit() {
        for oid in repo.history(head.id())? {
            if view.note_oid(oid)?.is_some() {
                sealed += 1;
            } else {
                unsealed += 1;
            }
        }
    }
    let binary = recorded_binary(&repo);
    let upstream = upstream_states(&repo, &cfg, tip)?;
    let signing = signing_lines(&repo);
    if args.json {
        let hooks: serde_json::Map<_, _> = installed
            .iter()
            .map(|(h, ok)| (h.to_string(), json!(ok)))
            .collect();
        let hook_list: serde_json::Map<_, _> = listed
            .iter()
            .map(|(h, l)| (h.to_string(), json!(l)))
            .collect();
        outln(
            serde_json::to_string_pretty(&json!({
                "schema": "git-seal/status/v1",
                "hooks": hooks,
                "hook_list": hook_list,
                "binary": binary,
                "ledger": {
                    "ref": cfg.ledger_ref,
                    "tip": tip.map(|t| t.to_string()),
                    "upstream": upstream.iter().map(|(r, s)| (r.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
                },
                "branch": {"sealed": sealed, "unsealed": unsealed},
                "signing": {"key": signing.0, "allowed_signers": signing.1},
            }))
            .unwrap_or_default(),
        )?;
        return Ok(0);
    }
    let dirs = hooks::locate(&repo)?.dirs;
    let mut fixes: Vec<String> = Vec::new();
    for (hook, ok) in &installed {
        let state = if *ok {
            "installed".to_string()
        } else {
            let (state, fix) = other_holder(&dirs, hook);
            if !fixes.contains(&fix) && !fix.is_empty() {
                fixes.push(fix);
            }
            state
        };
        outln(format!("hook {hook:<22} {state}"))?;
        if let Some((_, runs)) = listed.iter().find(|(h, _)| h == hook) {
            if !runs.is_empty() {
                let runs: Vec<String> = runs.iter().map(|l| l.to_string()).collect();
                outln(format!("     git runs: {}", runs.join(", ")))?;
            }
        }
    }
    for fix in &fixes {
        outln(format!("hint: {fix}"))?;
    }
    if let Some(version) = git_version(&repo) {
        if version < (2, 28) {
            outln(format!(
                "git {}.{} has no reference-transaction hook: tags are not sealed automatically",
                version.0, version.1
            ))?;
            outln("hint: seal a tag by hand with: git seal seal TAG")?;
        }
    }
    match tip {
        Some(t) => outln(format!("ledger {} at {}", cfg.ledger_ref, short(t)))?,
        None => outln(format!("ledger {} (empty)", cfg.ledger_ref))?,
    }
    for (remote, state) in &upstream {
        outln(format!(
            "ledger upstream {remote}: {}",
            describe(remote, *state)
        ))?;
    }
    outln(format!("signing key: {}", signing.0))?;
    outln(format!("allowed signers: {}", signing.1))?;
    outln(format!(
        "branch: {sealed} sealed, {unsealed} unsealed commit(s)"
    ))?;
    if unsealed > 0 {
        // Others' commits have seals in their ledger: sealing them here would put
        // this user's name on them for good, so fetch first.
        let unfetched: Vec<&str> = upstream
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s,
                    RemoteLedger::NoRefspec
                        | RemoteLedger::NotFetched
                        | RemoteLedger::Tracked { behind: 1.., .. }
                )
            })
            .map(|(r, _)| r.as_str())
            .collect();
        if let Some(remote) = unfetched.first() {
            outln(format!(
                "hint: fetch the seals others made first: git seal fetch {}",
                crate::quote::shell(remote)
            ))?;
        } else {
            outln("hint: seal them with: git seal seal --missing")?;
        }
    }
    Ok(0)
}

/// (signing key in use, allowed signers in force), one line each: which setting,
/// which key (fingerprint), which file; a key that cannot be used says why.
fn signing_lines(repo: &Repo) -> (String, String) {
    use crate::signing::{PolicyResolver, PolicySource, SealSigner};
    let key = match SealSigner::from_config(repo, None) {
        Ok(Some(s)) => format!(
            "{}, signing as {} ({})",
            s.key.describe(),
            s.principal,
            s.principal_from
        ),
        Ok(None) => "none (seals are unsigned; git config gpg.format ssh && git config user.signingKey ~/.ssh/id_ed25519)".into(),
        Err(e) => format!("unusable: {e}"),
    };
    let allowed = match PolicyResolver::from_config(repo).map(|r| r.source()) {
        Ok(PolicySource::Configured { path, setting }) => {
            format!("{} ({setting}; takes precedence over an in-repo policy)", path.display())
        }
        Ok(PolicySource::InRepo { root }) => {
            format!(".seal/allowed_signers in the repository, trusted from root {}", short(root))
        }
        Ok(PolicySource::None) => "none configured (signatures are checked, nobody is trusted; git config gpg.ssh.allowedSignersFile ~/.ssh/allowed_signers)".into(),
        Err(e) => format!("unusable: {}", e.message),
    };
    (key, allowed)
}

/// Per hook, what `git hook list` shows (git 2.54 or later); a hook git-seal registered
/// in config, and not disabled, counts as installed.
fn hook_lists(
    repo: &Repo,
    installed: &mut [(&'static str, bool)],
) -> Result<Vec<(&'static str, Vec<hookconfig::Listed>)>> {
    let here = repo.workdir.as_ref().unwrap_or(&repo.git_dir).clone();
    let git = hookconfig::Git { dir: Some(&here) };
    if !git.supports_config_hooks() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (hook, ok) in installed.iter_mut() {
        let listed = hookconfig::list(&git, hook)?;
        if listed.iter().any(|l| l.is_ours() && !l.disabled) {
            *ok = true;
        }
        out.push((*hook, listed));
    }
    Ok(out)
}

/// What holds a hook that is not our shim, in words, and the fix (empty when
/// git-seal runs anyway: pre-commit's `.legacy`, a husky script that calls it).
fn other_holder(dirs: &[camino::Utf8PathBuf], hook: &str) -> (String, String) {
    use crate::hook_managers::{fix, holder, Holder};
    let mut via = None;
    for dir in dirs {
        match holder(dir, hook) {
            Holder::Ours => {}
            Holder::Via { tool, via: file } => via = Some(format!("run by {tool}, through {file}")),
            Holder::Taken { tool, moved } => {
                let moved = match moved {
                    Some(m) => format!("; it moved git-seal's hook to {m}, which nothing runs"),
                    None => String::new(),
                };
                return (format!("taken by {tool}{moved}"), fix(tool, hook));
            }
            Holder::Missing => {
                return (
                    "missing".into(),
                    "install the hooks with: git seal install".into(),
                )
            }
        }
    }
    (via.unwrap_or_else(|| "installed".into()), String::new())
}

/// git's (major, minor) version, from `git --version`.
fn git_version(repo: &Repo) -> Option<(u32, u32)> {
    let out = repo.git_query().arg("--version").output().ok()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let mut parts = out.split_whitespace().nth(2)?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Per remote: how its ledger stands to the local one.
fn upstream_states(
    repo: &Repo,
    cfg: &Config,
    tip: Option<git2::Oid>,
) -> Result<Vec<(String, RemoteLedger)>> {
    let mut out = Vec::new();
    for remote in repo.git.remotes()?.iter().flatten() {
        out.push((
            remote.to_string(),
            sync::remote_ledger(repo, cfg, remote, tip)?,
        ));
    }
    Ok(out)
}

/// One line for a remote's ledger state, with the command that moves it on.
fn describe(remote: &str, state: RemoteLedger) -> String {
    let r = crate::quote::shell(remote);
    match state {
        RemoteLedger::NoRefspec => {
            "no fetch refspec for seals (remote added after install): git seal install".into()
        }
        RemoteLedger::NotFetched => format!("not fetched yet: git fetch {r}"),
        RemoteLedger::NoLedger => "has no ledger (as of the last fetch)".to_string(),
        RemoteLedger::Tracked {
            ahead: 0,
            behind: 0,
        } => "up to date".to_string(),
        RemoteLedger::Tracked { ahead, behind: 0 } => {
            format!("{ahead} ahead: git seal push {r}")
        }
        RemoteLedger::Tracked { ahead: 0, behind } => {
            format!("{behind} behind: git seal fetch {r}")
        }
        RemoteLedger::Tracked { ahead, behind } => {
            format!("diverged ({ahead} ahead, {behind} behind): git seal fetch {r}")
        }
    }
}
