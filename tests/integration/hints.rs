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

/// `r`, installed, whose `origin` is the bare `hub.git` beside it.
pub fn installed_with_hub(sb: &Sandbox) -> TestRepo<'_> {
    let hub = sb.bare("hub.git");
    let repo = sb.init("r", &[]);
    repo.git(&["remote", "add", "origin", hub.path.to_str().unwrap()])
        .ok();
    repo.install();
    repo
}

#[test]
fn repo_flag_works_on_every_command_like_git_dash_c() {
    let sb = Sandbox::new();
    let repo = installed_with_hub(&sb);
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
    let repo = installed_with_hub(&sb);
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
            "seal.verbose",
            |r| {
                r.git(&["config", "seal.verbose", "maybe"]).ok();
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
        (&["rollback", "nope", "--reason", "r"], "list tags: "),
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

/// The seal of HEAD made to claim another author: it no longer verifies.
fn break_seal(repo: &TestRepo<'_>, rev: &str) {
    repo.tamper_seal(rev, |s| s.replace("Ada Author", "Eve"));
}

#[test]
fn seal_on_an_unborn_branch_hints_a_first_commit_that_pasted_lets_sealing_work() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    let r = repo.seal(&["seal"]).fails_with(2);
    r.stderr_has("nothing to seal: the current branch has no commits yet");
    let hint = hinted(&r.stderr(), "make a first commit: ");
    paste(&repo, &hint).ok();
    repo.seal(&["seal"]).ok();
    repo.seal(&["verify"])
        .ok()
        .stdout_has("ok: 1 commit(s) verified");
}

#[test]
fn status_hint_to_seal_what_is_unsealed_pasted_leaves_nothing_unsealed() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_unsealed("u", "unsealed");
    let r = repo.seal(&["status"]).ok();
    r.stdout_has("branch: 1 sealed, 1 unsealed commit(s)");
    let hint = hinted(&r.stdout(), "seal them with: ");
    paste(&repo, &hint).ok();
    let r = repo.seal(&["status"]).ok();
    r.stdout_has("branch: 2 sealed, 0 unsealed commit(s)");
    assert!(!r.stdout().contains("hint: seal"), "{}", r.stdout());
}

/// Hints for a seal that does not verify name the commit: pasted, they show it.
#[test]
fn hints_for_a_seal_that_does_not_verify_name_the_commit_and_show_it() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let id = repo.rev("HEAD");
    break_seal(&repo, "HEAD");
    let r = repo.seal(&["verify"]).fails_with(1);
    let line = hinted(&r.stderr(), "a seal that does not match ");
    let show = line
        .split("read it with ")
        .nth(1)
        .and_then(|l| l.split(", and check").next())
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(show, format!("git seal show {}", &id[..7]));
    paste(&repo, show).ok().stdout_has("Eve");
    // export refuses it and names the command that lists every problem.
    let r = repo.seal(&["export", "HEAD", "--out", "out"]).fails_with(1);
    let hint = hinted(&r.stderr(), "see every problem: ");
    assert_eq!(hint, "git seal verify HEAD");
    let shown = paste(&repo, &hint);
    assert_eq!(shown.code(), 1, "{}", shown.stderr());
    shown.stdout_has(&id[..7]);
}

#[test]
fn rollback_to_a_snapshot_that_does_not_verify_hints_the_closest_one_that_does() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.seal(&["snapshot", "good"]).ok();
    repo.commit_file("a", "2\n", "second");
    repo.seal(&["snapshot", "bad"]).ok();
    break_seal(&repo, "HEAD");
    repo.commit_file("a", "3\n", "third");
    let bad = repo.git_out(&["tag", "--list", "snapshot/bad*"]);
    let r = repo
        .seal(&["rollback", &bad, "--reason", "it's broken"])
        .fails_with(1);
    let hint = hinted(
        &r.stderr(),
        "roll back to the closest snapshot that verifies: ",
    );
    assert_eq!(hint, r"git seal rollback --reason 'it'\''s broken'");
    paste(&repo, &hint).ok();
    assert_eq!(std::fs::read_to_string(repo.path.join("a")).unwrap(), "1\n");
}

