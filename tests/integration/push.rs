//! The push gate on both sides, and seals travelling with push and fetch: real bare
//! remotes, real clones.

use crate::harness::{assert_has, write_script, Run, Sandbox, TestRepo};

/// A bare server with the pre-receive gate, and one sealed client clone of it.
fn server_and_client(sb: &Sandbox) -> (TestRepo<'_>, TestRepo<'_>) {
    let server = sb.init("server.git", &["--bare"]);
    server.seal(&["install", "--server"]).ok();
    let client = clone(sb, &server, "client");
    (server, client)
}

fn clone<'s>(sb: &'s Sandbox, server: &TestRepo<'_>, name: &str) -> TestRepo<'s> {
    let mut cmd = sb.command("git", sb.path());
    cmd.args(["clone", "-q", server.path.to_str().unwrap(), name]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = sb.at(sb.path().join(name));
    repo.git(&["config", "user.name", "Sam Sealer"]).ok();
    repo.git(&["config", "user.email", "sam@example.com"]).ok();
    repo.install();
    repo
}

fn push(repo: &TestRepo<'_>, args: &[&str]) -> Run {
    let mut all = vec!["push", "-q"];
    all.extend_from_slice(args);
    repo.git(&all)
}

#[test]
fn sealed_history_pushes_and_the_ledger_goes_along() {
    let sb = Sandbox::new();
    let (server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "first");
    client.commit_file("a", "2", "second");
    push(&client, &["origin", "main"]).ok();
    // The ledger went along: the server holds both seals, readable by git notes.
    for rev in ["main", "main~1"] {
        assert!(server.note(rev).is_some(), "server lacks the seal of {rev}");
    }
    let log = client.seal(&["log", "--json"]).ok().stdout();
    assert_has(&log, "\"hook\":\"pre-push\"");
    assert_has(&log, "\"ledger_pushed\":true");
    // Nothing new: no refusal, no ledger push.
    push(&client, &["origin", "main"]).ok();
    let status = client.seal(&["status"]).ok().stdout();
    assert_has(&status, "ledger upstream origin: up to date");
    client.commit_file("a", "3", "third");
    let status = client.seal(&["status"]).ok().stdout();
    assert_has(
        &status,
        "ledger upstream origin: 1 ahead: git seal push origin",
    );
}

#[test]
fn unsealed_commit_is_refused_then_backfilled_and_pushed() {
    let sb = Sandbox::new();
    let (server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "sealed one");
    let bad = client.commit_unsealed("b", "made with hooks off");
    let r = push(&client, &["origin", "main"]).fails_with(1);
    let err = r.stderr();
    assert_has(
        &err,
        "error: push refused: 1 commit(s) without a valid seal",
    );
    assert_has(
        &err,
        format!("  {} made with hooks off: no seal", &bad[..7]),
    );
    assert_has(
        &err,
        "hint: seal them, then push again: git seal seal --missing",
    );
    assert!(
        server.git(&["rev-parse", "--verify", "-q", "main"]).code() != 0,
        "nothing landed"
    );
    client.seal(&["seal", "--missing"]).ok();
    push(&client, &["origin", "main"]).ok();
    assert_eq!(server.rev("main"), bad);
    let log = client
        .seal(&["log", "--status", "FAILED", "--json"])
        .ok()
        .stdout();
    assert!(
        log.contains("\"hook\":\"pre-push\""),
        "the refusal is in the run log: {log}"
    );
}

#[test]
fn tampered_seal_is_refused_with_its_reason() {
    let sb = Sandbox::new();
    let (_server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "first");
    client.tamper_seal("HEAD", |s| s.replace("Ada Author", "Eve"));
    let r = push(&client, &["origin", "main"]).fails_with(1);
    r.stderr_has("first: seal digest mismatch");
    r.stderr_has("git seal seal --force");
}

#[test]
fn new_branches_force_pushes_deletions_tags_and_many_refs() {
    let sb = Sandbox::new();
    let (server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "base");
    push(&client, &["origin", "main"]).ok();

    // new branch (remote oid all zeros) with only sealed commits
    client.git(&["checkout", "-q", "-b", "topic"]).ok();
    client.commit_file("t", "1", "topic work");
    push(&client, &["origin", "topic"]).ok();

    // force push of a rewritten branch: the amended commit is sealed by post-rewrite
    client
        .git(&["commit", "-q", "--amend", "-m", "topic work, amended"])
        .ok();
    push(&client, &["-f", "origin", "topic"]).ok();

    // a new branch whose commits the remote already has: nothing to check
    client.git(&["branch", "copy", "main"]).ok();
    push(&client, &["origin", "copy"]).ok();

    // deletion
    push(&client, &["origin", "--delete", "copy"]).ok();
    assert!(
        server
            .git(&["rev-parse", "--verify", "-q", "refs/heads/copy"])
            .code()
            != 0
    );

    // several refs at once, one of them carrying an unsealed commit: all refused
    client.git(&["checkout", "-q", "-b", "other", "main"]).ok();
    let bad = client.commit_unsealed("o", "unsealed on other");
    client.git(&["checkout", "-q", "topic"]).ok();
    client.commit_file("t2", "2", "more topic");
    let r = push(&client, &["origin", "topic", "other"]).fails_with(1);
    r.stderr_has(&bad[..7]);
    assert_ne!(
        server.rev("topic"),
        client.rev("topic"),
        "no ref was updated"
    );

    // tags are not gated by default; with seal.gateTags they are
    client.git(&["tag", "v-bad", &bad]).ok();
    push(&client, &["origin", "v-bad"]).ok();
    client.git(&["config", "seal.gateTags", "true"]).ok();
    client
        .git(&["tag", "-a", "v-bad2", "-m", "annotated", &bad])
        .ok();
    let r = push(&client, &["origin", "v-bad2"]).fails_with(1);
    r.stderr_has("unsealed on other: no seal");
}

#[test]
fn server_refuses_no_verify_pushes_of_unsealed_commits() {
    let sb = Sandbox::new();
    let (server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "first");
    push(&client, &["origin", "main"]).ok();
    let bad = client.commit_unsealed("b", "sneaky");
    let r = push(&client, &["--no-verify", "origin", "main"]).fails_with(1);
    let err = r.stderr();
    assert_has(
        &err,
        "remote: error: push refused: 1 commit(s) without a valid seal",
    );
    assert_has(&err, format!("remote:   {} sneaky: no seal", &bad[..7]));
    assert_ne!(server.rev("main"), bad);
    // SEAL_SKIP bypasses the client gate only, and is recorded as SKIPPED.
    let mut cmd = client.cmd("git", &["push", "-q", "origin", "main"]);
    cmd.env("SEAL_SKIP", "1");
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "the server never honours SEAL_SKIP");
    let skipped = client
        .seal(&["log", "--status", "SKIPPED", "--json"])
        .ok()
        .stdout();
    assert_has(&skipped, "SEAL_SKIP");

    // Sealed now: the ledger first, then the branch, both past the client's gate.
    client.seal(&["seal", "--missing"]).ok();
    push(&client, &["--no-verify", "origin", "refs/notes/seal"]).ok();
    push(&client, &["--no-verify", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), bad);
    let log = server.seal(&["log", "--json"]).ok().stdout();
    assert_has(&log, "\"hook\":\"pre-receive\"");
}

