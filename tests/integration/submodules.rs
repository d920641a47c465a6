//! Submodules that are not checked out (a plain `git clone`, without
//! `--recurse-submodules`): commit seals never need them, tag seals are still made and
//! say which submodule their evtag leaves out, verify says what it could not check
//! and how to make it checkable, and that command works when pasted: each test runs
//! it through `sh -c` and checks the report is gone.

use std::path::Path;

use crate::harness::{run_with_stdin, Run, Sandbox, TestRepo};
use crate::tags::evtag_reference;

/// The submodule repository `sub` and an upstream superproject `up` (git-seal
/// installed) that has it at `path`, committed.
fn upstream<'s>(sb: &'s Sandbox, path: &str) -> (TestRepo<'s>, TestRepo<'s>) {
    let sub = sb.init("sub", &[]);
    sub.commit_file("s.txt", "in the submodule\n", "sub one");
    let up = sb.installed("up");
    up.commit_file("a.txt", "a\n", "first");
    up.add_submodule("sub", path);
    up.git(&["commit", "-q", "-m", "with a submodule"]).ok();
    (sub, up)
}

/// `git clone` of `from` into `name` as most clones are made: no submodule checked
/// out. Then git-seal installed and the ledger fetched.
fn plain_clone<'s>(sb: &'s Sandbox, from: &TestRepo<'_>, name: &str) -> TestRepo<'s> {
    let mut clone = sb.command("git", sb.path());
    clone.args(["clone", "-q"]).arg(&from.path).arg(name);
    Run {
        out: clone.output().unwrap(),
    }
    .ok();
    let repo = sb.at(sb.path().join(name));
    repo.git(&["config", "user.name", "Pat Partial"]).ok();
    repo.git(&["config", "user.email", "pat@example.com"]).ok();
    repo.install();
    repo.git(&["fetch", "-q"]).ok();
    repo
}

/// Runs a hint as a user pasting it would: through the shell, in the working tree.
/// With `protocol.file.allow=always` in the environment, as any user of submodules
/// with local URLs has it in their global config (git refuses `file://` for
/// submodules without it; the hermetic harness has no global config).
fn paste(repo: &TestRepo<'_>, command: &str) -> Run {
    let mut sh = repo.cmd("sh", &["-c", command]);
    sh.env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "protocol.file.allow")
        .env("GIT_CONFIG_VALUE_0", "always");
    run_with_stdin(sh, b"")
}

/// The command of the `hint: <what>: <command>` line of `stderr`.
fn hinted(stderr: &str, what: &str) -> String {
    let prefix = format!("hint: {what}: ");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{stderr}"))
        .to_string()
}

/// The local ledger's tip, or the fetched one's while there is no local one.
fn ledger_tip(repo: &TestRepo<'_>) -> String {
    for r in ["refs/notes/seal", "refs/seal/remotes/origin/seal"] {
        let found = repo.git(&["rev-parse", "-q", "--verify", r]);
        if found.code() == 0 {
            return found.stdout().trim().to_string();
        }
    }
    panic!("no ledger")
}

/// Every seal of `tag` in the ledger, as JSON.
fn tag_seals(repo: &TestRepo<'_>, tag: &str) -> Vec<serde_json::Value> {
    let tip = ledger_tip(repo);
    let files = repo.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        &tip,
        &format!("tags/{tag}/"),
    ]);
    files
        .lines()
        .map(|path| {
            let yaml = repo.git_out(&["cat-file", "blob", &format!("{tip}:{path}")]);
            serde_norway::from_str(&yaml).unwrap()
        })
        .collect()
}