#[test]
fn a_locked_ledger_hints_the_real_lock_file_and_removing_it_lets_sealing_work() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_unsealed("u", "unsealed");
    repo.git(&["config", "seal.maxRetries", "0"]).ok();
    let lock = repo.path.join(".git/refs/notes/seal.lock");
    std::fs::write(&lock, "").unwrap();
    let r = repo.seal(&["seal"]).fails_with(2);
    let hint = hinted(&r.stderr(), "if no git process is running, remove it: ");
    assert_eq!(
        hint,
        format!("rm {}", std::fs::canonicalize(&lock).unwrap().display())
    );
    paste(&repo, &hint).ok();
    repo.seal(&["seal"]).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn a_writers_lock_held_by_another_process_hints_a_retry_that_works_once_it_is_gone() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_unsealed("u", "unsealed");
    repo.git(&["config", "seal.maxRetries", "0"]).ok();
    // Another git-seal writer, as flock(1) holds it: the same flock(2) lock.
    let lock = repo.path.join(".git/seal/ledger.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let mut holder = sb.command("flock", &repo.path);
    holder.arg("-o").arg(&lock).args(["sleep", "30"]);
    let mut holder = holder.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stderr = loop {
        let r = repo.seal(&["seal", "--missing"]);
        if r.code() == 2 {
            break r.stderr();
        }
        // flock(1) had not taken the lock yet: undo what sealed, and try again.
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was never held"
        );
        repo.git(&["update-ref", "-d", "refs/notes/seal"]).ok();
    };
    let hint = hinted(&stderr, "if it is stuck, stop it; then retry: ");
    assert_eq!(hint, "git seal seal --missing");
    holder.kill().unwrap();
    holder.wait().unwrap();
    paste(&repo, &hint).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn a_ledger_ref_that_is_no_commit_hints_another_ledger_that_pasted_works() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let blob = repo.blob(b"not a ledger\n");
    repo.git(&["update-ref", "refs/notes/seal", &blob]).ok();
    let r = repo.seal(&["seal", "--missing"]).fails_with(2);
    let hint = hinted(
        &r.stderr(),
        "inspect it (git cat-file -t refs/notes/seal) or set another ledger: ",
    );
    paste(&repo, &hint).ok();
    repo.seal(&["seal", "--missing"]).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn a_refused_push_of_a_broken_seal_names_the_commits_and_resealing_them_lets_it_through() {
    let sb = Sandbox::new();
    let repo = installed_with_hub(&sb);
    repo.commit_file("a", "1\n", "first");
    let id = repo.rev("HEAD");
    break_seal(&repo, "HEAD");
    let r = repo.git(&["push", "-q", "origin", "main"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let short = &id[..7];
    let line = hinted(&r.stderr(), "inspect with ");
    assert_eq!(
        line,
        format!("git seal verify {short}; re-seal what you trust: git seal seal --force {short}")
    );
    paste(
        &repo,
        &hinted(
            &r.stderr(),
            &format!("inspect with git seal verify {short}; re-seal what you trust: "),
        ),
    )
    .ok();
    repo.git(&["push", "-q", "origin", "main"]).ok();
}

#[test]
fn a_hooks_path_that_is_a_file_hints_unsetting_it_and_install_then_works() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.write("hp", "not a directory\n");
    repo.git(&["config", "core.hooksPath", "hp"]).ok();
    let r = repo.seal(&["install", "--hooks", "files"]).fails_with(2);
    let hint = hinted(&r.stderr(), "point core.hooksPath elsewhere: ");
    paste(&repo, &hint).ok();
    repo.install_shims();
}

#[test]
fn a_third_chained_hook_hints_removing_the_oldest_and_install_then_works() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.install_shims();
    let hooks = repo.path.join(".git/hooks");
    for (name, body) in [
        ("post-commit", "#!/bin/sh\necho third\n"),
        ("post-commit.seal-chained", "#!/bin/sh\necho second\n"),
        ("post-commit.seal-chained.stale", "#!/bin/sh\necho first\n"),
    ] {
        crate::harness::write_script(hooks.join(name), body);
    }
    let r = repo.seal(&["install", "--hooks", "files"]).fails_with(2);
    let hint = hinted(&r.stderr(), "remove the oldest, then install again: ");
    paste(&repo, &hint).ok();
    // The hint installs the default form (on git >= 2.54, config hooks); the
    // shim files install too now.
    repo.install_shims();
}