#[test]
fn server_accepts_a_ledger_pushed_first_and_refuses_a_rewritten_one() {
    let sb = Sandbox::new();
    let (server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "first");
    let second = client.commit_file("a", "2", "second");
    // ledger first, then the branch in a later push
    push(
        &client,
        &["--no-verify", "origin", "refs/notes/seal:refs/notes/seal"],
    )
    .ok();
    push(&client, &["--no-verify", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), second);

    // A rewound ledger (force push of an older tip) is refused.
    let tip = client.rev("refs/notes/seal");
    let old = client.rev("refs/notes/seal~1");
    let r = push(
        &client,
        &[
            "--no-verify",
            "-f",
            "origin",
            &format!("{old}:refs/notes/seal"),
        ],
    )
    .fails_with(1);
    r.stderr_has("not a fast-forward");
    // A fast-forward that changes an existing seal is refused.
    client.tamper_seal("HEAD", |s| s.replace("Ada Author", "Eve"));
    let r = push(&client, &["--no-verify", "origin", "refs/notes/seal"]).fails_with(1);
    r.stderr_has(format!("the update changes the seal of {}", &second[..7]));
    // Deleting the ledger is refused.
    let r = push(
        &client,
        &["--no-verify", "origin", "--delete", "refs/notes/seal"],
    )
    .fails_with(1);
    r.stderr_has("may not be deleted");
    assert_eq!(server.rev("refs/notes/seal"), tip);
}

