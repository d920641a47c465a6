//! Trust that travels with the repository (brief §2.7): `.seal/allowed_signers` in
//! the tree, a root pinned once with `git seal trust --root`, and each change to the
//! policy counting only when a signer its parent's policy allows seals it. Real keys
//! from `ssh-keygen` in the sandbox's HOME; seals signed by the hooks.

use std::path::PathBuf;

use crate::harness::{Run, Sandbox, TestRepo};

/// A key made by `ssh-keygen` in the sandbox's HOME.
struct Key {
    path: PathBuf,
    public: String,
    fingerprint: String,
    principal: String,
}

impl Key {
    /// Its allowed-signers line.
    fn line(&self) -> String {
        format!(
            "{} namespaces=\"git-seal\" {}\n",
            self.principal, self.public
        )
    }
}

fn run(sb: &Sandbox, program: &str, args: &[&str]) -> Run {
    let mut cmd = sb.command(program, sb.path());
    cmd.args(args);
    Run {
        out: cmd.output().expect("spawn"),
    }
}

fn keygen(sb: &Sandbox, name: &str) -> Key {
    let dir = sb.path().join("home/.ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    run(
        sb,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p],
    )
    .ok();
    let text = std::fs::read_to_string(format!("{p}.pub")).unwrap();
    let mut it = text.split_whitespace();
    let public = format!("{} {}", it.next().unwrap(), it.next().unwrap());
    let listed = run(sb, "ssh-keygen", &["-l", "-f", &format!("{p}.pub")])
        .ok()
        .stdout();
    let fingerprint = listed.split_whitespace().nth(1).unwrap().to_string();
    Key {
        path,
        public,
        fingerprint,
        principal: format!("{name}@example.com"),
    }
}

/// Seals made in `repo` from now on are signed with `key`.
fn sign_as(repo: &TestRepo<'_>, key: &Key) {
    repo.git(&["config", "seal.signingKey", key.path.to_str().unwrap()])
        .ok();
    repo.git(&["config", "seal.signingPrincipal", &key.principal])
        .ok();
}

/// A maintainer's repository: a base commit, then the policy (alice alone) as the
/// root, then work; pushed with its ledger to a gated server. Returns (maintainer,
/// server, root).
fn project<'s>(sb: &'s Sandbox, alice: &Key) -> (TestRepo<'s>, TestRepo<'s>, String) {
    let server = sb.bare("server.git");
    server.seal(&["install", "--server"]).ok();
    let origin = sb.installed("origin");
    sign_as(&origin, alice);
    origin.commit_file("a", "1\n", "base");
    let root = origin.commit_file(".seal/allowed_signers", &alice.line(), "trust: alice");
    origin.commit_file("b", "2\n", "work");
    origin
        .git(&["remote", "add", "origin", "../server.git"])
        .ok();
    origin.git(&["push", "-q", "origin", "main"]).ok();
    // The server adopts the policy once the history before it is there.
    server.git(&["config", "seal.trustRoot", &root]).ok();
    server.git(&["config", "seal.requireSigned", "true"]).ok();
    (origin, server, root)
}

/// A fresh clone of the server with git-seal installed and the ledger fetched.
fn fresh<'s>(sb: &'s Sandbox, name: &str) -> TestRepo<'s> {
    let clone = sb.clone("server.git", name);
    clone.install();
    clone.seal(&["fetch"]).ok();
    clone
}

fn short(id: &str) -> &str {
    &id[..7]
}