#[test]
fn man_into_an_unwritable_place_hints_a_directory_that_pasted_works() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.write("file", "x\n");
    let r = repo.seal(&["man", "--out", "file/man"]).fails_with(2);
    let hint = hinted(&r.stderr(), "name a directory you can write: ");
    paste(&repo, &hint).ok();
    assert!(repo.path.join("man").is_dir());
}

/// Hints with no command to paste are printed all the same (docs/HINTS.md says
/// why no command can fix each).
#[test]
fn hints_without_a_command_are_printed() {
    let sb = Sandbox::new();
    // A SHA-256 repository is no longer refused (tests/integration/sha256.rs).
    let r = sb.init("r256", &["--object-format=sha256"]);
    r.seal(&["status"]).ok();
    // git missing from PATH: where to get it depends on the system.
    let repo = installed_with_hub(&sb);
    repo.commit_file("a", "1\n", "first");
    let mut cmd = repo.cmd(crate::harness::SEAL, &["push"]);
    cmd.env("PATH", "/nonexistent");
    let e = run_with_stdin(cmd, b"");
    assert_eq!(e.code(), 2, "{}", e.stderr());
    e.stderr_has("hint: install git and put it on PATH");
    // A repository under a path that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let odd = sb.path().join(std::ffi::OsStr::from_bytes(b"r\xff"));
    std::fs::create_dir_all(&odd).unwrap();
    let at = sb.at(&odd);
    at.git(&["init", "-q"]).ok();
    let e = at.seal(&["status"]).fails_with(2);
    e.stderr_has("hint: move the repository to a path that is valid UTF-8");
    // A tag of a tree: git-seal seals tags of commits, and which commit is meant
    // only the user knows.
    repo.git(&["tag", "treetag", "HEAD^{tree}"]).ok();
    let e = repo.seal(&["seal", "treetag"]).fails_with(2);
    e.stderr_has("hint: git-seal seals tags of commits");
    // A date git cannot read: the hint gives forms it can.
    let e = repo.seal(&["log", "--since", "someday"]).fails_with(2);
    e.stderr_has("hint: e.g. --since yesterday");
    // Export into a place that cannot hold it: which of the three is wrong, and
    // its fix, is the user's to see.
    repo.write("file", "x\n");
    let e = repo.seal(&["export", "HEAD", "--out", "file/x"]);
    assert_ne!(e.code(), 0, "{}", e.stderr());
    e.stderr_has("hint: check that the directory is writable, has space and holds no links");
}