#[test]
fn concurrent_clones_merge_ledgers_and_a_fresh_clone_verifies_everything() {
    let sb = Sandbox::new();
    let (server, alice) = server_and_client(&sb);
    alice.commit_file("base", "0", "base");
    push(&alice, &["origin", "main"]).ok();
    let bob = clone(&sb, &server, "bob");
    alice.git(&["checkout", "-q", "-b", "alice"]).ok();
    bob.git(&["checkout", "-q", "-b", "bob"]).ok();
    for i in 0..5 {
        alice.commit_file("a", &i.to_string(), &format!("alice {i}"));
        bob.commit_file("b", &i.to_string(), &format!("bob {i}"));
    }
    // Both push at once; each pre-push pushes its ledger, merging the other's.
    let mut a = alice.cmd("git", &["push", "-q", "origin", "alice"]);
    let mut b = bob.cmd("git", &["push", "-q", "origin", "bob"]);
    let (mut ca, mut cb) = (a.spawn().unwrap(), b.spawn().unwrap());
    assert!(ca.wait().unwrap().success() && cb.wait().unwrap().success());
    // Whoever lost the ledger race retried; a final push by hand settles any leftover.
    alice.seal(&["push"]).ok();
    bob.seal(&["push"]).ok();

    let fresh = clone(&sb, &server, "fresh");
    // install added the ledger refspec: a plain fetch brings the seals.
    fresh.git(&["fetch", "-q", "origin"]).ok();
    for branch in ["origin/alice", "origin/bob"] {
        let r = fresh
            .seal(&["verify", &format!("origin/main..{branch}")])
            .ok();
        r.stdout_has("ok: 5 commit(s) verified");
    }
    fresh.seal(&["verify", "origin/main"]).ok();
}

#[test]
fn conflicting_seals_merge_keeping_each_local_seal_in_its_slot_and_both_seals() {
    let sb = Sandbox::new();
    let (server, alice) = server_and_client(&sb);
    alice.commit_file("a", "1", "shared");
    push(&alice, &["origin", "main"]).ok();
    let alices = server.note("main").unwrap();
    // Bob clones but has not fetched the ledger yet (install fetches it: undone
    // here), and seals the same commit himself.
    let bob = clone(&sb, &server, "bob");
    bob.git(&["update-ref", "-d", "refs/notes/seal"]).ok();
    bob.git(&["update-ref", "-d", "refs/seal/remotes/origin/seal"])
        .ok();
    // Who seals follows git's committer identity (GIT_COMMITTER_* first).
    let mut seal_as_bob = bob.cmd(crate::harness::SEAL, &["seal"]);
    seal_as_bob.env("GIT_COMMITTER_NAME", "Bob");
    assert!(seal_as_bob.output().unwrap().status.success());
    let bobs = bob.note("HEAD").unwrap();
    assert_ne!(bobs, alices);
    // His next commit's parent_seals names his own seal of "shared".
    bob.commit_file("b", "1", "bob on top");
    // Pushing the ledger: rejected (the server's moved on), fetched, merged, retried.
    bob.seal(&["push"]).ok();
    assert_eq!(
        bob.note("HEAD~1").unwrap(),
        bobs,
        "bob's own seal keeps its slot"
    );
    let alternates = |repo: &TestRepo<'_>| {
        repo.git_out(&[
            "ls-tree",
            "-r",
            "--name-only",
            "refs/notes/seal",
            "alternates",
        ])
    };
    assert_eq!(
        alternates(&bob).lines().count(),
        1,
        "alice's seal is kept beside it: {}",
        alternates(&bob)
    );
    // The server took bob's merge: his seal in the slot, alice's kept in alternates.
    assert_eq!(server.note("main").unwrap(), bobs);
    assert_eq!(alternates(&server), alternates(&bob));
    // The chain through bob's seal verifies, locally and on the server.
    bob.seal(&["verify", "HEAD~1..HEAD"]).ok();
    push(&bob, &["origin", "main"]).ok();
    let fresh = clone(&sb, &server, "fresh");
    fresh.seal(&["fetch"]).ok();
    fresh.seal(&["verify", "main~1..main"]).ok();
    // Alice fetching keeps her seal in her slot, and bob's beside it.
    alice.seal(&["fetch"]).ok();
    assert_eq!(alice.note("main").unwrap(), alices);
    assert_eq!(
        alternates(&alice).lines().count(),
        2,
        "{}",
        alternates(&alice)
    );
    alice.git(&["pull", "-q", "origin", "main"]).ok();
    alice.seal(&["verify", "main~1..main"]).ok();
}

