//! Who vouches for a seal: SSH signatures in OpenSSH's SSHSIG format (namespace
//! `git-seal`) and the allowed-signers policy that decides whom they count for
//! (brief §2.4, §2.5, §2.7).
//!
//! This module owns the `signature` value of seals and countersigns, resolving the
//! signing key from git config values ([`key`]), signing ([`sign()`]), parsing and
//! checking signatures ([`sshsig`]), and judging them against an allowed-signers file
//! and a revocation list ([`allowed_signers`]). It reads no git config and no
//! process environment: callers pass both.
//!
//! Invariants: a signature is checked over the message in namespace `git-seal`
//! whatever namespace it names; every input is size-capped before it is decoded and
//! parsed in linear time, and no input panics; trust is decided only by the policy
//! the caller passes, at the time the caller passes (the seal's `sealed_at`), never
//! by the principal a signature claims alone: the claimed principal must be listed
//! with that exact key. Verification spawns no process.

pub mod agent;
pub mod allowed_signers;
pub mod key;
mod pattern;
pub mod resolver;
pub mod setup;
pub mod sign;
pub mod sshsig;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ssh_key::HashAlg;

pub use allowed_signers::{AllowedSigners, Decision, PolicyError, Revocations};
pub use key::{resolve, KeyConfig, KeySource, SignEnv, SigningKey};
pub use pattern::{matches, matches_list, ListMatch};
pub use resolver::{PolicyResolver, PolicySource};
pub use setup::SealSigner;
pub use sign::sign;
pub use sshsig::Signer;

/// The SSHSIG namespace of every git-seal signature.
pub const NAMESPACE: &str = "git-seal";
/// The longest principal judged (an email address is at most 254 bytes).
pub const MAX_PRINCIPAL_BYTES: usize = 1024;
/// The only `format` value this version writes and reads.
pub const FORMAT: &str = "sshsig";

/// A seal's or countersign's `signature` field (brief §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub format: String,
    pub namespace: String,
    /// The signer's identity as written in allowed signers (usually an email).
    pub principal: String,
    /// The armored SSHSIG (`-----BEGIN SSH SIGNATURE-----` …), written to YAML as a
    /// literal block (`sig: |`) as the brief shows it.
    #[serde(serialize_with = "literal_block")]
    pub sig: String,
}

fn literal_block<S: serde::Serializer>(sig: &str, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&serde_saphyr::LitStr(sig), s)
}

impl Signature {
    pub fn new(principal: impl Into<String>, armored: impl Into<String>) -> Self {
        Signature {
            format: FORMAT.into(),
            namespace: NAMESPACE.into(),
            principal: principal.into(),
            sig: armored.into(),
        }
    }
}

/// Why signing failed. Each has a one-line message and a [`SignError::hint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("{setting}: cannot read the signing key {}: {why}", path.display())]
    KeyFile {
        setting: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("{setting}: {} is not an SSH key: {why}", path.display())]
    NotAKey {
        setting: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("{setting}: the key:: literal is not an SSH public key")]
    BadLiteral { setting: &'static str },
    #[error("cannot sign with key {fingerprint}: it must come from ssh-agent, and {why}")]
    NoAgent {
        fingerprint: String,
        why: String,
        add: String,
    },
    #[error("cannot sign with key {fingerprint}: ssh-agent does not hold it ({why})")]
    NotInAgent {
        fingerprint: String,
        why: String,
        add: String,
    },
    #[error("ssh-keygen could not sign: {why}")]
    Keygen { why: String },
    #[error("cannot sign: ssh-keygen is not installed")]
    KeygenMissing,
    #[error("cannot sign: ssh-keygen did not finish within {}s", sign::KEYGEN_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot sign: {why}")]
    Native { why: String },
    #[error("the signature made does not verify: {why}")]
    Produced { why: String },
}

impl SignError {
    /// A command that fixes it, fit to paste.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SignError::KeyFile { setting, .. }
            | SignError::NotAKey { setting, .. }
            | SignError::BadLiteral { setting } => {
                format!(
                    "{}   # or: ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519",
                    crate::quote::git(&format!("config {setting} ~/.ssh/id_ed25519"))
                )
            }
            SignError::NoAgent { add, .. } => format!("eval \"$(ssh-agent -s)\" && ssh-add {add}"),
            SignError::NotInAgent { add, .. } => format!("ssh-add {add}"),
            SignError::KeygenMissing => "install OpenSSH's ssh-keygen, then: ssh-keygen -V".into(),
            SignError::Timeout => "ssh-add -l   # check the agent answers".into(),
            SignError::Keygen { .. } | SignError::Native { .. } | SignError::Produced { .. } => {
                return None
            }
        })
    }
}