/// Git-EVTag-v0-SHA512 of `commit` by hand (`git cat-file`, `sha512sum`), leaving out
/// the gitlinks at `leave_out` (their commit and everything under it; the gitlink
/// entry stays in its tree). Present submodules are read from their checkouts.
fn evtag_by_hand(repo: &TestRepo<'_>, commit: &str, leave_out: &[&str]) -> String {
    fn raw(repo: &TestRepo<'_>, oid: &str, out: &mut Vec<u8>) {
        let kind = repo.git_out(&["cat-file", "-t", oid]);
        let size = repo.git_out(&["cat-file", "-s", oid]);
        out.extend_from_slice(format!("{kind} {size}\0").as_bytes());
        out.extend_from_slice(&repo.git(&["cat-file", &kind, oid]).ok().out.stdout);
    }
    fn walk(repo: &TestRepo<'_>, commit: &str, at: &str, skip: &[&str], out: &mut Vec<u8>) {
        raw(repo, commit, out);
        let tree = repo.git_out(&["rev-parse", &format!("{commit}^{{tree}}")]);
        tree_walk(repo, &tree, at, skip, out);
    }
    fn tree_walk(repo: &TestRepo<'_>, tree: &str, at: &str, skip: &[&str], out: &mut Vec<u8>) {
        raw(repo, tree, out);
        for line in repo.git_out(&["ls-tree", "-z", tree]).split('\0') {
            let Some((meta, name)) = line.split_once('\t') else {
                continue;
            };
            let f: Vec<&str> = meta.split(' ').collect();
            let path = if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}/{name}")
            };
            match f[1] {
                "blob" => raw(repo, f[2], out),
                "tree" => tree_walk(repo, f[2], &path, skip, out),
                "commit" if skip.contains(&path.as_str()) => {}
                "commit" => {
                    let sub = repo.sandbox.at(repo.path.join(&path));
                    walk(&sub, f[2], "", &[], out);
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    let mut bytes = Vec::new();
    walk(repo, commit, "", leave_out, &mut bytes);
    let r = run_with_stdin(repo.cmd("sha512sum", &[]), &bytes);
    r.stdout().split_whitespace().next().unwrap().to_string()
}

#[test]
fn commit_seals_never_need_a_submodules_objects() {
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "modules/sub");
    let gitlink = up.git_out(&["rev-parse", "HEAD:modules/sub"]);
    let clone = plain_clone(&sb, &up, "clone");
    assert!(!clone.path.join("modules/sub/s.txt").exists());
    // Sealed upstream, checked here.
    clone.seal(&["verify", "HEAD"]).ok();
    // Sealed here.
    let r = clone
        .git(&["commit", "-q", "--allow-empty", "-m", "here"])
        .ok();
    assert!(!r.stderr().contains("submodule"), "{}", r.stderr());
    clone.commit_file("b.txt", "b\n", "a file");
    clone.seal(&["verify", "HEAD~2..HEAD"]).ok();
    clone
        .seal(&["verify", "--worktree"])
        .ok()
        .stdout_has("ok: 1 commit(s) verified");
    clone.seal(&["verify", "--no-cache", "HEAD"]).ok();
    let manifest = clone.seal(&["manifest", "HEAD"]).ok().stdout();
    assert!(manifest.contains(&gitlink), "{manifest}");
    let out = sb.path().join("export");
    clone
        .seal(&["export", "HEAD", "--out", out.to_str().unwrap()])
        .ok();
    clone.seal(&["seal", "--missing"]).ok();
    clone.seal(&["status"]).ok();
}

#[test]
fn tags_made_without_the_submodule_are_sealed_and_name_what_their_evtag_leaves_out() {
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "modules/sub");
    let gitlink = up.git_out(&["rev-parse", "HEAD:modules/sub"]);
    let clone = plain_clone(&sb, &up, "clone");
    let head = clone.rev("HEAD");

    let r = clone.git(&["tag", "v1"]).ok();
    assert!(!r.stderr().contains("not sealed"), "{}", r.stderr());
    r.stderr_has(format!(
        "git-seal: tag v1 sealed; its Git-EVTag-v0-SHA512 leaves out submodule modules/sub (commit {gitlink}), not checked out here: git seal verify v1 says how to cover it\n"
    ));
    clone.git(&["tag", "-a", "v2", "-m", "annotated"]).ok();
    // By hand too, for git without the hook.
    clone.git_hooks_off(&["tag", "v3"]).ok();
    let r = clone.seal(&["seal", "v3"]).ok();
    r.stdout_has("sealed tag v3 sha256:");
    r.stderr_has("note: tag v3 sealed; its Git-EVTag-v0-SHA512 leaves out submodule modules/sub");
    for tag in ["v1", "v2", "v3"] {
        let seals = tag_seals(&clone, tag);
        assert_eq!(seals.len(), 1, "{seals:?}");
        let evtag = &seals[0]["evtag"];
        assert_eq!(
            evtag["not_covered"],
            serde_json::json!([{"path": "modules/sub", "commit": gitlink}])
        );
        // What it does cover is git-evtag's walk without the submodule.
        assert_eq!(
            evtag["digest"],
            evtag_by_hand(&clone, &head, &["modules/sub"]).as_str()
        );
    }

    // Checked except the submodule: exit 0, said on its own line, never as "ok" alone.
    let r = clone.seal(&["verify", "v1", "v2"]).ok();
    for tag in ["v1", "v2"] {
        r.stdout_has(format!(
            "tag {tag}: checked except submodule modules/sub (commit {gitlink}): the tag seal's Git-EVTag-v0-SHA512 leaves it out (it was not checked out where the tag was sealed)"
        ));
    }
    r.stdout_has("ok: 0 commit(s), 2 tag(s) verified, except what is listed as not checked");
    let fix = hinted(&r.stderr(), "seal it again, covering the submodule");
    assert_eq!(
        fix,
        "git submodule update --init -- modules/sub && git seal seal v1"
    );
    let json = clone.seal(&["verify", "--json", "v1"]).ok().stdout();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["not_checked"][0]["submodule"]["commit"],
        gitlink.as_str()
    );
    assert_eq!(json["not_checked"][0]["left_out_by_seal"], true);

    // The hint, pasted, fetches the submodule and seals v1 again, whole; the first
    // seal stays beside it.
    paste(&clone, &fix).ok();
    assert!(clone.path.join("modules/sub/s.txt").exists());
    let r = clone.seal(&["verify", "v1"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
    let seals = tag_seals(&clone, "v1");
    assert_eq!(seals.len(), 2);
    let whole = seals
        .iter()
        .find(|s| s["evtag"].get("not_covered").is_none())
        .expect("a seal covering everything");
    assert_eq!(
        whole["evtag"]["digest"],
        evtag_by_hand(&clone, &head, &[]).as_str()
    );
    if let Some(reference) = evtag_reference(&clone, "v1") {
        assert_eq!(whole["evtag"]["digest"], reference.as_str(), "git-evtag");
    }
    // With the submodule here, v2 says the reseal alone is what is left to do.
    let r = clone.seal(&["verify", "v2"]).ok();
    assert_eq!(
        hinted(&r.stderr(), "seal it again, covering the submodule"),
        "git seal seal v2"
    );
    paste(&clone, "git seal seal v2").ok();
    let r = clone.seal(&["verify", "v2"]).ok();
    assert!(!r.stdout().contains("not checked"), "{}", r.stdout());
    // A whole seal is final: sealing again writes nothing.
    clone
        .seal(&["seal", "v2"])
        .ok()
        .stdout_has("tag v2 sha256:");
    assert_eq!(tag_seals(&clone, "v2").len(), 2);
}

#[test]
fn a_tag_sealed_upstream_verifies_where_the_submodule_is_not_checked_out() {
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "modules/sub");
    // Where the submodule is checked out, tagging says nothing.
    let r = up.git(&["tag", "-a", "v1", "-m", "release"]).ok();
    assert_eq!(r.stderr(), "");
    up.git(&["tag", "v1-light"]).ok();
    up.seal(&["verify", "v1", "v1-light"]).ok();
    let gitlink = up.git_out(&["rev-parse", "HEAD:modules/sub"]);
    let clone = plain_clone(&sb, &up, "clone");

    let r = clone.seal(&["verify", "v1", "v1-light"]).ok();
    r.stdout_has(format!(
        "tag v1: Git-EVTag-v0-SHA512 not checked: it covers submodule modules/sub (commit {gitlink}), whose objects are not in this repository"
    ));
    r.stdout_has("tag v1-light: Git-EVTag-v0-SHA512 not checked");
    assert!(!r.stdout().contains("mismatch"), "{}", r.stdout());
    let fix = hinted(&r.stderr(), "make it checkable");
    assert_eq!(fix, "git submodule update --init -- modules/sub");
    // One hint for two tags that need the same fetch.
    assert_eq!(r.stderr().matches("hint:").count(), 1, "{}", r.stderr());

    paste(&clone, &fix).ok();
    let r = clone.seal(&["verify", "v1", "v1-light"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 2 tag(s) verified\n");
    assert_eq!(r.stderr(), "");
}

#[test]
fn what_is_present_is_still_checked_when_the_evtag_cannot_be() {
    // A tag moved by hand to a commit whose manifest differs: the evtag cannot be
    // checked here, the manifest can, and its mismatch fails the check.
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "modules/sub");
    up.git(&["tag", "v1"]).ok();
    let clone = plain_clone(&sb, &up, "clone");
    let seal = &tag_seals(&clone, "v1")[0];
    let evil = forge_tag_seal(&clone, "v1", seal, |s| {
        s["manifest"]["digest"] = "sha256:00".into();
    });
    remove_tag_seal(&clone, "v1", seal);
    assert_eq!(tag_seals(&clone, "v1"), vec![evil]);
    let r = clone.seal(&["verify", "v1"]).fails_with(1);
    r.stdout_has("tag v1: manifest mismatch: tag seal states sha256:00");
    r.stdout_has("tag v1: Git-EVTag-v0-SHA512 not checked");
}

/// Adds to the local ledger a seal of `tag` made from `seal` by `edit`, with its
/// digest made right: what a hostile tagger with git-seal's source can write.
fn forge_tag_seal(
    repo: &TestRepo<'_>,
    tag: &str,
    seal: &serde_json::Value,
    edit: impl Fn(&mut serde_json::Value),
) -> serde_json::Value {
    let mut forged = seal.clone();
    edit(&mut forged);
    forged["digest"] = git_seal::seal::digest_of(forged.clone()).into();
    let yaml = serde_norway::to_string(&forged).unwrap();
    let hex = forged["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    ledger_edit(repo, |index| {
        let mut hash = repo.cmd("git", &["hash-object", "-w", "--stdin"]);
        hash.env("GIT_INDEX_FILE", index);
        let blob = run_with_stdin(hash, yaml.as_bytes()).ok().stdout();
        let entry = format!("100644,{},tags/{tag}/{hex}.yaml", blob.trim());
        let mut add = repo.cmd("git", &["update-index", "--add", "--cacheinfo", &entry]);
        add.env("GIT_INDEX_FILE", index);
        run_with_stdin(add, b"").ok();
    });
    forged
}

