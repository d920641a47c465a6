//! The signing core against OpenSSH itself: real keys made by `ssh-keygen` in the
//! sandbox's HOME, a real `ssh-agent`, signatures made here checked by
//! `ssh-keygen -Y verify` and the other way round, and allowed-signers decisions
//! cross-checked with OpenSSH's.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use git_seal::signing::{
    self, AllowedSigners, KeyConfig, KeySource, NotAllowedWhy, Policy, Revocations, SignEnv,
    SignError, Signature, Verdict,
};

use crate::harness::{run_with_stdin, write_script, Run, Sandbox};

const MESSAGE: &[u8] = br#"{"commit":"0123","kind":"commit","schema":"git-seal/seal/v1"}"#;
const ALICE: &str = "alice@example.com";
/// 2026-01-01T00:00:00Z
const T2026: i64 = 1_767_225_600;

fn home(sb: &Sandbox) -> PathBuf {
    sb.path().join("home")
}

fn run(sb: &Sandbox, program: &str, args: &[&str]) -> Run {
    let mut cmd = sb.command(program, sb.path());
    cmd.args(args);
    Run {
        out: cmd.output().expect("spawn"),
    }
}

/// `ssh-keygen -t TYPE -N PASS -f ~/.ssh/NAME`; returns the private key's path.
pub(crate) fn keygen(sb: &Sandbox, name: &str, ty: &str, pass: &str) -> PathBuf {
    let dir = home(sb).join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    run(
        sb,
        "ssh-keygen",
        &["-q", "-t", ty, "-N", pass, "-C", name, "-f", p],
    )
    .ok();
    path
}

pub(crate) fn public_of(key: &Path) -> String {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    let text = std::fs::read_to_string(p).unwrap();
    let mut it = text.split_whitespace();
    format!("{} {}", it.next().unwrap(), it.next().unwrap())
}

/// A real ssh-agent on a socket in the sandbox, killed when dropped.
pub(crate) struct Agent {
    pub(crate) sock: PathBuf,
    child: Child,
}

impl Agent {
    pub(crate) fn start(sb: &Sandbox) -> Agent {
        let sock = sb.path().join("agent.sock");
        let mut cmd = sb.command("ssh-agent", sb.path());
        cmd.arg("-D").arg("-a").arg(&sock);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().expect("ssh-agent");
        let start = Instant::now();
        while !sock.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "ssh-agent did not start"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Agent { sock, child }
    }

