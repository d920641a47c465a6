//! Tags, snapshots and rollback: tag seals by the hook, the evtag checksum against an
//! independent derivation, snapshots frozen and exported, rollback to the last
//! known-good snapshot.

use crate::harness::{assert_has, report, run_with_stdin, write_script, Sandbox, TestRepo, SEAL};

/// Git-EVTag-v0-SHA512 of `commit`, derived step by step from git-evtag's published
/// algorithm with `git cat-file`, `git ls-tree` and `sha512sum` only.
pub(crate) fn evtag_by_hand(repo: &TestRepo<'_>, commit: &str) -> String {
    fn raw(repo: &TestRepo<'_>, oid: &str, out: &mut Vec<u8>) {
        let kind = repo.git_out(&["cat-file", "-t", oid]);
        let size = repo.git_out(&["cat-file", "-s", oid]);
        out.extend_from_slice(format!("{kind} {size}\0").as_bytes());
        out.extend_from_slice(&repo.git(&["cat-file", &kind, oid]).ok().out.stdout);
    }
    fn walk_commit(repo: &TestRepo<'_>, commit: &str, out: &mut Vec<u8>) {
        raw(repo, commit, out);
        let tree = repo.git_out(&["rev-parse", &format!("{commit}^{{tree}}")]);
        walk_tree(repo, &tree, "", out);
    }
    fn walk_tree(repo: &TestRepo<'_>, tree: &str, at: &str, out: &mut Vec<u8>) {
        raw(repo, tree, out);
        for line in repo.git_out(&["ls-tree", tree]).lines() {
            let (meta, name) = line.split_once('\t').unwrap();
            let f: Vec<&str> = meta.split(' ').collect();
            let path = if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}/{name}")
            };
            match f[1] {
                "blob" => raw(repo, f[2], out),
                "tree" => walk_tree(repo, f[2], &path, out),
                "commit" => {
                    let sub = repo.sandbox.at(repo.path.join(&path));
                    walk_commit(&sub, f[2], out);
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    let mut bytes = Vec::new();
    walk_commit(repo, commit, &mut bytes);
    let r = run_with_stdin(repo.cmd("sha512sum", &[]), &bytes);
    r.stdout().split_whitespace().next().unwrap().to_string()
}

/// Git-EVTag-v0-SHA512 of what `tag` points at, as Debian's git-evtag computes it
/// (`git evtag sign --print-only`): the reference our checksum is held to. `None`
/// only when `scripts/test` could not install it (it says so, and why); otherwise
/// a missing git-evtag means the suite was not set up, and the test fails.
pub(crate) fn evtag_reference(repo: &TestRepo<'_>, tag: &str) -> Option<String> {
    let r = repo.git(&["evtag", "sign", "--print-only", tag]);
    if r.stderr().contains("is not a git command") {
        if std::env::var_os("GIT_SEAL_TEST_NO_EVTAG").is_some() {
            report("not run: git-evtag comes from Debian's packages, which scripts/test could not install");
            return None;
        }
        panic!("git-evtag is needed for this test and is not on PATH: run the suite with scripts/test, which installs it");
    }
    let out = r.ok().stdout();
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Git-EVTag-v0-SHA512: "))
        .unwrap_or_else(|| panic!("git-evtag printed no checksum: {out}"));
    Some(digest.trim().to_string())
}

pub(crate) fn tag_seal(repo: &TestRepo<'_>, tag: &str) -> serde_json::Value {
    let files = repo.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        &format!("tags/{tag}/"),
    ]);
    let path = files.lines().last().expect("a tag seal");
    let yaml = repo.git_out(&["cat-file", "blob", &format!("refs/notes/seal:{path}")]);
    let py =
        "import sys, json, yaml; print(json.dumps(yaml.load(sys.stdin, Loader=yaml.BaseLoader)))";
    let r = run_with_stdin(repo.cmd("python3", &["-c", py]), yaml.as_bytes());
    serde_json::from_str(&r.stdout()).unwrap()
}

