//! git-seal beside the hook managers people already use, each the real tool:
//! lefthook and husky from npm, pre-commit and prek from PyPI (`scripts/test` sets
//! them up). Each test installs the tool the way its docs say, in the order that
//! breaks things (git-seal first), and checks commits are sealed, pushes gated, and
//! `status` names what took which hook.

use std::path::PathBuf;

use crate::harness::{run_with_stdin, Run, Sandbox, TestRepo};

/// The tool's executable from PATH. Without it: lefthook and husky are skipped with
/// the reason when `scripts/test` found no npm; otherwise the suite was not set up.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.exists());
    if found.is_none() && std::env::var_os("GIT_SEAL_TEST_NO_NPM").is_some() {
        eprintln!("not run: {name} comes from npm, which scripts/test did not find on PATH");
        return None;
    }
    Some(found.unwrap_or_else(|| {
        panic!("{name} is needed for this test and is not on PATH: run the suite with scripts/test, which sets it up")
    }))
}

fn run(repo: &TestRepo<'_>, program: &PathBuf, args: &[&str]) -> Run {
    let mut cmd = repo.cmd(program, args);
    // lefthook and husky print colours and boxes; keep their output plain.
    cmd.env("CI", "true");
    run_with_stdin(cmd, b"")
}

fn paste(repo: &TestRepo<'_>, command: &str) -> Run {
    run_with_stdin(repo.cmd("sh", &["-c", command]), b"")
}

/// The command of the first `hint: <what>` line of `stdout`.
fn hint_after(stdout: &str, what: &str) -> String {
    let prefix = format!("hint: {what}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{stdout}"))
        .to_string()
}

fn with_remote<'s>(sb: &'s Sandbox) -> (TestRepo<'s>, TestRepo<'s>) {
    let server = sb.bare("server.git");
    server.seal(&["install", "--server"]).ok();
    let repo = sb.init("r", &[]);
    repo.git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    repo.install();
    repo.commit_file("a", "1\n", "first");
    repo.git(&["push", "-q", "origin", "main"]).ok();
    (server, repo)
}

/// The README's block marked `<!-- tested: NAME`.
fn readme_block(name: &str) -> String {
    let readme = include_str!("../../README.md");
    let at = readme.find(&format!("<!-- tested: {name} ")).unwrap();
    let rest = &readme[at..];
    let open = rest.find("```sh\n").unwrap() + 6;
    let len = rest[open..].find("```").unwrap();
    rest[open..open + len].to_string()
}

#[test]
fn lefthook_installed_after_git_seal_is_named_by_status_and_a_reinstall_seals_again() {
    if !crate::harness::shims_by_default() {
        return;
    }
    let Some(lefthook) = tool("lefthook") else {
        return;
    };
    let sb = Sandbox::new();
    let (server, repo) = with_remote(&sb);
    repo.write(
        "lefthook.yml",
        "post-commit:\n  commands:\n    mark:\n      run: echo ran >> lefthook-ran\npre-push:\n  commands:\n    ok:\n      run: \"true\"\n",
    );
    std::fs::write(repo.path.join(".git/info/exclude"), "lefthook-ran\n").unwrap();
    repo.git(&["add", "lefthook.yml"]).ok();
    repo.git(&["commit", "-qm", "lefthook"]).ok();
    // What breaks: lefthook moves git-seal's hooks to .old and never runs them.
    run(&repo, &lefthook, &["install"]).ok();
    let silent = repo.commit_file("b", "2\n", "after lefthook");
    assert!(
        repo.note(&silent).is_none(),
        "lefthook ran git-seal's .old hook?"
    );
    let status = repo.seal(&["status"]).ok();
    status
        .stdout_has("hook post-commit            taken by lefthook; it moved git-seal's hook to ");
    status.stdout_has("post-commit.old, which nothing runs");
    status.stdout_has("hook pre-push               taken by lefthook");
    let fix = hint_after(&status.stdout(), "chain it and put git-seal's hook back: ");
    assert_eq!(fix, "git seal install");
    // The unsealed commit's push is accepted by the client: only the server's gate
    // (or status) catches it.
    let refused = repo.git(&["push", "origin", "main"]).fails_with(1);
    refused.stderr_has("push refused");
    assert_ne!(server.rev("main"), silent);

    // The fix, pasted: lefthook's hooks still run (chained), git-seal's run again.
    paste(&repo, &fix).ok();
    repo.seal(&["seal", "--missing"]).ok();
    let before = std::fs::read_to_string(repo.path.join("lefthook-ran")).unwrap();
    let c = repo.commit_file("c", "3\n", "after the fix");
    assert!(repo.note(&c).is_some(), "not sealed after the re-install");
    let after = std::fs::read_to_string(repo.path.join("lefthook-ran")).unwrap();
    assert_eq!(
        after.lines().count(),
        before.lines().count() + 1,
        "lefthook's hook did not run"
    );
    assert!(!repo.path.join(".git/hooks/post-commit.old").exists());
    repo.seal(&["status"])
        .ok()
        .stdout_has("hook post-commit            installed");
    repo.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), c);
    let bad = repo.commit_unsealed("d", "unsealed");
    repo.git(&["push", "origin", "main"]).fails_with(1);
    assert_ne!(server.rev("main"), bad);
    repo.git(&["reset", "-q", "--hard", &c]).ok();

    // lefthook install again (a teammate's `npm install` runs it) takes them back,
    // without failing on a stale .old; a re-install puts git-seal back once more,
    // over a chained lefthook hook that is the same file again.
    run(&repo, &lefthook, &["install"]).ok();
    repo.seal(&["status"]).ok().stdout_has("taken by lefthook");
    let r = repo.seal(&["install"]).ok();
    assert!(!r.stderr().contains("error"), "{}", r.stderr());
    let e = repo.commit_file("e", "5\n", "after lefthook again");
    assert!(
        repo.note(&e).is_some(),
        "not sealed after the second re-install"
    );
    repo.seal(&["verify", "--all"]).ok();
}

