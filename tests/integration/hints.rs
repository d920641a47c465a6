//! Hints that work when pasted: each test provokes the problem, runs the hint's
//! command through `sh -c` as a user pasting it would, and checks the problem is
//! gone. docs/HINTS.md lists every hint in the code and the test that runs it.

use crate::harness::{run_with_stdin, Run, Sandbox, TestRepo};

/// The command after `hint: <what>` on a line of `stderr` (`what` ends with `: `).
pub fn hinted(stderr: &str, what: &str) -> String {
    let prefix = format!("hint: {what}");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{stderr}"))
        .to_string()
}

/// Runs a hinted command through the shell in `repo`.
pub fn paste(repo: &TestRepo<'_>, command: &str) -> Run {
    run_with_stdin(repo.cmd("sh", &["-c", command]), b"")
}

#[test]
fn repo_flag_works_on_every_command_like_git_dash_c() {
    let sb = Sandbox::new();
    let hub = sb.bare("hub.git");
    let repo = sb.init("r", &[]);
    repo.git(&["remote", "add", "origin", hub.path.to_str().unwrap()])
        .ok();
    repo.install();
    repo.commit_file("a", "1\n", "first");
    let outside = sb.at(sb.path());
    let path = repo.path.to_str().unwrap();
    // Outside any repository, the hint names the flag; every command takes it,
    // before or after the subcommand.
    outside
        .seal(&["status"])
        .fails_with(2)
        .stderr_has("or pass --repo PATH");
    for args in [
        &["status"][..],
        &["verify"],
        &["verify", "--all"],
        &["show"],
        &["manifest"],
        &["seal", "--dry-run"],
        &["log"],
        &["diff", "HEAD", "HEAD"],
        &["export", "--dry-run", "--out", "x"],
        &["snapshot", "--dry-run", "rel"],
        &["rollback", "--list"],
        &["push", "--dry-run"],
        &["fetch", "--dry-run"],
        &["install", "--dry-run"],
        &["uninstall", "--dry-run"],
    ] {
        let mut before = vec!["--repo", path];
        before.extend_from_slice(args);
        outside.seal(&before).ok();
        let mut after = args.to_vec();
        after.extend_from_slice(&["--repo", path]);
        outside.seal(&after).ok();
    }
    // A relative PATH is read from the current directory, as git -C reads it.
    outside
        .seal(&["--repo", "r", "verify"])
        .ok()
        .stdout_has("ok: 1 commit(s) verified");
    let r = outside.seal(&["--repo", "nowhere", "status"]).fails_with(2);
    r.stderr_has("error: --repo nowhere: no such directory");
}

#[test]
fn install_and_uninstall_take_the_global_repo_flag_and_name_it_in_their_hints() {
    if !crate::harness::shims_by_default() {
        return;
    }
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let outside = sb.at(sb.path());
    let path = repo.path.to_str().unwrap().to_string();
    // A tracked hooks directory is refused with a hint that, pasted anywhere, works.
    std::fs::create_dir_all(repo.path.join("githooks")).unwrap();
    repo.write("githooks/pre-commit", "#!/bin/sh\n");
    repo.git(&["add", "githooks"]).ok();
    repo.git(&["commit", "-qm", "hooks"]).ok();
    repo.git(&["config", "core.hooksPath", "githooks"]).ok();
    let r = outside.seal(&["--repo", &path, "install"]).fails_with(2);
    let hint = hinted(
        &r.stderr(),
        "to chain its hooks and add git-seal's beside them: ",
    );
    assert!(hint.contains(&format!("--repo {path}")), "{hint}");
    paste(&outside, &hint).ok();
    repo.seal(&["status"]).ok().stdout_has("hook post-commit");
    let r = outside.seal(&["uninstall", "--repo", &path]).ok();
    r.stdout_has("remove hook");
}