#[test]
fn a_fresh_clone_pins_its_root_and_verifies_with_no_allowed_signers_file() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let (_origin, _server, root) = project(&sb, &alice);
    let clone = sb.clone("server.git", "fresh");
    // First use: install offers the root as SSH shows an unknown host key, without
    // asking (stdin is not a terminal) and without pinning anything.
    let install = clone.seal(&["install"]).ok();
    install.stdout_has("no trust root is pinned");
    install.stdout_has(format!("{} {}", alice.principal, alice.fingerprint));
    let command = format!("git seal trust --root {root}");
    install.stdout_has(&command);
    clone
        .git(&["config", "--get", "seal.trustRoot"])
        .fails_with(1);
    clone.seal(&["fetch"]).ok();
    // The printed command works when pasted.
    let pinned = clone.seal(&["trust", "--root", &root]).ok();
    pinned.stdout_has(format!("pinned seal.trustRoot = {root}"));
    pinned.stdout_has(&alice.fingerprint);
    assert_eq!(clone.git_out(&["config", "seal.trustRoot"]), root);
    clone
        .git(&["config", "--get", "seal.allowedSignersFile"])
        .fails_with(1);
    let show = clone.seal(&["trust", "--show"]).ok();
    show.stdout_has(format!("trust root: {root}"));
    show.stdout_has(&alice.fingerprint);
    clone.seal(&["status"]).ok().stdout_has(format!(
        ".seal/allowed_signers in the repository, trusted from root {}",
        short(&root)
    ));
    // Signatures count now: with signatures required, every commit since the root
    // verifies against the in-repo policy alone.
    clone.git(&["config", "seal.requireSigned", "true"]).ok();
    let range = format!("{root}^..HEAD");
    clone
        .seal(&["verify", &range])
        .ok()
        .stdout_has("ok: 2 commit(s)");
    // Installing again offers nothing more.
    let again = clone.seal(&["install"]).ok();
    assert!(
        !again.stdout().contains("no trust root"),
        "{}",
        again.stdout()
    );
}

#[test]
fn an_attacker_who_adds_their_key_to_the_policy_fails_verify_and_the_gate() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let mallory = keygen(&sb, "mallory");
    let (_origin, server, root) = project(&sb, &alice);
    let attacker = fresh(&sb, "attacker");
    attacker.seal(&["trust", "--root", &root]).ok();
    sign_as(&attacker, &mallory);
    let policy = format!("{}{}", alice.line(), mallory.line());
    let bad = attacker.commit_file(".seal/allowed_signers", &policy, "trust: add mallory");
    let parent = attacker.rev("HEAD^");
    // Sealed and signed, by a key the parent's policy does not list: verify fails,
    // naming the commit and the key, with no signature policy configured at all.
    let r = attacker.seal(&["verify"]).fails_with(1);
    r.stdout_has(format!(
        "{} trust: add mallory: changes .seal/ without a signature its parent's policy allows (policy of {})",
        short(&bad),
        short(&parent)
    ));
    r.stdout_has(format!(
        "signer not allowed: {} with key {}",
        mallory.principal, mallory.fingerprint
    ));
    r.stderr_has(format!(
        "hint: see who sealed it: git seal show {}",
        short(&bad)
    ));
    // Her change never takes effect: her next commit is still judged by alice's
    // policy, and the violation stays on the line from the root.
    attacker.commit_file("c", "3\n", "more");
    attacker
        .seal(&["verify"])
        .fails_with(1)
        .stdout_has(short(&bad));
    let show = attacker.seal(&["trust", "--show"]).fails_with(1);
    let listed_mallory = show
        .stdout()
        .lines()
        .any(|l| l.starts_with("    ") && l.contains(&mallory.fingerprint));
    assert!(!listed_mallory, "{}", show.stdout());
    // The gated server, which requires signatures, refuses the branch even with the
    // ledger there first.
    attacker
        .git(&["push", "-q", "--no-verify", "origin", "refs/notes/seal"])
        .ok();
    let before = server.rev("main");
    let push = attacker.git(&["push", "--no-verify", "origin", "main"]);
    assert_ne!(push.code(), 0, "the server accepted:\n{}", push.stderr());
    push.stderr_has(short(&bad));
    push.stderr_has(&mallory.fingerprint);
    assert_eq!(server.rev("main"), before);
}

