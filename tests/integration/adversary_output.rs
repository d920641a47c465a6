//! What git-seal writes and prints from others' data: export stays under the
//! directory asked for, whatever links sit in it; file names and ledger fields
//! reach the terminal quoted, so they can neither forge nor erase a line.

use crate::harness::{assert_has, Sandbox};

#[test]
fn export_never_writes_through_a_link_planted_in_its_output_directory() {
    let sb = Sandbox::new();
    let repo = sb.installed("repo");
    repo.commit_file("a", "1\n", "one");
    let out = sb.path().join("dist");
    let elsewhere = sb.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("seals")).unwrap();
    let r = repo
        .seal(&["export", "HEAD", "--out", out.to_str().unwrap()])
        .fails_with(2);
    r.stderr_has("is a symbolic link; git-seal does not write through links");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    // Nothing half-written either.
    assert!(
        !out.join("manifests").exists()
            || std::fs::read_dir(out.join("manifests")).unwrap().count() == 0
    );
}

#[test]
fn export_of_a_seal_that_does_not_verify_writes_nothing_and_fails() {
    let sb = Sandbox::new();
    let repo = sb.installed("repo");
    repo.commit_file("a", "1\n", "one");
    repo.tamper_seal("HEAD", |s| {
        s.replace("schema: git-seal/seal/v1", "schema: [unclosed")
    });
    let out = sb.path().join("dist");
    let r = repo
        .seal(&["export", "HEAD", "--out", out.to_str().unwrap()])
        .fails_with(1);
    r.stderr_has("does not verify");
    r.stderr_has("nothing exported");
    r.stderr_has("hint: see every problem: git seal verify HEAD");
    assert!(!out.exists());
}

#[test]
fn file_names_that_carry_terminal_escapes_are_quoted_in_diff_and_verify_worktree() {
    let sb = Sandbox::new();
    let repo = sb.installed("repo");
    let evil = "ok.txt\n\u{1b}[1Averify: ok";
    repo.commit_file(evil, "1\n", "one");
    repo.commit_file(evil, "2\n", "two");
    let diff = repo.seal(&["diff", "HEAD~1", "HEAD"]).ok().stdout();
    assert_eq!(diff.lines().count(), 1, "one change, one line:\n{diff}");
    assert_has(&diff, "M  \"ok.txt\\n\\033[1Averify: ok\"");
    std::fs::write(repo.path.join(evil), "changed\n").unwrap();
    let r = repo.seal(&["verify", "--worktree"]).fails_with(1);
    assert!(!r.stdout().contains('\u{1b}') && !r.stderr().contains('\u{1b}'));
    assert_has(
        &format!("{}{}", r.stdout(), r.stderr()),
        "\"ok.txt\\n\\033[1Averify: ok\": modified",
    );
}

#[test]
fn a_hostile_seal_field_reaches_the_terminal_escaped() {
    let sb = Sandbox::new();
    let repo = sb.installed("repo");
    let c = repo.commit_file("a", "1\n", "one");
    repo.tamper_seal("HEAD", |s| {
        s.replace(&format!("commit: {c}"), "commit: \"\\e[2Kall good\\r\"")
    });
    let r = repo.seal(&["verify"]).fails_with(1);
    let all = format!("{}{}", r.stdout(), r.stderr());
    assert!(!all.contains('\u{1b}') && !all.contains('\r'), "{all:?}");
    assert_has(&all, "\\u{1b}[2Kall good\\u{d}");
}
