//! Making a `git-seal` SSHSIG signature with a resolved key: natively for
//! unencrypted ed25519 and ECDSA key files; for a key the agent holds, by asking
//! ssh-agent over its socket; and otherwise (certificates, keys the agent does not
//! hold, RSA or unreadable key files, an agent this client cannot talk to) through
//! `ssh-keygen -Y sign`, as git does.
//!
//! Invariants: `ssh-keygen` never prompts: stdin is null, `SSH_ASKPASS_REQUIRE=force`
//! with an askpass that fails, so a passphrase request fails at once instead of
//! reading a terminal; a child that still runs after [`KEYGEN_TIMEOUT`] is killed.
//! Every signature returned has been verified over the message with the expected
//! key before it is returned.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, LineEnding, SshSig};

use super::agent;
use super::key::{KeySource, SigningKey};
use super::sshsig;
use super::{SignError, Signature, NAMESPACE};

/// How long `ssh-keygen -Y sign` may take (an agent asking for confirmation that
/// nobody gives, a hung agent socket) before it is killed.
pub const KEYGEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Signs `message` (a seal's canonical JSON) for `principal`.
pub fn sign(key: &SigningKey, principal: &str, message: &[u8]) -> Result<Signature, SignError> {
    let armored = match (&key.private, &key.source) {
        (Some(private), _) => private
            .sign(NAMESPACE, HashAlg::Sha512, message)
            .and_then(|s| s.to_pem(LineEnding::LF))
            .map_err(|e| SignError::Native { why: e.to_string() })?,
        (None, source) => keygen_sign(key, source, message)?,
    };
    let parsed = sshsig::parse(&armored).map_err(|e| SignError::Produced { why: e.to_string() })?;
    if let Some(public) = &key.public {
        if parsed.signer.key() != public {
            return Err(SignError::Produced {
                why: "it was made with a different key than the configured one".into(),
            });
        }
    }
    parsed
        .check(NAMESPACE, message)
        .map_err(|e| SignError::Produced { why: e.to_string() })?;
    Ok(Signature::new(principal, armored))
}

fn keygen_sign(key: &SigningKey, source: &KeySource, message: &[u8]) -> Result<String, SignError> {
    let fingerprint = key.fingerprint().unwrap_or_else(|| "(unknown)".into());
    let agent = agent_socket(key.env.ssh_auth_sock.as_ref());
    let needs_agent = match source {
        KeySource::Literal { .. } => true,
        // ssh-keygen also finds the private half beside a public key or certificate.
        KeySource::PublicFile { path, .. } => !private_sibling(path).is_some_and(|p| p.exists()),
        KeySource::PrivateFile { encrypted, .. } => *encrypted,
        KeySource::Native { .. } => false,
    };
    if needs_agent {
        if let Err(why) = &agent {
            return Err(SignError::NoAgent {
                fingerprint,
                why: why.clone(),
                add: add_target(source),
            });
        }
    }
    // The agent natively first: a round trip instead of a process. A certificate
    // file goes to ssh-keygen, which embeds the certificate.
    let certificate = matches!(
        source,
        KeySource::PublicFile {
            certificate: true,
            ..
        }
    );
    let mut agent_note = String::new();
    if let (Ok(sock), Some(public), false) = (&agent, &key.public, certificate) {
        match agent_sign(Path::new(sock), public, message) {
            Ok(armored) => return Ok(armored),
            Err(agent::AgentError::Refused) if matches!(source, KeySource::Literal { .. }) => {
                return Err(SignError::NotInAgent {
                    fingerprint,
                    why: "the agent refused to sign".into(),
                    add: add_target(source),
                })
            }
            // ssh-keygen may still sign: from a key file beside it, or where this
            // module's agent client failed.
            Err(agent::AgentError::Io(why)) => agent_note = format!("; ssh-agent: {why}"),
            Err(agent::AgentError::Refused) => {}
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("git-seal-sign-")
        .tempdir()
        .map_err(|e| SignError::Keygen {
            why: format!("temp dir: {e}"),
        })?;
    let key_path = match source {
        KeySource::Literal { key: literal } => {
            // As git does: the literal goes to a private file for `-f`.
            let p = dir.path().join("key.pub");
            write_private(&p, format!("{literal}\n").as_bytes())?;
            p
        }
        KeySource::PublicFile { path, .. }
        | KeySource::PrivateFile { path, .. }
        | KeySource::Native { path } => path.clone(),
    };
    let msg = dir.path().join("message");
    write_private(&msg, message)?;
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
        .arg(&key_path)
        .arg(&msg)
        .env("SSH_ASKPASS", "false")
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match (&agent, &key.env.ssh_auth_sock) {
        (Ok(_), Some(sock)) => cmd.env("SSH_AUTH_SOCK", sock),
        _ => cmd.env_remove("SSH_AUTH_SOCK"),
    };
    let (ok, stderr) = run_bounded(cmd)?;
    if !ok {
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message")
            .to_string()
            + &agent_note;
        return Err(match source {
            KeySource::PrivateFile {
                encrypted: true, ..
            }
            | KeySource::PublicFile { .. }
            | KeySource::Literal { .. } => SignError::NotInAgent {
                fingerprint,
                why: crate::quote::printable(&first),
                add: add_target(source),
            },
            _ => SignError::Keygen {
                why: crate::quote::printable(&first),
            },
        });
    }
    let sig_path = dir.path().join("message.sig");
    let text = std::fs::read(&sig_path).map_err(|e| SignError::Keygen {
        why: format!("reading its signature: {e}"),
    })?;
    if text.len() > sshsig::MAX_SIGNATURE_BYTES {
        return Err(SignError::Produced {
            why: "signature over the size limit".into(),
        });
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn agent_sign(sock: &Path, public: &KeyData, message: &[u8]) -> Result<String, agent::AgentError> {
    use ssh_encoding::Encode;
    let bad = |e: &dyn std::fmt::Display| agent::AgentError::Io(e.to_string());
    let mut blob = Vec::new();
    public.encode(&mut blob).map_err(|e| bad(&e))?;
    let data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message).map_err(|e| bad(&e))?;
    let sig_blob = agent::sign(sock, &blob, &data, public.is_rsa())?;
    let sig = ssh_key::Signature::try_from(sig_blob.as_slice()).map_err(|e| bad(&e))?;
    SshSig::new(public.clone(), NAMESPACE, HashAlg::Sha512, sig)
        .and_then(|s| s.to_pem(LineEnding::LF))
        .map_err(|e| bad(&e))
}

/// The agent socket, if one is set and exists.
fn agent_socket(sock: Option<&OsString>) -> Result<&OsString, String> {
    let sock = sock.ok_or_else(|| "SSH_AUTH_SOCK is not set".to_string())?;
    if std::fs::symlink_metadata(Path::new(sock)).is_err() {
        return Err(format!(
            "the agent socket {} is gone",
            Path::new(sock).display()
        ));
    }
    Ok(sock)
}

/// `id.pub` → `id`, `id-cert.pub` → `id`.
fn private_sibling(path: &Path) -> Option<std::path::PathBuf> {
    let s = path.to_str()?;
    let stem = s
        .strip_suffix("-cert.pub")
        .or_else(|| s.strip_suffix(".pub"))?;
    Some(stem.into())
}

/// What to name in `ssh-add <…>`: the private key file, where known.
fn add_target(source: &KeySource) -> String {
    match source {
        KeySource::PublicFile { path, .. } => crate::quote::shell(
            &private_sibling(path)
                .unwrap_or_else(|| path.clone())
                .to_string_lossy(),
        ),
        KeySource::PrivateFile { path, .. } | KeySource::Native { path } => {
            crate::quote::shell(&path.to_string_lossy())
        }
        KeySource::Literal { .. } => "~/.ssh/id_ed25519".into(),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| SignError::Keygen {
            why: format!("{}: {e}", path.display()),
        })
}

/// Runs the child to completion or [`KEYGEN_TIMEOUT`]; returns success and stderr.
fn run_bounded(mut cmd: Command) -> Result<(bool, String), SignError> {
    use std::io::Read;
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SignError::KeygenMissing
        } else {
            SignError::Keygen { why: e.to_string() }
        }
    })?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > KEYGEN_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SignError::Timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(SignError::Keygen { why: e.to_string() }),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = (&mut pipe).take(64 * 1024).read_to_string(&mut stderr);
    }
    Ok((status.success(), stderr))
}