/// Under `--repo PATH`, hints name `git seal --repo PATH …`: pasted from the
/// directory the user ran git-seal in, they act on that repository.
#[test]
fn hints_under_repo_carry_the_flag_and_work_pasted_from_elsewhere() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_unsealed("u", "unsealed");
    let outside = sb.at(sb.path());
    let path = std::fs::canonicalize(&repo.path).unwrap();
    let path = path.to_str().unwrap();
    // show: "seal it: git seal --repo P seal HEAD".
    let r = outside.seal(&["--repo", "r", "show", "HEAD"]).fails_with(1);
    let hint = hinted(&r.stderr(), "seal it: ");
    assert_eq!(hint, format!("git seal --repo {path} seal HEAD"));
    paste(&outside, &hint).ok();
    outside.seal(&["--repo", "r", "show", "HEAD"]).ok();
    // status: "seal them with: git seal --repo P seal --missing".
    repo.commit_unsealed("v", "unsealed too");
    let r = outside.seal(&["status", "--repo", "r"]).ok();
    let hint = hinted(&r.stdout(), "seal them with: ");
    assert_eq!(hint, format!("git seal --repo {path} seal --missing"));
    paste(&outside, &hint).ok();
    repo.seal(&["status"])
        .ok()
        .stdout_has("branch: 3 sealed, 0 unsealed commit(s)");
    // Plain git commands in hints carry `-C P`: a bad seal.ref's fix, pasted from
    // outside, fixes the repository git-seal was pointed at.
    repo.git(&["config", "seal.ref", "refs/heads/not-notes"])
        .ok();
    let r = outside.seal(&["--repo", "r", "status"]).fails_with(2);
    let hint = hinted(&r.stderr(), "");
    assert_eq!(
        hint,
        format!("git -C {path} config seal.ref refs/notes/seal")
    );
    paste(&outside, &hint).ok();
    outside.seal(&["--repo", "r", "status"]).ok();
    // A hint that only shows something runs from outside too.
    let r = outside
        .seal(&["--repo", "r", "show", "no-such-rev"])
        .fails_with(2);
    let hint = hinted(&r.stderr(), "name a commit, branch or tag that exists: ");
    assert_eq!(hint, format!("git -C {path} log --oneline"));
    paste(&outside, &hint).ok();
    // Without --repo, hints name no flag.
    let r = repo.seal(&["export", "HEAD~3", "--out", "o"]);
    assert!(!r.stderr().contains("--repo"), "{}", r.stderr());
    assert!(!r.stderr().contains("git -C"), "{}", r.stderr());
}

#[test]
fn an_unknown_hook_hints_reinstalling_and_fetch_from_a_missing_remote_hints_a_retry() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let r = repo.seal(&["hook", "bogus"]).fails_with(2);
    let hint = hinted(&r.stderr(), "reinstall the hooks: ");
    paste(&repo, &hint).ok();
    let r = repo.seal(&["status"]).ok();
    assert!(!r.stdout().contains("missing"), "{}", r.stdout());
    // A remote whose repository is not there yet: once it is, the retry works.
    let hub = sb.path().join("hub.git");
    repo.git(&["remote", "add", "origin", hub.to_str().unwrap()])
        .ok();
    let r = repo.seal(&["fetch", "origin"]).fails_with(2);
    let hint = hinted(
        &r.stderr(),
        "check the remote (git remote -v), then retry: ",
    );
    assert_eq!(hint, "git seal fetch origin");
    sb.bare("hub.git");
    paste(&repo, &hint).ok();
}

#[test]
fn a_commit_the_hook_could_not_seal_hints_sealing_it_later_and_that_works() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.git(&["config", "seal.maxRetries", "0"]).ok();
    let lock = repo.path.join(".git/refs/notes/seal.lock");
    std::fs::write(&lock, "").unwrap();
    let r = repo
        .git(&["commit", "-q", "--allow-empty", "-m", "second"])
        .ok();
    r.stderr_has("nothing sealed");
    let hint = hinted(&r.stderr(), "seal later with: ");
    std::fs::remove_file(&lock).unwrap();
    paste(&repo, &hint).ok();
    repo.seal(&["verify", "--all"])
        .ok()
        .stdout_has("ok: 2 commit(s) verified");
}