    /// `ssh-add KEY`, answering a passphrase prompt with `pass` through askpass.
    pub(crate) fn add(&self, sb: &Sandbox, key: &Path, pass: &str) {
        let askpass = sb.path().join("askpass");
        write_script(&askpass, &format!("#!/bin/sh\necho '{pass}'\n"));
        let mut cmd = sb.command("ssh-add", sb.path());
        cmd.arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force");
        Run {
            out: cmd.output().expect("ssh-add"),
        }
        .ok();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(sb: &Sandbox, agent: Option<&Agent>) -> SignEnv {
    SignEnv {
        home: Some(home(sb)),
        ssh_auth_sock: agent.map(|a| a.sock.clone().into_os_string()),
    }
}

fn seal_key(value: &str) -> KeyConfig {
    KeyConfig {
        seal_signing_key: Some(value.into()),
        ..KeyConfig::default()
    }
}

fn sign_with(
    sb: &Sandbox,
    config: &KeyConfig,
    agent: Option<&Agent>,
) -> Result<Signature, SignError> {
    let key = signing::resolve(config, &env(sb, agent))?.expect("a key is configured");
    signing::sign(&key, ALICE, MESSAGE)
}

/// `ssh-keygen -Y verify` with `allowed` as the allowed-signers file; true on exit 0.
fn openssh_verifies(sb: &Sandbox, allowed: &str, sig: &str, msg: &[u8], extra: &[&str]) -> bool {
    let dir = tempfile::tempdir_in(sb.path()).unwrap();
    let (a, s) = (dir.path().join("allowed"), dir.path().join("seal.sig"));
    std::fs::write(&a, allowed).unwrap();
    std::fs::write(&s, sig).unwrap();
    let mut cmd = sb.command("ssh-keygen", sb.path());
    cmd.args(["-Y", "verify", "-f"])
        .arg(&a)
        .args(["-I", ALICE, "-n", "git-seal", "-s"])
        .arg(&s)
        .args(extra);
    run_with_stdin(cmd, msg).code() == 0
}

/// `ssh-keygen -Y sign -n NAMESPACE -f KEY` over `msg`.
fn openssh_sign(sb: &Sandbox, key: &Path, namespace: &str, msg: &[u8]) -> String {
    let dir = tempfile::tempdir_in(sb.path()).unwrap();
    let m = dir.path().join("msg");
    std::fs::write(&m, msg).unwrap();
    let mut cmd = sb.command("ssh-keygen", sb.path());
    cmd.args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(key)
        .arg(&m);
    Run {
        out: cmd.output().unwrap(),
    }
    .ok();
    std::fs::read_to_string(dir.path().join("msg.sig")).unwrap()
}

fn policy(allowed: &str) -> Policy {
    Policy {
        allowed: AllowedSigners::parse(allowed),
        revoked: Revocations::default(),
    }
}

fn fingerprint(sb: &Sandbox, key: &Path) -> String {
    let out = run(sb, "ssh-keygen", &["-l", "-f", key.to_str().unwrap()])
        .ok()
        .stdout();
    out.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn a_signature_made_from_a_key_file_verifies_with_ssh_keygen_and_here() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "id_ed25519", "ed25519", "");
    let sig = sign_with(&sb, &seal_key("~/.ssh/id_ed25519"), None).unwrap();
    assert!(
        sig.sig.starts_with("-----BEGIN SSH SIGNATURE-----\n"),
        "{}",
        sig.sig
    );
    assert_eq!(
        (
            sig.format.as_str(),
            sig.namespace.as_str(),
            sig.principal.as_str()
        ),
        ("sshsig", "git-seal", ALICE)
    );
    let allowed = format!("{ALICE} namespaces=\"git-seal\" {}\n", public_of(&key));
    assert!(openssh_verifies(&sb, &allowed, &sig.sig, MESSAGE, &[]));
    let fp = fingerprint(&sb, &key);
    assert_eq!(
        policy(&allowed).verify(Some(&sig), MESSAGE, T2026),
        Verdict::Trusted {
            fingerprint: fp.clone(),
            principal: ALICE.into()
        }
    );
    // A tampered message fails both.
    let tampered = String::from_utf8_lossy(MESSAGE).replace("0123", "0124");
    assert!(!openssh_verifies(
        &sb,
        &allowed,
        &sig.sig,
        tampered.as_bytes(),
        &[]
    ));
    assert!(matches!(
        policy(&allowed).verify(Some(&sig), tampered.as_bytes(), T2026),
        Verdict::BadSignature { .. }
    ));
    assert_eq!(
        policy(&allowed).verify(None, MESSAGE, T2026),
        Verdict::Unsigned
    );
    assert_eq!(
        policy(&allowed)
            .verify(Some(&sig), MESSAGE, T2026)
            .to_string(),
        format!("signed by {ALICE} ({fp})")
    );
}

#[test]
fn user_signing_key_counts_only_with_gpg_format_ssh_and_seal_signing_key_wins() {
    let sb = Sandbox::new();
    keygen(&sb, "id_ed25519", "ed25519", "");
    let other = keygen(&sb, "seal_key", "ed25519", "");
    let e = env(&sb, None);
    let user = |fmt: Option<&str>| KeyConfig {
        user_signing_key: Some("~/.ssh/id_ed25519".into()),
        gpg_format: fmt.map(Into::into),
        ..KeyConfig::default()
    };
    assert!(signing::resolve(&user(None), &e).unwrap().is_none());
    assert!(signing::resolve(&user(Some("openpgp")), &e)
        .unwrap()
        .is_none());
    let k = signing::resolve(&user(Some("ssh")), &e).unwrap().unwrap();
    assert_eq!(k.setting, "user.signingKey");
    assert!(matches!(k.source, KeySource::Native { .. }));
    let mut both = user(Some("ssh"));
    both.seal_signing_key = Some(other.to_str().unwrap().into());
    let k = signing::resolve(&both, &e).unwrap().unwrap();
    assert_eq!(k.setting, "seal.signingKey");
    assert_eq!(k.fingerprint().unwrap(), fingerprint(&sb, &other));
    assert!(
        k.describe().contains("seal.signingKey = key file"),
        "{}",
        k.describe()
    );
    // A missing file is a typed error with a hint.
    let err = signing::resolve(&seal_key("~/.ssh/nope"), &e).unwrap_err();
    assert!(matches!(err, SignError::KeyFile { .. }), "{err}");
    assert!(err.hint().unwrap().contains("git config seal.signingKey"));
}

#[test]
fn a_signature_made_by_ssh_keygen_verifies_here_and_another_namespace_does_not() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "id_ed25519", "ed25519", "");
    let allowed = format!("{ALICE} {}\n", public_of(&key));
    let sig = Signature::new(ALICE, openssh_sign(&sb, &key, "git-seal", MESSAGE));
    assert!(policy(&allowed)
        .verify(Some(&sig), MESSAGE, T2026)
        .is_trusted());
    assert!(matches!(
        policy(&allowed).verify(Some(&sig), b"other", T2026),
        Verdict::BadSignature { .. }
    ));
    // A commit signature (namespace "git") cannot pass for a seal signature.
    let git = Signature::new(ALICE, openssh_sign(&sb, &key, "git", MESSAGE));
    assert_eq!(
        policy(&allowed).verify(Some(&git), MESSAGE, T2026),
        Verdict::WrongNamespace {
            found: "git".into()
        }
    );
    // Nor can the YAML field claim a namespace the blob does not have.
    let mut claims = sig.clone();
    claims.namespace = "file".into();
    assert!(matches!(
        policy(&allowed).verify(Some(&claims), MESSAGE, T2026),
        Verdict::WrongNamespace { .. }
    ));
}