#[test]
fn seal_push_modes_off_best_effort_and_strict() {
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare"]);
    // A server that takes branches but refuses any ledger update.
    let hook = server.path.join("hooks/pre-receive");
    write_script(
        &hook,
        "#!/bin/sh\nif grep -q ' refs/notes/'; then echo 'no notes here' >&2; exit 1; fi\n",
    );
    let client = clone(&sb, &server, "client");

    // off: the branch goes, the ledger is not even tried.
    client.git(&["config", "seal.push", "off"]).ok();
    client.commit_file("a", "1", "first");
    let r = push(&client, &["origin", "main"]).ok();
    assert!(!r.stderr().contains("ledger"), "{}", r.stderr());

    // best-effort: the branch goes, a warning says the ledger did not, PARTIAL.
    client.git(&["config", "seal.push", "best-effort"]).ok();
    client.commit_file("a", "2", "second");
    let r = push(&client, &["origin", "main"]).ok();
    r.stderr_has("warning: git-seal: the ledger was not pushed");
    r.stderr_has("hint: push it later with: git seal push origin");
    assert_eq!(server.rev("main"), client.rev("main"));
    let partial = client
        .seal(&["log", "--status", "PARTIAL", "--hook", "pre-push"])
        .ok();
    assert_eq!(partial.stdout().lines().count(), 1, "{}", partial.stdout());

    // strict: the push is refused when the ledger cannot go.
    client.git(&["config", "seal.push", "strict"]).ok();
    client.commit_file("a", "3", "third");
    let r = push(&client, &["origin", "main"]).fails_with(1);
    r.stderr_has("seal.push is strict");
    assert_ne!(server.rev("main"), client.rev("main"));

    // A bad value is a configuration error.
    client.git(&["config", "seal.push", "sometimes"]).ok();
    let r = client.seal(&["push"]).fails_with(2);
    r.stderr_has("seal.push is 'sometimes'");
}

#[test]
fn a_chained_pre_push_sees_the_same_stdin_and_can_still_refuse() {
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare"]);
    let client = clone(&sb, &server, "client");
    client.seal(&["uninstall"]).ok();
    let log = sb.path().join("foreign.log");
    let hook = client.path.join(".git/hooks/pre-push");
    let script = format!(
        "#!/bin/sh\necho \"args: $*\" >> '{0}'\ncat >> '{0}'\n[ -e '{0}.refuse' ] && exit 3\nexit 0\n",
        log.display()
    );
    write_script(&hook, &script);
    client.install();
    client.commit_file("a", "1", "first");
    // Ours still gates after the chained hook consumed stdin: the unsealed commit is refused.
    let bad = client.commit_unsealed("b", "unsealed");
    let r = push(&client, &["origin", "main"]).fails_with(1);
    r.stderr_has(format!("{} unsealed: no seal", &bad[..7]));
    let seen = std::fs::read_to_string(&log).unwrap();
    let expected_line = format!("refs/heads/main {bad} refs/heads/main {}", "0".repeat(40));
    assert_has(&seen, format!("args: origin {}", server.path.display()));
    assert!(
        seen.contains(&expected_line),
        "the chained hook got git's stdin: {seen}"
    );
    // A chained hook that refuses keeps the push refused, with its own status.
    client.seal(&["seal", "--missing"]).ok();
    std::fs::write(format!("{}.refuse", log.display()), "").unwrap();
    push(&client, &["origin", "main"]).fails_with(1);
    assert!(server.git(&["rev-parse", "--verify", "-q", "main"]).code() != 0);
    std::fs::remove_file(format!("{}.refuse", log.display())).unwrap();
    push(&client, &["origin", "main"]).ok();
    assert_eq!(server.rev("main"), client.rev("main"));
}

#[test]
fn a_refused_push_of_another_branch_hints_the_command_that_seals_that_branch() {
    let sb = Sandbox::new();
    let (server, client) = server_and_client(&sb);
    client.commit_file("a", "1", "first");
    push(&client, &["origin", "main"]).ok();
    client.git(&["checkout", "-q", "-b", "topic"]).ok();
    let bad = client.commit_unsealed("t", "unsealed on topic");
    client.git(&["checkout", "-q", "main"]).ok();
    let r = push(&client, &["origin", "topic"]).fails_with(1);
    r.stderr_has("hint: seal them, then push again: git seal seal --missing topic");
    // The hint, pasted (HEAD is main: a bare --missing would seal nothing here).
    let hint = r
        .stderr()
        .lines()
        .find_map(|l| l.strip_prefix("hint: seal them, then push again: "))
        .unwrap()
        .to_string();
    client.cmd("sh", &["-c", &hint]).output().unwrap();
    push(&client, &["origin", "topic"]).ok();
    assert_eq!(server.rev("topic"), bad);
}