/// Removes `seal` of `tag` from the local ledger (a test set-up, not an attack the
/// append-only rule would let through a server).
fn remove_tag_seal(repo: &TestRepo<'_>, tag: &str, seal: &serde_json::Value) {
    let hex = seal["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    ledger_edit(repo, |index| {
        let mut rm = repo.cmd(
            "git",
            &[
                "update-index",
                "--force-remove",
                &format!("tags/{tag}/{hex}.yaml"),
            ],
        );
        rm.env("GIT_INDEX_FILE", index);
        run_with_stdin(rm, b"").ok();
    });
}

/// One commit on the local ledger whose tree is the current one changed by `edit`
/// (given a scratch index file holding it). The fetched ledger is dropped, so the
/// local one is all a reader sees.
fn ledger_edit(repo: &TestRepo<'_>, edit: impl Fn(&Path)) {
    let tip = ledger_tip(repo);
    let index = repo.path.join(".git/forge-index");
    let mut read = repo.cmd("git", &["read-tree", &tip]);
    read.env("GIT_INDEX_FILE", &index);
    run_with_stdin(read, b"").ok();
    edit(&index);
    let mut write = repo.cmd("git", &["write-tree"]);
    write.env("GIT_INDEX_FILE", &index);
    let tree = run_with_stdin(write, b"").ok().stdout();
    let commit = repo.git_out(&["commit-tree", tree.trim(), "-p", &tip, "-m", "forged"]);
    repo.git(&["update-ref", "refs/notes/seal", &commit]).ok();
    for r in repo
        .git_out(&["for-each-ref", "--format=%(refname)", "refs/seal/remotes/"])
        .lines()
    {
        repo.git(&["update-ref", "-d", r]).ok();
    }
    std::fs::remove_file(&index).unwrap();
}