#[test]
fn ecdsa_signs_natively_and_rsa_through_ssh_keygen_both_verified_by_openssh() {
    let sb = Sandbox::new();
    for (name, ty, native) in [("id_ecdsa", "ecdsa", true), ("id_rsa", "rsa", false)] {
        let key = keygen(&sb, name, ty, "");
        let k = signing::resolve(&seal_key(key.to_str().unwrap()), &env(&sb, None))
            .unwrap()
            .unwrap();
        assert_eq!(
            matches!(k.source, KeySource::Native { .. }),
            native,
            "{name}"
        );
        let sig = signing::sign(&k, ALICE, MESSAGE).unwrap();
        let allowed = format!("{ALICE} {}\n", public_of(&key));
        assert!(
            openssh_verifies(&sb, &allowed, &sig.sig, MESSAGE, &[]),
            "{name}"
        );
        assert!(
            policy(&allowed)
                .verify(Some(&sig), MESSAGE, T2026)
                .is_trusted(),
            "{name}"
        );
        let theirs = Signature::new(ALICE, openssh_sign(&sb, &key, "git-seal", MESSAGE));
        assert!(
            policy(&allowed)
                .verify(Some(&theirs), MESSAGE, T2026)
                .is_trusted(),
            "{name}"
        );
    }
}