#[test]
fn tags_are_sealed_by_the_hook_and_carry_the_evtag_checksum() {
    let sb = Sandbox::new();
    let sub = sb.init("sub", &[]);
    sub.commit_file("s.txt", "in the submodule\n", "sub");
    let repo = sb.installed("r");
    repo.commit_file("a.txt", "a\n", "first");
    repo.commit_file("dir/b.txt", "b\n", "second");
    repo.add_submodule("sub", "modules/sub");
    repo.git(&["commit", "-q", "-m", "with a submodule"]).ok();
    repo.git(&["tag", "v1"]).ok();
    repo.git(&["tag", "-a", "v2", "-m", "annotated"]).ok();
    let r = repo.seal(&["verify", "v1", "v2"]).ok();
    r.stdout_has("2 tag(s) verified");

    let head = repo.rev("HEAD");
    let expected = evtag_by_hand(&repo, &head);
    for tag in ["v1", "v2"] {
        let seal = tag_seal(&repo, tag);
        assert_eq!(seal["kind"], "tag");
        assert_eq!(seal["tag"], tag);
        assert_eq!(seal["target"], head);
        assert_eq!(seal["evtag"]["algorithm"], "Git-EVTag-v0-SHA512");
        assert_eq!(seal["evtag"]["digest"], expected.as_str(), "evtag of {tag}");
        if let Some(reference) = evtag_reference(&repo, tag) {
            assert_eq!(
                seal["evtag"]["digest"],
                reference.as_str(),
                "git-evtag on {tag}"
            );
        }
        let commit_seal: serde_json::Value =
            serde_json::from_str(&repo.seal(&["show", "HEAD", "--json"]).ok().stdout()).unwrap();
        assert_eq!(seal["target_seal"], commit_seal["digest"]);
    }
    assert_eq!(tag_seal(&repo, "v2")["tag_object"], repo.rev("v2"));
    assert_eq!(tag_seal(&repo, "v1")["tag_object"], "null");
    assert_eq!(tag_seal(&repo, "v2")["tagger"]["email"], "cy@example.com");

    // A tag moved without its seal following is reported as moved.
    repo.commit_file("a.txt", "later\n", "later");
    repo.git_hooks_off(&["tag", "-f", "v1"]).ok();
    let r = repo.seal(&["verify", "v1"]).fails_with(1);
    r.stdout_has(format!("tag v1: tag moved: sealed at {}", &head[..7]));
    // Moving it with the hook on seals the new target too.
    repo.git(&["tag", "-f", "v1", "HEAD~1"]).ok();
    repo.git(&["tag", "-f", "v1", "HEAD"]).ok();
    repo.seal(&["verify", "v1"]).ok();
    // By hand, for git without the hook.
    repo.git_hooks_off(&["tag", "v3"]).ok();
    let r = repo.seal(&["verify", "v3"]).fails_with(1);
    r.stderr_has("hint: seal tags by hand with: git seal seal v3");
    let r = repo.seal(&["seal", "v3"]).ok();
    r.stdout_has("sealed tag v3 sha256:");
    repo.seal(&["verify", "v3"]).ok();

    // A tag on an unsealed commit is sealed, its target is not.
    let bare = repo.commit_unsealed("u", "unsealed");
    repo.git(&["tag", "v4"]).ok();
    assert_eq!(tag_seal(&repo, "v4")["target_seal"], "null");
    let r = repo.seal(&["verify", "v4"]).fails_with(1);
    r.stdout_has(format!("tag v4: target {}: no seal", &bare[..7]));
    r.stderr_has("hint: seal what has no seal with: git seal seal --missing");
    repo.seal(&["seal", "--missing"]).ok();
    repo.seal(&["verify", "v4"]).ok();
}

