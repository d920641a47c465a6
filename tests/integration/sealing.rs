//! Every way git makes a commit ends with a valid seal, with no user action after install.

use crate::harness::{assert_has, Sandbox, SEAL};

fn assert_sealed_and_valid(repo: &crate::harness::TestRepo<'_>, range: &str) {
    let commits = repo.git_out(&["rev-list", range]);
    for c in commits.lines() {
        assert!(repo.note(c).is_some(), "commit {c} has no seal");
    }
    let v = repo.seal(&["verify", range]).ok();
    v.stdout_has("ok:");
}

#[test]
fn plain_root_merge_amend_rebase_cherry_pick_and_worktree_commits_are_sealed() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    let root = repo.commit_file("a.txt", "a\n", "root");
    repo.commit_file("b.txt", "b\n", "plain");

    // merge commit (git runs post-merge, not post-commit)
    repo.git(&["checkout", "-q", "-b", "feature"]).ok();
    repo.commit_file("f.txt", "f\n", "feature work");
    repo.git(&["checkout", "-q", "main"]).ok();
    repo.commit_file("m.txt", "m\n", "main work");
    repo.git(&["merge", "-q", "--no-edit", "feature"]).ok();
    assert_eq!(
        repo.git_out(&["rev-list", "--parents", "-n1", "HEAD"])
            .split(' ')
            .count(),
        3
    );

    // amend
    repo.write("b.txt", "b2\n");
    repo.git(&["commit", "-q", "-a", "--amend", "-m", "merge, amended"])
        .ok();

    // interactive rebase: reorder and squash
    repo.git(&["checkout", "-q", "-b", "topic", &root]).ok();
    repo.commit_file("t1", "1\n", "t1");
    repo.commit_file("t2", "2\n", "t2");
    repo.commit_file("t3", "3\n", "t3");
    let mut rebase = repo.cmd("git", &["rebase", "-q", "-i", "main"]);
    rebase
        .env("GIT_SEQUENCE_EDITOR", "sed -i -e '3s/^pick/squash/'")
        .env("GIT_EDITOR", "true");
    assert!(rebase.status().unwrap().success());
    assert_sealed_and_valid(&repo, "main..topic");

    // cherry-pick
    repo.git(&["checkout", "-q", "-b", "picked", &root]).ok();
    repo.git(&["cherry-pick", "feature"]).ok();

    // revert
    repo.git(&["revert", "--no-edit", "HEAD"]).ok();

    // orphan root on another branch
    repo.git(&["checkout", "-q", "--orphan", "orphan"]).ok();
    repo.commit_file("o.txt", "o\n", "orphan root");

    // linked worktree
    let wt = sb.path().join("linked wt");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "wt",
        wt.to_str().unwrap(),
        "main",
    ])
    .ok();
    let linked = sb.at(&wt);
    linked.commit_file("w.txt", "w\n", "from a linked worktree");
    assert!(repo.note(&repo.rev("wt")).is_some());

    for range in ["main", "topic", "picked", "orphan", "wt"] {
        assert_sealed_and_valid(&repo, range);
    }
    // Each commit was sealed once: post-commit and post-rewrite both ran for the amend.
    let log = repo.seal(&["log", "--json"]).ok().stdout();
    let sealed: Vec<String> = log
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["outputs"]["sealed"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|s| s["commit"].as_str().unwrap().to_string())
        })
        .collect();
    let mut unique = sealed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sealed.len(), "a commit was sealed twice");
}

#[test]
fn seal_chain_links_parents_and_backfill_fills_gaps() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.commit_file("a", "1", "one");
    repo.commit_file("a", "2", "two");
    // No hooks yet: nothing sealed.
    assert!(repo.note("HEAD").is_none());
    let out = repo.seal(&["seal", "--missing"]).ok().stdout();
    assert_has(&out, "sealed 2 commit(s)");
    let head: serde_json::Value =
        serde_json::from_str(&repo.seal(&["show", "HEAD", "--json"]).ok().stdout()).unwrap();
    let parent: serde_json::Value =
        serde_json::from_str(&repo.seal(&["show", "HEAD~1", "--json"]).ok().stdout()).unwrap();
    assert_eq!(head["parent_seals"][0], parent["digest"]);
    assert_eq!(parent["parent_seals"], serde_json::json!([]));
    // Who seals is decided as git decides the committer: GIT_COMMITTER_* (set by
    // the harness, as a CI bot's environment would) before user.* (Sam).
    assert_eq!(head["sealed_by"]["email"], "cy@example.com");
    assert_eq!(head["committer"]["email"], "cy@example.com");
    let git_time = repo
        .git_out(&["log", "-1", "--format=%aI"])
        .replace('Z', "+00:00");
    assert_eq!(head["author"]["time"], git_time.as_str());
    // Sealing again is a no-op that says so.
    let again = repo.seal(&["seal", "--missing"]).ok().stdout();
    assert!(
        again.contains("sealed 0 commit(s); 0 already sealed"),
        "{again}"
    );
    let again = repo.seal(&["seal", "HEAD~1..HEAD"]).ok().stdout();
    assert_has(&again, "1 already sealed");
}