#[test]
fn keys_held_by_ssh_agent_sign_from_a_public_key_file_a_key_literal_and_an_encrypted_file() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "agent_key", "ed25519", "");
    let locked = keygen(&sb, "locked", "ed25519", "s3cret");
    let agent = Agent::start(&sb);
    agent.add(&sb, &key, "");
    agent.add(&sb, &locked, "s3cret");
    let rsa = keygen(&sb, "rsa_key", "rsa", "");
    agent.add(&sb, &rsa, "");
    // The private half leaves the disk: only the agent holds it now.
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(&rsa).unwrap();
    let pubfile = format!("{}.pub", key.display());
    let literal = format!("key::{}", public_of(&key));
    let allowed = format!(
        "{ALICE} {}\n{ALICE} {}\n{ALICE} {}\n",
        public_of(&key),
        public_of(&locked),
        public_of(&rsa)
    );
    for config in [
        seal_key(&pubfile),
        seal_key(&literal),
        seal_key(locked.to_str().unwrap()),
        seal_key(&format!("{}.pub", rsa.display())),
    ] {
        let k = signing::resolve(&config, &env(&sb, Some(&agent)))
            .unwrap()
            .unwrap();
        assert!(!matches!(k.source, KeySource::Native { .. }));
        let sig = signing::sign(&k, ALICE, MESSAGE).unwrap_or_else(|e| panic!("{e} ({k:?})"));
        assert!(
            openssh_verifies(&sb, &allowed, &sig.sig, MESSAGE, &[]),
            "{k:?}"
        );
        assert!(policy(&allowed)
            .verify(Some(&sig), MESSAGE, T2026)
            .is_trusted());
    }
    // git's older spelling: a bare `ssh-…` literal under user.signingKey.
    let config = KeyConfig {
        user_signing_key: Some(public_of(&key)),
        gpg_format: Some("ssh".into()),
        ..KeyConfig::default()
    };
    assert!(sign_with(&sb, &config, Some(&agent)).is_ok());
}

#[test]
fn an_encrypted_key_without_the_agent_fails_at_once_with_the_ssh_add_hint() {
    let sb = Sandbox::new();
    let locked = keygen(&sb, "locked", "ed25519", "s3cret");
    let start = Instant::now();
    let err = sign_with(&sb, &seal_key("~/.ssh/locked"), None).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, SignError::NoAgent { .. }), "{err}");
    assert_eq!(
        err.hint().unwrap(),
        format!("eval \"$(ssh-agent -s)\" && ssh-add {}", locked.display())
    );
    // An agent that does not hold it: ssh-keygen would ask for the passphrase; it
    // is told not to, and fails at once.
    let agent = Agent::start(&sb);
    let start = Instant::now();
    let err = sign_with(&sb, &seal_key("~/.ssh/locked"), Some(&agent)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, SignError::NotInAgent { .. }), "{err}");
    assert_eq!(err.hint().unwrap(), format!("ssh-add {}", locked.display()));
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn a_key_literal_when_the_agent_is_gone_is_a_typed_error() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "k", "ed25519", "");
    let literal = seal_key(&format!("key::{}", public_of(&key)));
    let mut agent = Agent::start(&sb);
    let e = env(&sb, Some(&agent));
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    let _ = std::fs::remove_file(&agent.sock);
    let k = signing::resolve(&literal, &e).unwrap().unwrap();
    let err = signing::sign(&k, ALICE, MESSAGE).unwrap_err();
    assert!(matches!(err, SignError::NoAgent { .. }), "{err}");
    assert!(err.to_string().contains("is gone"), "{err}");
    // An agent that runs but lacks the key.
    let agent = Agent::start(&sb);
    let err = sign_with(&sb, &literal, Some(&agent)).unwrap_err();
    assert!(matches!(err, SignError::NotInAgent { .. }), "{err}");
    let bad = signing::resolve(&seal_key("key::ssh-ed25519 AAAAnope"), &e).unwrap_err();
    assert!(matches!(bad, SignError::BadLiteral { .. }), "{bad}");
}