#[test]
fn a_rotation_signed_by_a_key_the_parent_allows_passes_verify_and_the_gate() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let bob = keygen(&sb, "bob");
    let (origin, server, root) = project(&sb, &alice);
    // Alice hands over to bob: his key in, hers out, in one commit she signs.
    origin.commit_file(
        ".seal/allowed_signers",
        &bob.line(),
        "trust: bob replaces alice",
    );
    sign_as(&origin, &bob);
    let by_bob = origin.commit_file("d", "4\n", "bob's first");
    origin.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), by_bob);
    let clone = fresh(&sb, "fresh");
    clone.seal(&["trust", "--root", &root]).ok();
    clone.git(&["config", "seal.requireSigned", "true"]).ok();
    clone
        .seal(&["verify", &format!("{root}^..HEAD")])
        .ok()
        .stdout_has("ok: 4 commit(s)");
    let show = clone.seal(&["trust", "--show"]).ok();
    show.stdout_has(&bob.fingerprint);
    assert!(
        !show.stdout().contains(&alice.fingerprint),
        "{}",
        show.stdout()
    );
    // Alice's key no longer counts for new seals.
    sign_as(&clone, &alice);
    clone.commit_file("e", "5\n", "alice after rotation");
    clone
        .seal(&["verify"])
        .fails_with(1)
        .stdout_has(&alice.fingerprint);
}

#[test]
fn a_configured_allowed_signers_file_takes_precedence_over_the_in_repo_policy() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let mallory = keygen(&sb, "mallory");
    let (_origin, _server, root) = project(&sb, &alice);
    let clone = fresh(&sb, "fresh");
    clone.seal(&["trust", "--root", &root]).ok();
    sign_as(&clone, &mallory);
    let policy = format!("{}{}", alice.line(), mallory.line());
    clone.commit_file(".seal/allowed_signers", &policy, "trust: add mallory");
    clone.seal(&["verify"]).fails_with(1);
    // This clone's own file lists mallory: it is the policy in force, and the
    // in-repo chain is not consulted.
    let file = sb.path().join("home/allowed_signers");
    std::fs::write(&file, mallory.line()).unwrap();
    clone
        .git(&["config", "seal.allowedSignersFile", file.to_str().unwrap()])
        .ok();
    clone.seal(&["verify"]).ok();
    clone
        .seal(&["trust", "--show"])
        .ok()
        .stdout_has("(seal.allowedSignersFile), which takes precedence over the in-repo policy");
    clone
        .seal(&["status"])
        .ok()
        .stdout_has("(seal.allowedSignersFile; takes precedence over an in-repo policy)");
}

#[test]
fn hostile_policy_files_are_bounded_and_reported_never_a_panic() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let (origin, _server, root) = project(&sb, &alice);
    origin.seal(&["trust", "--root", &root]).ok();
    let huge = format!("{}{}", alice.line(), "#".repeat(2 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "huge",
            huge.clone().into_bytes(),
            format!(
                ".seal/allowed_signers is {} bytes, over the 1048576-byte limit",
                huge.len()
            ),
        ),
        (
            "binary",
            vec![0xff, 0xfe, 0, 1, 2, 0x80],
            ".seal/allowed_signers is not UTF-8 text".into(),
        ),
        (
            "junk",
            "x".repeat(200_000).into_bytes(),
            ".seal/allowed_signers has no usable line (line 1:".into(),
        ),
    ];
    for (name, content, said) in cases {
        origin.git(&["checkout", "-q", "-B", name, &root]).ok();
        let path = origin.path.join(".seal/allowed_signers");
        std::fs::write(&path, &content).unwrap();
        origin.git(&["add", "-A"]).ok();
        origin.git(&["commit", "-q", "-m", name]).ok();
        let bad = origin.rev("HEAD");
        // Alice may change the policy; the file she brings cannot be used, so hers
        // stays in force.
        let started = std::time::Instant::now();
        let r = origin.seal(&["verify"]).fails_with(1);
        assert!(started.elapsed().as_secs() < 20, "{name}: too slow");
        r.stdout_has(format!(
            "{} {name}: unusable trust policy: {said}",
            short(&bad)
        ));
        assert!(!r.stderr().contains("panicked"), "{}", r.stderr());
        origin
            .seal(&["trust", "--show"])
            .fails_with(1)
            .stdout_has(&alice.fingerprint);
    }
    // A symbolic link for .seal: a problem, never followed.
    origin.git(&["checkout", "-q", "-B", "link", &root]).ok();
    origin.git(&["rm", "-rq", ".seal"]).ok();
    std::os::unix::fs::symlink("/etc", origin.path.join(".seal")).unwrap();
    origin.git(&["add", "-A"]).ok();
    origin.git(&["commit", "-q", "-m", "link"]).ok();
    origin
        .seal(&["verify"])
        .fails_with(1)
        .stdout_has("unusable trust policy: .seal is a symbolic link");
}

