//! The adversary (brief §6): each test is an attack by someone who can push to a
//! remote or whose ledger a user fetches, written with git plumbing, and asserts the
//! bounded refusal, the clear message, and that the command finished quickly.
//!
//! Unbounded input (issue 10, class 4): notes and tag seals too large or too deeply
//! nested for a parser, non-ASCII where ids are expected, pushes of thousands of refs.

use std::time::{Duration, Instant};

use crate::harness::{assert_has, run_with_stdin, Run, Sandbox, TestRepo};

/// Loose, so as not to be flaky on a loaded machine: the quadratic parser took 10 s
/// on 100 KB and minutes on 1 MB.
const QUICK: Duration = Duration::from_secs(2);

const MIB: usize = 1 << 20;

/// Makes blob `content` the seal note of `rev`, as a hostile ledger would.
fn hostile_note(repo: &TestRepo<'_>, rev: &str, content: &[u8]) {
    let id = repo.blob(content);
    repo.git(&["notes", "--ref=seal", "add", "-f", "-C", &id, rev])
        .ok();
}

/// Runs `git seal ARGS`, returning the run and how long it took.
fn timed_seal(repo: &TestRepo<'_>, args: &[&str]) -> (Run, Duration) {
    let t = Instant::now();
    let r = repo.seal(args);
    (r, t.elapsed())
}

#[track_caller]
fn assert_quick(what: &str, took: Duration) {
    assert!(took < QUICK, "{what} took {took:?}");
}

/// The hostile documents of `size` bytes: deep flow nesting of both kinds, deep
/// block nesting, a long simple key, many aliases, a billion laughs, a huge scalar.
fn hostile_documents(size: usize) -> Vec<(&'static str, String)> {
    let mut laughs = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        laughs.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    while laughs.len() < size {
        laughs.push_str("# padding, to the size of the other documents\n");
    }
    let mut block = String::new();
    let mut depth = 0;
    while block.len() + depth + 3 < size {
        block.push_str(&" ".repeat(depth));
        block.push_str("a:\n");
        depth += 1;
    }
    let mut aliases = String::from("schema: &s git-seal/seal/v1\nx: [");
    while aliases.len() < size - 4 {
        aliases.push_str("*s, ");
    }
    aliases.push_str("*s]\n");
    vec![
        ("flow sequence nesting", "[".repeat(size)),
        ("flow mapping nesting", "{a: ".repeat(size / 4)),
        ("block nesting", block),
        ("long simple key", format!("{}: 1\n", "k".repeat(size - 4))),
        ("many aliases", aliases),
        ("billion laughs", laughs),
        ("huge scalar", format!("schema: {}\n", "a".repeat(size - 9))),
    ]
}

#[test]
fn a_1mib_hostile_note_is_refused_by_its_size_before_any_parser_sees_it() {
    let sb = Sandbox::new();
    let repo = sb.installed("victim");
    let head = repo.commit_file("a", "1", "first");
    for (attack, doc) in hostile_documents(MIB) {
        hostile_note(&repo, "HEAD", doc.as_bytes());
        let (r, took) = timed_seal(&repo, &["verify", "HEAD"]);
        let r = r.fails_with(1);
        r.stdout_has(format!(
            "unreadable seal: seal of {head} is {} bytes, over the 65536-byte cap",
            doc.len()
        ));
        assert_quick(&format!("verify of a 1 MiB {attack}"), took);
    }
}

#[test]
fn a_hostile_note_under_the_cap_is_parsed_in_linear_time_and_refused() {
    let sb = Sandbox::new();
    let repo = sb.installed("victim");
    repo.commit_file("a", "1", "first");
    for (attack, doc) in hostile_documents(60 * 1024) {
        hostile_note(&repo, "HEAD", doc.as_bytes());
        let (r, took) = timed_seal(&repo, &["verify", "HEAD"]);
        let r = r.fails_with(1);
        r.stdout_has("unreadable seal: seal ");
        assert_quick(&format!("verify of a 60 KiB {attack}"), took);
        let (r, took) = timed_seal(&repo, &["show", "HEAD"]);
        assert_ne!(r.code(), 0, "show printed a hostile note as a seal");
        assert_ne!(r.code(), 101, "show panicked: {}", r.stderr());
        assert_quick(&format!("show of a 60 KiB {attack}"), took);
    }
}