/// Documents over the size cap: the hints show what made them so.
#[test]
fn seals_over_the_size_cap_hint_commands_that_show_why() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    // A note in the ledger no git-seal wrote: its size.
    repo.write("big", &"x".repeat(70 * 1024));
    repo.git(&["notes", "--ref=seal", "add", "-f", "-F", "big", "HEAD"])
        .ok();
    let r = repo.seal(&["show"]);
    assert_ne!(r.code(), 0, "{}", r.stderr());
    let hint = hinted(
        &r.stderr(),
        "no git-seal writes such a document; see its size with: ",
    );
    let size = paste(&repo, &hint).ok().stdout();
    assert!(size.trim().parse::<u64>().unwrap() > 64 * 1024, "{size}");
    // A commit whose names would make its seal too large: the names.
    let long = "n".repeat(70 * 1024);
    let mut args = crate::harness::HOOKS_OFF.to_vec();
    args.extend_from_slice(&["commit", "-q", "--allow-empty", "-m", "long name"]);
    let mut cmd = repo.cmd("git", &args);
    cmd.env("GIT_AUTHOR_NAME", &long);
    run_with_stdin(cmd, b"").ok();
    let id = repo.rev("HEAD");
    let r = repo.seal(&["seal", "HEAD"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let hint = hinted(&r.stderr(), "see them with: ");
    assert!(hint.ends_with(&id), "{hint}");
    paste(&repo, &hint).ok().stdout_has(&long);
}

#[test]
fn a_server_refusing_a_rewritten_ledger_hints_fetch_and_push_and_that_gets_through() {
    let sb = Sandbox::new();
    let repo = installed_with_hub(&sb);
    sb.at(sb.path().join("hub.git"))
        .seal(&["install", "--server"])
        .ok();
    repo.commit_file("a", "1\n", "first");
    repo.git(&["push", "-q", "origin", "main"]).ok();
    // A ledger started over: the server's is no ancestor of it.
    repo.git(&["update-ref", "-d", "refs/notes/seal"]).ok();
    repo.commit_file("a", "2\n", "second");
    repo.seal(&["seal", "--missing"]).ok();
    let r = repo.git(&["push", "-f", "origin", "refs/notes/seal:refs/notes/seal"]);
    assert_ne!(r.code(), 0, "{}", r.stderr());
    let server = r.stderr().replace("remote: ", "");
    let hint = hinted(
        &server,
        "fetch and merge the ledger instead of rewriting it, then push again: ",
    );
    paste(&repo, &hint).ok();
    repo.git(&["push", "-q", "origin", "main"]).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn a_fetched_ledger_that_is_not_canonical_hints_the_command_that_lists_it() {
    let sb = Sandbox::new();
    let repo = installed_with_hub(&sb);
    repo.commit_file("a", "1\n", "first");
    repo.git(&["push", "-q", "origin", "main"]).ok();
    repo.hostile_ledger_file("README", b"not a note\n");
    let hostile = repo.rev("refs/notes/seal");
    repo.git(&["push", "-q", "--no-verify", "origin", "refs/notes/seal"])
        .ok();
    let clone = sb.clone("hub.git", "c");
    let r = clone.seal(&["fetch", "origin"]).fails_with(1);
    let hint = hinted(&r.stderr(), "inspect it (");
    let list = hint
        .split(") and ask")
        .next()
        .unwrap_or_else(|| panic!("{hint}"));
    assert_eq!(list, format!("git ls-tree -r {hostile}"));
    paste(&clone, list).ok().stdout_has("\tREADME");
}

#[test]
fn a_tag_the_ledger_cannot_name_hints_a_rename_that_pasted_seals_it() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    // `rc-1` is taken: the suggested name must not be.
    repo.git(&["tag", "rc-1"]).ok();
    // The post-tag hook cannot seal it, and says how to fix that, not "seal it later".
    let r = repo
        .git(&["tag", "-a", "rc#1", "-m", "release candidate"])
        .ok();
    let from_hook = hinted(&r.stderr(), "rename it, then seal it: ");
    let r = repo.seal(&["seal", "rc#1"]).fails_with(2);
    r.stderr_has("cannot seal tag rc#1: the ledger names tags only with");
    let hint = hinted(&r.stderr(), "rename it, then seal it: ");
    assert_eq!(hint, from_hook);
    assert_eq!(
        hint,
        "git tag rc-1-2 'rc#1' && git tag -d 'rc#1' && git seal seal rc-1-2"
    );
    paste(&repo, &hint).ok();
    repo.seal(&["verify", "rc-1-2"]).ok();
    assert!(!repo.git_out(&["tag", "--list"]).contains('#'));
    // A part of a name that only starts wrong, beside one that is fine.
    repo.git(&["tag", "rel/.x"]).fails_with(128);
    repo.git(&["tag", "rel/ü"]).ok();
    let r = repo.seal(&["seal", "rel/ü"]).fails_with(2);
    let hint = hinted(&r.stderr(), "rename it, then seal it: ");
    assert_eq!(
        hint,
        "git tag rel/v- 'rel/ü' && git tag -d 'rel/ü' && git seal seal rel/v-"
    );
    paste(&repo, &hint).ok();
    repo.seal(&["verify", "rel/v-"]).ok();
}

#[test]
fn the_hooks_path_check_hint_names_the_broken_config_file() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    // git cannot expand the include (libgit2 skips it): only git's read fails.
    let config = repo.path.join(".git/config");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{good}[include]\n\tpath = ~nosuchuser/x\n"),
    )
    .unwrap();
    let r = repo.seal(&["status"]).fails_with(2);
    let hint = hinted(&r.stderr(), "check it: ");
    assert_eq!(hint, "git config --show-origin --get core.hooksPath");
    // Pasted, it names the line and the file to fix.
    let shown = paste(&repo, &hint);
    shown.stderr_has("could not expand include path '~nosuchuser/x'");
    shown.stderr_has("in file .git/config");
    std::fs::write(&config, good).unwrap();
    repo.seal(&["status"]).ok();
}

