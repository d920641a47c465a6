//! Do no harm: with git-seal installed, the git commands people run every day give
//! the same exit codes and leave the same refs (git-seal's own aside) as without it,
//! against remotes without a ledger, with one, and that gain one later; install
//! writes only where it was asked to; uninstall leaves everything as before.
//!
//! The twin tests run one scenario in two sandboxes whose clocks tick in step, once
//! with git-seal installed and once without, and compare what every step observed.

use std::path::Path;

use crate::harness::{assert_has, write_script, Sandbox, TestRepo};

/// What one step of a scenario left behind: its name, exit code and the user's refs.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    step: String,
    code: i32,
    refs: String,
}

struct Scenario<'s> {
    sb: &'s Sandbox,
    installed: bool,
    seen: Vec<Seen>,
}

impl<'s> Scenario<'s> {
    /// Runs `git args` in `repo` and records its exit code and `repo`'s refs.
    fn git(&mut self, repo: &TestRepo<'_>, args: &[&str]) -> i32 {
        let code = repo.git(args).code();
        self.seen.push(Seen {
            step: format!("{}: git {}", name_of(&repo.path), args.join(" ")),
            code,
            refs: repo.user_refs(),
        });
        code
    }

    /// `git seal args` in the installed twin; in the other, the clock moves as if.
    fn seal(&self, repo: &TestRepo<'_>, args: &[&str]) {
        if self.installed {
            repo.seal(args).ok();
        } else {
            self.sb.tick();
        }
    }
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// A hub (bare, no ledger yet) that alice pushes to, with a submodule in her tree,
/// and bob's clone of it: bob is the user, with or without git-seal.
fn daily_life(sb: &Sandbox, installed: bool) -> Vec<Seen> {
    let mut s = Scenario {
        sb,
        installed,
        seen: Vec::new(),
    };
    let _hub = sb.bare("hub.git");
    let lib = sb.init("lib", &[]);
    lib.commit_file("lib.c", "int x;\n", "lib");
    let alice = sb.init("alice", &[]);
    alice.commit_file("a.txt", "1\n", "a1");
    alice.add_submodule("lib", "vendor/lib");
    alice.git(&["commit", "-q", "-m", "add lib"]).ok();
    alice.git(&["remote", "add", "origin", "../hub.git"]).ok();
    alice.git(&["push", "-q", "origin", "main"]).ok();

    // Phase 1: the remote has no ledger.
    let bob = sb.clone("hub.git", "bob");
    bob.git(&["config", "user.name", "Bob"]).ok();
    bob.git(&["config", "user.email", "bob@example.com"]).ok();
    s.seal(&bob, &["install"]);
    s.git(&bob, &["fetch"]);
    s.git(&bob, &["pull", "--ff-only"]);
    s.git(&bob, &["fetch", "--all"]);
    s.git(&bob, &["remote", "update"]);
    s.git(&bob, &["fetch", "--prune"]);
    s.git(&bob, &["remote", "add", "lib", "../lib"]);
    s.git(&bob, &["fetch", "lib"]);
    s.git(&bob, &["remote", "remove", "lib"]);
    s.git(
        &bob,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "--init",
        ],
    );
    bob.commit_file("b.txt", "b\n", "b1");
    s.git(&bob, &["push", "origin", "main"]);

    // Phase 2: the remote gains a ledger (alice adopts git-seal); a plain fetch.
    alice.git(&["pull", "-q", "origin", "main"]).ok();
    alice.commit_file("a.txt", "2\n", "a2");
    s.seal(&alice, &["install"]);
    s.seal(&alice, &["seal", "--missing"]);
    alice.git(&["push", "-q", "origin", "main"]).ok();
    s.seal(&alice, &["push", "origin"]);
    s.git(&bob, &["fetch"]);
    s.git(&bob, &["pull", "--rebase"]);
    s.git(&bob, &["fetch", "--prune", "--all"]);

    // Daily work on a remote with a ledger.
    bob.commit_file("c.txt", "c\n", "c1");
    s.git(&bob, &["checkout", "-q", "-b", "topic", "HEAD~1"]);
    bob.commit_file("t.txt", "t\n", "t1");
    s.git(&bob, &["rebase", "-q", "main"]);
    bob.write("t.txt", "dirty\n");
    s.git(&bob, &["stash", "-q"]);
    s.git(&bob, &["stash", "pop", "-q"]);
    s.git(&bob, &["checkout", "-q", "--", "t.txt"]);
    s.git(&bob, &["worktree", "add", "-q", "../bob-wt", "-b", "wt"]);
    let wt = sb.at(sb.path().join("bob-wt"));
    wt.commit_file("w.txt", "w\n", "w1");
    s.git(&bob, &["bisect", "start", "topic", "main~2"]);
    s.git(&bob, &["bisect", "run", "sh", "-c", "test ! -f t.txt"]);
    s.git(&bob, &["bisect", "reset"]);
    s.git(&bob, &["gc", "-q"]);
    s.git(&bob, &["push", "origin", "topic"]);
    let carol = sb.clone("bob", "carol");
    s.git(&carol, &["fetch"]);
    s.git(&carol, &["pull"]);
    s.seen
}