#[test]
fn committing_on_a_parent_with_a_hostile_note_still_seals_quickly() {
    let sb = Sandbox::new();
    let repo = sb.installed("victim");
    repo.commit_file("a", "1", "first");
    // As after fetching a hostile ledger: the parent's note is 1 MiB of nesting.
    hostile_note(&repo, "HEAD", "[".repeat(MIB).as_bytes());
    let t = Instant::now();
    repo.commit_file("a", "2", "second");
    assert_quick("post-commit over a hostile parent note", t.elapsed());
    let seal = repo.note("HEAD").expect("the new commit is sealed");
    // The parent has no readable seal, so the chain records none.
    assert_has(&seal, "parent_seals:\n- null\n");
}

#[test]
fn a_pushed_1mib_note_is_refused_by_the_server_with_the_cap_in_the_message() {
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare"]);
    server.seal(&["install", "--server"]).ok();
    let client = sb.installed("client");
    client
        .git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    let head = client.commit_file("a", "1", "first");
    hostile_note(&client, "HEAD", "{a: ".repeat(MIB / 4).as_bytes());
    let t = Instant::now();
    let r = client
        .git(&[
            "push",
            "-q",
            "--no-verify",
            "origin",
            "main",
            "refs/notes/seal:refs/notes/seal",
        ])
        .fails_with(1);
    assert_quick("pre-receive of a hostile 1 MiB note", t.elapsed());
    r.stderr_has(format!(
        "unreadable seal: seal of {head} is 1048576 bytes, over the 65536-byte cap"
    ));
    assert_ne!(
        server.git(&["rev-parse", "-q", "--verify", "main"]).code(),
        0
    );
}

#[test]
fn an_oversized_tag_seal_is_reported_not_read() {
    let sb = Sandbox::new();
    let repo = sb.installed("victim");
    repo.commit_file("a", "1", "first");
    // A tag made without the hook, whose only stored "seal" is the hostile one.
    repo.git_hooks_off(&["tag", "v2"]).ok();
    let path = format!("tags/v2/{}.yaml", "ab".repeat(32));
    repo.hostile_ledger_file(&path, "[".repeat(MIB).as_bytes());
    let (r, took) = timed_seal(&repo, &["verify", "v2"]);
    let r = r.fails_with(1);
    r.stdout_has(format!(
        "unreadable tag seal: tag seal {path} is 1048576 bytes, over the 65536-byte cap"
    ));
    assert_quick("verify of a 1 MiB tag seal", took);
}