#[test]
fn a_push_to_a_remote_that_is_not_there_hints_a_retry_that_works_once_it_is() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let hub = sb.path().join("hub.git");
    repo.git(&["remote", "add", "origin", hub.to_str().unwrap()])
        .ok();
    // The server is there and can be read, but refuses every push.
    let server = sb.bare("hub.git");
    let hook = hub.join("hooks/pre-receive");
    crate::harness::write_script(
        &hook,
        "#!/bin/sh\necho closed for maintenance >&2\nexit 1\n",
    );
    let r = repo.seal(&["push", "origin"]).fails_with(2);
    r.stderr_has("closed for maintenance");
    let hint = hinted(&r.stderr(), "retry by hand: ");
    assert_eq!(hint, "git seal push origin");
    std::fs::remove_file(&hook).unwrap();
    paste(&repo, &hint).ok();
    drop(server);
    let theirs = sb.at(&hub).git_out(&["rev-parse", "refs/notes/seal"]);
    assert_eq!(theirs, repo.rev("refs/notes/seal"));
}

/// Every loose object write fails: the fanout directories are files.
fn block_object_writes(repo: &TestRepo<'_>) -> Vec<std::path::PathBuf> {
    repo.git(&["repack", "-adq"]).ok();
    repo.git(&["prune-packed"]).ok();
    let objects = repo.path.join(".git/objects");
    (0..=255u8)
        .map(|b| objects.join(format!("{b:02x}")))
        .inspect(|fanout| {
            assert!(!fanout.is_dir(), "{} holds loose objects", fanout.display());
            std::fs::write(fanout, "").unwrap();
        })
        .collect()
}

