//! Which allowed signers judge the seal of a commit: the one place every reader of
//! signatures (verify, show, the client and server gates, countersign, conflict
//! resolution between candidate seals) asks.
//!
//! Invariants: built once per command from the repository's git config
//! (`seal.allowedSignersFile`, else `gpg.ssh.allowedSignersFile`; revocations from
//! `seal.revocationFile`, else `gpg.ssh.revocationFile`), never from the working tree;
//! a configured file that cannot be read is an error at construction, never "nobody is
//! allowed" and never "everybody is"; each file is read and parsed once per command.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::Oid;

use super::{AllowedSigners, Policy, Revocations};
use crate::error::{Error, Result};
use crate::git::Repo;

/// Where the policy in force comes from (`status` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// An allowed-signers file named in git config (`seal.allowedSignersFile` or
    /// `gpg.ssh.allowedSignersFile`); it takes precedence over any in-repo policy.
    Configured {
        path: PathBuf,
        /// The setting that named it.
        setting: &'static str,
    },
    /// The repository's own `.seal/allowed_signers`, trusted from a pinned root
    /// (brief §2.7; `crate::trust`), used when no allowed-signers file is configured.
    InRepo { root: Oid },
    /// No allowed signers: every signature is judged "not allowed".
    None,
}

/// The allowed signers that judge the seal of a commit.
///
/// Contract (shared with the in-repo trust work): every place that needs "the
/// allowed signers that judge the seal of commit C" builds one `PolicyResolver` per
/// command with [`PolicyResolver::from_config`] and calls
/// [`PolicyResolver::policy_for`]`(C)`. `Ok(None)` means no policy is configured
/// (signatures can be checked but nobody is allowed); `Ok(Some(p))` is the policy to
/// judge C's seal with, at its `sealed_at`. Today a configured file is the policy of
/// every commit; the in-repo chain (`PolicySource::InRepo`, `.seal/allowed_signers` at
/// C's first parent, from a pinned root) extends `policy_for` without changing callers.
/// A configured file always takes precedence over the in-repo policy.
#[derive(Debug)]
pub struct PolicyResolver {
    source: PolicySource,
    configured: Option<Arc<Policy>>,
    /// The chain from `seal.trustRoot`, when no file is configured (`crate::trust`).
    in_repo: Option<crate::trust::InRepo>,
}

impl PolicyResolver {
    /// Reads the configured allowed-signers and revocation files once.
    pub fn from_config(repo: &Repo) -> Result<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let base = repo
            .workdir
            .as_ref()
            .map(|w| w.as_std_path().to_path_buf())
            .unwrap_or_else(|| repo.git_dir.as_std_path().to_path_buf());
        let pick = |a: &'static str, b: &'static str| {
            [a, b].into_iter().find_map(|key| {
                repo.config_string(key)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (key, resolve_path(v.trim(), home.as_deref(), &base)))
            })
        };
        let allowed = pick("seal.allowedSignersFile", "gpg.ssh.allowedSignersFile");
        let revoked = pick("seal.revocationFile", "gpg.ssh.revocationFile");
        let Some((setting, path)) = allowed else {
            return Self::unconfigured(repo, revoked);
        };
        let allowed = AllowedSigners::load(&path).map_err(|e| {
            Error::usage(format!("{setting}: {e}")).hint(format!(
                "{}   # or point it at a readable allowed-signers file",
                crate::quote::git(&format!("config --unset {setting}"))
            ))
        })?;
        let revoked = load_revocations(revoked)?;
        Ok(PolicyResolver {
            source: PolicySource::Configured { path, setting },
            configured: Some(Arc::new(Policy { allowed, revoked })),
            in_repo: None,
        })
    }

    /// A resolver with a fixed policy (tests and callers that load one themselves).
    pub fn fixed(policy: Option<Policy>, source: PolicySource) -> Self {
        PolicyResolver {
            source,
            configured: policy.map(Arc::new),
            in_repo: None,
        }
    }

    /// The policy that judges the seal of `commit`.
    pub fn policy_for(&mut self, commit: Oid) -> Result<Option<Arc<Policy>>> {
        if let Some(in_repo) = &mut self.in_repo {
            return in_repo.policy_for(commit).map(Some);
        }
        Ok(self.configured.clone())
    }

    /// No allowed-signers file is configured: the in-repo chain from `seal.trustRoot`
    /// when one is pinned (with the configured revocations beside it), else none.
    fn unconfigured(repo: &Repo, revoked: Option<(&'static str, PathBuf)>) -> Result<Self> {
        if repo.config_string(crate::trust::ROOT_KEY).is_none() {
            return Ok(PolicyResolver {
                source: PolicySource::None,
                configured: None,
                in_repo: None,
            });
        }
        let revoked = load_revocations(revoked)?;
        let in_repo = crate::trust::InRepo::from_config(repo, revoked)?;
        Ok(PolicyResolver {
            source: in_repo
                .as_ref()
                .map_or(PolicySource::None, |r| PolicySource::InRepo {
                    root: r.root().commit,
                }),
            configured: None,
            in_repo,
        })
    }

    /// The in-repo chain's problems on the first-parent lines of `commits` (a policy
    /// change its parent's policy does not allow, an unusable policy file); empty when
    /// the in-repo policy is not in force. Each fails `verify`.
    pub fn trust_problems(&mut self, commits: &[Oid]) -> Result<Vec<crate::trust::Problem>> {
        match &mut self.in_repo {
            Some(in_repo) => in_repo.problems(commits),
            None => Ok(Vec::new()),
        }
    }

    /// The in-repo chain, when it is the policy in force.
    pub fn in_repo(&mut self) -> Option<&mut crate::trust::InRepo> {
        self.in_repo.as_mut()
    }

    /// Where the policy comes from.
    pub fn source(&self) -> PolicySource {
        self.source.clone()
    }
}

/// `~/` against HOME, as git's `--type=path`; a relative path is taken from the
/// repository's top (the worktree, or the git dir of a bare repository), where
/// hooks run.
fn resolve_path(value: &str, home: Option<&Path>, base: &Path) -> PathBuf {
    let p = super::key::expand_home(value, home);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// The configured revocation file (setting, path), or none.
fn load_revocations(revoked: Option<(&'static str, PathBuf)>) -> Result<Revocations> {
    match revoked {
        None => Ok(Revocations::default()),
        Some((setting, path)) => Revocations::load(&path).map_err(|e| {
            Error::usage(format!("{setting}: {e}")).hint(format!(
                "{}   # this stops checking revocations: rather restore {}",
                crate::quote::git(&format!("config --unset {setting}")),
                crate::quote::shell(&path.to_string_lossy())
            ))
        }),
    }
}
