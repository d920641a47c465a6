//! git-seal run by the real pre-commit framework (from PyPI): its post-commit,
//! post-rewrite and pre-push stages, pushing to a real bare remote.
//!
//! The hooks are the ones `.pre-commit-hooks.yaml` ships, used as a local repo with
//! `language: system` (the binary under test on PATH) instead of `language: rust`,
//! which would build git-seal from source over the network.

use std::path::PathBuf;

use crate::harness::{assert_has, Sandbox};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The pre-commit executable, from PATH (`scripts/test` puts its virtualenv there).
fn pre_commit() -> PathBuf {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("pre-commit"))
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!(
            "the pre-commit framework is needed for this test and is not on PATH: \
             run the suite with scripts/test, which sets it up"
        )
    })
}

fn local_config() -> String {
    let hooks = std::fs::read_to_string(format!("{ROOT}/.pre-commit-hooks.yaml")).unwrap();
    assert!(hooks.matches("language: rust").count() == 3, "{hooks}");
    // The `-system` ids are the `rust` ones with `language: system`: the test runs
    // those, as they are shipped.
    let system_at = hooks
        .find("-system\n")
        .and_then(|i| hooks[..i].rfind("- id:"))
        .unwrap();
    let (rust, system) = hooks.split_at(system_at);
    let expected: String = rust
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let l = l.replace("language: rust", "language: system");
            if l.starts_with("- id: ") {
                format!("{l}-system\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(
        system, expected,
        "the -system ids differ from the rust ones"
    );
    let hooks: String = system
        .replace("-system", "")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("    {l}\n"))
        .collect();
    format!("repos:\n- repo: local\n  hooks:\n{hooks}")
}

/// `pre-commit install` of the three stages git-seal ships hooks for.
fn install_framework(repo: &crate::harness::TestRepo<'_>) {
    let install = repo
        .cmd(
            pre_commit(),
            &[
                "install",
                "--hook-type",
                "post-commit",
                "--hook-type",
                "post-rewrite",
                "--hook-type",
                "pre-push",
            ],
        )
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
}

#[test]
fn pre_commit_framework_seals_commits_and_gates_pushes() {
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare"]);
    server.seal(&["install", "--server"]).ok();
    let repo = sb.init("client", &[]);
    repo.git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    repo.write(".pre-commit-config.yaml", &local_config());
    install_framework(&repo);

    // post-commit stage seals
    let first = repo.commit_file("a.txt", "one\n", "first");
    assert!(
        repo.note(&first).is_some(),
        "post-commit via pre-commit sealed"
    );
    // post-rewrite stage (the framework forwards no stdin) seals the amended commit
    repo.git(&["commit", "-q", "--amend", "-m", "first, amended"])
        .ok();
    assert!(
        repo.note("HEAD").is_some(),
        "post-rewrite via pre-commit sealed"
    );
    repo.seal(&["verify"]).ok();

    // pre-push stage: a new root branch (the framework passes only branch names)
    // with an unsealed commit is refused
    let bad = repo.commit_unsealed("b.txt", "unsealed");
    let r = repo.git(&["push", "-q", "origin", "main"]).fails_with(1);
    let out = r.stdout() + &r.stderr();
    assert_has(&out, format!("{} unsealed: no seal", &bad[..7]));
    assert!(server.git(&["rev-parse", "--verify", "-q", "main"]).code() != 0);

    // sealed: the push goes through, and the ledger goes along
    repo.seal(&["seal", "--missing"]).ok();
    repo.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), bad);
    assert!(server.note("main").is_some(), "seals travelled");

    // an existing branch (the framework passes FROM/TO refs): refused, then fixed
    let bad2 = repo.commit_unsealed("c.txt", "unsealed again");
    let r = repo.git(&["push", "-q", "origin", "main"]).fails_with(1);
    let out = r.stdout() + &r.stderr();
    assert_has(&out, format!("{} unsealed again: no seal", &bad2[..7]));
    repo.seal(&["seal", "--missing"]).ok();
    repo.git(&["push", "-q", "origin", "main"]).ok();
    repo.seal(&["verify", "--json", "main"]).ok();
}

/// The README's recipe as written: the repository pinned at the release tag it
/// names, its `-system` ids run by the real framework.
#[test]
fn the_readme_recipe_pinned_at_its_release_tag_seals_commits() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let start = readme
        .find("```yaml\nrepos:\n- repo: <this repository's URL>\n")
        .expect("the recipe is in the README");
    let recipe = &readme[start + "```yaml\n".len()..];
    let recipe = &recipe[..recipe.find("```").unwrap()];
    let rev = recipe
        .lines()
        .find_map(|l| l.trim().strip_prefix("rev: "))
        .unwrap()
        .to_string();
    let sb = Sandbox::new();
    // This project as a user's pre-commit fetches it: a clone, with its tags.
    let upstream = sb.path().join("git-seal");
    let here = sb.at(sb.path());
    here.git(&[
        "clone",
        "-q",
        "--no-local",
        ROOT,
        upstream.to_str().unwrap(),
    ])
    .ok();
    let upstream_repo = sb.at(&upstream);
    if upstream_repo
        .git(&["rev-parse", "-q", "--verify", &format!("refs/tags/{rev}")])
        .code()
        != 0
    {
        // A clone made without tags (a CI checkout): the tag is made where the
        // README's release is, so the recipe is still run as written.
        crate::harness::report(&format!(
            "tag {rev} is not in this checkout: tagging its first commit that has the -system ids"
        ));
        let first = upstream_repo.git_out(&[
            "log",
            "--format=%H",
            "-S",
            "git-seal-pre-push-system",
            "--reverse",
            "--",
            ".pre-commit-hooks.yaml",
        ]);
        let first = first.lines().next().unwrap().to_string();
        upstream_repo.git(&["tag", &rev, &first]).ok();
    }
    let repo = sb.init("client", &[]);
    repo.write(
        ".pre-commit-config.yaml",
        &recipe.replace("<this repository's URL>", upstream.to_str().unwrap()),
    );
    install_framework(&repo);
    let first = repo.commit_file("a.txt", "one\n", "first");
    assert!(
        repo.note(&first).is_some(),
        "the recipe's post-commit did not seal"
    );
    repo.seal(&["verify"]).ok();
}