#[test]
fn daily_git_commands_give_the_same_exit_codes_and_refs_with_and_without_git_seal() {
    let with = Sandbox::new();
    let without = Sandbox::new();
    let seen_with = daily_life(&with, true);
    let seen_without = daily_life(&without, false);
    assert_eq!(seen_with.len(), seen_without.len());
    for (w, wo) in seen_with.iter().zip(&seen_without) {
        assert_eq!(w, wo, "with git-seal vs without, at step {}", w.step);
    }
    // Every step succeeded (the scenario is a normal day).
    for s in &seen_with {
        assert_eq!(s.code, 0, "{} failed", s.step);
    }
    // And the seals came along: a plain fetch picked up the ledger the hub gained.
    let bob = with.at(with.path().join("bob"));
    bob.git(&[
        "rev-parse",
        "--verify",
        "-q",
        "refs/seal/remotes/origin/seal",
    ])
    .ok();
    bob.seal(&["verify", "main"]).ok();
}

#[test]
fn fetch_from_a_remote_without_a_ledger_succeeds_and_status_says_it_has_none() {
    let sb = Sandbox::new();
    let up = sb.init("up", &[]);
    up.commit_file("f", "1\n", "one");
    let clone = sb.clone("up", "clone");
    clone.install();
    // Before any fetch since install: not fetched yet, and the hint fetches.
    clone
        .seal(&["status"])
        .ok()
        .stdout_has("ledger upstream origin: not fetched yet: git fetch origin");
    clone.git(&["fetch"]).ok();
    clone
        .seal(&["status"])
        .ok()
        .stdout_has("ledger upstream origin: has no ledger (as of the last fetch)");
    let json = clone.seal(&["status", "--json"]).ok().stdout();
    assert_has(&json, r#""state": "no_ledger""#);
    clone
        .seal(&["fetch"])
        .ok()
        .stdout_has("origin has no ledger (refs/notes/seal); nothing to merge");
    // A remote added after install has no refspec: status says so, install adds it.
    clone.git(&["remote", "add", "up2", "../up"]).ok();
    clone.seal(&["status"]).ok().stdout_has(
        "ledger upstream up2: no fetch refspec for seals (remote added after install): git seal install",
    );
    clone.seal(&["install"]).ok();
    clone.git(&["fetch", "up2"]).ok();
    clone
        .seal(&["status"])
        .ok()
        .stdout_has("ledger upstream up2: has no ledger (as of the last fetch)");
}

/// The seal fetch refspec is a pattern so that git treats it as optional; that is git's
/// behaviour, not ours, so this runs on every git of the matrix (scripts/test) and
/// says which one it checked.
#[test]
fn the_pattern_refspec_is_optional_for_every_fetch_and_picks_up_a_ledger_gained_later() {
    let on = crate::harness::git_ran_on();
    let sb = Sandbox::new();
    let up = sb.init("up", &[]);
    up.commit_file("f", "1\n", "one");
    let other = sb.init("other", &[]);
    other.commit_file("o", "1\n", "other");
    let clone = sb.clone("up", "clone");
    clone.git(&["remote", "add", "other", "../other"]).ok();
    clone.install();
    assert_eq!(
        clone.git_out(&["config", "--get-all", "remote.other.fetch"]),
        "+refs/heads/*:refs/remotes/other/*\n+refs/notes/seal*:refs/seal/remotes/other/seal*",
        "{on}"
    );
    let fetches: &[&[&str]] = &[
        &["fetch"],
        &["pull", "--ff-only"],
        &["fetch", "--all"],
        &["remote", "update"],
        &["fetch", "--prune"],
        &["fetch", "origin", "main"],
        &["fetch", "other"],
    ];
    let every_fetch_succeeds = |clone: &TestRepo<'_>| {
        for args in fetches {
            let run = clone.git(args);
            assert_eq!(
                run.code(),
                0,
                "git {} failed on {on}:\n{}",
                args.join(" "),
                run.stderr()
            );
            assert!(
                !run.stderr().contains("couldn't find remote ref"),
                "git {} missed a remote ref on {on}:\n{}",
                args.join(" "),
                run.stderr()
            );
        }
    };
    every_fetch_succeeds(&clone);
    assert_eq!(
        clone.git_out(&["for-each-ref", "refs/seal/"]),
        "",
        "{on}: a ledger from nowhere"
    );

    // origin gains a ledger: the next plain fetch brings it, other still has none.
    up.install();
    up.seal(&["seal", "--missing"]).ok();
    up.commit_file("f", "2\n", "two");
    let ledger = up.rev("refs/notes/seal");
    let run = clone.git(&["fetch"]);
    assert_eq!(run.code(), 0, "git fetch failed on {on}:\n{}", run.stderr());
    assert_eq!(
        clone.rev("refs/seal/remotes/origin/seal"),
        ledger,
        "{on}: the plain fetch did not bring the new ledger"
    );
    clone.git(&["pull", "--ff-only"]).ok();
    clone.seal(&["verify", "HEAD"]).ok();
    // Every fetch keeps working, and --prune keeps a ledger the remote still has.
    every_fetch_succeeds(&clone);
    assert_eq!(clone.rev("refs/seal/remotes/origin/seal"), ledger, "{on}");
    crate::harness::report(&format!("fetch refspec checked on {on}"));
}

