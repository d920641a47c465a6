//! The README's blocks marked `<!-- tested: NAME -->` run as written, and what its
//! adoption walkthrough promises (a fresh clone verified with nothing typed but
//! install, seals after a pull, CI on a shallow clone) holds.

use crate::harness::{run_with_stdin, Run, Sandbox, TestRepo};

const README: &str = include_str!("../../README.md");

/// The first fenced block after the `<!-- tested: NAME` marker.
fn block(name: &str) -> String {
    let marker = format!("<!-- tested: {name} ");
    let at = README
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"));
    let rest = &README[at..];
    let open = rest.find("```sh\n").expect("a sh block after the marker") + 6;
    let len = rest[open..].find("```").expect("the block's end");
    rest[open..open + len].to_string()
}

fn sh(repo: &TestRepo<'_>, script: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = repo.cmd("sh", &["-e", "-c", script]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_stdin(cmd, b"")
}

#[test]
fn the_readme_tour_runs_as_written() {
    let sb = Sandbox::new();
    let here = sb.at(sb.path());
    let r = sh(&here, &block("tour"), &[]).ok();
    r.stdout_has("schema: git-seal/seal/v1");
    r.stdout_has("ok: 1 commit(s) verified");
    r.stdout_has("worktree README: modified");
    r.stdout_has("exit 1: README no longer matches");
    r.stdout_has("README: OK");
    r.stdout_has("ok: 0 commit(s), 1 tag(s) verified");
    r.stdout_has("branch: 1 sealed, 0 unsealed commit(s)");
}

/// A server without a gate, as a hosted one is: what CI has to catch.
fn hub_with_sealed_history(sb: &Sandbox) -> (TestRepo<'_>, TestRepo<'_>) {
    let hub = sb.bare("hub.git");
    let dev = sb.clone("hub.git", "dev");
    dev.git(&["symbolic-ref", "HEAD", "refs/heads/main"]).ok();
    dev.install();
    dev.commit_file("a", "1\n", "first");
    dev.commit_file("b", "2\n", "second");
    dev.git(&["push", "-q", "origin", "main"]).ok();
    (hub, dev)
}

#[test]
fn the_readme_ci_recipe_passes_a_sealed_push_and_fails_an_unsealed_one_with_the_refusal_text() {
    let sb = Sandbox::new();
    let (_hub, dev) = hub_with_sealed_history(&sb);
    let recipe = block("ci");
    // The YAML recipes run the same commands as the tested block.
    let github =
        &README[README.find("GitHub Actions (").unwrap()..README.find("GitLab CI (").unwrap()];
    for line in [
        "git seal fetch origin",
        "git seal verify --all \"$AFTER\"",
        "git seal verify \"$BEFORE..$AFTER\"",
    ] {
        assert!(recipe.contains(line), "the tested block lacks {line}");
        assert!(
            github.contains(line),
            "the GitHub Actions recipe lacks {line}"
        );
    }
    assert!(README.contains("git seal verify --all \"$CI_COMMIT_SHA\""));
    assert!(README.contains("git seal verify \"$CI_COMMIT_BEFORE_SHA..$CI_COMMIT_SHA\""));

    // A new branch: everything it holds.
    let ci = sb.clone("hub.git", "ci");
    let after = ci.rev("HEAD");
    let zero = "0000000000000000000000000000000000000000";
    let r = sh(&ci, &recipe, &[("BEFORE", zero), ("AFTER", &after)]).ok();
    r.stdout_has("ok: 2 commit(s) verified");

    // A push that skipped the client's gate brings an unsealed commit; CI says what
    // the gate said when it refused it.
    let before = dev.rev("HEAD");
    let bad = dev.commit_unsealed("c", "unsealed");
    let refusal_line = format!("{} unsealed: no seal", &bad[..7]);
    let refused = dev.git(&["push", "origin", "main"]).fails_with(1);
    refused.stderr_has(&refusal_line);
    dev.git(&["push", "-q", "--no-verify", "origin", "main"])
        .ok();
    let ci = sb.clone("hub.git", "ci2");
    let r = sh(&ci, &recipe, &[("BEFORE", &before), ("AFTER", &bad)]).fails_with(1);
    r.stdout_has(&refusal_line);
}