#[test]
fn many_seals_fan_out_the_ledger_and_git_notes_reads_every_one() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    // 300 commits in one fast-import stream, then one backfill.
    let mut stream = String::new();
    for i in 1..=300 {
        let content = format!("{i}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{i}\ncommitter C <c@x> {} +0000\ndata 2\nc\n{}M 644 inline f{}\ndata {}\n{content}\n",
            1_700_000_000 + i,
            if i > 1 { format!("from :{}\n", i - 1) } else { String::new() },
            i % 7,
            content.len(),
        ));
    }
    repo.fast_import(&stream);
    repo.seal(&["seal", "--missing"]).ok();
    let tree = repo.git_out(&["ls-tree", "--name-only", "refs/notes/seal"]);
    assert!(
        tree.lines().all(|n| n.len() == 2),
        "ledger is not fanned out:\n{tree}"
    );
    for c in repo.git_out(&["rev-list", "HEAD"]).lines() {
        assert!(
            repo.note(c).is_some(),
            "git notes cannot read the seal of {c}"
        );
    }
    // One more hook-style seal after fanout lands in the fanned tree.
    repo.install();
    let last = repo.commit_file("g", "new", "after fanout");
    assert!(repo.note(&last).is_some());
    repo.seal(&["verify", "HEAD~20..HEAD", "--no-cache"]).ok();
    // The ledger only moved forward.
    let ledger_log = repo.git_out(&["rev-list", "--count", "refs/notes/seal"]);
    assert_eq!(ledger_log, "2");
}

#[test]
fn post_commit_is_silent_and_verbose_prints_one_line() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.write("a", "a");
    repo.git(&["add", "a"]).ok();
    let quiet = repo.git(&["commit", "-q", "-m", "a"]).ok();
    assert_eq!(quiet.stderr(), "");
    repo.git(&["config", "seal.verbose", "true"]).ok();
    repo.write("a", "b");
    let loud = repo.git(&["commit", "-q", "-a", "-m", "b"]).ok();
    assert_eq!(loud.stderr().lines().count(), 1, "{}", loud.stderr());
    assert!(loud.stderr().starts_with("git-seal: sealed "));
}

#[test]
fn post_commit_never_fails_the_commit() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.install_shims();
    // A bad setting makes sealing fail: the commit must still go through.
    repo.git(&["config", "seal.ref", "not-a-notes-ref"]).ok();
    repo.write("a", "a");
    repo.git(&["add", "a"]).ok();
    let r = repo.git(&["commit", "-q", "-m", "kept"]).ok();
    r.stderr_has("warning: git-seal (post-commit): nothing sealed");
    r.stderr_has("hint: ");
    assert_eq!(repo.git_out(&["log", "--format=%s", "-1"]), "kept");

    // The binary gone: the shim warns, the commit is kept.
    repo.git(&["config", "--unset", "seal.ref"]).ok();
    let hook = repo.path.join(".git/hooks/post-commit");
    let text = std::fs::read_to_string(&hook).unwrap();
    std::fs::write(&hook, text.replace(SEAL, "/nonexistent/git-seal")).unwrap();
    repo.write("a", "b");
    let mut cmd = repo.cmd("git", &["commit", "-q", "-a", "-m", "kept too"]);
    cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(&err, "its binary is gone");
    // And it is backfilled later.
    repo.seal(&["seal", "--missing"]).ok();
    repo.seal(&["verify", "HEAD~1..HEAD"]).ok();
}

#[test]
fn settings_given_with_git_dash_c_reach_the_hooks_and_name_the_sealer() {
    let sb = Sandbox::new();
    let server = sb.bare("server.git");
    let repo = sb.installed("r");
    repo.git(&["remote", "add", "origin", "../server.git"]).ok();
    // `git -c user.*` names who seals, as it names who commits; no committer
    // variables in this environment.
    let mut cmd = repo.cmd(
        "git",
        &[
            "-c",
            "user.name=Dana Dash",
            "-c",
            "user.email=dana@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "by dana",
        ],
    );
    cmd.env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL");
    assert!(cmd.output().unwrap().status.success());
    let seal: serde_json::Value =
        serde_json::from_str(&repo.seal(&["show", "HEAD", "--json"]).ok().stdout()).unwrap();
    assert_eq!(seal["sealed_by"]["email"], "dana@example.com");
    // `git -c seal.push=off push`: the hook sees it and leaves the ledger home.
    repo.git(&["-c", "seal.push=off", "push", "-q", "origin", "main"])
        .ok();
    server
        .git(&["rev-parse", "--verify", "-q", "refs/notes/seal"])
        .fails_with(1);
    repo.git(&["push", "-q", "origin", "main"]).ok();
    server
        .git(&["rev-parse", "--verify", "-q", "refs/notes/seal"])
        .ok();
}