#[test]
fn uninstall_says_what_it_removed_hooks_and_refspecs() {
    let sb = Sandbox::new();
    let hub = sb.bare("hub.git");
    let repo = sb.init("r", &[]);
    repo.git(&["remote", "add", "origin", hub.path.to_str().unwrap()])
        .ok();
    repo.install();
    let r = repo.seal(&["uninstall"]).ok();
    r.stdout_has("remove hook");
    r.stdout_has("post-commit");
    r.stdout_has(
        "removed fetch refspec +refs/notes/seal*:refs/seal/remotes/origin/seal* from remote origin",
    );
    repo.seal(&["uninstall"]).ok().stdout_has("nothing to do");
}

#[test]
fn the_range_hint_names_the_repositorys_own_branch_not_main() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.git(&["branch", "-m", "main", "trunk"]).ok();
    repo.commit_file("a", "1\n", "first");
    repo.commit_file("a", "2\n", "second");
    let r = repo.seal(&["verify", "nope..HEAD"]).fails_with(2);
    let hint = hinted(&r.stderr(), "name a range of existing commits, e.g.: ");
    assert_eq!(hint, "git log --oneline trunk~1..trunk");
    assert!(!r.stderr().contains("main"), "{}", r.stderr());
    paste(&repo, &hint).ok().stdout_has("second");
    // In a clone, the remote's default branch (origin/HEAD).
    let clone = sb.clone("r", "c");
    clone.git(&["checkout", "-q", "-b", "topic"]).ok();
    let r = clone.seal(&["verify", "nope..HEAD"]).fails_with(2);
    let hint = hinted(&r.stderr(), "name a range of existing commits, e.g.: ");
    assert_eq!(hint, "git log --oneline trunk~1..trunk");
    paste(&clone, &hint).ok().stdout_has("second");
}

#[test]
fn verify_on_an_unborn_branch_says_nothing_to_verify_and_its_hint_works() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    for args in [&["verify"][..], &["verify", "--all"]] {
        let r = repo.seal(args).fails_with(2);
        r.stderr_has("error: nothing to verify: branch 'main' has no commits yet");
        assert!(!r.stderr().contains("nothing to seal"), "{}", r.stderr());
    }
    let r = repo.seal(&["verify"]).fails_with(2);
    let hint = hinted(&r.stderr(), "make a first commit, then verify it: ");
    paste(&repo, &hint).ok();
    repo.seal(&["verify"])
        .ok()
        .stdout_has("ok: 1 commit(s) verified");
}

#[test]
fn verify_worktree_hint_names_no_tag_when_only_files_differ() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.write("a", "changed\n");
    let r = repo.seal(&["verify", "--worktree"]).fails_with(1);
    r.stdout_has("worktree a: modified");
    assert!(!r.stderr().contains("seal tags"), "{}", r.stderr());
    let hint = hinted(&r.stderr(), "see what differs from HEAD's commit: ");
    let shown = paste(&repo, &hint).ok();
    shown.stdout_has(" M a");
}

#[test]
fn verify_all_checks_every_branch_or_the_refs_given_and_fails_on_any_problem() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.git(&["checkout", "-q", "-b", "side"]).ok();
    let bad = repo.commit_unsealed("s", "unsealed on side");
    repo.git(&["checkout", "-q", "main"]).ok();
    repo.commit_file("b", "2\n", "second");
    // HEAD alone verifies; --all finds the other branch's commit.
    repo.seal(&["verify"]).ok();
    let r = repo.seal(&["verify", "--all"]).fails_with(1);
    r.stdout_has(format!("{} unsealed on side: no seal", &bad[..7]));
    repo.seal(&["verify", "--all", "main"])
        .ok()
        .stdout_has("ok: 2 commit(s) verified");
    let r = repo.seal(&["verify", "--all", "side"]).fails_with(1);
    r.stdout_has("no seal");
    let hint = hinted(&r.stderr(), "seal what has no seal with: ");
    // The hint seals HEAD's history; on another branch name it (the gate does).
    paste(&repo, &format!("{hint} side")).ok();
    repo.seal(&["verify", "--all"])
        .ok()
        .stdout_has("ok: 3 commit(s) verified");
}