#[test]
fn a_seal_whose_objects_cannot_be_written_hints_a_retry_that_works_once_they_can() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_unsealed("u", "unsealed");
    let before = repo.rev("refs/notes/seal");
    let blocked = block_object_writes(&repo);
    let r = repo.seal(&["seal", "--missing"]).fails_with(2);
    let hint = hinted(&r.stderr(), "nothing was written; retry: ");
    assert_eq!(hint, "git seal seal --missing");
    assert_eq!(repo.rev("refs/notes/seal"), before, "the ledger moved");
    for fanout in blocked {
        std::fs::remove_file(fanout).unwrap();
    }
    paste(&repo, &hint).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn a_ledger_that_keeps_moving_hints_more_retries_and_with_them_sealing_works() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let older = repo.rev("refs/notes/seal");
    repo.commit_file("b", "2\n", "second");
    let newer = repo.rev("refs/notes/seal");
    repo.commit_unsealed("u", "unsealed");
    repo.git(&["config", "seal.maxRetries", "0"]).ok();
    // Another writer (not git-seal: it takes no writers' lock) moves the ledger
    // between two of its states: as fast as git can until git-seal has lost a race,
    // then every `pause` ms. Whether a given attempt loses is chance; the writer at
    // full speed makes losing certain enough in 200 tries, and the paused one makes
    // ten retries all losing (each needs the ref to move inside one attempt's
    // window, to the other state) out of reach even on a loaded machine.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pause = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mover = {
        let (stop, pause, dir) = (stop.clone(), pause.clone(), repo.path.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let to = if n.is_multiple_of(2) { &older } else { &newer };
                let _ = std::process::Command::new("git")
                    .current_dir(&dir)
                    .env("GIT_CONFIG_GLOBAL", "/dev/null")
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .args(["update-ref", "refs/notes/seal", to])
                    .status();
                n += 1;
                let ms = pause.load(std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
        })
    };
    let mut stderr = None;
    for _ in 0..200 {
        let r = repo.seal(&["seal", "--missing"]);
        if r.stderr().contains("kept moving under concurrent writers") {
            stderr = Some(r.stderr());
            break;
        }
    }
    let stderr = stderr.expect("the ledger never moved under git-seal in 200 tries");
    let hint = hinted(&stderr, "retry, or raise the limit: ");
    assert_eq!(hint, "git config seal.maxRetries 10");
    paste(&repo, &hint).ok();
    // With ten retries, sealing gets through a writer that keeps moving the ledger.
    pause.store(10, std::sync::atomic::Ordering::Relaxed);
    let r = repo.seal(&["seal", "--missing"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    mover.join().unwrap();
    assert_eq!(r.code(), 0, "{}", r.stderr());
}

#[test]
fn a_seal_missing_from_a_partial_clone_hints_a_fetch_that_works_once_its_remote_is_back() {
    let sb = Sandbox::new();
    let hub = sb.bare("hub.git");
    hub.git(&["config", "uploadpack.allowFilter", "true"]).ok();
    let repo = sb.init("r", &[]);
    repo.git(&["remote", "add", "origin", hub.path.to_str().unwrap()])
        .ok();
    repo.install();
    repo.commit_file("a", "1\n", "first");
    repo.git(&["push", "-q", "origin", "HEAD"]).ok();
    let url = format!("file://{}", hub.path.display());
    sb.at(sb.path())
        .git(&["clone", "-q", "--filter=blob:none", &url, "c"])
        .ok();
    let clone = sb.at(sb.path().join("c"));
    // The ledger's commits and trees, not its blobs (the clone's filter).
    clone
        .git(&["fetch", "-q", "origin", "refs/notes/seal:refs/notes/seal"])
        .ok();
    let away = sb.path().join("hub.away");
    std::fs::rename(&hub.path, &away).unwrap();
    let r = clone.seal(&["verify"]).fails_with(2);
    r.stderr_has("is not in this repository and could not be fetched");
    let hint = hinted(
        &r.stderr(),
        "in a partial clone, fetch it from its remote: ",
    );
    assert!(hint.starts_with("git fetch origin "), "{hint}");
    std::fs::rename(&away, &hub.path).unwrap();
    paste(&clone, &hint).ok();
    clone.seal(&["verify"]).ok();
}

#[test]
fn a_damaged_blob_hints_fsck_which_names_it() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    // Over the size git-seal streams from `git cat-file` rather than reads whole.
    let size = (32 << 20) + 1;
    repo.write("big", &"x".repeat(size));
    repo.git(&["add", "big"]).ok();
    repo.git(&["commit", "-qm", "big"]).ok();
    let blob = repo.rev("HEAD:big");
    let loose = repo
        .path
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    // A valid zlib stream of the wrong content: git reads it and finds it damaged.
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(format!("blob {size}\0{}", "y".repeat(10)).as_bytes())
        .unwrap();
    let mut perms = std::fs::metadata(&loose).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&loose, perms).unwrap();
    std::fs::write(&loose, z.finish().unwrap()).unwrap();
    let r = repo.seal(&["verify", "--no-cache"]);
    assert_ne!(r.code(), 0, "{}", r.stderr());
    let hint = hinted(&r.stderr(), "check the repository: ");
    assert_eq!(hint, "git fsck");
    let shown = paste(&repo, &hint);
    assert_ne!(shown.code(), 0);
    assert!(
        format!("{}{}", shown.stdout(), shown.stderr()).contains(&blob),
        "fsck does not name {blob}: {}{}",
        shown.stdout(),
        shown.stderr()
    );
}

