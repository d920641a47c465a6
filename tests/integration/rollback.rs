//! Rollback against accidents and attackers: it never loses a file, chooses the
//! snapshot by HEAD's history (never by a date someone wrote), passes over what it
//! cannot read or verify, checks the frozen MANIFEST.json, and a dry run changes
//! nothing at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use crate::harness::{assert_has, run_with_stdin, Run, Sandbox, TestRepo};

/// 2099-01-01T00:00:00Z, as a git date.
const FUTURE: &str = "4070908800 +0000";

fn today(repo: &TestRepo<'_>) -> String {
    let out = repo.cmd("date", &["+%Y-%m-%d"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The ledger path of the (one) tag seal of `tag`.
fn tag_seal_path(repo: &TestRepo<'_>, tag: &str) -> String {
    repo.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        &format!("tags/{tag}/"),
    ])
}

/// An annotated snapshot tag whose tagger date is `date`, sealed: what anyone can
/// make with plain git and `git seal seal`.
fn dated_snapshot(repo: &TestRepo<'_>, tag: &str, rev: &str, date: &str) {
    let mut c = repo.cmd("git", &["tag", "-a", "-m", "snapshot", tag, rev]);
    c.env("GIT_COMMITTER_DATE", date);
    assert!(c.status().unwrap().success());
    repo.seal(&["seal", tag]).ok();
    repo.seal(&["verify", tag]).ok();
}

/// Every file under `root` (the .git directory included): bytes and mtime.
fn everything(root: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                out.insert(rel, (bytes, meta.modified().unwrap()));
            }
        }
    }
    out
}

/// The `git seal rollback …` command a hint line of `stderr` names.
fn hinted_rollback(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint in:\n{stderr}"));
    let at = line
        .find("git seal rollback")
        .unwrap_or_else(|| panic!("no command in {line}"));
    line[at..].to_string()
}

fn paste(repo: &TestRepo<'_>, command: &str) -> Run {
    run_with_stdin(repo.cmd("sh", &["-c", command]), b"")
}

#[test]
fn untracked_and_ignored_files_where_the_snapshot_has_files_survive_the_rollback() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.write("notes.txt", "tracked notes\n");
    repo.write("build.log", "tracked log\n");
    repo.commit_file("app.txt", "v1\n", "release one");
    let first = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&repo));
    repo.git(&["rm", "-q", "notes.txt", "build.log"]).ok();
    repo.commit_file(".gitignore", "*.log\n", "stop tracking notes and logs");
    let second = repo.rev("HEAD");
    // The user's own files now sit where the snapshot has files: one untracked,
    // one ignored. `git reset --hard` would overwrite both.
    repo.write("notes.txt", "my precious notes\n");
    repo.write("build.log", "a log I need\n");

    let r = repo.seal(&["rollback", "--reason", "oops"]).fails_with(1);
    r.stderr_has(format!(
        "untracked files where {tag} has files: build.log, notes.txt"
    ));
    assert_eq!(repo.rev("HEAD"), second, "a refusal moves nothing");
    let read = |p: &str| std::fs::read_to_string(repo.path.join(p)).unwrap();
    assert_eq!(read("notes.txt"), "my precious notes\n");
    assert_eq!(read("build.log"), "a log I need\n");

    // The hint's command works when pasted, and keeps both files.
    let fix = hinted_rollback(&r.stderr());
    assert_has(&fix, "--force");
    let r = paste(&repo, &fix).ok();
    r.stdout_has(format!("rolled back to {tag}"));
    r.stdout_has("worktree verified");
    assert_eq!(repo.rev("HEAD"), first);
    assert_eq!(read("notes.txt"), "tracked notes\n");
    let out = r.stdout();
    let moved = out
        .lines()
        .find_map(|l| l.strip_prefix("untracked notes.txt was in the way: moved to "))
        .unwrap_or_else(|| panic!("where did notes.txt go?\n{out}"));
    assert_eq!(
        std::fs::read_to_string(moved).unwrap(),
        "my precious notes\n"
    );
    let aside_dir = moved.strip_suffix("/notes.txt").unwrap();
    assert_eq!(
        std::fs::read_to_string(Path::new(aside_dir).join("build.log")).unwrap(),
        "a log I need\n"
    );
    // The record names where they went.
    let records = repo.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        "rollbacks/",
    ]);
    let record = repo.git_out(&["show", &format!("refs/notes/seal:{records}")]);
    assert_has(&record, format!("aside_dir: {aside_dir}"));
    assert_has(&record, "- notes.txt");
}

