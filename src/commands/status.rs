//! `git seal status`: hooks, ledger and seal coverage at a glance.

use crate::commands::install::recorded_binary;
use crate::commands::outln;
use crate::config::Config;
use crate::error::Result;
use crate::git::{short, Repo};
use crate::hookconfig;
use crate::hooks;
use crate::ledger::Ledger;
use crate::report::{
    BranchStatus, HookHolder, KeyStatus, LedgerStatus, SignersStatus, SigningStatus, Status,
    STATUS_SCHEMA,
};
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
    let dirs = hooks::locate(&repo)?.dirs;
    let status = Status {
        schema: STATUS_SCHEMA,
        hook_holders: installed
            .iter()
            .map(|(h, ok)| {
                let holder = if *ok {
                    HookHolder::Installed
                } else {
                    other_holder(&dirs, h)
                };
                (h.to_string(), holder)
            })
            .collect(),
        hooks: installed
            .iter()
            .map(|(h, ok)| (h.to_string(), *ok))
            .collect(),
        hook_list: listed
            .iter()
            .map(|(h, l)| (h.to_string(), l.clone()))
            .collect(),
        binary: binary.map(|b| b.to_string()),
        ledger: LedgerStatus {
            ref_name: cfg.ledger_ref.clone(),
            tip: tip.map(|t| t.to_string()),
            upstream: upstream.iter().cloned().collect(),
        },
        branch: BranchStatus { sealed, unsealed },
        signing: signing_status(&repo),
        tags_sealed_by_hook: git_version(&repo).is_none_or(|v| v >= (2, 28)),
    };
    if args.json {
        outln(serde_json::to_string_pretty(&status).unwrap_or_default())?;
        return Ok(0);
    }
    let mut fixes: Vec<&str> = Vec::new();
    for (hook, _) in &installed {
        let Some(holder) = status.hook_holders.get(*hook) else {
            continue;
        };
        if let Some(fix) = holder.fix().filter(|f| !f.is_empty() && !fixes.contains(f)) {
            fixes.push(fix);
        }
        outln(format!("hook {hook:<22} {holder}"))?;
        if let Some(runs) = status.hook_list.get(*hook) {
            if !runs.is_empty() {
                let runs: Vec<String> = runs.iter().map(|l| l.to_string()).collect();
                outln(format!("     git runs: {}", runs.join(", ")))?;
            }
        }
    }
    for fix in &fixes {
        outln(format!("hint: {fix}"))?;
    }
    if !status.tags_sealed_by_hook {
        if let Some(version) = git_version(&repo) {
            outln(format!(
                "git {}.{} has no reference-transaction hook: tags are not sealed automatically",
                version.0, version.1
            ))?;
            outln(format!(
                "hint: seal the tags by hand (those sealed already stay as they are): {}",
                crate::quote::git_seal(&format!("seal $({})", crate::quote::git("tag --list")))
            ))?;
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
    let (key, signers) = signing_lines(&status.signing);
    outln(format!("signing key: {key}"))?;
    outln(format!("allowed signers: {signers}"))?;
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
                "hint: fetch the seals others made first: {}",
                crate::quote::git_seal(&format!("fetch {}", crate::quote::shell(remote)))
            ))?;
        } else {
            outln(format!(
                "hint: seal them with: {}",
                crate::quote::git_seal("seal --missing")
            ))?;
        }
    }
    Ok(0)
}

/// The signing key in use and the allowed signers in force, as values.
fn signing_status(repo: &Repo) -> SigningStatus {
    use crate::signing::{PolicyResolver, PolicySource, SealSigner};
    let key = match SealSigner::from_config(repo, None) {
        Ok(Some(s)) => KeyStatus::Configured {
            key: s.key.describe(),
            fingerprint: s.key.fingerprint(),
            principal: s.principal,
            principal_from: s.principal_from.to_string(),
        },
        Ok(None) => KeyStatus::None,
        Err(e) => KeyStatus::Unusable {
            reason: e.to_string(),
        },
    };
    let allowed_signers = match PolicyResolver::from_config(repo).map(|r| r.source()) {
        Ok(PolicySource::Configured { path, setting }) => SignersStatus::Configured {
            path: path.display().to_string(),
            setting: setting.to_string(),
        },
        Ok(PolicySource::InRepo { root }) => SignersStatus::InRepo {
            root: root.to_string(),
        },
        Ok(PolicySource::None) => SignersStatus::None,
        Err(e) => SignersStatus::Unusable { reason: e.message },
    };
    SigningStatus {
        key,
        allowed_signers,
    }
}