#[test]
fn a_binary_under_a_path_that_is_not_utf8_hints_a_copy_that_installs() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let odd = sb.path().join(std::ffi::OsStr::from_bytes(b"bin\xff"));
    std::fs::create_dir_all(&odd).unwrap();
    crate::harness::copy_executable(crate::harness::SEAL, odd.join("git-seal"));
    let mut path = odd.as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut cmd = repo.cmd("git-seal", &["install"]);
    cmd.env("PATH", &path);
    let r = run_with_stdin(cmd, b"");
    assert_eq!(r.code(), 2, "{}", r.stderr());
    let hint = hinted(
        &r.stderr(),
        "copy it to a UTF-8 path and run it from there: ",
    );
    let mut cmd = repo.cmd("sh", &["-c", &hint]);
    cmd.env("PATH", &path);
    run_with_stdin(cmd, b"").ok();
    let installed = sb.path().join("home/.local/bin/git-seal");
    assert!(installed.is_file());
    // The hooks run the copy.
    let installed = installed.to_str().unwrap();
    let shim =
        std::fs::read_to_string(repo.path.join(".git/hooks/post-commit")).unwrap_or_default();
    let entries = repo.git(&["config", "--get-regexp", "^hook\\."]).stdout();
    assert!(
        shim.contains(installed) || entries.contains(installed),
        "{shim}{entries}"
    );
    repo.commit_file("a", "1\n", "first");
    repo.seal(&["verify"]).ok();
}

#[test]
fn export_without_out_hints_a_new_directory_that_pasted_exports_there() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    let id = repo.commit_file("a", "1\n", "first");
    let r = repo.seal(&["export", "HEAD"]).fails_with(2);
    let hint = hinted(&r.stderr(), "e.g. ");
    let dir = format!("seal-export-{}", &id[..7]);
    assert_eq!(hint, format!("git seal export HEAD --out {dir}"));
    paste(&repo, &hint).ok();
    // What it wrote is what sha256sum checks, from the worktree's root.
    let sums = format!("{dir}/checksums/CHECKSUMS-{id}.sha256");
    let r = run_with_stdin(repo.cmd("sha256sum", &["-c", "--strict", &sums]), b"");
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
}

#[test]
fn log_path_in_a_bare_repository_hints_the_log_without_it_and_that_works() {
    let sb = Sandbox::new();
    let bare = sb.bare("hub.git");
    let r = bare.seal(&["log", "--path", "a"]).fails_with(2);
    r.stderr_has("--path needs a worktree");
    let hint = hinted(&r.stderr(), "list the runs without it: ");
    assert_eq!(hint, "git seal log");
    paste(&bare, &hint).ok();
}
