//! Signed seals end to end (issue 11): the hooks and commands sign with the key git
//! signs commits with, verify and the gates judge signatures against allowed-signers
//! files, countersigns carry the two-person rule, and trust decides between seals.
//! Real keys from ssh-keygen in the sandbox HOME, a real ssh-agent, real remotes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{assert_has, run_with_stdin, Run, Sandbox, TestRepo};
use crate::signing::{keygen, public_of, Agent};

/// The principal every seal in the sandbox signs as by default: the committer's
/// email (the harness sets `GIT_COMMITTER_EMAIL`).
const CY: &str = "cy@example.com";

/// A fresh ed25519 key file `~/.ssh/<name>` without a passphrase.
fn key(sb: &Sandbox, name: &str) -> PathBuf {
    keygen(sb, name, "ed25519", "")
}

/// Signs with git's own SSH signing configuration, as `git commit -S` would.
fn use_git_signing_key(repo: &TestRepo<'_>, name: &str) {
    repo.git(&["config", "gpg.format", "ssh"]).ok();
    repo.git(&["config", "user.signingKey", &format!("~/.ssh/{name}")])
        .ok();
}

/// Writes an allowed-signers file at `~/<file>` and names it in `repo`'s config.
fn allow(sb: &Sandbox, repo: &TestRepo<'_>, file: &str, lines: &[String]) -> PathBuf {
    let path = sb.path().join("home").join(file);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    repo.git(&[
        "config",
        "gpg.ssh.allowedSignersFile",
        path.to_str().unwrap(),
    ])
    .ok();
    path
}

fn line(principal: &str, key: &Path) -> String {
    format!("{principal} namespaces=\"git-seal\" {}", public_of(key))
}

fn fingerprint(sb: &Sandbox, key: &Path) -> String {
    let mut cmd = sb.command("ssh-keygen", sb.path());
    cmd.arg("-lf").arg(key);
    let out = Run {
        out: cmd.output().unwrap(),
    }
    .ok()
    .stdout();
    out.split_whitespace().nth(1).unwrap().to_string()
}