/// A signature whose cryptography holds over its message, not yet judged.
#[derive(Debug, Clone)]
pub struct Checked {
    pub signer: Signer,
    pub principal: String,
    /// SHA256 fingerprint of the signing key, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// Checks `signature` over `message`: format, size, armor, namespace, and the
/// signature itself with the key it embeds. No trust decision yet.
pub fn check(signature: &Signature, message: &[u8]) -> Result<Checked, Verdict> {
    if signature.format != FORMAT {
        return Err(Verdict::BadSignature {
            why: format!(
                "unknown signature format \"{}\"",
                crate::quote::printable(&signature.format)
            ),
        });
    }
    if signature.principal.len() > MAX_PRINCIPAL_BYTES {
        return Err(Verdict::BadSignature {
            why: format!("principal is over {MAX_PRINCIPAL_BYTES} bytes"),
        });
    }
    let parsed =
        sshsig::parse(&signature.sig).map_err(|e| Verdict::BadSignature { why: e.to_string() })?;
    if parsed.namespace != NAMESPACE || signature.namespace != NAMESPACE {
        let found = if parsed.namespace != NAMESPACE {
            &parsed.namespace
        } else {
            &signature.namespace
        };
        return Err(Verdict::WrongNamespace {
            found: crate::quote::printable(found),
        });
    }
    parsed
        .check(NAMESPACE, message)
        .map_err(|e| Verdict::BadSignature { why: e.to_string() })?;
    Ok(Checked {
        fingerprint: parsed.signer.key().fingerprint(HashAlg::Sha256).to_string(),
        signer: parsed.signer,
        principal: signature.principal.clone(),
    })
}

/// Whose signatures count: an allowed-signers file and a revocation list.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub allowed: AllowedSigners,
    pub revoked: Revocations,
}

impl Policy {
    /// Judges a checked signature at unix time `at` (the seal's `sealed_at`).
    pub fn judge(&self, checked: &Checked, at: i64) -> Verdict {
        let fingerprint = checked.fingerprint.clone();
        let principal = crate::quote::printable(&checked.principal);
        if self.revoked.revokes(&checked.signer) {
            return Verdict::Revoked { fingerprint };
        }
        let why = match self
            .allowed
            .decide(&checked.signer, &checked.principal, NAMESPACE, at)
        {
            Decision::Trusted => {
                return Verdict::Trusted {
                    fingerprint,
                    principal,
                }
            }
            Decision::Expired { valid_before, .. } => {
                return Verdict::Expired {
                    fingerprint,
                    principal,
                    valid_before,
                }
            }
            Decision::NotYetValid { valid_after, .. } => {
                return Verdict::NotYetValid {
                    fingerprint,
                    principal,
                    valid_after,
                }
            }
            Decision::NotListed { listed_for } => NotAllowedWhy::NotListed {
                listed_for: listed_for
                    .iter()
                    .map(|p| crate::quote::printable(p))
                    .collect(),
            },
            Decision::Namespace { line, namespaces } => NotAllowedWhy::Namespace {
                line,
                namespaces: crate::quote::printable(&namespaces),
            },
            Decision::Certificate { line, why } => NotAllowedWhy::Certificate { line, why },
            Decision::Invalid { line, why } => NotAllowedWhy::InvalidLine { line, why },
        };
        Verdict::NotAllowed {
            fingerprint,
            principal,
            why,
        }
    }

    /// Checks and judges a seal's signature (`None`: the seal has none).
    pub fn verify(&self, signature: Option<&Signature>, message: &[u8], at: i64) -> Verdict {
        let Some(signature) = signature else {
            return Verdict::Unsigned;
        };
        match check(signature, message) {
            Ok(checked) => self.judge(&checked, at),
            Err(verdict) => verdict,
        }
    }
}

/// Why an allowed-signers file does not trust a valid signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAllowedWhy {
    /// No line lists this key for this principal; `listed_for` are the principal
    /// patterns it is listed for (empty: not listed at all).
    NotListed {
        listed_for: Vec<String>,
    },
    Namespace {
        line: usize,
        namespaces: String,
    },
    Certificate {
        line: usize,
        why: String,
    },
    InvalidLine {
        line: usize,
        why: String,
    },
}