#[test]
fn the_refspec_of_earlier_versions_is_replaced_by_install_and_removed_by_uninstall() {
    let sb = Sandbox::new();
    let up = sb.init("up", &[]);
    up.commit_file("f", "1\n", "one");
    let clone = sb.clone("up", "clone");
    let before = clone.git_out(&["config", "--get-all", "remote.origin.fetch"]);
    // What git-seal 0.1 added: an exact refspec, which breaks every fetch.
    clone
        .git(&[
            "config",
            "--add",
            "remote.origin.fetch",
            "+refs/notes/seal:refs/seal/remotes/origin/seal",
        ])
        .ok();
    clone.git(&["fetch"]).fails_with(128);
    clone.install();
    clone.git(&["fetch"]).ok();
    assert_eq!(
        clone.git_out(&["config", "--get-all", "remote.origin.fetch"]),
        format!("{before}\n+refs/notes/seal*:refs/seal/remotes/origin/seal*")
    );
    clone.seal(&["uninstall"]).ok();
    assert_eq!(
        clone.git_out(&["config", "--get-all", "remote.origin.fetch"]),
        before
    );
}

/// Everything under the git dir that install or uninstall could touch, as text:
/// config, hooks (names, modes, bytes), refs, and git-seal's state directory.
fn footprint(repo: &TestRepo<'_>) -> String {
    let mut out = repo.git_out(&["config", "--local", "--list"]);
    out.push('\n');
    out.push_str(&repo.user_refs());
    out.push_str(&repo.git_out(&["for-each-ref", "refs/notes", "refs/seal"]));
    let git_dir = repo.path.join(".git");
    for sub in ["hooks", "seal"] {
        let mut entries: Vec<_> = std::fs::read_dir(git_dir.join(sub))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        entries.sort();
        for p in entries {
            use std::os::unix::fs::PermissionsExt;
            let mode = p.metadata().unwrap().permissions().mode();
            let bytes = std::fs::read(&p).unwrap_or_default();
            out.push_str(&format!(
                "\n{} {mode:o} {}",
                p.display(),
                String::from_utf8_lossy(&bytes).len()
            ));
        }
    }
    out
}

#[test]
fn dry_run_install_changes_nothing_and_uninstall_restores_config_hooks_and_refs() {
    let sb = Sandbox::new();
    let up = sb.init("up", &[]);
    up.commit_file("f", "1\n", "one");
    let repo = sb.clone("up", "clone");
    write_script(
        repo.path.join(".git/hooks/pre-push"),
        "#!/bin/sh\necho mine\n",
    );
    let before = footprint(&repo);
    let plan = repo.seal(&["install", "--dry-run"]).ok().stdout();
    assert_has(&plan, "would add fetch refspec");
    if crate::harness::git_version().1 >= (2, 54, 0) {
        // Config-defined hooks: the other hook stays where it is, unchained.
        assert_has(&plan, "would set hook.git-seal-pre-push.event = pre-push");
        assert!(!plan.contains("would keep existing hook"), "{plan}");
    } else {
        assert_has(&plan, "would keep existing hook");
    }
    assert_eq!(footprint(&repo), before, "a dry run changed something");
    repo.install();
    assert_ne!(footprint(&repo), before);
    let plan = repo.seal(&["uninstall", "--dry-run"]).ok().stdout();
    assert_has(&plan, "would remove fetch refspec");
    repo.seal(&["uninstall"]).ok();
    let after = footprint(&repo);
    // The run log stays (it is the audit trail); everything else is as before.
    let strip_log = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("/seal/runs") && !l.ends_with(".git/seal"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip_log(&after), strip_log(&before));
}