/// Each allowed-signers case is decided here and by `ssh-keygen -Y verify
/// -Overify-time`, and both must agree.
#[test]
fn allowed_signers_decisions_agree_with_openssh() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "id_ed25519", "ed25519", "");
    let other = keygen(&sb, "other", "ed25519", "");
    let pk = public_of(&key);
    let op = public_of(&other);
    let sig = sign_with(&sb, &seal_key("~/.ssh/id_ed25519"), None).unwrap();
    let cases: &[(&str, String, &str, bool)] = &[
        ("exact", format!("{ALICE} {pk}"), "20260101Z", true),
        ("wildcard", format!("*@example.com {pk}"), "20260101Z", true),
        (
            "question mark",
            format!("alice@example.co? {pk}"),
            "20260101Z",
            true,
        ),
        (
            "list",
            format!("bob@example.com,{ALICE} {pk}"),
            "20260101Z",
            true,
        ),
        (
            "quoted list",
            format!("\"bob@example.com,{ALICE}\" {pk}"),
            "20260101Z",
            true,
        ),
        (
            "negated",
            format!("*@example.com,!{ALICE} {pk}"),
            "20260101Z",
            false,
        ),
        (
            "other principal",
            format!("bob@example.com {pk}"),
            "20260101Z",
            false,
        ),
        ("other key", format!("{ALICE} {op}"), "20260101Z", false),
        (
            "namespace",
            format!("{ALICE} namespaces=\"git-seal\" {pk}"),
            "20260101Z",
            true,
        ),
        (
            "namespace pattern",
            format!("{ALICE} namespaces=\"git*\" {pk}"),
            "20260101Z",
            true,
        ),
        (
            "other namespace",
            format!("{ALICE} namespaces=\"git\" {pk}"),
            "20260101Z",
            false,
        ),
        (
            "before expiry",
            format!("{ALICE} valid-before=\"20260601Z\" {pk}"),
            "20260101Z",
            true,
        ),
        (
            "after expiry",
            format!("{ALICE} valid-before=\"20260601Z\" {pk}"),
            "20260701Z",
            false,
        ),
        (
            "not yet valid",
            format!("{ALICE} valid-after=\"20260601Z\" {pk}"),
            "20260101Z",
            false,
        ),
        (
            "now valid",
            format!("{ALICE} valid-after=\"20260601Z\" {pk}"),
            "20260701Z",
            true,
        ),
        (
            "window",
            format!("{ALICE} valid-after=\"20250101\",valid-before=\"202701010000Z\" {pk}"),
            "20260101Z",
            true,
        ),
        (
            "second line",
            format!("# team\n\n{ALICE} {op}\n{ALICE} {pk}"),
            "20260101Z",
            true,
        ),
        (
            "expired then current",
            format!("{ALICE} valid-before=\"20250101Z\" {pk}\n{ALICE} {pk}"),
            "20260101Z",
            true,
        ),
        (
            "malformed first",
            format!("{ALICE} bogus {pk}\n{ALICE} {pk}"),
            "20260101Z",
            true,
        ),
        (
            "malformed only",
            format!("{ALICE} bogus {pk}"),
            "20260101Z",
            false,
        ),
        (
            "unterminated quote",
            format!("{ALICE} namespaces=\"git-seal {pk}"),
            "20260101Z",
            false,
        ),
        (
            "unknown option",
            format!("{ALICE} no-touch-required {pk}"),
            "20260101Z",
            false,
        ),
        (
            "valid-before not after valid-after",
            format!("{ALICE} valid-after=\"20260601Z\",valid-before=\"20250101Z\" {pk}"),
            "20260101Z",
            false,
        ),
        (
            "malformed other",
            format!("bob@x bogus {pk}\n{ALICE} {pk}"),
            "20260101Z",
            true,
        ),
        (
            "cert-authority only",
            format!("{ALICE} cert-authority {pk}"),
            "20260101Z",
            false,
        ),
        (
            "option case",
            format!("{ALICE} NAMESPACES=\"git-seal\" {pk}"),
            "20260101Z",
            true,
        ),
    ];
    for (name, allowed, at, trusted) in cases {
        let allowed = format!("{allowed}\n");
        let t = signing::allowed_signers::parse_time(at).unwrap();
        let verdict = policy(&allowed).verify(Some(&sig), MESSAGE, t);
        let openssh = openssh_verifies(
            &sb,
            &allowed,
            &sig.sig,
            MESSAGE,
            &[&format!("-Overify-time={at}")],
        );
        assert_eq!(
            openssh, *trusted,
            "{name}: ssh-keygen disagrees with the expectation"
        );
        assert_eq!(verdict.is_trusted(), *trusted, "{name}: {verdict}");
    }
}