#[test]
fn pinning_a_root_checks_the_commit_its_seal_and_the_key_with_hints_that_work() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let mallory = keygen(&sb, "mallory");
    let (origin, _server, root) = project(&sb, &alice);
    origin
        .seal(&["trust", "--root", "HEAD", "--key", "SHA256:nope"])
        .fails_with(2)
        .stderr_has("hint: ssh-keygen -l -f ~/.ssh/id_ed25519.pub");
    // A commit before the policy came in has no policy to start from.
    origin
        .seal(&["trust", "--root", "HEAD~2"])
        .fails_with(1)
        .stderr_has("its tree has no .seal/allowed_signers");
    // Pinned with a key: the root's seal must be signed by that key.
    origin
        .seal(&["trust", "--root", &root, "--key", &mallory.fingerprint])
        .fails_with(1)
        .stderr_has(format!(
            "its seal is signed by {}, not by the pinned key {}",
            alice.fingerprint, mallory.fingerprint
        ));
    origin
        .git(&["config", "--get", "seal.trustRoot"])
        .fails_with(1);
    origin
        .seal(&["trust", "--root", &root, "--key", &alice.fingerprint])
        .ok()
        .stdout_has(format!("signed by the pinned key {}", alice.fingerprint));
    assert_eq!(
        origin.git_out(&["config", "seal.trustRoot"]),
        format!("{root} {}", alice.fingerprint)
    );
    // An unsealed root: the hint seals it.
    let unsealed = origin.commit_unsealed(".seal/x", "unsealed");
    let r = origin.seal(&["trust", "--root", &unsealed]).fails_with(1);
    r.stderr_has(format!("hint: git seal seal {}", short(&unsealed)));
    origin.seal(&["seal", short(&unsealed)]).ok();
    origin.seal(&["trust", "--root", &unsealed]).ok();
}

#[test]
fn a_merge_is_judged_by_its_first_parent_and_brings_a_side_policy_only_when_signed_for_it() {
    let sb = Sandbox::new();
    let alice = keygen(&sb, "alice");
    let mallory = keygen(&sb, "mallory");
    let (origin, _server, root) = project(&sb, &alice);
    origin.seal(&["trust", "--root", &root]).ok();
    // A side branch that adds mallory, signed by mallory.
    origin.git(&["checkout", "-q", "-b", "side"]).ok();
    sign_as(&origin, &mallory);
    let policy = format!("{}{}", alice.line(), mallory.line());
    let side = origin.commit_file(".seal/allowed_signers", &policy, "side: add mallory");
    // Merged into main by mallory: the merge changes .seal/ against its first
    // parent, and alice's policy there does not allow mallory.
    origin.git(&["checkout", "-q", "main"]).ok();
    origin
        .git(&[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "merge side (mallory)",
            "side",
        ])
        .ok();
    let merge = origin.rev("HEAD");
    let r = origin.seal(&["verify"]).fails_with(1);
    r.stdout_has(format!(
        "{} merge side (mallory): changes .seal/",
        short(&merge)
    ));
    r.stdout_has(&mallory.fingerprint);
    // The side commit is reported where it is on its own line.
    origin
        .seal(&["verify", &side])
        .fails_with(1)
        .stdout_has(format!(
            "{} side: add mallory: changes .seal/",
            short(&side)
        ));
    // The same merge made and signed by alice: she vouches for the change, and from
    // it on mallory's key counts.
    origin.git(&["reset", "-q", "--hard", "HEAD^"]).ok();
    sign_as(&origin, &alice);
    origin
        .git(&["merge", "-q", "--no-ff", "-m", "merge side (alice)", "side"])
        .ok();
    origin.seal(&["verify"]).ok();
    let show = origin.seal(&["trust", "--show"]).ok();
    show.stdout_has(&mallory.fingerprint);
}