/// The first ```yaml block after `heading`, parsed.
fn yaml_after(heading: &str) -> serde_json::Value {
    let rest = &README[README
        .find(heading)
        .unwrap_or_else(|| panic!("README lacks {heading}"))..];
    let open = rest.find("```yaml\n").expect("a yaml block") + 8;
    let len = rest[open..].find("```").expect("the block's end");
    serde_norway::from_str(&rest[open..open + len]).expect("the recipe is YAML")
}

/// The recipe's shell steps as the runner runs them, but the step that installs
/// git-seal (the sandbox has it on PATH already).
fn shell_steps<'a>(steps: impl Iterator<Item = &'a str>) -> String {
    steps
        .filter(|s| !s.starts_with("cargo install"))
        .map(|s| format!("{s}\n"))
        .collect()
}

#[test]
fn the_github_and_gitlab_ci_recipes_run_as_written_against_a_bare_remote() {
    let sb = Sandbox::new();
    let (_hub, dev) = hub_with_sealed_history(&sb);
    let github = yaml_after("GitHub Actions (");
    let steps = github["jobs"]["seal"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["with"]["fetch-depth"], 0, "a full clone");
    let script = shell_steps(steps.iter().filter_map(|s| s["run"].as_str()));
    let env = steps
        .iter()
        .find_map(|s| s["env"].as_object())
        .expect("the step's env");
    assert_eq!(env["BEFORE"], "${{ github.event.before }}");
    assert_eq!(env["AFTER"], "${{ github.sha }}");
    let gitlab = yaml_after("GitLab CI (");
    assert_eq!(gitlab["seal"]["variables"]["GIT_DEPTH"], 0, "a full clone");
    let gitlab_script = shell_steps(
        gitlab["seal"]["script"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str()),
    );
    // Each recipe, as the runner gives it the push: (before, after) in its variables.
    let run = |name: &str, before: &str, after: &str| {
        let ci = sb.clone("hub.git", name);
        let gh = sh(&ci, &script, &[("BEFORE", before), ("AFTER", after)]);
        let gl = sh(
            &ci,
            &gitlab_script,
            &[("CI_COMMIT_BEFORE_SHA", before), ("CI_COMMIT_SHA", after)],
        );
        (gh, gl)
    };
    let zero = "0000000000000000000000000000000000000000";
    let (gh, gl) = run("new-branch", zero, &dev.rev("HEAD"));
    gh.ok().stdout_has("ok: 2 commit(s) verified");
    gl.ok().stdout_has("ok: 2 commit(s) verified");
    // A sealed push: the pushed range passes.
    let before = dev.rev("HEAD");
    dev.commit_file("c", "3\n", "third");
    dev.git(&["push", "-q", "origin", "main"]).ok();
    let (gh, gl) = run("sealed", &before, &dev.rev("HEAD"));
    gh.ok().stdout_has("ok: 1 commit(s) verified");
    gl.ok().stdout_has("ok: 1 commit(s) verified");
    // An unsealed push (the client's gate skipped): both fail with the refusal text.
    let before = dev.rev("HEAD");
    let bad = dev.commit_unsealed("d", "unsealed");
    dev.git(&["push", "-q", "--no-verify", "origin", "main"])
        .ok();
    let (gh, gl) = run("unsealed", &before, &bad);
    let refusal = format!("{} unsealed: no seal", &bad[..7]);
    gh.fails_with(1).stdout_has(&refusal);
    gl.fails_with(1).stdout_has(&refusal);
}