#[test]
fn rotation_an_expired_key_verifies_old_seals_only_and_a_revoked_key_none() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "id_ed25519", "ed25519", "");
    let fp = fingerprint(&sb, &key);
    let sig = sign_with(&sb, &seal_key("~/.ssh/id_ed25519"), None).unwrap();
    let allowed = format!(
        "{ALICE} namespaces=\"git-seal\",valid-before=\"20260301Z\" {}\n",
        public_of(&key)
    );
    assert!(policy(&allowed)
        .verify(Some(&sig), MESSAGE, T2026)
        .is_trusted());
    let later = T2026 + 90 * 86_400;
    let expired = policy(&allowed).verify(Some(&sig), MESSAGE, later);
    assert_eq!(
        expired,
        Verdict::Expired {
            fingerprint: fp.clone(),
            principal: ALICE.into(),
            valid_before: 1_772_323_200
        }
    );
    assert_eq!(
        expired.to_string(),
        format!("key expired: {ALICE} with key {fp} is valid only before 2026-03-01T00:00:00Z")
    );
    // Revoked: in the revocation list, whatever the allowed signers say; ssh-keygen
    // -r agrees.
    let revoked = format!("# lost laptop\n{} old\n", public_of(&key));
    let p = Policy {
        allowed: AllowedSigners::parse(&allowed),
        revoked: Revocations::parse(revoked.as_bytes(), "revoked").unwrap(),
    };
    assert_eq!(
        p.verify(Some(&sig), MESSAGE, T2026),
        Verdict::Revoked {
            fingerprint: fp.clone()
        }
    );
    assert_eq!(
        p.verify(Some(&sig), MESSAGE, T2026).to_string(),
        format!("key revoked: {fp}")
    );
    let rev_path = sb.path().join("revoked");
    std::fs::write(&rev_path, &revoked).unwrap();
    assert!(openssh_verifies(
        &sb,
        &allowed,
        &sig.sig,
        MESSAGE,
        &["-Overify-time=20260101Z"]
    ));
    assert!(!openssh_verifies(
        &sb,
        &allowed,
        &sig.sig,
        MESSAGE,
        &["-Overify-time=20260101Z", "-r", rev_path.to_str().unwrap()]
    ));
    // A binary KRL is refused as unsupported, never read as "nothing revoked".
    let krl = sb.path().join("krl");
    let pubf = format!("{}.pub", key.display());
    run(
        &sb,
        "ssh-keygen",
        &["-k", "-f", krl.to_str().unwrap(), &pubf],
    )
    .ok();
    let err = Revocations::load(&krl).unwrap_err();
    assert!(err.to_string().contains("is a binary KRL"), "{err}");
}

#[test]
fn not_allowed_names_the_fingerprint_the_principal_and_why() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "id_ed25519", "ed25519", "");
    let fp = fingerprint(&sb, &key);
    let sig = sign_with(&sb, &seal_key("~/.ssh/id_ed25519"), None).unwrap();
    let v = policy(&format!("bob@example.com {}\n", public_of(&key))).verify(
        Some(&sig),
        MESSAGE,
        T2026,
    );
    assert_eq!(
        v.to_string(),
        format!("signer not allowed: {ALICE} with key {fp} (key listed only for bob@example.com)")
    );
    let v = policy("").verify(Some(&sig), MESSAGE, T2026);
    assert_eq!(
        v.to_string(),
        format!("signer not allowed: {ALICE} with key {fp} (key not in allowed signers)")
    );
    let v = policy(&format!("{ALICE} namespaces=\"git\" {}\n", public_of(&key))).verify(
        Some(&sig),
        MESSAGE,
        T2026,
    );
    assert!(
        matches!(
            v,
            Verdict::NotAllowed {
                why: NotAllowedWhy::Namespace { line: 1, .. },
                ..
            }
        ),
        "{v}"
    );
    // A signature claiming another principal for the same key is not trusted.
    let mut claims = sig.clone();
    claims.principal = "root@example.com".into();
    let p = policy(&format!("{ALICE} {}\n", public_of(&key)));
    assert!(!p.verify(Some(&claims), MESSAGE, T2026).is_trusted());
}