/// Python (stdlib json + PyYAML) extracts from a note: the canonical JSON its digest
/// is over, the armored signature, and the principal.
const EXTRACT: &str = r#"
import json, sys, yaml
class L(yaml.SafeLoader): pass
L.yaml_implicit_resolvers = {k: [(t, r) for t, r in v if t.rsplit(":", 1)[1] not in ("bool", "timestamp", "float")] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
seal = yaml.load(sys.stdin.read(), Loader=L)
sig = seal.pop("signature")
seal.pop("digest")
out = sys.argv[1]
open(out + "/canonical.json", "w").write(json.dumps(seal, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
open(out + "/seal.sig", "w").write(sig["sig"])
print(sig["principal"])
"#;

/// `ssh-keygen -Y verify` over what Python extracted from `note`; its exit code.
fn openssh_verify(sb: &Sandbox, repo: &TestRepo<'_>, note: &str, allowed: &Path) -> i32 {
    let dir = tempfile::tempdir_in(sb.path()).unwrap();
    let d = dir.path().to_str().unwrap();
    let principal = run_with_stdin(repo.cmd("python3", &["-c", EXTRACT, d]), note.as_bytes())
        .ok()
        .stdout();
    let canonical = std::fs::read(dir.path().join("canonical.json")).unwrap();
    let mut cmd = repo.cmd("ssh-keygen", &["-Y", "verify", "-f"]);
    cmd.arg(allowed)
        .args(["-I", principal.trim(), "-n", "git-seal", "-s"])
        .arg(dir.path().join("seal.sig"));
    run_with_stdin(cmd, &canonical).code()
}

#[test]
fn a_signed_seal_checks_with_ssh_keygen_alone_and_a_tampered_field_fails_both() {
    let sb = Sandbox::new();
    let alice = key(&sb, "alice");
    let repo = sb.installed("repo");
    use_git_signing_key(&repo, "alice");
    let allowed = allow(&sb, &repo, "allowed_signers", &[line(CY, &alice)]);
    repo.commit_file("a.txt", "one\n", "first");
    let note = repo.note("HEAD").unwrap();
    assert_has(
        &note,
        "signature:\n  format: sshsig\n  namespace: git-seal\n",
    );
    assert_has(&note, "  sig: |\n    -----BEGIN SSH SIGNATURE-----\n");
    assert_has(&note, format!("  principal: {CY}\n"));
    assert_eq!(openssh_verify(&sb, &repo, &note, &allowed), 0, "{note}");
    repo.seal(&["verify"])
        .ok()
        .stdout_has("signatures: 1 trusted");
    repo.seal(&["show"]).ok().stdout_has(format!(
        "# signature: signed by {CY} ({})",
        fingerprint(&sb, &alice)
    ));
    let status = repo.seal(&["status"]).ok().stdout();
    assert_has(&status, "signing key: user.signingKey = key file");
    assert_has(&status, fingerprint(&sb, &alice));
    assert_has(&status, "(gpg.ssh.allowedSignersFile;");

    // A tag seal is signed the same way.
    repo.git(&["tag", "-a", "-m", "v1", "v1"]).ok();
    let tags = repo.git_out(&["ls-tree", "-r", "--name-only", "refs/notes/seal", "tags/v1"]);
    let tag_seal = repo.git_out(&["show", &format!("refs/notes/seal:{}", tags.trim())]);
    assert_has(&tag_seal, "signature:\n  format: sshsig\n");

    // Tampered: the sealer's name changed and the digest recomputed, as an attacker
    // who knows the format would (the signature cannot be).
    let tampered = note.replace(
        "sealed_by:\n  name: Cy Committer",
        "sealed_by:\n  name: Eve",
    );
    let fix_digest = r#"
import hashlib, json, sys, yaml
class L(yaml.SafeLoader): pass
L.yaml_implicit_resolvers = {k: [(t, r) for t, r in v if t.rsplit(":", 1)[1] not in ("bool", "timestamp", "float")] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
text = sys.stdin.read()
seal = yaml.load(text, Loader=L)
old = seal.pop("digest"); seal.pop("signature")
c = json.dumps(seal, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
print(text.replace(old, "sha256:" + hashlib.sha256(c.encode()).hexdigest()), end="")
"#;
    let tampered = run_with_stdin(
        repo.cmd("python3", &["-c", fix_digest]),
        tampered.as_bytes(),
    )
    .ok()
    .stdout();
    assert_ne!(tampered, note);
    repo.tamper_seal("HEAD", |_| tampered.clone());
    assert_ne!(openssh_verify(&sb, &repo, &tampered, &allowed), 0);
    let r = repo.seal(&["verify"]).fails_with(1);
    r.stdout_has("first: bad signature:");
}

#[test]
fn signing_with_a_key_only_in_ssh_agent_and_with_a_key_literal() {
    let sb = Sandbox::new();
    let held = key(&sb, "held");
    let agent = Agent::start(&sb);
    agent.add(&sb, &held, "");
    // Only the agent holds it now: the private key file is gone.
    std::fs::remove_file(&held).unwrap();
    let repo = sb.installed("repo");
    repo.git(&["config", "gpg.format", "ssh"]).ok();
    repo.git(&["config", "user.signingKey", "~/.ssh/held.pub"])
        .ok();
    allow(&sb, &repo, "allowed", &[line(CY, &held)]);
    let with_agent = |args: &[&str]| {
        let mut c = repo.cmd("git", args);
        c.env("SSH_AUTH_SOCK", &agent.sock);
        Run {
            out: c.output().unwrap(),
        }
    };
    repo.write("a", "1");
    repo.git(&["add", "a"]).ok();
    with_agent(&["commit", "-q", "-m", "by agent"]).ok();
    repo.seal(&["verify"])
        .ok()
        .stdout_has("signatures: 1 trusted");

    // A key:: literal, its private half in the agent.
    let literal = format!("key::{}", public_of(&held));
    repo.git(&["config", "user.signingKey", &literal]).ok();
    repo.write("a", "2");
    repo.git(&["add", "a"]).ok();
    with_agent(&["commit", "-q", "-m", "by literal"]).ok();
    repo.seal(&["verify", "HEAD~1..HEAD"])
        .ok()
        .stdout_has("signatures: 1 trusted");
    let status = {
        let mut c = repo.cmd(env!("CARGO_BIN_EXE_git-seal"), &["status"]);
        c.env("SSH_AUTH_SOCK", &agent.sock);
        Run {
            out: c.output().unwrap(),
        }
    };
    status.ok().stdout_has("key:: literal (in ssh-agent)");

    // The agent gone: the commit is still made and sealed, unsigned, with a warning
    // and a PARTIAL record; never a failed commit.
    repo.write("a", "3");
    repo.git(&["add", "a"]).ok();
    let r = repo.git(&["commit", "-q", "-m", "agent gone"]).ok();
    r.stderr_has("warning: git-seal (post-commit): sealed, but unsigned:");
    assert!(!repo.note("HEAD").unwrap().contains("signature:"));
    let log = repo
        .seal(&["log", "--status", "PARTIAL", "--json"])
        .ok()
        .stdout();
    assert_has(&log, "unsigned");
    // Unsigned is a problem only where policy asks for signatures.
    repo.seal(&["verify"]).ok();
    repo.git(&["config", "seal.requireSigned", "true"]).ok();
    repo.seal(&["verify"])
        .fails_with(1)
        .stdout_has("agent gone: not signed by an allowed signer: unsigned");
}

/// A bare server with the gate, requiring signatures by its own allowed signers.
fn signed_server<'s>(sb: &'s Sandbox, allowed: &[String]) -> TestRepo<'s> {
    let server = sb.bare("server.git");
    server.seal(&["install", "--server"]).ok();
    let file = sb.path().join("server_allowed_signers");
    std::fs::write(&file, allowed.join("\n") + "\n").unwrap();
    server
        .git(&["config", "seal.allowedSignersFile", file.to_str().unwrap()])
        .ok();
    server
}

fn clone<'s>(sb: &'s Sandbox, server: &TestRepo<'_>, name: &str) -> TestRepo<'s> {
    let repo = sb.clone(server.path.to_str().unwrap(), name);
    repo.git(&["config", "user.name", "Sam Sealer"]).ok();
    repo.git(&["config", "user.email", "sam@example.com"]).ok();
    repo.install();
    repo
}

#[test]
fn a_server_requiring_signatures_refuses_unsigned_and_unknown_keys_even_past_no_verify() {
    let sb = Sandbox::new();
    let alice = key(&sb, "alice");
    let mallory = key(&sb, "mallory");
    let server = signed_server(&sb, &[line(CY, &alice)]);
    server.git(&["config", "seal.requireSigned", "true"]).ok();
    let client = clone(&sb, &server, "client");

    // Unsigned: refused, with and without the client's gate.
    let unsigned = client.commit_file("a", "1", "unsigned");
    for args in [
        vec!["push", "-q", "origin", "main"],
        vec!["push", "-q", "--no-verify", "origin", "main"],
    ] {
        let r = client.git(&args).fails_with(1);
        r.stderr_has(format!(
            "remote:   {} unsigned: not signed by an allowed signer: unsigned",
            &unsigned[..7]
        ));
    }
    assert!(server.git(&["rev-parse", "-q", "--verify", "main"]).code() != 0);

    // Signed by a key the server does not list: refused, naming key and principal.
    client.git(&["reset", "-q", "--hard", "HEAD"]).ok();
    use_git_signing_key(&client, "mallory");
    client
        .git(&["commit", "-q", "--amend", "-m", "by mallory"])
        .ok();
    let r = client.git(&["push", "-q", "origin", "+main"]).fails_with(1);
    r.stderr_has(format!(
        "not signed by an allowed signer: signer not allowed: {CY} with key {} (key not in allowed signers)",
        fingerprint(&sb, &mallory)
    ));

    // Signed by the allowed key: accepted.
    use_git_signing_key(&client, "alice");
    client
        .git(&["commit", "-q", "--amend", "-m", "by alice"])
        .ok();
    client.git(&["push", "-q", "origin", "+main"]).ok();
    assert_eq!(server.rev("main"), client.rev("HEAD"));
}

#[test]
fn two_person_rule_a_review_countersign_by_a_second_clone_lets_main_move() {
    let sb = Sandbox::new();
    let alice = key(&sb, "alice");
    let bob = key(&sb, "bob");
    let server = signed_server(
        &sb,
        &[
            line("alice@example.com", &alice),
            line("bob@example.com", &bob),
        ],
    );
    let a = clone(&sb, &server, "alice");
    use_git_signing_key(&a, "alice");
    a.git(&["config", "seal.signingPrincipal", "alice@example.com"])
        .ok();
    a.commit_file("a", "1", "base");
    a.git(&["push", "-q", "origin", "main"]).ok();
    // From now on main needs one review countersign; other branches do not.
    server
        .git(&[
            "config",
            "seal.refs/heads/main.requireCountersign",
            "review:1",
        ])
        .ok();

    a.git(&["checkout", "-q", "-b", "feature"]).ok();
    let tip = a.commit_file("a", "2", "feature work");
    a.git(&["push", "-q", "origin", "feature"]).ok();
    // Landing it on main is refused: no review countersign covers it.
    let r = a
        .git(&["push", "-q", "origin", "feature:main"])
        .fails_with(1);
    r.stderr_has(format!(
        "remote:   {} feature work: needs 1 review countersign(s) by distinct allowed signers, has 0",
        &tip[..7]
    ));
    let err = r.stderr();
    let hint = err
        .lines()
        .find_map(|l| {
            l.split_once("then pushes the ledger: ")
                .map(|(_, c)| c.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no countersign hint in:\n{err}"));
    assert_eq!(
        hint,
        format!("git seal countersign {tip} --role review && git seal push origin")
    );
    assert_ne!(server.rev("main"), tip);
    // Alice vouching for her own seal is not a second person.
    a.seal(&["countersign", &tip, "--role", "review"]).ok();
    a.seal(&["push", "origin"]).ok();
    a.git(&["push", "-q", "origin", "feature:main"])
        .fails_with(1)
        .stderr_has("needs 1 review countersign(s) by distinct allowed signers, has 0");

    // Bob, in his own clone with his own key, runs the hint as printed.
    let b = clone(&sb, &server, "bob");
    use_git_signing_key(&b, "bob");
    b.git(&["config", "seal.signingPrincipal", "bob@example.com"])
        .ok();
    b.git(&["fetch", "-q", "origin"]).ok();
    b.seal(&["fetch", "origin"]).ok();
    let mut sh = b.cmd("sh", &["-c", &hint]);
    sh.env("PATH", path_with_seal());
    Run {
        out: sh.output().unwrap(),
    }
    .ok();

    // Now main moves, and verify reports what vouches for it.
    a.git(&["push", "-q", "origin", "feature:main"]).ok();
    assert_eq!(server.rev("main"), tip);
    a.git(&["fetch", "-q", "origin"]).ok();
    a.seal(&["fetch", "origin"]).ok();
    let allowed = sb.path().join("server_allowed_signers");
    a.git(&[
        "config",
        "seal.allowedSignersFile",
        allowed.to_str().unwrap(),
    ])
    .ok();
    a.seal(&["verify", "origin/main"]).ok().stdout_has(format!(
        "origin/main: 2 commit(s), covered by review countersign of {} by bob@example.com",
        &tip[..7]
    ));
    // The same, as values: no sentence to parse.
    let doc: serde_json::Value =
        serde_json::from_str(&a.seal(&["verify", "origin/main", "--json"]).ok().stdout()).unwrap();
    assert_eq!(doc["schema"], "git-seal/verify/v2");
    assert_eq!(
        doc["coverage"],
        serde_json::json!([{
            "rev": "origin/main",
            "tip": tip,
            "commits": 2,
            "signed_by": "alice@example.com",
            "countersigns": [{"role": "review", "by": ["bob@example.com"]}],
        }])
    );
    let signature = doc["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["commit"] == tip.as_str())
        .unwrap();
    assert_eq!(signature["verdict"], "trusted");
    assert_eq!(signature["trusted"], true);
    assert_eq!(signature["principal"], "alice@example.com");
    assert!(signature["key"].as_str().unwrap().starts_with("SHA256:"));
    a.seal(&["show", &tip])
        .ok()
        .stdout_has("# countersign review at ");
}

fn path_with_seal() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_git-seal")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn countersign_needs_a_signing_key_and_a_seal_that_verifies() {
    let sb = Sandbox::new();
    let repo = sb.installed("repo");
    repo.commit_file("a", "1", "first");
    let r = repo
        .seal(&["countersign", "HEAD", "--role", "review"])
        .fails_with(2);
    r.stderr_has("error: cannot countersign: no signing key is configured");
    r.stderr_has("hint: git config gpg.format ssh && git config user.signingKey ~/.ssh/id_ed25519");
    key(&sb, "k");
    use_git_signing_key(&repo, "k");
    let bad = repo.commit_unsealed("b", "unsealed");
    let r = repo
        .seal(&["countersign", &bad, "--role", "review"])
        .fails_with(1);
    r.stderr_has("nothing countersigned: 1 seal(s) do not verify");
    repo.seal(&["countersign", "HEAD~1", "--role", "ci", "-m", "green"])
        .ok()
        .stdout_has("countersigned");
    let files = repo.git_out(&["ls-tree", "-r", "--name-only", "refs/notes/seal"]);
    assert!(
        files
            .lines()
            .any(|l| l.starts_with("countersigns/") && l.ends_with(".yaml")),
        "{files}"
    );
    repo.seal(&["verify", "HEAD~1"]).ok();
}

/// Seconds since the epoch, as the machine's clock says (seals are dated by it).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYYMMDDHHMMSSZ` for allowed-signers validity options.
fn stamp(t: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y%m%d%H%M%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn rotation_an_expired_key_still_vouches_for_old_seals_not_new_ones_and_revoked_is_refused() {
    let sb = Sandbox::new();
    let old = key(&sb, "old");
    let repo = sb.installed("repo");
    use_git_signing_key(&repo, "old");
    let before = repo.commit_file("a", "1", "before rotation");
    // The old key is valid only until one second after that seal.
    let sealed_at = now();
    let until = sealed_at + 1;
    while now() <= until {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let file = allow(
        &sb,
        &repo,
        "allowed",
        &[format!(
            "{CY} namespaces=\"git-seal\",valid-before=\"{}\" {}",
            stamp(until),
            public_of(&old)
        )],
    );
    repo.git(&["config", "seal.requireSigned", "true"]).ok();
    let after = repo.commit_file("a", "2", "after rotation");
    repo.seal(&["verify", &before]).ok();
    let r = repo.seal(&["verify", &after]).fails_with(1);
    r.stdout_has(format!(
        "{} after rotation: not signed by an allowed signer: key expired: {CY} with key {}",
        &after[..7],
        fingerprint(&sb, &old)
    ));
    // Revoked: refused whatever the dates.
    let revoked = sb.path().join("home").join("revoked");
    std::fs::write(&revoked, public_of(&old) + "\n").unwrap();
    repo.git(&[
        "config",
        "gpg.ssh.revocationFile",
        revoked.to_str().unwrap(),
    ])
    .ok();
    repo.seal(&["verify", &before])
        .fails_with(1)
        .stdout_has(format!("key revoked: {}", fingerprint(&sb, &old)));
    drop(file);
}

#[test]
fn a_forged_unsigned_seal_fetched_from_a_remote_never_displaces_a_signed_one() {
    let sb = Sandbox::new();
    let alice = key(&sb, "alice");
    let honest = sb.bare("honest.git");
    let evil = sb.bare("evil.git");
    let author = clone(&sb, &honest, "author");
    use_git_signing_key(&author, "alice");
    let c = author.commit_file("a", "1", "real");
    author.git(&["push", "-q", "origin", "main"]).ok();

    // Mallory copies the history, drops the ledger and seals the same commit herself,
    // unsigned, with her name in it: a valid seal by content.
    let m = clone(&sb, &honest, "mallory");
    // (install fetched the honest ledger too: both copies go.)
    m.git(&["update-ref", "-d", "refs/notes/seal"]).ok();
    m.git(&["update-ref", "-d", "refs/seal/remotes/origin/seal"])
        .ok();
    let mut seal = m.cmd(env!("CARGO_BIN_EXE_git-seal"), &["seal", &c]);
    seal.env("GIT_COMMITTER_NAME", "Mallory");
    Run {
        out: seal.output().unwrap(),
    }
    .ok();
    let forged = m.note(&c).unwrap();
    assert!(forged.contains("Mallory") && !forged.contains("signature:"));
    m.git(&[
        "push",
        "-q",
        "--no-verify",
        evil.path.to_str().unwrap(),
        "main",
        "refs/notes/seal",
    ])
    .ok();

    // The author fetches Mallory's ledger: both seals kept, the signed one used.
    author
        .git(&["remote", "add", "evil", evil.path.to_str().unwrap()])
        .ok();
    author.git(&["fetch", "-q", "evil"]).ok();
    author.seal(&["fetch", "evil"]).ok();
    allow(&sb, &author, "allowed", &[line(CY, &alice)]);
    author.git(&["config", "seal.requireSigned", "true"]).ok();
    author
        .seal(&["verify", &c])
        .ok()
        .stdout_has("signatures: 1 trusted");

    // Worse: a clone that got Mallory's seal first (its note), the signed one later.
    let victim = clone(&sb, &evil, "victim");
    victim.git(&["fetch", "-q", "origin"]).ok();
    victim.seal(&["fetch", "origin"]).ok();
    assert_has(&victim.note(&c).unwrap(), "Mallory");
    victim
        .git(&["remote", "add", "honest", honest.path.to_str().unwrap()])
        .ok();
    victim.git(&["fetch", "-q", "honest"]).ok();
    victim.seal(&["fetch", "honest"]).ok();
    allow(&sb, &victim, "allowed", &[line(CY, &alice)]);
    victim.git(&["config", "seal.requireSigned", "true"]).ok();
    victim
        .seal(&["verify", &c])
        .ok()
        .stdout_has("signatures: 1 trusted");
    let show = victim.seal(&["show", &c]).ok().stdout();
    assert_has(&show, "# signature: signed by cy@example.com");
    assert_has(&show, "# chosen from 2 valid seals");
    assert!(!show.contains("Mallory"), "{show}");
    // Both are kept: the forged one is still the note, the signed one beside it.
    assert_has(&victim.note(&c).unwrap(), "Mallory");
    let alternates = victim.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        "alternates",
    ]);
    assert!(alternates.contains(&c), "{alternates}");
}