#[test]
fn a_global_hooks_path_shared_by_every_repository_is_left_alone_unless_asked() {
    let sb = Sandbox::new();
    let shared = sb.path().join("shared-hooks");
    std::fs::create_dir_all(&shared).unwrap();
    write_script(shared.join("pre-commit"), "#!/bin/sh\nexit 0\n");
    let global = sb.path().join("home/.gitconfig");
    std::fs::write(
        &global,
        format!("[core]\n\thooksPath = {}\n", shared.display()),
    )
    .unwrap();
    let repo = sb.init("repo", &[]);
    let global_env = |mut cmd: std::process::Command| {
        cmd.env("GIT_CONFIG_GLOBAL", &global);
        crate::harness::Run {
            out: cmd.output().unwrap(),
        }
    };
    let refused =
        global_env(repo.cmd(crate::harness::SEAL, &["install", "--hooks", "files"])).fails_with(2);
    refused.stderr_has("core.hooksPath is set in your global config");
    refused.stderr_has("git-seal left it alone");
    refused.stderr_has(
        "hint: to seal every repository that uses it: git seal install --hooks files --allow-shared-hooks",
    );
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&shared), ["pre-commit"]);
    // The hint, pasted: installs there, on purpose.
    global_env(repo.cmd(
        "sh",
        &["-c", "git seal install --hooks files --allow-shared-hooks"],
    ))
    .ok();
    assert!(names(&shared).contains(&"post-commit".to_string()));
}

#[test]
fn a_committed_hooks_directory_is_left_alone_unless_asked() {
    let sb = Sandbox::new();
    let repo = sb.init("repo", &[]);
    std::fs::create_dir_all(repo.path.join("githooks")).unwrap();
    write_script(repo.path.join("githooks/pre-push"), "#!/bin/sh\nexit 0\n");
    repo.git(&["add", "githooks"]).ok();
    repo.git(&["commit", "-q", "-m", "hooks"]).ok();
    repo.git(&["config", "core.hooksPath", "githooks"]).ok();
    let refused = repo.seal(&["install", "--hooks", "files"]).fails_with(2);
    refused.stderr_has("holds files this repository tracks, so git-seal left it alone");
    assert_eq!(repo.git_out(&["status", "--porcelain"]), "");
    let hint = refused.stderr();
    let command = hint
        .lines()
        .find_map(|l| l.split_once(": git seal ").map(|(_, c)| c.to_string()))
        .unwrap();
    repo.cmd("sh", &["-c", &format!("git seal {command}")])
        .output()
        .unwrap();
    assert!(repo.path.join("githooks/pre-push.seal-chained").exists());
}

#[test]
fn a_relative_hooks_path_is_wired_in_every_worktree_so_linked_worktrees_seal_too() {
    let sb = Sandbox::new();
    let repo = sb.init("repo", &[]);
    repo.commit_file("f", "1\n", "one");
    repo.git(&["worktree", "add", "-q", "../linked", "-b", "linked"])
        .ok();
    // As husky sets it: relative, resolved by git in the worktree a hook runs in.
    repo.git(&["config", "core.hooksPath", ".hooks"]).ok();
    repo.install_shims();
    let linked = sb.at(sb.path().join("linked"));
    assert!(linked.path.join(".hooks/post-commit").exists());
    let c = linked.commit_file("g", "2\n", "in the linked worktree");
    assert!(
        repo.note(&c).is_some(),
        "the linked worktree's commit is sealed"
    );
    repo.seal(&["uninstall"]).ok();
    assert!(!linked.path.join(".hooks").exists());
    assert!(!repo.path.join(".hooks").exists());
}

#[test]
fn push_dry_run_pushes_no_ledger() {
    let sb = Sandbox::new();
    let server = sb.bare("server.git");
    let repo = sb.installed("repo");
    repo.commit_file("f", "1\n", "one");
    repo.git(&["remote", "add", "origin", "../server.git"]).ok();
    repo.git(&["push", "--dry-run", "origin", "main"]).ok();
    repo.git(&["push", "-n", "-q", "origin", "main"]).ok();
    assert_eq!(server.user_refs(), "");
    server
        .git(&["rev-parse", "--verify", "-q", "refs/notes/seal"])
        .fails_with(1);
    repo.git(&["push", "-q", "origin", "main"]).ok();
    server
        .git(&["rev-parse", "--verify", "-q", "refs/notes/seal"])
        .ok();
}
