//! `git seal status`: hooks, ledger and seal coverage at a glance.

use serde_json::json;

use crate::commands::install::recorded_binary;
use crate::commands::outln;
use crate::config::Config;
use crate::error::Result;
use crate::git::{short, Repo};
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
    let installed = hooks::installed(&repo, server)?;
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
        outln(
            serde_json::to_string_pretty(&json!({
                "schema": "git-seal/status/v1",
                "hooks": hooks,
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
    for (hook, ok) in &installed {
        outln(format!(
            "hook {hook:<22} {}",
            if *ok { "installed" } else { "missing" }
        ))?;
    }
    if installed.iter().any(|(_, ok)| !ok) {
        outln("hint: install the hooks with: git seal install")?;
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

/// git's (major, minor) version, from `git --version`.
fn git_version(repo: &Repo) -> Option<(u32, u32)> {
    let out = repo.run_git(&["--version"]).ok()?;
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