#[test]
fn husky_recipe_from_the_readme_seals_commits_and_tags_and_gates_pushes() {
    if !crate::harness::shims_by_default() {
        return;
    }
    let Some(husky) = tool("husky") else {
        return;
    };
    let sb = Sandbox::new();
    let (server, repo) = with_remote(&sb);
    // What breaks: husky moves core.hooksPath; git-seal's hooks stop running.
    run(&repo, &husky, &[]).ok();
    assert_eq!(
        repo.git_out(&["config", "core.hooksPath"]).trim(),
        ".husky/_"
    );
    let silent = repo.commit_file("b", "2\n", "after husky");
    assert!(repo.note(&silent).is_none());
    let status = repo.seal(&["status"]).ok();
    status.stdout_has("hook post-commit            taken by husky");
    let fix = hint_after(&status.stdout(), "add git-seal to husky's script: ");
    assert_eq!(
        fix,
        "echo 'git seal hook post-commit \"$@\"' >> .husky/post-commit"
    );
    // The status hint, pasted, puts git-seal into husky's post-commit.
    paste(&repo, &fix).ok();
    let c = repo.commit_file("c", "3\n", "post-commit fixed");
    assert!(repo.note(&c).is_some(), "the pasted hint did not seal");
    std::fs::remove_file(repo.path.join(".husky/post-commit")).unwrap();

    // The README's recipe, as written.
    let r = paste(&repo, &readme_block("husky")).ok();
    r.stdout_has("left to the hook manager there: post-commit, post-merge, post-rewrite, post-applypatch, pre-push");
    for hook in [
        "post-commit",
        "post-merge",
        "post-rewrite",
        "post-applypatch",
        "pre-push",
    ] {
        r.stdout_has(format!("hook {hook:<22} run by husky, through "));
    }
    r.stdout_has("hook reference-transaction  installed");
    repo.seal(&["seal", "--missing"]).ok();
    let d = repo.commit_file("d", "4\n", "sealed through husky");
    assert!(repo.note(&d).is_some());
    repo.git(&["commit", "-q", "--amend", "-m", "amended through husky"])
        .ok();
    let amended = repo.rev("HEAD");
    assert!(repo.note(&amended).is_some(), "post-rewrite did not seal");
    repo.git(&["tag", "-a", "v1", "-m", "v1"]).ok();
    repo.seal(&["verify", "v1"]).ok();
    // Through husky's script there is no shim to name git's process: a dry run is
    // still told from a push, and pushes nothing, the ledger included.
    let ledger_before = server
        .git(&["rev-parse", "-q", "--verify", "refs/notes/seal"])
        .stdout();
    repo.git(&["push", "-q", "--dry-run", "origin", "main"])
        .ok();
    assert_eq!(
        server
            .git(&["rev-parse", "-q", "--verify", "refs/notes/seal"])
            .stdout(),
        ledger_before,
        "a dry-run push through husky pushed the ledger"
    );
    repo.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), amended);
    let bad = repo.commit_unsealed("e", "unsealed");
    let refused = repo.git(&["push", "origin", "main"]).fails_with(1);
    refused.stderr_has("push refused");
    assert_ne!(server.rev("main"), bad);
    repo.git(&["reset", "-q", "--hard", &amended]).ok();
    // husky run again (npm install's prepare) rewrites its stubs: nothing breaks.
    run(&repo, &husky, &[]).ok();
    let f = repo.commit_file("f", "6\n", "after husky again");
    assert!(repo.note(&f).is_some());
}