#[test]
fn evtag_read_by_several_threads_equals_the_derivation() {
    // Enough blobs for many read-ahead batches, in the repository and in a
    // submodule between its files, duplicates, and a blob too big to read ahead.
    let sb = Sandbox::new();
    let sub = sb.init("sub", &[]);
    for i in 0..90 {
        sub.write(&format!("s/{i:03}.txt"), &format!("sub file {}\n", i % 60));
    }
    sub.git(&["add", "-A"]).ok();
    sub.git(&["commit", "-q", "-m", "sub"]).ok();
    let repo = sb.installed("r");
    for i in 0..200 {
        let dir = if i < 100 { "a" } else { "z" };
        repo.write(&format!("{dir}/{i:03}.txt"), &format!("file {}\n", i % 150));
    }
    repo.write("a/big.bin", &"0123456789abcdef".repeat(20_000));
    repo.add_submodule("sub", "m/sub");
    repo.git(&["add", "-A"]).ok();
    repo.git(&["commit", "-q", "-m", "many files"]).ok();
    let mut tag = repo.cmd("git", &["tag", "many"]);
    tag.env("RAYON_NUM_THREADS", "3");
    run_with_stdin(tag, b"").ok();
    let seal = tag_seal(&repo, "many");
    assert_eq!(
        seal["evtag"]["digest"],
        evtag_by_hand(&repo, &repo.rev("HEAD")).as_str()
    );
    if let Some(reference) = evtag_reference(&repo, "many") {
        assert_eq!(seal["evtag"]["digest"], reference.as_str(), "git-evtag");
    }
    let mut verify = repo.cmd(SEAL, &["verify", "many"]);
    verify.env("RAYON_NUM_THREADS", "2");
    run_with_stdin(verify, b"").ok();
}

/// A `reference-transaction` hook whose `git-seal` is a spy: it notes each call in
/// `calls` and then runs the real binary, so the hook still does its work.
fn spy_on_tag_hook(repo: &TestRepo<'_>) -> std::path::PathBuf {
    let hook = repo.path.join(".git/hooks/reference-transaction");
    let shim = std::fs::read_to_string(&hook).unwrap();
    let real = shim
        .lines()
        .find_map(|l| l.strip_prefix("seal_bin='")?.strip_suffix('\''))
        .expect("the shim names its binary")
        .to_string();
    let calls = repo.path.join("calls");
    let spy = repo.path.join("spy.sh");
    write_script(
        &spy,
        &format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\nexec '{real}' \"$@\"\n",
            calls.display()
        ),
    );
    let spied = shim.replace(
        &format!("seal_bin='{real}'"),
        &format!("seal_bin='{}'", spy.display()),
    );
    assert_ne!(spied, shim);
    std::fs::write(&hook, spied).unwrap();
    calls
}

#[test]
fn fetching_500_branches_starts_no_git_seal_process() {
    let sb = Sandbox::new();
    let src = sb.init("src", &[]);
    src.commit_file("a", "a", "base");
    src.create_branches(500);

    // Exactly: not one git-seal process for 500 branch updates, while a tag still
    // reaches git-seal through the same spied hook.
    let spied = sb.init("spied", &[]);
    spied.install_shims();
    let calls = spy_on_tag_hook(&spied);
    spied
        .git(&[
            "fetch",
            "-q",
            src.path.to_str().unwrap(),
            "refs/heads/*:refs/remotes/o/*",
        ])
        .ok();
    assert!(
        !calls.exists(),
        "git-seal ran for branch updates: {}",
        std::fs::read_to_string(&calls).unwrap()
    );
    assert_eq!(
        spied
            .git_out(&["for-each-ref", "--format=x", "refs/remotes/o/"])
            .lines()
            .count(),
        501, // the 500 branches and main
    );
    spied.commit_file("b", "b", "local");
    spied.git(&["tag", "spy-check"]).ok();
    assert!(
        calls.exists(),
        "the spy saw nothing: the test could not fail"
    );
    spied.seal(&["verify", "spy-check"]).ok();
    // What the hook costs such a fetch is measured in the `timing` test binary, which
    // runs alone.
}