/// The verdict on one seal's signature. Strings in it are printable (control
/// characters escaped) and fit for output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Unsigned,
    BadSignature {
        why: String,
    },
    WrongNamespace {
        found: String,
    },
    NotAllowed {
        fingerprint: String,
        principal: String,
        why: NotAllowedWhy,
    },
    Expired {
        fingerprint: String,
        principal: String,
        valid_before: i64,
    },
    NotYetValid {
        fingerprint: String,
        principal: String,
        valid_after: i64,
    },
    Revoked {
        fingerprint: String,
    },
    Trusted {
        fingerprint: String,
        principal: String,
    },
}

impl Verdict {
    /// A stable name for the verdict, for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Unsigned => "unsigned",
            Verdict::BadSignature { .. } => "bad_signature",
            Verdict::WrongNamespace { .. } => "wrong_namespace",
            Verdict::NotAllowed { .. } => "not_allowed",
            Verdict::Expired { .. } => "expired",
            Verdict::NotYetValid { .. } => "not_yet_valid",
            Verdict::Revoked { .. } => "revoked",
            Verdict::Trusted { .. } => "trusted",
        }
    }

    /// The signing key's fingerprint, when the signature names one that parsed.
    pub fn fingerprint(&self) -> Option<&str> {
        match self {
            Verdict::NotAllowed { fingerprint, .. }
            | Verdict::Expired { fingerprint, .. }
            | Verdict::NotYetValid { fingerprint, .. }
            | Verdict::Revoked { fingerprint }
            | Verdict::Trusted { fingerprint, .. } => Some(fingerprint),
            Verdict::Unsigned | Verdict::BadSignature { .. } | Verdict::WrongNamespace { .. } => {
                None
            }
        }
    }

    /// The principal the seal claims (or, trusted, the one the policy allows).
    pub fn principal(&self) -> Option<&str> {
        match self {
            Verdict::NotAllowed { principal, .. }
            | Verdict::Expired { principal, .. }
            | Verdict::NotYetValid { principal, .. }
            | Verdict::Trusted { principal, .. } => Some(principal),
            _ => None,
        }
    }

    pub fn is_trusted(&self) -> bool {
        matches!(self, Verdict::Trusted { .. })
    }

    /// Whether a signature is present but wrong: always a problem, whatever the
    /// policy (brief §2.4).
    pub fn is_bad(&self) -> bool {
        matches!(
            self,
            Verdict::BadSignature { .. } | Verdict::WrongNamespace { .. }
        )
    }
}

fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Unsigned => write!(f, "unsigned"),
            Verdict::BadSignature { why } => write!(f, "bad signature: {why}"),
            Verdict::WrongNamespace { found } => write!(
                f,
                "bad signature: made for namespace \"{found}\", not \"{NAMESPACE}\""
            ),
            Verdict::NotAllowed {
                fingerprint,
                principal,
                why,
            } => {
                write!(f, "signer not allowed: {principal} with key {fingerprint}")?;
                match why {
                    NotAllowedWhy::NotListed { listed_for } if listed_for.is_empty() => {
                        write!(f, " (key not in allowed signers)")
                    }
                    NotAllowedWhy::NotListed { listed_for } => write!(
                        f,
                        " (key listed only for {})",
                        listed_for.join(", ")
                    ),
                    NotAllowedWhy::Namespace { line, namespaces } => write!(
                        f,
                        " (allowed signers line {line}: namespaces=\"{namespaces}\" excludes {NAMESPACE})"
                    ),
                    NotAllowedWhy::Certificate { line, why } => {
                        write!(f, " (allowed signers line {line}: {why})")
                    }
                    NotAllowedWhy::InvalidLine { line, why } => {
                        write!(f, " (allowed signers line {line} is invalid: {why})")
                    }
                }
            }
            Verdict::Expired {
                fingerprint,
                principal,
                valid_before,
            } => write!(
                f,
                "key expired: {principal} with key {fingerprint} is valid only before {}",
                time(*valid_before)
            ),
            Verdict::NotYetValid {
                fingerprint,
                principal,
                valid_after,
            } => write!(
                f,
                "key not yet valid: {principal} with key {fingerprint} is valid only after {}",
                time(*valid_after)
            ),
            Verdict::Revoked { fingerprint } => write!(f, "key revoked: {fingerprint}"),
            Verdict::Trusted {
                fingerprint,
                principal,
            } => write!(f, "signed by {principal} ({fingerprint})"),
        }
    }
}