/// As root, a repository owned by another user is one git refuses ("dubious
/// ownership"); libgit2 refuses it too. The hint is git's own fix.
#[test]
fn a_repository_owned_by_another_user_gets_the_safe_directory_hint_and_it_works() {
    let sb = Sandbox::new();
    let uid = sb.at(sb.path()).cmd("id", &["-u"]).output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("not run: chown to another user needs root");
        return;
    }
    let server = sb.bare("server.git");
    let chown = sb
        .at(sb.path())
        .cmd("chown", &["-R", "nobody", server.path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(chown.status.success());
    // A global config the hint can write to (the harness's is /dev/null).
    let global = sb.path().join("home/.gitconfig");
    let with_global = |mut cmd: std::process::Command| {
        cmd.env("GIT_CONFIG_GLOBAL", &global);
        run_with_stdin(cmd, b"")
    };
    let r = with_global(server.cmd(crate::harness::SEAL, &["install", "--server"]));
    assert_eq!(r.code(), 2, "{}", r.stderr());
    r.stderr_has("is owned by another user");
    let hint = hinted(&r.stderr(), "if you trust it: ");
    assert!(
        hint.starts_with("git config --global --add safe.directory "),
        "{hint}"
    );
    // git itself refuses it too, until the hint is pasted.
    assert_ne!(
        with_global(server.cmd("git", &["rev-parse", "--git-dir"])).code(),
        0
    );
    with_global(server.cmd("sh", &["-c", &hint])).ok();
    with_global(server.cmd("git", &["rev-parse", "--git-dir"])).ok();
    with_global(server.cmd(crate::harness::SEAL, &["install", "--server"]))
        .ok()
        .stdout_has("hooks installed");
}

/// The command a hint line gives: from its first `git ` on (hints read
/// "what to do: command", or are the command alone).
fn command_in(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint in:\n{stderr}"));
    let at = line
        .find("git ")
        .unwrap_or_else(|| panic!("no command in {line:?}"));
    line[at..].to_string()
}

/// One problem per case: set it up, see the command fail with a hint, paste the
/// hint, and run the command again: it succeeds.
#[test]
fn each_hint_pasted_makes_its_problem_go_away() {
    type Setup = fn(&TestRepo<'_>);
    let cases: &[(&str, Setup, &[&str], i32)] = &[
        (
            "seal.push",
            |r| {
                r.git(&["config", "seal.push", "sometimes"]).ok();
            },
            &["status"],
            2,
        ),
        (
            "seal.maxRetries",
            |r| {
                r.git(&["config", "seal.maxRetries", "-1"]).ok();
            },
            &["status"],
            2,
        ),
        (
            "seal.retryBaseMs",
            |r| {
                r.git(&["config", "seal.retryBaseMs", "soon"]).ok();
            },
            &["status"],
            2,
        ),
        (
            "seal.ref",
            |r| {
                r.git(&["config", "seal.ref", "refs/heads/seals"]).ok();
            },
            &["status"],
            2,
        ),
        (
            "show unsealed",
            |r| {
                r.commit_unsealed("u", "unsealed");
            },
            &["show", "HEAD"],
            1,
        ),
        (
            "show unreadable",
            |r| {
                let c = r.commit_file("u", "2\n", "sealed");
                r.git(&["notes", "--ref=seal", "add", "-f", "-m", "not: [a seal", &c])
                    .ok();
            },
            &["show"],
            2,
        ),
        (
            "export unsealed",
            |r| {
                r.commit_unsealed("u", "unsealed");
            },
            &["export", "HEAD", "--out", "out"],
            1,
        ),
        (
            "snapshot unsealed",
            |r| {
                r.commit_unsealed("u", "unsealed");
            },
            &["snapshot", "rel"],
            1,
        ),
        (
            "verify unsealed",
            |r| {
                r.commit_unsealed("u", "unsealed");
            },
            &["verify"],
            1,
        ),
    ];
    for (name, setup, args, code) in cases {
        let sb = Sandbox::new();
        let repo = sb.installed("r");
        repo.commit_file("a", "1\n", "first");
        setup(&repo);
        let r = repo.seal(args);
        assert_eq!(r.code(), *code, "{name}: {}", r.stderr());
        let hint = command_in(&r.stderr());
        let pasted = paste(&repo, &hint);
        assert_eq!(pasted.code(), 0, "{name}: {hint}: {}", pasted.stderr());
        let again = repo.seal(args);
        assert_eq!(again.code(), 0, "{name}: after {hint}: {}", again.stderr());
    }
}

#[test]
fn the_identity_hint_pasted_lets_sealing_work() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_unsealed("a", "first");
    repo.git(&["config", "--unset", "user.name"]).ok();
    let no_identity = |args: &[&str]| {
        let mut cmd = repo.cmd(crate::harness::SEAL, args);
        cmd.env_remove("GIT_COMMITTER_NAME")
            .env_remove("GIT_COMMITTER_EMAIL");
        run_with_stdin(cmd, b"")
    };
    let r = no_identity(&["seal"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    let hint = command_in(&r.stderr());
    assert_eq!(
        hint,
        "git config user.name 'Your Name' && git config user.email you@example.com"
    );
    paste(&repo, &hint).ok();
    no_identity(&["seal"]).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn hints_that_only_show_something_run_cleanly() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    for (args, what) in [
        (
            &["show", "nope"][..],
            "name a commit, branch or tag that exists: ",
        ),
        (
            &["verify", "nope"],
            "name a commit, branch or tag that exists: ",
        ),
        (&["push", "nowhere"], "name one: "),
        (
            &["snapshot", "a b"],
            "use letters, digits, '-', '_', '.' and '/': ",
        ),
        (
            &["seal", "--missing", "nope"],
            "name a commit, branch or tag that exists: ",
        ),
    ] {
        let r = repo.seal(args).fails_with(2);
        let hint = hinted(&r.stderr(), what);
        paste(&repo, &hint).ok();
    }
}

#[test]
fn rollback_with_no_snapshot_hints_a_snapshot_that_pasted_makes_rollback_work() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let r = repo.seal(&["rollback", "--reason", "test"]).fails_with(1);
    let hint = hinted(&r.stderr(), "make one from a sealed commit: ");
    paste(&repo, &hint).ok();
    repo.commit_file("a", "2\n", "second");
    repo.seal(&["rollback", "--reason", "test"]).ok();
    assert_eq!(std::fs::read_to_string(repo.path.join("a")).unwrap(), "1\n");
}

#[test]
fn status_hints_pasted_clear_what_status_reported() {
    let sb = Sandbox::new();
    // Not installed: the hooks are missing.
    let repo = sb.init("r", &[]);
    let r = repo.seal(&["status"]).ok();
    r.stdout_has("hook post-commit            missing");
    let hint = hinted(&r.stdout(), "install the hooks with: ");
    paste(&repo, &hint).ok();
    let r = repo.seal(&["status"]).ok();
    assert!(!r.stdout().contains("missing"), "{}", r.stdout());
    // A clone whose remote's seals are not fetched: fetch them, never re-seal them.
    repo.commit_file("a", "1\n", "first");
    let clone = sb.clone("r", "c");
    let r = clone.seal(&["status"]).ok();
    r.stdout_has("branch: 0 sealed, 1 unsealed commit(s)");
    let hint = hinted(&r.stdout(), "fetch the seals others made first: ");
    assert_eq!(hint, "git seal fetch origin");
    paste(&clone, &hint).ok();
    let r = clone.seal(&["status"]).ok();
    r.stdout_has("branch: 1 sealed, 0 unsealed commit(s)");
    assert!(!r.stdout().contains("hint: fetch"), "{}", r.stdout());
}