/// (signing key in use, allowed signers in force), one line each: which setting,
/// which key (fingerprint), which file; a key that cannot be used says why.
fn signing_lines(signing: &SigningStatus) -> (String, String) {
    let key = match &signing.key {
        KeyStatus::Configured {
            key,
            principal,
            principal_from,
            ..
        } => format!("{key}, signing as {principal} ({principal_from})"),
        KeyStatus::None => format!(
            "none (seals are unsigned; {} && {})",
            crate::quote::git("config gpg.format ssh"),
            crate::quote::git("config user.signingKey ~/.ssh/id_ed25519")
        ),
        KeyStatus::Unusable { reason } => format!("unusable: {reason}"),
    };
    let allowed = match &signing.allowed_signers {
        SignersStatus::Configured { path, setting } => {
            format!("{path} ({setting}; takes precedence over an in-repo policy)")
        }
        SignersStatus::InRepo { root } => {
            format!(
                ".seal/allowed_signers in the repository, trusted from root {}",
                &root[..root.len().min(7)]
            )
        }
        SignersStatus::None => format!(
            "none configured (signatures are checked, nobody is trusted; {})",
            crate::quote::git("config gpg.ssh.allowedSignersFile ~/.ssh/allowed_signers")
        ),
        SignersStatus::Unusable { reason } => format!("unusable: {reason}"),
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

/// What holds a hook that is not our shim, and the fix (none when git-seal runs
/// anyway: pre-commit's `.legacy`, a husky script that calls it).
fn other_holder(dirs: &[camino::Utf8PathBuf], hook: &str) -> HookHolder {
    use crate::hook_managers::{fix, holder, Holder};
    let mut via = None;
    for dir in dirs {
        match holder(dir, hook) {
            Holder::Ours => {}
            Holder::Via { tool, via: file } => {
                via = Some(HookHolder::Via {
                    tool: tool.to_string(),
                    via: file.to_string(),
                })
            }
            Holder::Taken { tool, moved } => {
                return HookHolder::Taken {
                    tool: tool.to_string(),
                    moved: moved.map(|m| m.to_string()),
                    fix: fix(tool, hook),
                }
            }
            Holder::Missing => {
                return HookHolder::Missing {
                    fix: format!(
                        "install the hooks with: {}",
                        crate::quote::git_seal("install")
                    ),
                }
            }
        }
    }
    via.unwrap_or(HookHolder::Installed)
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
    for remote in repo.git.remotes()?.iter().flatten().flatten() {
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
            format!(
                "no fetch refspec for seals (remote added after install): {}",
                crate::quote::git_seal("install")
            )
        }
        RemoteLedger::NotFetched => format!(
            "not fetched yet: {}",
            crate::quote::git(&format!("fetch {r}"))
        ),
        RemoteLedger::NoLedger => "has no ledger (as of the last fetch)".to_string(),
        RemoteLedger::Tracked {
            ahead: 0,
            behind: 0,
        } => "up to date".to_string(),
        RemoteLedger::Tracked { ahead, behind: 0 } => {
            format!(
                "{ahead} ahead: {}",
                crate::quote::git_seal(&format!("push {r}"))
            )
        }
        RemoteLedger::Tracked { ahead: 0, behind } => {
            format!(
                "{behind} behind: {}",
                crate::quote::git_seal(&format!("fetch {r}"))
            )
        }
        RemoteLedger::Tracked { ahead, behind } => {
            format!(
                "diverged ({ahead} ahead, {behind} behind): {}",
                crate::quote::git_seal(&format!("fetch {r}"))
            )
        }
    }
}