#[test]
fn leaving_out_is_no_cover_for_tampering() {
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "modules/sub");
    let gitlink = up.git_out(&["rev-parse", "HEAD:modules/sub"]);
    let blob = up.git_out(&["rev-parse", "HEAD:a.txt"]);
    let clone = plain_clone(&sb, &up, "clone");
    clone.git(&["tag", "v1"]).ok();
    let honest = tag_seals(&clone, "v1").remove(0);

    // 1. A checksum that leaves the submodule out still covers everything else: a
    //    stated digest that is not the present objects' is a mismatch.
    let forged = forge_tag_seal(&clone, "v1", &honest, |s| {
        s["evtag"]["digest"] = "ab".repeat(64).into();
    });
    remove_tag_seal(&clone, "v1", &honest);
    let r = clone.seal(&["verify", "v1"]).fails_with(1);
    r.stdout_has(format!(
        "tag v1: Git-EVTag-v0-SHA512 mismatch: tag seal states {}",
        "ab".repeat(64)
    ));
    remove_tag_seal(&clone, "v1", &forged);

    // 2. Claiming to leave out what is no submodule of the target (a file, or the
    //    submodule at another commit) fails: the claim must match the tree exactly.
    for (path, commit) in [("a.txt", blob.as_str()), ("modules/sub", &blob[..])] {
        let forged = forge_tag_seal(&clone, "v1", &honest, |s| {
            s["evtag"]["not_covered"] = serde_json::json!([
                {"path": "modules/sub", "commit": gitlink},
                {"path": path, "commit": commit},
            ]);
        });
        let r = clone.seal(&["verify", "v1"]).fails_with(1);
        r.stdout_has(format!(
            "tag v1: tag seal's Git-EVTag-v0-SHA512 leaves out submodule {path} at {commit}, which the target does not have"
        ));
        remove_tag_seal(&clone, "v1", &forged);
    }
    let forged = forge_tag_seal(&clone, "v1", &honest, |s| {
        s["evtag"]["not_covered"] = serde_json::json!([{"path": "modules/sub", "commit": "zz"}]);
    });
    clone
        .seal(&["verify", "v1"])
        .fails_with(1)
        .stdout_has("leaves out submodule modules/sub at zz, which the target does not have");
    remove_tag_seal(&clone, "v1", &forged);

    // 3. A seal that leaves more out, added beside a whole one, never hides it: the
    //    whole one is what is checked, and reported as whole.
    up.git(&["tag", "v2"]).ok();
    up.seal(&["verify", "v2"]).ok();
    let whole = tag_seals(&up, "v2").remove(0);
    forge_tag_seal(&up, "v2", &whole, |s| {
        s["evtag"]["not_covered"] = serde_json::json!([{"path": "modules/sub", "commit": gitlink}]);
        s["evtag"]["digest"] = "cd".repeat(64).into();
    });
    assert_eq!(tag_seals(&up, "v2").len(), 2);
    let r = up.seal(&["verify", "v2"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
}

#[test]
fn snapshot_and_rollback_work_where_the_submodule_is_not_checked_out() {
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "modules/sub");
    let gitlink = up.git_out(&["rev-parse", "HEAD:modules/sub"]);
    up.seal(&["snapshot", "upstream"]).ok();
    let clone = plain_clone(&sb, &up, "clone");
    let base = clone.rev("HEAD");

    let r = clone.seal(&["snapshot", "here"]).ok();
    r.stdout_has("snapshot snapshot/here@");
    r.stderr_has(format!(
        "leaves out submodule modules/sub (commit {gitlink}), not checked out here"
    ));
    clone.commit_file("a.txt", "broken\n", "a bad change");

    // The newest snapshot that verifies (both are of this commit; this clone's is
    // checked except the submodule, upstream's evtag not at all).
    let r = clone.seal(&["rollback", "--reason", "bad change"]).ok();
    r.stdout_has("rolled back to snapshot/");
    r.stdout_has("worktree verified against the snapshot's manifest");
    r.stderr_has(format!("submodule modules/sub (commit {gitlink})"));
    assert_eq!(clone.rev("HEAD"), base);

    // Upstream's, whose evtag covers the submodule and cannot be checked here.
    clone.commit_file("a.txt", "broken again\n", "another bad change");
    let upstream_tag = clone.git_out(&["tag", "--list", "snapshot/upstream@*"]);
    let r = clone
        .seal(&["rollback", &upstream_tag, "--reason", "again"])
        .ok();
    r.stderr_has(format!(
        "note: {upstream_tag}: Git-EVTag-v0-SHA512 not checked: it covers submodule modules/sub (commit {gitlink})"
    ));
    let fix = hinted(&r.stderr(), "to check it too");
    assert_eq!(clone.rev("HEAD"), base);
    paste(&clone, &fix).ok();
    let r = clone.seal(&["verify", &upstream_tag]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
}

#[test]
fn a_submodule_that_moved_is_found_by_its_gitlink() {
    let sb = Sandbox::new();
    // Named unlike any path it ever had, so neither path finds it by name: only the
    // gitlink's commit id does.
    let sub = sb.init("sub", &[]);
    sub.commit_file("s.txt", "in the submodule\n", "sub one");
    let up = sb.installed("up");
    up.commit_file("a.txt", "a\n", "first");
    up.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        "--name",
        "lib",
        "../sub",
        "old/sub",
    ])
    .ok();
    up.git(&["commit", "-q", "-m", "with a submodule"]).ok();
    let first = up.git_out(&["rev-parse", "HEAD:old/sub"]);
    up.git(&["tag", "-a", "v-old", "-m", "before the move"])
        .ok();
    // The submodule moves on and moves house.
    let second = sub.commit_file("s.txt", "second\n", "sub two");
    std::fs::create_dir(up.path.join("new")).unwrap();
    up.git(&["mv", "old/sub", "new/sub"]).ok();
    up.sandbox
        .at(up.path.join("new/sub"))
        .git(&["-c", "protocol.file.allow=always", "pull", "-q"])
        .ok();
    up.git(&["add", "new/sub"]).ok();
    up.git(&["commit", "-q", "-m", "moved and updated"]).ok();
    assert_eq!(up.git_out(&["rev-parse", "HEAD:new/sub"]), second);
    up.git(&["tag", "-a", "v-new", "-m", "after"]).ok();
    up.seal(&["verify", "v-old", "v-new"]).ok();

    let clone = plain_clone(&sb, &up, "clone");
    // Tagged here, on the old commit: sealed, leaving the old path out.
    clone.git(&["tag", "here-old", "v-old^{}"]).ok();
    let r = clone.seal(&["verify", "v-old", "here-old"]).ok();
    r.stdout_has(format!(
        "tag v-old: Git-EVTag-v0-SHA512 not checked: it covers submodule old/sub (commit {first})"
    ));
    r.stdout_has(format!(
        "tag here-old: checked except submodule old/sub (commit {first})"
    ));
    // Not `-- old/sub`, which git would refuse: the submodule is at new/sub today.
    let fix = hinted(&r.stderr(), "make it checkable");
    assert_eq!(fix, "git submodule update --init -- new/sub");
    assert!(paste(&clone, "git submodule update --init -- old/sub").code() != 0);
    paste(&clone, &fix).ok();
    // The old commit is found in .git/modules/lib, by its id.
    assert!(clone.path.join(".git/modules/lib").is_dir());
    let r = clone.seal(&["verify", "v-old", "v-new"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 2 tag(s) verified\n");
    let r = clone.seal(&["verify", "here-old"]).ok();
    let reseal = hinted(&r.stderr(), "seal it again, covering the submodule");
    assert_eq!(reseal, "git seal seal here-old");
    paste(&clone, &reseal).ok();
    let r = clone.seal(&["verify", "here-old"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
    let whole = tag_seals(&clone, "here-old")
        .into_iter()
        .find(|s| s["evtag"].get("not_covered").is_none())
        .unwrap();
    let upstream_seal = tag_seals(&up, "v-old").remove(0);
    assert_eq!(whole["evtag"], upstream_seal["evtag"]);
}

#[test]
fn a_submodule_removed_since_is_fetched_into_git_seals_own_directory() {
    let sb = Sandbox::new();
    let (_sub, up) = upstream(&sb, "lib/sub");
    let gitlink = up.git_out(&["rev-parse", "HEAD:lib/sub"]);
    up.git(&["tag", "-a", "v1", "-m", "with"]).ok();
    up.git(&["rm", "-q", "lib/sub"]).ok();
    up.git(&["commit", "-q", "-m", "without"]).ok();
    let clone = plain_clone(&sb, &up, "clone");
    let r = clone.seal(&["verify", "v1"]).ok();
    r.stdout_has(format!(
        "tag v1: Git-EVTag-v0-SHA512 not checked: it covers submodule lib/sub (commit {gitlink})"
    ));
    let fix = hinted(&r.stderr(), "make it checkable");
    assert!(
        fix.starts_with("git clone --bare --quiet -- ") && fix.contains("/seal/submodules/"),
        "{fix}"
    );
    paste(&clone, &fix).ok();
    let r = clone.seal(&["verify", "v1"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
    // git itself does not take git-seal's clone for a submodule.
    clone.git(&["submodule", "status"]).ok();
}

#[test]
fn a_hostile_submodule_path_cannot_run_anything_from_a_hint() {
    let sb = Sandbox::new();
    let path = "x'; touch pwned; '$(touch pwned2)";
    let (_sub, up) = upstream(&sb, path);
    up.git(&["tag", "v1"]).ok();
    let clone = plain_clone(&sb, &up, "clone");
    clone.git(&["tag", "here"]).ok();
    let r = clone.seal(&["verify", "v1", "here"]).ok();
    let quoted = r"'x'\''; touch pwned; '\''$(touch pwned2)'";
    r.stdout_has(format!(
        "tag v1: Git-EVTag-v0-SHA512 not checked: it covers submodule {quoted}"
    ));
    let fix = hinted(&r.stderr(), "make it checkable");
    assert_eq!(fix, format!("git submodule update --init -- {quoted}"));
    let reseal = hinted(&r.stderr(), "seal it again, covering the submodule");
    assert_eq!(reseal, format!("{fix} && git seal seal here"));
    paste(&clone, &reseal).ok();
    for file in ["pwned", "pwned2"] {
        assert!(!clone.path.join(file).exists(), "the hint ran {file}");
        assert!(!sb.path().join(file).exists(), "the hint ran {file}");
    }
    let r = clone.seal(&["verify", "v1", "here"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 2 tag(s) verified\n");
}

#[test]
fn a_submodule_of_a_submodule_not_checked_out_is_named_by_its_full_path() {
    let sb = Sandbox::new();
    let inner = sb.init("inner", &[]);
    inner.commit_file("i.txt", "inner\n", "inner");
    let outer = sb.init("outer", &[]);
    outer.commit_file("o.txt", "outer\n", "outer");
    outer.add_submodule("inner", "in");
    outer.git(&["commit", "-q", "-m", "with inner"]).ok();
    let up = sb.installed("up");
    up.commit_file("a.txt", "a\n", "first");
    up.add_submodule("outer", "out");
    up.git(&["commit", "-q", "-m", "with outer"]).ok();
    paste(&up, "git submodule update --init --recursive").ok();
    up.git(&["tag", "v1"]).ok();
    let seal = tag_seals(&up, "v1").remove(0);
    assert!(seal["evtag"].get("not_covered").is_none());
    assert_eq!(
        seal["evtag"]["digest"],
        evtag_by_hand(&up, &up.rev("HEAD"), &[]).as_str()
    );
    if let Some(reference) = evtag_reference(&up, "v1") {
        assert_eq!(seal["evtag"]["digest"], reference.as_str(), "git-evtag");
    }
    let inner_link = inner.rev("HEAD");

    let clone = plain_clone(&sb, &up, "clone");
    // The outer one only: the inner one is what is missing.
    paste(&clone, "git submodule update --init -- out").ok();
    let r = clone.seal(&["verify", "v1"]).ok();
    r.stdout_has(format!(
        "tag v1: Git-EVTag-v0-SHA512 not checked: it covers submodule out/in (commit {inner_link})"
    ));
    let fix = hinted(&r.stderr(), "make it checkable");
    assert_eq!(fix, "git submodule update --init --recursive -- out");
    paste(&clone, &fix).ok();
    let r = clone.seal(&["verify", "v1"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
}

#[test]
fn a_blobless_submodule_without_an_old_commits_blobs_is_left_out_whole() {
    let sb = Sandbox::new();
    let (sub, up) = upstream(&sb, "m/sub");
    let first = up.git_out(&["rev-parse", "HEAD:m/sub"]);
    up.git(&["tag", "v1"]).ok();
    sub.commit_file("s.txt", "second\n", "sub two");
    let inside = up.sandbox.at(up.path.join("m/sub"));
    inside
        .git(&["-c", "protocol.file.allow=always", "pull", "-q"])
        .ok();
    up.git(&["commit", "-q", "-am", "sub two"]).ok();
    // The server must allow filters for a blobless clone.
    sub.git(&["config", "uploadpack.allowFilter", "true"]).ok();
    let clone = plain_clone(&sb, &up, "clone");
    // A file:// URL: git ignores --filter for a clone from a plain path.
    clone.git(&["submodule", "init", "-q", "--", "m/sub"]).ok();
    let url = format!("file://{}", sub.path.display());
    clone.git(&["config", "submodule.m/sub.url", &url]).ok();
    paste(
        &clone,
        "git submodule update --init --filter=blob:none -- m/sub",
    )
    .ok();
    // v1's submodule commit is here, its blob is not.
    let old_blob = sub.git_out(&["rev-parse", "HEAD~1:s.txt"]);
    let modules = sb.at(clone.path.join(".git/modules/m/sub"));
    let probe = modules.git(&["cat-file", "-e", &first]);
    assert_eq!(probe.code(), 0);
    let mut missing = modules.cmd("git", &["cat-file", "-e", &old_blob]);
    missing.env("GIT_NO_LAZY_FETCH", "1");
    assert_ne!(
        run_with_stdin(missing, b"").code(),
        0,
        "the old blob is here"
    );
    let r = clone.seal(&["verify", "v1"]).ok();
    r.stdout_has(format!(
        "tag v1: Git-EVTag-v0-SHA512 not checked: it covers submodule m/sub (commit {first})"
    ));
    // A tag made here leaves it out whole, and verifies as such.
    clone.git(&["tag", "here", "v1"]).ok();
    let seal = tag_seals(&clone, "here").remove(0);
    assert_eq!(
        seal["evtag"]["not_covered"],
        serde_json::json!([{"path": "m/sub", "commit": first}])
    );
    let r = clone.seal(&["verify", "v1", "here"]).ok();
    r.stdout_has("tag here: checked except submodule m/sub");
    // The hint fetches the missing blobs, as git fetches a partial clone's.
    let fix = hinted(&r.stderr(), "make it checkable");
    assert_eq!(
        fix,
        format!("git -C m/sub diff --stat \"$(git -C m/sub hash-object -t tree /dev/null)\" {first} >/dev/null")
    );
    paste(&clone, &fix).ok();
    let r = clone.seal(&["verify", "v1"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
    let reseal = hinted(
        &clone.seal(&["verify", "here"]).ok().stderr(),
        "seal it again, covering the submodule",
    );
    paste(&clone, &reseal).ok();
    let r = clone.seal(&["verify", "here"]).ok();
    assert_eq!(r.stdout(), "ok: 0 commit(s), 1 tag(s) verified\n");
}