#[test]
fn snapshot_commit_more_then_roll_back_to_the_last_good_one() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    let first = repo.rev("HEAD");
    let out = repo.seal(&["snapshot", "rel", "-m", "first"]).ok().stdout();
    let today = chrono_today(&repo);
    let tag1 = format!("snapshot/rel@{today}");
    assert_has(&out, format!("snapshot {tag1} at {}", &first[..7]));
    repo.commit_file("app.txt", "v2\n", "release two");
    let out = repo.seal(&["snapshot", "rel"]).ok().stdout();
    let tag2 = format!("{tag1}.2");
    assert!(
        out.contains(&tag2),
        "a second snapshot the same day gets a suffix: {out}"
    );
    repo.commit_file("app.txt", "broken\n", "breaks things");
    let broken = repo.rev("HEAD");

    // A dirty tree is refused, naming the files.
    repo.write("app.txt", "uncommitted\n");
    let r = repo.seal(&["rollback", "--reason", "oops"]).fails_with(1);
    r.stderr_has("uncommitted changes: app.txt");
    repo.git(&["checkout", "--", "app.txt"]).ok();

    // The newest snapshot no longer verifies (its frozen checksums were tampered
    // with in the ledger): rollback picks the previous good one and says why.
    let path = format!("snapshots/{tag2}/CHECKSUMS.sha256");
    let blob = run_with_stdin(
        repo.cmd("git", &["hash-object", "-w", "--stdin"]),
        b"0000  app.txt\n",
    )
    .stdout();
    let blob = blob.trim();
    repo.git(&[
        "read-tree",
        "--index-output=.git/tampered-index",
        "refs/notes/seal",
    ])
    .ok();
    let mut cmd = repo.cmd(
        "git",
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{blob},{path}"),
        ],
    );
    cmd.env("GIT_INDEX_FILE", repo.path.join(".git/tampered-index"));
    assert!(cmd.status().unwrap().success());
    let mut cmd = repo.cmd("git", &["write-tree"]);
    cmd.env("GIT_INDEX_FILE", repo.path.join(".git/tampered-index"));
    let tree = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let commit = repo.git_out(&[
        "commit-tree",
        tree.trim(),
        "-p",
        "refs/notes/seal",
        "-m",
        "tamper",
    ]);
    repo.git(&["update-ref", "refs/notes/seal", &commit]).ok();
    let r = repo.seal(&["verify", &tag2]).fails_with(1);
    r.stdout_has("frozen checksum file does not match");

    let r = repo
        .seal(&["rollback", "--reason", "release two is broken"])
        .ok();
    r.stderr_has(format!("skipping {tag2}: frozen checksum file"));
    r.stdout_has(format!("rolled back to {tag1}"));
    r.stdout_has("worktree verified");
    assert_eq!(repo.rev("HEAD"), first);
    assert_eq!(repo.git_out(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    let safety = repo.git_out(&[
        "for-each-ref",
        "--format=%(refname) %(objectname)",
        "refs/seal/safety/",
    ]);
    assert!(
        safety.ends_with(&broken),
        "the safety ref keeps where we were: {safety}"
    );
    let list = repo.seal(&["rollback", "--list"]).ok().stdout();
    assert_has(&list, "reason: release two is broken");
    assert_has(&list, &tag1);
    let log = repo
        .seal(&["log", "--command", "rollback", "--json"])
        .ok()
        .stdout();
    assert_has(&log, "release two is broken");

    // With --force, uncommitted changes are kept, not lost.
    repo.write("app.txt", "precious\n");
    let r = repo
        .seal(&["rollback", &tag1, "--reason", "again", "--force"])
        .ok();
    r.stdout_has("uncommitted changes kept as refs/seal/safety/");
    let kept = repo.git_out(&["for-each-ref", "--format=%(refname)", "refs/seal/safety/"]);
    let stash = kept.lines().find(|l| l.ends_with("-worktree")).unwrap();
    assert_eq!(
        repo.git_out(&["show", &format!("{stash}:app.txt")]),
        "precious"
    );
}

fn chrono_today(repo: &TestRepo<'_>) -> String {
    // The sandbox runs with TZ=UTC; the snapshot uses the local date.
    let out = repo.cmd("date", &["+%Y-%m-%d"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn snapshot_refuses_an_unsealed_head_and_exports_checkable_files() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.commit_file("a b.txt", "a\n", "unsealed");
    let r = repo.seal(&["snapshot", "x"]).fails_with(1);
    r.stderr_has("has no valid seal");
    repo.seal(&["snapshot", "bad@name"]).fails_with(2);
    repo.seal(&["seal"]).ok();
    let out = sb.path().join("export");
    let r = repo
        .seal(&["snapshot", "rel", "--export", out.to_str().unwrap()])
        .ok();
    let tag = format!("snapshot/rel@{}", chrono_today(&repo));
    let safe = tag.replace('/', "_");
    let sums = out.join(format!("checksums/CHECKSUMS-{safe}.sha256"));
    r.stdout_has(sums.to_str().unwrap());
    // sha256sum -c --strict at the root of a checkout of the snapshot
    let checkout = sb.path().join("checkout");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        checkout.to_str().unwrap(),
        &tag,
    ])
    .ok();
    let check = sb
        .at(&checkout)
        .cmd("sha256sum", &["-c", "--strict", sums.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // The YAML and JSON parse in Python's parsers, with the brief's fields.
    let py = r#"
import json, sys, yaml
seal = yaml.safe_load(open(sys.argv[1]))
manifest = json.load(open(sys.argv[2]))
for k in ["schema", "kind", "tag", "target", "target_seal", "manifest", "evtag", "snapshot", "sealed_at", "sealed_by", "tool", "digest"]:
    assert k in seal, k
assert seal["kind"] == "tag" and seal["manifest"]["digest"] == manifest["digest"]
for k in ["schema", "commit", "tree", "digest", "files", "bytes", "entries"]:
    assert k in manifest, k
print("ok")
"#;
    let seal = out.join(format!("seals/SEAL-{safe}.yaml"));
    let manifest = out.join(format!("manifests/MANIFEST-{safe}.json"));
    let r = repo
        .cmd(
            "python3",
            &["-c", py, seal.to_str().unwrap(), manifest.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r = repo.seal(&["verify", &tag]).ok();
    r.stdout_has("1 tag(s) verified");
}

#[test]
fn diff_lists_changes_between_sealed_states() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("keep", "1\n", "a");
    repo.commit_file("gone", "1\n", "b");
    repo.commit_file("tool.sh", "#!/bin/sh\n", "c");
    repo.git(&["tag", "before"]).ok();
    std::fs::remove_file(repo.path.join("gone")).unwrap();
    repo.write("keep", "2\n");
    repo.write("new", "n\n");
    repo.git(&["add", "-A"]).ok();
    repo.git(&["update-index", "--chmod=+x", "tool.sh"]).ok();
    repo.git(&["commit", "-q", "-m", "changes"]).ok();
    let out = repo.seal(&["diff", "before", "HEAD"]).ok().stdout();
    assert_eq!(
        out,
        "D  gone\nM  keep\nA  new\nT  tool.sh (100644 -> 100755)\n"
    );
    let out = repo
        .seal(&["diff", "--checksums", "before", "HEAD"])
        .ok()
        .stdout();
    assert!(
        out.starts_with("--- before.sha256\n+++ HEAD.sha256\n"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('-') && l.ends_with("  gone")),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &repo
            .seal(&["diff", "before", "HEAD", "--json"])
            .ok()
            .stdout(),
    )
    .unwrap();
    assert_eq!(json["changes"].as_array().unwrap().len(), 4);
}

#[test]
fn tags_that_arrive_by_fetch_are_not_sealed_by_the_receiver() {
    let sb = Sandbox::new();
    let src = sb.installed("src");
    src.commit_file("a", "a", "base");
    src.git(&["tag", "-a", "v1", "-m", "made upstream"]).ok();
    let dst = sb.installed("dst");
    dst.git(&[
        "fetch",
        "-q",
        src.path.to_str().unwrap(),
        "refs/tags/*:refs/tags/*",
    ])
    .ok();
    assert!(dst.git(&["rev-parse", "--verify", "-q", "v1"]).code() == 0);
    let tags = dst.git(&["ls-tree", "-r", "--name-only", "refs/notes/seal", "tags/"]);
    assert!(
        tags.stdout().is_empty(),
        "a fetched tag was sealed: {}",
        tags.stdout()
    );
    let log = dst
        .seal(&["log", "--hook", "reference-transaction", "--json"])
        .ok()
        .stdout();
    assert_has(&log, "\"status\":\"SKIPPED\"");
    assert_has(&log, "tags from git fetch");
    // A tag made here is sealed.
    dst.git(&["tag", "local", "v1^{commit}"]).ok();
    let tags = dst.git_out(&["ls-tree", "-r", "--name-only", "refs/notes/seal", "tags/"]);
    assert!(tags.starts_with("tags/local/"), "{tags}");
}