#[test]
fn a_future_dated_snapshot_fetched_from_a_collaborator_is_not_chosen() {
    let sb = Sandbox::new();
    let up = sb.installed("up");
    up.commit_file("app.txt", "v1\n", "release one");
    up.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&up));
    let good = up.rev("HEAD");

    let mut clone = sb.command("git", sb.path());
    clone.args(["clone", "-q"]).arg(&up.path).arg("me");
    assert!(clone.status().unwrap().success());
    let me = sb.at(sb.path().join("me"));
    me.git(&["config", "user.name", "Me Myself"]).ok();
    me.git(&["config", "user.email", "me@example.com"]).ok();
    me.install();
    me.git(&["fetch", "-q"]).ok();
    me.commit_file("app.txt", "broken\n", "my change breaks things");

    // The collaborator makes a sealed snapshot of their own branch and dates its tag
    // in 2099. One fetch brings it in, and it verifies.
    up.git(&["checkout", "-q", "-b", "theirs"]).ok();
    up.commit_file("app.txt", "theirs\n", "their change");
    let theirs = up.rev("HEAD");
    dated_snapshot(&up, "snapshot/latest@2099-01-01", "HEAD", FUTURE);
    me.git(&[
        "fetch",
        "-q",
        "origin",
        "+refs/heads/*:refs/remotes/origin/*",
        "--tags",
    ])
    .ok();
    me.git(&["fetch", "-q"]).ok();
    assert_eq!(me.rev("snapshot/latest@2099-01-01^{commit}"), theirs);
    me.seal(&["verify", "snapshot/latest@2099-01-01"]).ok();

    let r = me.seal(&["rollback", "--reason", "my change"]).ok();
    r.stdout_has(format!("rolled back to {tag}"));
    r.stderr_has("skipping snapshot/latest@2099-01-01: its commit is not in HEAD's history");
    assert_eq!(
        me.rev("HEAD"),
        good,
        "rolled back in my own history, not onto theirs"
    );
}

#[test]
fn a_future_dated_snapshot_of_an_older_commit_loses_to_the_closest_one() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    dated_snapshot(&repo, "snapshot/old@2099-01-01", "HEAD", FUTURE);
    repo.commit_file("app.txt", "v2\n", "release two");
    let two = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&repo));
    repo.commit_file("app.txt", "broken\n", "breaks things");

    let r = repo.seal(&["rollback", "--dry-run", "--reason", "x"]).ok();
    r.stdout_has(format!(
        "to {tag} ({}): the closest snapshot in HEAD's history that verifies",
        &two[..7]
    ));
    let r = repo.seal(&["rollback", "--reason", "broken"]).ok();
    r.stdout_has(format!("rolled back to {tag}"));
    assert_eq!(repo.rev("HEAD"), two);
}

