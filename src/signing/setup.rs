//! Who signs what a command writes: the signing key and principal, read from git
//! config (`seal.signingKey`, else `user.signingKey` under `gpg.format=ssh`;
//! `seal.signingPrincipal`, else the committer's email) and the process environment
//! (`HOME`, `SSH_AUTH_SOCK`).
//!
//! Invariant: this and [`super::resolver`] are the only parts of `signing` that read
//! git config or the environment; the rest takes values.

use serde_json::Value;

use super::{key, KeyConfig, SignEnv, SignError, Signature, SigningKey};
use crate::git::Repo;

/// A resolved key and the principal it signs as.
#[derive(Debug, Clone)]
pub struct SealSigner {
    pub key: SigningKey,
    pub principal: String,
    /// Where the principal came from: `seal.signingPrincipal` or `user.email`.
    pub principal_from: &'static str,
}

impl SealSigner {
    /// The configured signer; `Ok(None)` when no signing key is configured.
    /// `committer_email` is the identity that seals (the default principal).
    pub fn from_config(
        repo: &Repo,
        committer_email: Option<&str>,
    ) -> Result<Option<SealSigner>, SignError> {
        let config = KeyConfig {
            seal_signing_key: repo.config_string("seal.signingKey"),
            user_signing_key: repo.config_string("user.signingKey"),
            gpg_format: repo.config_string("gpg.format"),
        };
        let env = SignEnv {
            home: std::env::var_os("HOME").map(Into::into),
            ssh_auth_sock: std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()),
        };
        let Some(key) = key::resolve(&config, &env)? else {
            return Ok(None);
        };
        let configured = repo
            .config_string("seal.signingPrincipal")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let (principal, principal_from) = match configured {
            Some(p) => (p, "seal.signingPrincipal"),
            None => {
                let email = committer_email
                    .map(str::to_string)
                    .or_else(|| repo.identity().ok().map(|(_, e)| e))
                    .unwrap_or_default();
                (email, "user.email")
            }
        };
        Ok(Some(SealSigner {
            key,
            principal,
            principal_from,
        }))
    }

    /// The signature of a ledger document over its signed message
    /// ([`crate::seal::signed_message`]).
    pub fn sign_doc(&self, value: &Value) -> Result<Signature, SignError> {
        super::sign(
            &self.key,
            &self.principal,
            &crate::seal::signed_message(value),
        )
    }
}
