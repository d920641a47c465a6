//! Config-defined hooks (git ≥ 2.54): install, status and uninstall beside another
//! manager's hooks-directory script, sealing and the push gate through them, and
//! `--global` for every repository of a user.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{assert_has, require_git, write_script, Run, Sandbox, TestRepo};

const OTHER: &str = "#!/bin/sh\n# another manager's hook\necho \"other $*\" >> \"$(git rev-parse --git-common-dir)/other.log\"\ncat >> \"$(git rev-parse --git-common-dir)/other.log\"\n";

fn other_log(repo: &TestRepo<'_>) -> String {
    std::fs::read_to_string(repo.path.join(".git/other.log")).unwrap_or_default()
}

fn hooks_dir_listing(repo: &TestRepo<'_>) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo.path.join(".git/hooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn config_hooks_install_beside_another_managers_script_both_run_and_uninstall_leaves_it() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let hook = repo.path.join(".git/hooks/post-commit");
    write_script(&hook, OTHER);
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();
    let before = hooks_dir_listing(&repo);

    let out = repo.seal(&["install"]).ok().stdout();
    assert_has(&out, "6 hooks installed in the repository's config");
    assert!(!out.contains("kept:"), "nothing chained: {out}");
    assert_eq!(
        hooks_dir_listing(&repo),
        before,
        "the hooks dir is untouched"
    );
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), OTHER);
    assert_eq!(
        repo.git_out(&["config", "--local", "hook.git-seal-post-commit.event"]),
        "post-commit"
    );
    repo.install(); // idempotent: one entry per event
    assert_eq!(
        repo.git_out(&[
            "config",
            "--local",
            "--get-all",
            "hook.git-seal-post-commit.event"
        ]),
        "post-commit"
    );
    assert_eq!(
        repo.git_out(&["hook", "list", "post-commit"]),
        "git-seal-post-commit\nhook from hookdir"
    );

    let c = repo.commit_file("a", "1", "first");
    assert!(repo.note(&c).is_some(), "git-seal sealed through config");
    assert_eq!(
        other_log(&repo),
        "other \n",
        "the other manager's hook ran once"
    );
    repo.seal(&["verify"]).ok();

    let status = repo.seal(&["status"]).ok().stdout();
    assert_has(&status, "hook post-commit            installed");
    assert_has(
        &status,
        "git runs: git-seal-post-commit (local), hook from hookdir",
    );
    let json = repo.seal(&["status", "--json"]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["hooks"]["post-commit"], true);
    assert_eq!(v["hook_list"]["post-commit"][1]["scope"], "hookdir");

    // Disabled in config: status says so and counts it missing.
    repo.git(&["config", "hook.git-seal-post-merge.enabled", "false"])
        .ok();
    let status = repo.seal(&["status"]).ok().stdout();
    assert_has(&status, "hook post-merge             missing");
    assert_has(&status, "git-seal-post-merge (local) disabled");
    repo.git(&["config", "--unset", "hook.git-seal-post-merge.enabled"])
        .ok();

    repo.seal(&["uninstall"]).ok();
    assert_eq!(
        repo.git(&["config", "--local", "--get-regexp", "^hook\\."])
            .code(),
        1,
        "no hook.* entry left"
    );
    assert_eq!(hooks_dir_listing(&repo), before);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), OTHER);
    assert_eq!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o777,
        0o750
    );
    let c = repo.commit_file("a", "2", "second");
    assert!(repo.note(&c).is_none(), "uninstalled: no more seals");
    assert_eq!(other_log(&repo), "other \nother \n", "the other still runs");
}

#[test]
fn config_hooks_seal_every_kind_of_commit_and_tags() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    let base = repo.commit_file("a", "1", "base");
    repo.git(&["checkout", "-q", "-b", "side"]).ok();
    repo.commit_file("b", "1", "side");
    repo.git(&["checkout", "-q", "main"]).ok();
    repo.commit_file("c", "1", "main");
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge", "side"])
        .ok();
    repo.git(&["commit", "-q", "--amend", "-m", "merge, amended"])
        .ok();
    repo.git(&["tag", "-a", "v1", "-m", "v1"]).ok();
    for rev in [base.as_str(), "HEAD", "HEAD^1", "HEAD^2"] {
        assert!(repo.note(rev).is_some(), "{rev} not sealed");
    }
    for rev in [base.as_str(), "HEAD", "HEAD^2", "v1"] {
        repo.seal(&["verify", rev]).ok();
    }
}

fn gated_pair(sb: &Sandbox) -> (TestRepo<'_>, TestRepo<'_>) {
    let server = sb.bare("server.git");
    server
        .seal(&["install", "--server"])
        .ok()
        .stdout_has("1 hooks installed");
    assert_eq!(
        server.git_out(&["hook", "list", "pre-receive"]),
        "git-seal-pre-receive"
    );
    let client = sb.clone("server.git", "client");
    client.git(&["config", "user.name", "Sam Sealer"]).ok();
    client
        .git(&["config", "user.email", "sam@example.com"])
        .ok();
    (server, client)
}