#[test]
fn broken_snapshot_tags_are_passed_over_with_their_reasons() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    let good = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&repo));
    repo.commit_file("app.txt", "v2\n", "release two");

    // A tag object, dated in the future, for a commit this repository does not have.
    let ghost = format!(
        "object {}\ntype commit\ntag snapshot/ghost@2099-01-01\ntagger Eve <eve@example.com> {FUTURE}\n\nghost\n",
        "0123456789abcdef0123456789abcdef01234567"
    );
    let id = run_with_stdin(
        repo.cmd(
            "git",
            &["hash-object", "-t", "tag", "-w", "--literally", "--stdin"],
        ),
        ghost.as_bytes(),
    )
    .ok()
    .stdout();
    repo.git(&[
        "update-ref",
        "refs/tags/snapshot/ghost@2099-01-01",
        id.trim(),
    ])
    .ok();
    // A snapshot of the closer commit whose seal was edited in the ledger …
    dated_snapshot(&repo, "snapshot/edited@2099-01-01", "HEAD", FUTURE);
    let path = tag_seal_path(&repo, "snapshot/edited@2099-01-01");
    let seal = repo.git_out(&["show", &format!("refs/notes/seal:{path}")]);
    let edited = seal.replace("sealed_by:\n  name: Cy", "sealed_by:\n  name: Not Cy");
    assert_ne!(seal, edited);
    repo.hostile_ledger_file(&path, edited.as_bytes());
    // … and one whose seal is not YAML at all.
    dated_snapshot(&repo, "snapshot/garbled@2099-01-01", "HEAD", FUTURE);
    let path = tag_seal_path(&repo, "snapshot/garbled@2099-01-01");
    repo.hostile_ledger_file(&path, b"{{{{ not: a: seal\n");
    repo.commit_file("app.txt", "broken\n", "breaks things");

    let r = repo.seal(&["rollback", "--dry-run", "--reason", "x"]).ok();
    r.stdout_has("passed over snapshot/ghost@2099-01-01: unreadable: the tag ");
    r.stdout_has("passed over snapshot/edited@2099-01-01: tag seal digest mismatch");
    r.stdout_has("passed over snapshot/garbled@2099-01-01: no tag seal");
    let r = repo.seal(&["rollback", "--reason", "broken"]).ok();
    r.stderr_has("skipping snapshot/ghost@2099-01-01: unreadable: ");
    r.stderr_has("skipping snapshot/edited@2099-01-01: tag seal digest mismatch");
    r.stderr_has("skipping snapshot/garbled@2099-01-01: no tag seal");
    r.stdout_has(format!("rolled back to {tag}"));
    assert_eq!(repo.rev("HEAD"), good);
}

#[test]
fn a_tampered_frozen_manifest_makes_its_snapshot_fail_and_rollback_skip_it() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    let good = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag1 = format!("snapshot/rel@{}", today(&repo));
    repo.commit_file("app.txt", "v2\n", "release two");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag2 = format!("{tag1}.2");
    repo.commit_file("app.txt", "broken\n", "breaks things");

    // The seal pins the frozen file's hash.
    let manifest_path = format!("snapshots/{tag2}/MANIFEST.json");
    let manifest = repo.git_out(&["show", &format!("refs/notes/seal:{manifest_path}")]);
    let seal = repo.git_out(&[
        "show",
        &format!("refs/notes/seal:{}", tag_seal_path(&repo, &tag2)),
    ]);
    let pinned = run_with_stdin(
        repo.cmd("sha256sum", &[]),
        format!("{manifest}\n").as_bytes(),
    )
    .ok()
    .stdout();
    assert_has(
        &seal,
        format!(
            "manifest_sha256: sha256:{}",
            pinned.split(' ').next().unwrap()
        ),
    );
    repo.seal(&["verify", &tag2]).ok();

    // Someone rewrites it (a file's hash, say) in the ledger.
    let tampered = manifest.replacen("\"sha256\": \"", "\"sha256\": \"00", 1);
    assert_ne!(manifest, tampered);
    repo.hostile_ledger_file(&manifest_path, format!("{tampered}\n").as_bytes());
    let r = repo.seal(&["verify", &tag2]).fails_with(1);
    r.stdout_has("frozen MANIFEST.json does not match the snapshot");

    let r = repo.seal(&["rollback", "--reason", "broken"]).ok();
    r.stderr_has(format!(
        "skipping {tag2}: frozen MANIFEST.json does not match the snapshot"
    ));
    r.stdout_has(format!("rolled back to {tag1}"));
    assert_eq!(repo.rev("HEAD"), good);
}

