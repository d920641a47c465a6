//! The git matrix: scripts/test runs this binary on the git on PATH and again on the
//! newest git of Debian's source packages. These tests say which git they ran on, and
//! one needs a feature only newer git has, so the newest-git run is seen to be one.

use crate::harness::{git_ran_on, git_version, report, require_git, Sandbox};

#[test]
fn the_harness_reads_the_version_of_the_git_the_tests_run() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let (text, (major, minor, patch)) = git_version();
    assert_eq!(
        repo.git_out(&["version"]),
        format!("git version {text}"),
        "the harness asked another git than the tests run"
    );
    assert!(
        text.starts_with(&format!("{major}.{minor}.{patch}")) && *major >= 2,
        "{text} read as {major}.{minor}.{patch}"
    );
    report(&format!("ran on {}", git_ran_on()));
}

/// git 2.54's config-defined hooks run git-seal's hook as they would any command.
#[test]
fn a_config_defined_post_commit_hook_running_git_seal_seals() {
    if !require_git(2, 54) {
        return;
    }
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.git(&["config", "hook.seal.event", "post-commit"]).ok();
    repo.git(&["config", "hook.seal.command", "git-seal hook post-commit"])
        .ok();
    repo.git(&["hook", "list", "post-commit"])
        .ok()
        .stdout_has("seal");
    let id = repo.commit_file("f", "1\n", "one");
    assert!(
        repo.note(&id).is_some(),
        "no seal for {id} on {}",
        git_ran_on()
    );
}
