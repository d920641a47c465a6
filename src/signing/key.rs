//! Which SSH key signs seals: resolved from git config values the way git resolves
//! its own signing key for `gpg.format=ssh`.
//!
//! Invariants: `seal.signingKey` wins; otherwise `user.signingKey` counts only when
//! `gpg.format` is `ssh`. A value is a `key::` literal (or, as git still accepts, a
//! bare `ssh-…` literal), else a path (`~/` expanded against the HOME the caller
//! passes). Nothing here reads git config or the process environment: the caller
//! passes both. A key file is read at most [`MAX_KEY_FILE_BYTES`].

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, Certificate, HashAlg, PrivateKey, PublicKey};

use super::SignError;

/// The largest key file read (an RSA-16384 private key is about 12 KiB).
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The git config values that decide the signing key, as the caller read them.
#[derive(Debug, Clone, Default)]
pub struct KeyConfig {
    /// `seal.signingKey`
    pub seal_signing_key: Option<String>,
    /// `user.signingKey`
    pub user_signing_key: Option<String>,
    /// `gpg.format`
    pub gpg_format: Option<String>,
}

/// The parts of the environment signing depends on.
#[derive(Debug, Clone, Default)]
pub struct SignEnv {
    /// `HOME`, for `~/` in key paths.
    pub home: Option<PathBuf>,
    /// `SSH_AUTH_SOCK`, the agent; `None` when unset.
    pub ssh_auth_sock: Option<OsString>,
}

/// Where the key came from and how it signs.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A private key file read and unencrypted: signed natively.
    Native { path: PathBuf },
    /// A private key file this module does not sign with itself (encrypted, RSA,
    /// security key, or a format it cannot read): `ssh-keygen -Y sign -f path`,
    /// which uses the agent when it holds the key.
    PrivateFile { path: PathBuf, encrypted: bool },
    /// A public key or certificate file whose private half is in ssh-agent (or, for
    /// a certificate, beside it: ssh-keygen finds it).
    PublicFile { path: PathBuf, certificate: bool },
    /// A `key::` literal whose private half is in ssh-agent.
    Literal { key: String },
}

/// A resolved signing key.
#[derive(Clone)]
pub struct SigningKey {
    /// The setting it came from: `seal.signingKey` or `user.signingKey`.
    pub setting: &'static str,
    pub source: KeySource,
    /// The public key, when known (always, but for private files in a format that
    /// cannot be read without ssh-keygen and that have no `.pub` beside them).
    pub public: Option<KeyData>,
    pub(super) private: Option<PrivateKey>,
    pub(super) env: SignEnv,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("setting", &self.setting)
            .field("source", &self.source)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key's SHA256 fingerprint as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> Option<String> {
        self.public
            .as_ref()
            .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
    }

    /// One line for `status`: the setting, where the key is, its fingerprint.
    pub fn describe(&self) -> String {
        let whence = match &self.source {
            KeySource::Native { path } => format!("key file {}", path.display()),
            KeySource::PrivateFile {
                path,
                encrypted: true,
            } => {
                format!("encrypted key file {} (via ssh-agent)", path.display())
            }
            KeySource::PrivateFile { path, .. } => {
                format!("key file {} (via ssh-keygen)", path.display())
            }
            KeySource::PublicFile { path, .. } => format!("{} (in ssh-agent)", path.display()),
            KeySource::Literal { .. } => "key:: literal (in ssh-agent)".to_string(),
        };
        match self.fingerprint() {
            Some(fp) => format!("{} = {whence}, {fp}", self.setting),
            None => format!("{} = {whence}", self.setting),
        }
    }
}

/// Resolves the signing key; `Ok(None)` when none is configured.
pub fn resolve(config: &KeyConfig, env: &SignEnv) -> Result<Option<SigningKey>, SignError> {
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (setting, value) = if let Some(v) = nonempty(&config.seal_signing_key) {
        ("seal.signingKey", v)
    } else if config.gpg_format.as_deref() == Some("ssh") {
        match nonempty(&config.user_signing_key) {
            Some(v) => ("user.signingKey", v),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let literal = value
        .strip_prefix("key::")
        .or_else(|| value.starts_with("ssh-").then_some(value.as_str()));
    if let Some(lit) = literal {
        let key =
            PublicKey::from_openssh(lit.trim()).map_err(|_| SignError::BadLiteral { setting })?;
        return Ok(Some(SigningKey {
            setting,
            source: KeySource::Literal {
                key: lit.trim().to_string(),
            },
            public: Some(key.key_data().clone()),
            private: None,
            env: env.clone(),
        }));
    }
    let path = expand_home(&value, env.home.as_deref());
    let bytes = read_key_file(setting, &path)?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let private =
            PrivateKey::from_openssh(bytes.as_slice()).map_err(|e| SignError::NotAKey {
                setting,
                path: path.clone(),
                why: e.to_string(),
            })?;
        let public = Some(private.public_key().key_data().clone());
        let native = !private.is_encrypted()
            && matches!(
                private.algorithm(),
                Algorithm::Ed25519 | Algorithm::Ecdsa { .. }
            );
        let (source, private) = if native {
            (KeySource::Native { path }, Some(private))
        } else {
            let encrypted = private.is_encrypted();
            (KeySource::PrivateFile { path, encrypted }, None)
        };
        return Ok(Some(SigningKey {
            setting,
            source,
            public,
            private,
            env: env.clone(),
        }));
    }
    if text.contains("PRIVATE KEY-----") {
        // A PEM key (`BEGIN RSA PRIVATE KEY` …): ssh-keygen reads it; the public
        // half, if any, from the `.pub` beside it.
        let mut pub_path = path.clone().into_os_string();
        pub_path.push(".pub");
        let public = std::fs::read_to_string(&pub_path)
            .ok()
            .and_then(|t| PublicKey::from_openssh(t.trim()).ok())
            .map(|k| k.key_data().clone());
        return Ok(Some(SigningKey {
            setting,
            source: KeySource::PrivateFile {
                path,
                encrypted: text.contains("ENCRYPTED"),
            },
            public,
            private: None,
            env: env.clone(),
        }));
    }
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    // A certificate (`id_ed25519-cert.pub`): ssh-keygen signs with it and embeds it.
    let (public, certificate) = match Certificate::from_openssh(first) {
        Ok(cert) => (cert.public_key().clone(), true),
        Err(_) => (
            PublicKey::from_openssh(first)
                .map_err(|e| SignError::NotAKey {
                    setting,
                    path: path.clone(),
                    why: e.to_string(),
                })?
                .key_data()
                .clone(),
            false,
        ),
    };
    Ok(Some(SigningKey {
        setting,
        source: KeySource::PublicFile { path, certificate },
        public: Some(public),
        private: None,
        env: env.clone(),
    }))
}

/// `~/x` → `$HOME/x`, as git's `interpolate_path` does (`~user/` is left alone).
pub fn expand_home(value: &str, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if value == "~" => home.map(Path::to_path_buf).unwrap_or_else(|| value.into()),
        _ => PathBuf::from(value),
    }
}

fn read_key_file(setting: &'static str, path: &Path) -> Result<Vec<u8>, SignError> {
    let file = std::fs::File::open(path).map_err(|e| SignError::KeyFile {
        setting,
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SignError::KeyFile {
            setting,
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(SignError::NotAKey {
            setting,
            path: path.to_path_buf(),
            why: format!("over {MAX_KEY_FILE_BYTES} bytes"),
        });
    }
    Ok(bytes)
}