#[test]
fn non_ascii_where_ids_belong_in_a_note_and_a_tag_seal_never_panics() {
    let sb = Sandbox::new();
    let repo = sb.installed("victim");
    repo.commit_file("a", "1", "first");
    repo.git(&["tag", "v1"]).ok();
    assert!(repo.note("HEAD").is_some());

    // A note whose every id is multi-byte text: the readers report, never slice.
    let e = "é".repeat(40);
    let note = format!(
        "schema: git-seal/seal/v1\nkind: commit\ncommit: {e}\ntree: {e}\nparents: [{e}]\n\
         parent_seals: [\"sha256:{e}\"]\nauthor: {{name: {e}, email: {e}, time: {e}}}\n\
         committer: {{name: {e}, email: {e}, time: {e}}}\n\
         manifest: {{algorithm: sha256, digest: \"sha256:{e}\", files: 1, bytes: 1}}\n\
         sealed_at: {e}\nsealed_by: {{name: {e}, email: {e}}}\n\
         tool: {{name: git-seal, version: {e}}}\ndigest: \"sha256:{e}\"\n"
    );
    hostile_note(&repo, "HEAD", note.as_bytes());
    let r = repo.seal(&["verify", "HEAD"]).fails_with(1);
    r.stdout_has(format!("seal names another commit ({e})"));
    for args in [
        &["show", "HEAD"][..],
        &["log"],
        &["status"],
        &["verify", "v1"],
    ] {
        let r = repo.seal(args);
        assert_ne!(r.code(), 101, "{args:?} panicked: {}", r.stderr());
    }

    // A tag seal whose target is multi-byte text: "sealed at" shows it cut on a
    // character, not at byte 7.
    let stored = repo.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        "tags/v1/",
    ]);
    let path = stored
        .lines()
        .next()
        .expect("v1 was sealed by the hook")
        .to_string();
    let yaml = repo.git_out(&["cat-file", "blob", &format!("refs/notes/seal:{path}")]);
    let target = repo.rev("v1");
    let hostile = yaml.replace(&format!("target: {target}"), &format!("target: {e}"));
    assert_ne!(hostile, yaml);
    repo.hostile_ledger_file(&path, hostile.as_bytes());
    let r = repo.seal(&["verify", "v1"]).fails_with(1);
    r.stdout_has(format!("tag moved: sealed at {}, now at", "é".repeat(7)));

    // A rollback record and a run record with multi-byte ids: listed, not sliced.
    let record = format!(
        "schema: git-seal/rollback/v1\nrun_id: r1\nat: now\nby: {{name: n, email: e}}\n\
         reason: r\ntag: t\nfrom: {e}\nto: {e}\nsafety_ref: s\nworktree_verified: false\n"
    );
    repo.hostile_ledger_file("rollbacks/r1.yaml", record.as_bytes());
    let r = repo.seal(&["rollback", "--list"]).ok();
    r.stdout_has(format!("{0} -> {0}", "é".repeat(7)));
    let runs = repo.path.join(".git/seal/runs.jsonl");
    let mut log = std::fs::read_to_string(&runs).unwrap_or_default();
    log.push_str(&format!(
        "{{\"schema\":\"git-seal/run/v1\",\"run_id\":\"01a1fca2-e7cc-7346-b257-0d14fe010f77\",\
         \"hook\":\"post-commit\",\"started_at\":\"2026-11-02T10:00:00.000Z\",\
         \"finished_at\":\"2026-11-02T10:00:00.050Z\",\"status\":\"SUCCESS\",\"head\":\"{e}\",\
         \"inputs\":{{}},\"outputs\":{{}},\"attempts\":1,\"message\":\"m\",\"tool_version\":\"0.1.0\"}}\n"
    ));
    std::fs::write(&runs, log).unwrap();
    let r = repo.seal(&["log"]).ok();
    r.stdout_has("é".repeat(7));
}

#[test]
fn a_refused_push_of_3000_refs_logs_a_bounded_record_on_the_server() {
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare"]);
    server.seal(&["install", "--server"]).ok();
    let client = sb.installed("client");
    client
        .git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    let bad = client.commit_unsealed("a", "unsealed");
    // 3,000 branches at the unsealed commit, and one with a 600-character name.
    let long = format!(
        "refs/heads/{}/{}/{}",
        "x".repeat(200),
        "y".repeat(200),
        "z".repeat(200)
    );
    let mut updates: String = (0..3000)
        .map(|i| format!("create refs/heads/b{i} {bad}\n"))
        .collect();
    updates.push_str(&format!("create {long} {bad}\n"));
    run_with_stdin(
        client.cmd("git", &["update-ref", "--stdin"]),
        updates.as_bytes(),
    )
    .ok();
    let r = client
        .git(&[
            "push",
            "-q",
            "--no-verify",
            "origin",
            "refs/heads/*:refs/heads/*",
        ])
        .fails_with(1);
    r.stderr_has("push refused");

    let log = std::fs::read_to_string(server.path.join("seal/runs.jsonl")).unwrap();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("\"pre-receive\""))
        .expect("a pre-receive record");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["status"], "FAILED");
    assert!(record["inputs"]["updates_total"].as_u64().unwrap() >= 3001);
    assert_eq!(record["inputs"]["updates"].as_array().unwrap().len(), 100);
    let problems = record["outputs"]["problems"].as_array().unwrap();
    assert!(problems.len() <= 100, "{} problems logged", problems.len());
    assert!(record["outputs"]["problems_total"].as_u64().unwrap() >= 1);
    // Every string bounded: the record is a few dozen KB, not one line per ref.
    assert!(line.len() < 64 * 1024, "record is {} bytes", line.len());
    assert!(
        !line.contains(&"x".repeat(257)),
        "a ref name was logged whole"
    );
}