#[test]
fn config_hooks_pre_push_refuses_an_unsealed_commit_beside_another_pre_push() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let (server, client) = gated_pair(&sb);
    write_script(client.path.join(".git/hooks/pre-push"), OTHER);
    client.install();
    client.commit_file("a", "1", "sealed");
    client.git(&["push", "-q", "origin", "main"]).ok();
    assert!(server.note("main").is_some(), "the ledger went along");
    assert_has(&other_log(&client), "other origin ");

    let bad = client.commit_unsealed("b", "made with hooks off");
    let r = client.git(&["push", "-q", "origin", "main"]).fails_with(1);
    r.stderr_has(&bad[..7]);
    assert_ne!(server.rev("main"), bad, "refused by the client's pre-push");
    // The server's gate refuses it too when the client skips its own.
    let r = client
        .git(&["push", "-q", "--no-verify", "origin", "main"])
        .fails_with(1);
    r.stderr_has("pre-receive");
    assert_ne!(server.rev("main"), bad);
    client.seal(&["seal", "--missing"]).ok();
    client.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), bad);
}

#[test]
fn install_over_shims_moves_to_config_and_puts_the_chained_hook_back() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let hook = repo.path.join(".git/hooks/post-commit");
    write_script(&hook, OTHER);
    repo.seal(&["install", "--hooks", "files"])
        .ok()
        .stdout_has("kept: keep existing hook");
    assert!(repo
        .path
        .join(".git/hooks/post-commit.seal-chained")
        .exists());
    let out = repo.seal(&["install"]).ok().stdout();
    assert_has(&out, "remove hook");
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), OTHER);
    assert!(!repo
        .path
        .join(".git/hooks/post-commit.seal-chained")
        .exists());
    assert!(!repo.path.join(".git/hooks/pre-push").exists());
    let c = repo.commit_file("a", "1", "one");
    assert!(repo.note(&c).is_some());
    assert_eq!(other_log(&repo), "other \n");
    // And back: shims replace the config entries.
    repo.seal(&["install", "--hooks", "files"]).ok();
    assert_eq!(
        repo.git(&["config", "--local", "--get-regexp", "^hook\\."])
            .code(),
        1
    );
    let c = repo.commit_file("a", "2", "two");
    assert!(repo.note(&c).is_some());
    assert_eq!(
        other_log(&repo),
        "other \nother \n",
        "sealed once, other once"
    );
}

/// `git seal install --global` with the user's global config a file in the sandbox.
fn with_global(run: &TestRepo<'_>, global: &std::path::Path, program: &str, args: &[&str]) -> Run {
    let mut cmd = run.cmd(program, args);
    cmd.env("GIT_CONFIG_GLOBAL", global);
    Run {
        out: cmd.output().unwrap(),
    }
}

#[test]
fn install_global_seals_every_repository_of_the_user_and_uninstall_global_stops_it() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let global = sb.path().join("global.gitconfig");
    std::fs::write(&global, "").unwrap();
    let one = sb.init("one", &[]);
    let two = sb.init("two", &[]);
    let seal = env!("CARGO_BIN_EXE_git-seal");
    with_global(&one, &global, seal, &["install", "--global"])
        .ok()
        .stdout_has("6 hooks installed in the global config");
    assert_has(
        &std::fs::read_to_string(&global).unwrap(),
        "[hook \"git-seal-post-commit\"]",
    );
    assert_eq!(
        one.git(&["config", "--local", "--get-regexp", "^hook\\."])
            .code(),
        1,
        "nothing in the repository's own config"
    );
    for repo in [&one, &two] {
        repo.write("f", "1");
        repo.git(&["add", "f"]).ok();
        with_global(repo, &global, "git", &["commit", "-q", "-m", "one"]).ok();
        assert!(
            repo.note("HEAD").is_some(),
            "{} not sealed",
            repo.path.display()
        );
        with_global(repo, &global, seal, &["status"])
            .ok()
            .stdout_has("git-seal-post-commit (global)");
    }
    with_global(&one, &global, seal, &["uninstall", "--global"]).ok();
    assert!(!std::fs::read_to_string(&global)
        .unwrap()
        .contains("git-seal"));
    two.write("f", "2");
    with_global(&two, &global, "git", &["commit", "-q", "-a", "-m", "two"]).ok();
    assert!(two.note("HEAD").is_none());
}

#[test]
fn config_hooks_with_the_binary_gone_keep_the_commit_and_refuse_the_push() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let (server, client) = gated_pair(&sb);
    client.install();
    let real = std::fs::canonicalize(crate::harness::SEAL).unwrap();
    for event in ["post-commit", "pre-push"] {
        let key = format!("hook.git-seal-{event}.command");
        let command = client.git_out(&["config", &key]);
        assert!(command.contains(real.to_str().unwrap()), "{command}");
        let gone = command.replace(real.to_str().unwrap(), "/nonexistent/git-seal");
        client.git(&["config", &key, &gone]).ok();
    }
    client.write("a", "1");
    client.git(&["add", "a"]).ok();
    let r = client.git(&["commit", "-q", "-m", "kept"]).ok();
    r.stderr_has("warning: git-seal (post-commit): its binary is gone");
    r.stderr_has("hint: reinstall it with ./install.sh, then run: git seal seal --missing");
    let r = client.git(&["push", "-q", "origin", "main"]).fails_with(1);
    r.stderr_has("error: git-seal cannot check this push: its binary is gone");
    assert!(server.git(&["rev-parse", "-q", "--verify", "main"]).code() != 0);
}