#[test]
fn cert_authority_trusts_certificates_for_their_principals_and_validity() {
    let sb = Sandbox::new();
    let ca = keygen(&sb, "ca", "ed25519", "");
    let user = keygen(&sb, "user", "ed25519", "");
    let pubf = format!("{}.pub", user.display());
    run(
        &sb,
        "ssh-keygen",
        &[
            "-q",
            "-s",
            ca.to_str().unwrap(),
            "-I",
            "alice",
            "-n",
            ALICE,
            "-V",
            "20250101Z:20270101Z",
            &pubf,
        ],
    )
    .ok();
    let cert = home(&sb).join(".ssh/user-cert.pub");
    // Signed by this module's ssh-keygen path, from the certificate file.
    let k = signing::resolve(&seal_key(cert.to_str().unwrap()), &env(&sb, None))
        .unwrap()
        .unwrap();
    let sig = signing::sign(&k, ALICE, MESSAGE).unwrap();
    let allowed = format!("*@example.com cert-authority {}\n", public_of(&ca));
    for (at, trusted) in [("20260101Z", true), ("20280101Z", false)] {
        let t = signing::allowed_signers::parse_time(at).unwrap();
        let v = policy(&allowed).verify(Some(&sig), MESSAGE, t);
        assert_eq!(v.is_trusted(), trusted, "{at}: {v}");
        assert_eq!(
            openssh_verifies(
                &sb,
                &allowed,
                &sig.sig,
                MESSAGE,
                &[&format!("-Overify-time={at}")]
            ),
            trusted
        );
    }
    // The certificate names alice only.
    let mut bob = sig.clone();
    bob.principal = "bob@example.com".into();
    assert!(matches!(
        policy(&allowed).verify(Some(&bob), MESSAGE, T2026),
        Verdict::NotAllowed {
            why: NotAllowedWhy::Certificate { .. },
            ..
        }
    ));
    // The user key itself is not the CA.
    let plain = format!("{ALICE} cert-authority {}\n", public_of(&user));
    assert!(!policy(&plain)
        .verify(Some(&sig), MESSAGE, T2026)
        .is_trusted());
    // Revoking the CA revokes what it certified.
    let p = Policy {
        allowed: AllowedSigners::parse(&allowed),
        revoked: Revocations::parse(public_of(&ca).as_bytes(), "revoked").unwrap(),
    };
    assert!(matches!(
        p.verify(Some(&sig), MESSAGE, T2026),
        Verdict::Revoked { .. }
    ));
}

