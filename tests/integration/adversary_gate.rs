//! The gate against a hostile pusher: each test is one attack on a server installed
//! with `git seal install --server`, made with real pushes in the hostile order, and
//! asserts the refusal, its message, and that the server's refs are untouched.

use crate::harness::{Run, Sandbox, TestRepo};

fn gated_server(sb: &Sandbox) -> (TestRepo<'_>, TestRepo<'_>) {
    let server = sb.bare("server.git");
    server.seal(&["install", "--server"]).ok();
    let attacker = sb.clone("server.git", "attacker");
    attacker.git(&["config", "user.name", "Mallory"]).ok();
    attacker
        .git(&["config", "user.email", "mallory@example.com"])
        .ok();
    attacker.install();
    // An honest, sealed start.
    attacker.commit_file("a", "1\n", "sealed base");
    attacker.git(&["push", "-q", "origin", "main"]).ok();
    (server, attacker)
}

fn push(repo: &TestRepo<'_>, args: &[&str]) -> Run {
    let mut all = vec!["push", "--no-verify"];
    all.extend_from_slice(args);
    repo.git(&all)
}

#[test]
fn an_unsealed_commit_pushed_first_as_a_tag_is_refused_when_pushed_as_a_branch() {
    let sb = Sandbox::new();
    let (server, attacker) = gated_server(&sb);
    let bad = attacker.commit_unsealed("b", "unsealed");
    // Tags are not gated by default: the commit gets onto the server this way.
    push(&attacker, &["origin", &format!("{bad}:refs/tags/parked")]).ok();
    // Then a branch at it: the commit is not vetted just because a tag holds it.
    let r = push(&attacker, &["origin", "main"]).fails_with(1);
    r.stderr_has("push refused: 1 commit(s) without a valid seal");
    r.stderr_has(format!("{} unsealed: no seal", &bad[..7]));
    assert_ne!(server.rev("main"), bad);
}

#[test]
fn an_unsealed_commit_parked_under_any_ungated_namespace_is_not_vetted() {
    let sb = Sandbox::new();
    let (server, attacker) = gated_server(&sb);
    let bad = attacker.commit_unsealed("b", "unsealed");
    for parking in ["refs/pull/1/head", "refs/notes/other", "refs/changes/01/1"] {
        push(&attacker, &["origin", &format!("{bad}:{parking}")]).ok();
    }
    push(&attacker, &["origin", "main"])
        .fails_with(1)
        .stderr_has("no seal");
    assert_ne!(server.rev("main"), bad);
    // A new branch elsewhere at the parked commit: refused just the same.
    push(&attacker, &["origin", &format!("{bad}:refs/heads/feature")])
        .fails_with(1)
        .stderr_has("no seal");
    server
        .git(&["rev-parse", "--verify", "-q", "refs/heads/feature"])
        .fails_with(1);
}

#[test]
fn a_branch_never_lands_on_seals_that_only_the_ledger_it_brings_holds() {
    let sb = Sandbox::new();
    let (server, attacker) = gated_server(&sb);
    let c = attacker.commit_file("b", "2\n", "sealed, ledger not pushed yet");
    let ledger_before = server.rev("refs/notes/seal");
    // The ledger's own update would fail on the server after pre-receive (a held
    // ref lock, as a concurrent push leaves for a moment): had the gate counted the
    // pushed ledger, the branch would land without its seals. In one push, plain
    // or atomic, the branch is refused up front.
    std::fs::write(server.path.join("refs/notes/seal.lock"), "").unwrap();
    for atomic in [false, true] {
        let mut args = vec!["origin", "main", "refs/notes/seal:refs/notes/seal"];
        if atomic {
            args.insert(0, "--atomic");
        }
        let r = push(&attacker, &args).fails_with(1);
        r.stderr_has("sealed only in the ledger this push brings");
        r.stderr_has("hint: push the ledger first, then the branch (what pre-push does): git seal push origin && git push origin main");
        assert_ne!(server.rev("main"), c, "the branch landed without its seals");
        assert_eq!(server.rev("refs/notes/seal"), ledger_before);
    }
    // The hint, pasted, once the ledger can land.
    std::fs::remove_file(server.path.join("refs/notes/seal.lock")).unwrap();
    attacker
        .cmd(
            "sh",
            &["-c", "git seal push origin && git push origin main"],
        )
        .output()
        .unwrap();
    assert_eq!(server.rev("main"), c);
    assert_eq!(
        server.rev("refs/notes/seal"),
        attacker.rev("refs/notes/seal")
    );
}

#[test]
fn a_server_seals_nothing_a_pushed_tag_gets_no_seal_from_the_server() {
    let sb = Sandbox::new();
    let (server, attacker) = gated_server(&sb);
    attacker
        .git_hooks_off(&["tag", "-a", "v1", "-m", "v1"])
        .ok();
    let ledger_before = server.rev("refs/notes/seal");
    push(&attacker, &["origin", "v1"]).ok();
    assert_eq!(
        server.rev("refs/notes/seal"),
        ledger_before,
        "the server wrote into its ledger"
    );
    let mut hooks: Vec<String> = std::fs::read_dir(server.path.join("hooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".sample"))
        .collect();
    // Config-defined hooks (git ≥ 2.54): the gate is the one entry, the dir is empty.
    hooks.extend(
        server
            .git(&[
                "config",
                "--name-only",
                "--get-regexp",
                "^hook\\..*\\.event$",
            ])
            .stdout()
            .lines()
            .map(str::to_string),
    );
    hooks.sort();
    let gate_only: &[&str] = if crate::harness::git_version().1 >= (2, 54, 0) {
        &["hook.git-seal-pre-receive.event"]
    } else {
        &["pre-receive"]
    };
    assert_eq!(hooks, gate_only);
}

#[test]
fn a_server_once_installed_with_client_hooks_converges_to_the_gate_alone() {
    let sb = Sandbox::new();
    let server = sb.bare("server.git");
    server.install_shims();
    assert!(server.path.join("hooks/post-commit").exists());
    server
        .seal(&["install", "--hooks", "files", "--server"])
        .ok();
    assert!(!server.path.join("hooks/post-commit").exists());
    assert!(server.path.join("hooks/pre-receive").exists());
}

#[test]
fn pushing_into_git_seals_local_namespace_is_refused() {
    let sb = Sandbox::new();
    let (server, attacker) = gated_server(&sb);
    // A forged "fetched ledger" on the server, for any reader that would look there.
    let r = push(
        &attacker,
        &["origin", "refs/notes/seal:refs/seal/remotes/origin/seal"],
    )
    .fails_with(1);
    r.stderr_has("refs/seal/remotes/origin/seal is in git-seal's local namespace");
    server
        .git(&[
            "rev-parse",
            "--verify",
            "-q",
            "refs/seal/remotes/origin/seal",
        ])
        .fails_with(1);
}