#[test]
fn a_shallow_clone_verifies_what_it_holds_and_says_what_it_cannot() {
    let sb = Sandbox::new();
    let (hub, _dev) = hub_with_sealed_history(&sb);
    let url = format!("file://{}", hub.path.display());
    sb.command("git", sb.path())
        .args(["clone", "-q", "--depth", "1", &url, "shallow"])
        .output()
        .unwrap();
    let shallow = sb.at(sb.path().join("shallow"));
    shallow.install();
    let r = shallow.seal(&["verify", "--all"]).ok();
    r.stdout_has("ok: 1 commit(s) verified");
    r.stderr_has("note: this is a shallow clone");
    r.stderr_has(
        "hint: to check the whole history: git fetch --unshallow && git seal verify --all",
    );
    // A range past the boundary names the same fix, not a branch that is not there.
    let r = shallow.seal(&["verify", "HEAD~1..HEAD"]).fails_with(2);
    r.stderr_has("hint: this is a shallow clone, which lacks older commits: git fetch --unshallow");
    // The hint, pasted.
    let r = sh(
        &shallow,
        "git fetch -q --unshallow && git seal verify --all",
        &[],
    )
    .ok();
    r.stdout_has("ok: 2 commit(s) verified");
    assert!(!r.stderr().contains("shallow clone"), "{}", r.stderr());
}

#[test]
fn a_fresh_clone_is_verified_with_nothing_typed_but_install_and_pulls_bring_seals() {
    let sb = Sandbox::new();
    let (hub, dev) = hub_with_sealed_history(&sb);
    let mate = sb.clone("hub.git", "mate");
    let r = mate.seal(&["install"]).ok();
    r.stdout_has("git-seal: fetched origin's ledger and merged it: refs/notes/seal at ");
    mate.seal(&["verify", "--all"])
        .ok()
        .stdout_has("ok: 2 commit(s) verified");
    let status = mate.seal(&["status"]).ok();
    status.stdout_has("branch: 2 sealed, 0 unsealed commit(s)");
    assert!(
        !status.stdout().contains("seal seal"),
        "{}",
        status.stdout()
    );
    // Nothing was sealed here: the ledger is the hub's, as it came.
    assert_eq!(mate.rev("refs/notes/seal"), hub.rev("refs/notes/seal"));

    // The dev pushes more; a plain pull brings the commit and its seal.
    let c = dev.commit_file("c", "3\n", "third");
    dev.git(&["push", "-q", "origin", "main"]).ok();
    mate.git(&["pull", "-q", "--ff-only"]).ok();
    assert_eq!(mate.rev("HEAD"), c);
    let shown = mate.git_out(&["log", "-1", "--show-notes=seal", "--format=%N"]);
    assert!(shown.contains(&format!("commit: {c}")), "{shown}");
    mate.seal(&["verify", "--all"])
        .ok()
        .stdout_has("ok: 3 commit(s) verified");
    // Installing again fetches nothing new and says nothing about it.
    let again = mate.seal(&["install"]).ok();
    assert!(!again.stdout().contains("fetched"), "{}", again.stdout());
}

#[test]
fn install_in_a_clone_of_an_unreachable_remote_warns_and_installs() {
    let sb = Sandbox::new();
    let (_hub, _dev) = hub_with_sealed_history(&sb);
    let mate = sb.clone("hub.git", "mate");
    std::fs::rename(sb.path().join("hub.git"), sb.path().join("gone.git")).unwrap();
    let r = mate.seal(&["install"]).ok();
    r.stderr_has("warning: git-seal: cannot fetch origin's ledger");
    r.stderr_has("hint: fetch it later: git seal fetch origin");
    r.stdout_has("hooks installed");
    std::fs::rename(sb.path().join("gone.git"), sb.path().join("hub.git")).unwrap();
    let r = sh(&mate, "git seal fetch origin && git seal verify --all", &[]).ok();
    r.stdout_has("ok: 2 commit(s) verified");
}