#[test]
fn a_dry_run_changes_nothing_at_all_not_even_the_index() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    repo.seal(&["snapshot", "rel"]).ok();
    repo.commit_file("other.txt", "o\n", "more");
    repo.commit_file("app.txt", "broken\n", "breaks things");
    // Same content, new mtime: any `git status` that may write would refresh the index.
    repo.cmd("touch", &["-d", "2020-01-01", "app.txt", "other.txt"])
        .status()
        .unwrap();
    let refs = || repo.git_out(&["for-each-ref", "--format=%(refname) %(objectname)"]);
    let (before, refs_before) = (everything(&repo.path), refs());

    let r = repo.seal(&["rollback", "--dry-run", "--reason", "x"]).ok();
    r.stdout_has("plan: roll back from");
    r.stdout_has("would move branch main to snapshot/rel@");
    assert_eq!(refs(), refs_before);
    let after = everything(&repo.path);
    for (path, (bytes, mtime)) in &before {
        let now = after.get(path).unwrap_or_else(|| panic!("{path} removed"));
        assert!(now.0 == *bytes, "{path} rewritten by a dry run");
        assert_eq!(now.1, *mtime, "{path} touched by a dry run");
    }
    let new: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(new.is_empty(), "a dry run wrote {new:?}");
}

#[test]
fn a_dry_run_on_a_dirty_tree_shows_the_plan_and_what_the_changes_need() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    let first = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&repo));
    repo.commit_file("app.txt", "broken\n", "breaks things");
    repo.write("app.txt", "uncommitted\n");

    let r = repo.seal(&["rollback", "--dry-run", "--reason", "x"]).ok();
    r.stdout_has(format!("plan: roll back from {}", &repo.rev("HEAD")[..7]));
    r.stdout_has(format!("to {tag} ({})", &first[..7]));
    r.stdout_has("would refuse: the working tree has uncommitted changes: app.txt");
    r.stdout_has("--force --reason x");
    r.stdout_has("with --force, would stash and keep the changes to app.txt");
    assert_eq!(
        std::fs::read_to_string(repo.path.join("app.txt")).unwrap(),
        "uncommitted\n"
    );
    let r = repo
        .seal(&["rollback", "--dry-run", "--force", "--reason", "x"])
        .ok();
    r.stdout_has("would stash and keep the changes to app.txt");
}

#[test]
fn a_rollback_onto_the_commit_you_are_on_does_and_records_nothing() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&repo));
    let ledger = repo.rev("refs/notes/seal");

    let r = repo.seal(&["rollback", "--reason", "just in case"]).ok();
    r.stdout_has(format!("already there: HEAD is at {tag}"));
    let r = repo.seal(&["rollback", &tag, "--reason", "named"]).ok();
    r.stdout_has("already there");
    assert_eq!(repo.rev("refs/notes/seal"), ledger, "nothing recorded");
    assert_eq!(
        repo.git_out(&["for-each-ref", "refs/seal/safety/"]),
        "",
        "no safety ref for a no-op"
    );
    repo.seal(&["rollback", "--list"])
        .ok()
        .stdout_has("no rollbacks recorded");
}

#[test]
fn a_file_where_the_snapshot_has_a_directory_survives_a_detached_rollback() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("conf/a.txt", "a\n", "release one");
    let first = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    let tag = format!("snapshot/rel@{}", today(&repo));
    repo.git(&["rm", "-q", "-r", "conf"]).ok();
    repo.commit_file("app.txt", "v2\n", "drop conf");
    repo.git(&["checkout", "-q", "--detach"]).ok();
    // Checking out the snapshot would need a directory where this file is.
    repo.write("conf", "my own conf file\n");

    let r = repo.seal(&["rollback", "--reason", "x"]).fails_with(1);
    r.stderr_has(format!("untracked files where {tag} has files: conf"));
    let r = repo.seal(&["rollback", "--force", "--reason", "x"]).ok();
    assert_eq!(repo.rev("HEAD"), first);
    let out = r.stdout();
    let moved = out
        .lines()
        .find_map(|l| l.strip_prefix("untracked conf was in the way: moved to "))
        .unwrap_or_else(|| panic!("where did conf go?\n{out}"));
    assert_eq!(
        std::fs::read_to_string(moved).unwrap(),
        "my own conf file\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("conf/a.txt")).unwrap(),
        "a\n"
    );
}