/// The installed reference-transaction shim, with its git-seal replaced by a stand-in
/// that copies what it receives to `received`.
fn shim_with_stand_in(repo: &TestRepo<'_>) -> (std::path::PathBuf, std::path::PathBuf) {
    let hook = repo.path.join(".git/hooks/reference-transaction");
    let shim = std::fs::read_to_string(&hook).unwrap();
    let real = shim
        .lines()
        .find_map(|l| l.strip_prefix("seal_bin='")?.strip_suffix('\''))
        .expect("the shim names its binary")
        .to_string();
    let received = repo.path.join("received");
    let stand_in = repo.path.join("stand-in.sh");
    crate::harness::write_script(
        &stand_in,
        &format!("#!/bin/sh\ncat >'{}'\n", received.display()),
    );
    let copy = repo.path.join("shim-copy.sh");
    std::fs::write(
        &copy,
        shim.replace(
            &format!("seal_bin='{real}'"),
            &format!("seal_bin='{}'", stand_in.display()),
        ),
    )
    .unwrap();
    (copy, received)
}

#[test]
fn a_transaction_of_16000_tags_passes_the_shim_whole_and_quickly() {
    let sb = Sandbox::new();
    let repo = sb.init("victim", &[]);
    repo.install_shims();
    let (shim, received) = shim_with_stand_in(&repo);
    let (zero, id) = ("0".repeat(40), "1".repeat(40));
    // Branches first (they are not git-seal's), then a fetched ledger and 16,000 tags.
    let mut lines: String = (0..50)
        .map(|i| format!("{zero} {id} refs/heads/b{i}\n"))
        .collect();
    let ours = format!("{zero} {id} refs/seal/remotes/origin/seal\n");
    lines.push_str(&ours);
    for i in 0..16_000 {
        lines.push_str(&format!("{zero} {id} refs/tags/t{i}\n"));
    }
    let t = Instant::now();
    run_with_stdin(
        repo.cmd("sh", &[shim.to_str().unwrap(), "committed"]),
        lines.as_bytes(),
    )
    .ok();
    assert_quick("the shim on 16,000 tags", t.elapsed());
    // git-seal gets everything from the first line that concerns it, in order.
    let got = std::fs::read_to_string(&received).unwrap();
    let from_ours = &lines[lines.find(&ours).unwrap()..];
    assert_eq!(got, from_ours);

    // A transaction of branches only starts no process at all.
    std::fs::remove_file(&received).unwrap();
    let branches: String = (0..500)
        .map(|i| format!("{zero} {id} refs/heads/c{i}\n"))
        .collect();
    run_with_stdin(
        repo.cmd("sh", &[shim.to_str().unwrap(), "committed"]),
        branches.as_bytes(),
    )
    .ok();
    assert!(!received.exists(), "git-seal ran for branches only");
}

#[test]
fn a_commit_with_a_70kb_author_name_gets_no_seal_that_no_reader_would_read() {
    let sb = Sandbox::new();
    let repo = sb.installed("victim");
    repo.commit_file("a", "1", "first");
    repo.write("a", "2");
    repo.git(&["add", "a"]).ok();
    let mut commit = repo.cmd("git", &["commit", "-q", "-m", "long name"]);
    commit.env("GIT_AUTHOR_NAME", "n".repeat(70_000));
    let r = run_with_stdin(commit, b"");
    assert_eq!(r.code(), 0, "post-commit failed the commit: {}", r.stderr());
    r.stderr_has("over the 65536-byte cap");
    assert!(
        repo.note("HEAD").is_none(),
        "an unreadable seal was written"
    );
    let head = repo.rev("HEAD");
    let r = repo.seal(&["seal", "HEAD"]).fails_with(1);
    r.stderr_has(format!("error: the seal of {head} would be "));
}