#[test]
fn hostile_inputs_answer_quickly_with_typed_errors() {
    let sb = Sandbox::new();
    let key = keygen(&sb, "id_ed25519", "ed25519", "");
    let sig = sign_with(&sb, &seal_key("~/.ssh/id_ed25519"), None).unwrap();
    let allowed = format!("{ALICE} {}\n", public_of(&key));
    let p = policy(&allowed);
    let start = Instant::now();
    let bad = |armored: String| p.verify(Some(&Signature::new(ALICE, armored)), MESSAGE, T2026);
    let body: Vec<&str> = sig.sig.lines().collect();
    let truncated = body[..body.len() - 1].join("\n");
    let cut_body = format!(
        "{}\n{}\n{}\n",
        body[0],
        &body[1][..10],
        body[body.len() - 1]
    );
    let garbage =
        "-----BEGIN SSH SIGNATURE-----\n%%%%not base64%%%%\n-----END SSH SIGNATURE-----\n"
            .to_string();
    let huge = format!(
        "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
        "QUFB".repeat(1 << 20)
    );
    for (name, armored) in [
        ("truncated", truncated),
        ("cut", cut_body),
        ("garbage", garbage),
        ("huge", huge),
        ("empty", String::new()),
    ] {
        let v = bad(armored);
        assert!(matches!(v, Verdict::BadSignature { .. }), "{name}: {v}");
        assert!(!v.to_string().contains('\n'), "{name}: {v}");
    }
    let mut long = sig.clone();
    long.principal = "a".repeat(1 << 20);
    assert!(matches!(
        p.verify(Some(&long), MESSAGE, T2026),
        Verdict::BadSignature { .. }
    ));
    let mut foreign = sig.clone();
    foreign.format = "x509".into();
    assert!(matches!(
        p.verify(Some(&foreign), MESSAGE, T2026),
        Verdict::BadSignature { .. }
    ));
    // An allowed-signers file over the cap is refused, not read in part.
    let big = sb.path().join("big_allowed");
    std::fs::write(&big, allowed.repeat(20_000)).unwrap();
    let err = AllowedSigners::load(&big).unwrap_err();
    assert!(
        err.to_string().contains("over the 1048576-byte limit"),
        "{err}"
    );
    // A file of a hundred thousand near-miss wildcard lines is still linear.
    let many = format!(
        "{}{allowed}",
        format!("a*a*a*a*a*a*a*b {}\n", public_of(&key)).repeat(9_000)
    );
    let a = AllowedSigners::parse(&many);
    let mut aaa = sig.clone();
    aaa.principal = "a".repeat(1000);
    let _ = Policy {
        allowed: a,
        revoked: Revocations::default(),
    }
    .verify(Some(&aaa), MESSAGE, T2026);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_signature_field_serializes_as_the_brief_shows() {
    let sb = Sandbox::new();
    keygen(&sb, "id_ed25519", "ed25519", "");
    let sig = sign_with(&sb, &seal_key("~/.ssh/id_ed25519"), None).unwrap();
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Seal {
        digest: String,
        signature: Signature,
    }
    let seal = Seal {
        digest: "sha256:00".into(),
        signature: sig,
    };
    let yaml = serde_norway::to_string(&seal).unwrap();
    assert!(
        yaml.contains("signature:\n  format: sshsig\n  namespace: git-seal\n  principal: alice@example.com\n  sig: |\n    -----BEGIN SSH SIGNATURE-----\n"),
        "{yaml}"
    );
    let back: Seal = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(back, seal);
}

#[test]
fn the_native_agent_client_signs_with_held_keys_and_reports_refusals() {
    use ssh_encoding::Encode;
    let sb = Sandbox::new();
    let held = keygen(&sb, "held", "ed25519", "");
    let other = keygen(&sb, "other", "ed25519", "");
    let agent = Agent::start(&sb);
    agent.add(&sb, &held, "");
    let blob = |k: &Path| {
        let key = ssh_key::PublicKey::from_openssh(&public_of(k)).unwrap();
        let mut v = Vec::new();
        key.key_data().encode(&mut v).unwrap();
        (key, v)
    };
    let data = ssh_key::SshSig::signed_data("git-seal", ssh_key::HashAlg::Sha512, MESSAGE).unwrap();
    let (key, b) = blob(&held);
    let sig = signing::agent::sign(&agent.sock, &b, &data, false).unwrap();
    let sig = ssh_key::Signature::try_from(sig.as_slice()).unwrap();
    let armored = ssh_key::SshSig::new(
        key.key_data().clone(),
        "git-seal",
        ssh_key::HashAlg::Sha512,
        sig,
    )
    .unwrap()
    .to_pem(ssh_key::LineEnding::LF)
    .unwrap();
    let allowed = format!("{ALICE} {}\n", public_of(&held));
    assert!(openssh_verifies(&sb, &allowed, &armored, MESSAGE, &[]));
    let (_, b) = blob(&other);
    assert!(matches!(
        signing::agent::sign(&agent.sock, &b, &data, false),
        Err(signing::agent::AgentError::Refused)
    ));
    // Not a socket: an error, quickly, and never a hang.
    let not_sock = sb.path().join("not-a-socket");
    std::fs::write(&not_sock, "").unwrap();
    assert!(matches!(
        signing::agent::sign(&not_sock, &b, &data, false),
        Err(signing::agent::AgentError::Io(_))
    ));
}