/// pre-commit's and prek's executables, from the virtualenv scripts/test sets up.
fn python_tool(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{name} is needed for this test and is not on PATH: run the suite with scripts/test, which sets it up")
        })
}

#[test]
fn pre_commit_and_prek_after_git_seal_run_it_through_legacy_and_status_says_so() {
    if !crate::harness::shims_by_default() {
        return;
    }
    for name in ["pre-commit", "prek"] {
        let exe = python_tool(name);
        let sb = Sandbox::new();
        let (_server, repo) = with_remote(&sb);
        repo.write(".pre-commit-config.yaml", "repos: []\n");
        run(
            &repo,
            &exe,
            &[
                "install",
                "--hook-type",
                "post-commit",
                "--hook-type",
                "pre-push",
            ],
        )
        .ok();
        assert!(repo.path.join(".git/hooks/post-commit.legacy").exists());
        let c = repo.commit_file("b", "2\n", "after the framework");
        assert!(repo.note(&c).is_some(), "{name}: not sealed");
        let status = repo.seal(&["status"]).ok();
        assert!(
            !status.stdout().contains("missing"),
            "{name}: {}",
            status.stdout()
        );
        assert!(
            !status.stdout().contains("hint:"),
            "{name}: {}",
            status.stdout()
        );
        status.stdout_has(format!(
            "hook post-commit            run by {name}, through "
        ));
        status.stdout_has("post-commit.legacy");
        // Installing again chains nothing: git-seal already runs, once.
        repo.seal(&["install"]).ok();
        assert!(!repo
            .path
            .join(".git/hooks/post-commit.seal-chained")
            .exists());
        let bad = repo.commit_unsealed("u", "unsealed");
        repo.git(&["push", "origin", "main"]).fails_with(1);
        assert_ne!(repo.rev("origin/main"), bad);
    }
}

#[test]
fn install_replaces_a_stale_seal_chained_hook_and_keeps_the_old_one_aside() {
    if !crate::harness::shims_by_default() {
        return;
    }
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let hooks = repo.path.join(".git/hooks");
    let write_hook = |body: &str| {
        crate::harness::write_script(hooks.join("post-commit"), &format!("#!/bin/sh\n{body}\n"));
    };
    write_hook("echo old >> ran");
    repo.install();
    // A tool writes its own post-commit over git-seal's shim.
    write_hook("echo new >> ran");
    let status = repo.seal(&["status"]).ok();
    status.stdout_has("hook post-commit            taken by another tool");
    let fix = hint_after(&status.stdout(), "chain it and put git-seal's hook back: ");
    paste(&repo, &fix).ok();
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-commit.seal-chained")).unwrap(),
        "#!/bin/sh\necho new >> ran\n"
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-commit.seal-chained.stale")).unwrap(),
        "#!/bin/sh\necho old >> ran\n"
    );
    std::fs::write(repo.path.join(".git/info/exclude"), "ran\n").unwrap();
    let c = repo.commit_file("a", "1\n", "first");
    assert!(repo.note(&c).is_some());
    assert_eq!(
        std::fs::read_to_string(repo.path.join("ran")).unwrap(),
        "new\n"
    );
    // The same file written again (a tool re-run): nothing more to keep.
    write_hook("echo new >> ran");
    repo.seal(&["install"]).ok();
    let c = repo.commit_file("a", "2\n", "second");
    assert!(repo.note(&c).is_some());
    assert_eq!(
        std::fs::read_to_string(repo.path.join("ran")).unwrap(),
        "new\nnew\n"
    );
}
