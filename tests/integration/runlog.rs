//! The run log: torn tails, rotation, old records, filters, concurrent appends.

use crate::harness::{assert_has, Sandbox, TestRepo};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn log_json(repo: &TestRepo<'_>, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["log", "--json"];
    all.extend_from_slice(args);
    repo.seal(&all)
        .ok()
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn torn_tail_is_reported_skipped_and_never_corrupts_the_next_append() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1", "first");
    let log = repo.path.join(".git/seal/runs.jsonl");
    // A writer killed mid-line leaves half a record and no newline.
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(br#"{"schema":"git-seal/run/v1","run_id":"torn","hook":"post-co"#);
    std::fs::write(&log, &bytes).unwrap();
    let check = repo.seal(&["log", "--check"]).fails_with(1);
    check.stdout_has("runs.jsonl:3: not a valid run record");
    check.stdout_has("2 record(s), 1 bad line(s)");
    // The next append starts on a line of its own; readers skip the fragment.
    repo.commit_file("a", "2", "second");
    let records = log_json(&repo, &["--hook", "post-commit"]);
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["status"] == "SUCCESS"));
    let check = repo.seal(&["log", "--check"]).fails_with(1);
    check.stdout_has("3 record(s), 1 bad line(s)");
}

#[test]
fn v1_fixture_reads_and_filters_work() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    std::fs::create_dir_all(repo.path.join(".git/seal")).unwrap();
    std::fs::copy(
        format!("{ROOT}/tests/fixtures/runs-v1.jsonl"),
        repo.path.join(".git/seal/runs.jsonl"),
    )
    .unwrap();
    assert_eq!(
        log_json(&repo, &[]).len(),
        3,
        "every v1 record reads, added fields too"
    );
    assert_eq!(log_json(&repo, &["--status", "FAILED"]).len(), 1);
    assert_eq!(log_json(&repo, &["--hook", "pre-push"]).len(), 1);
    assert_eq!(log_json(&repo, &["--command", "seal"]).len(), 1);
    assert_eq!(log_json(&repo, &["--since", "2026-11-02"]).len(), 2);
    assert_eq!(log_json(&repo, &["--until", "2026-11-02"]).len(), 1);
    assert_eq!(
        log_json(&repo, &["--since", "2026-11-02", "--until", "2026-11-03"]).len(),
        1
    );
    assert_eq!(log_json(&repo, &["--commit", "d68add7"]).len(), 2);
    let table = repo.seal(&["log"]).ok().stdout();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains("FAILED")
            && lines[1].contains("pre-push")
            && lines[1].contains("d68add7")
    );
    assert!(!table.contains('\x1b'), "no colours when not a terminal");
    // git's dates are read as git reads them; what git refuses is refused.
    repo.seal(&["log", "--since", "last tuesday"]).ok();
    repo.seal(&["log", "--since", "not a date at all"])
        .fails_with(2);
    repo.seal(&["log", "--check"]).ok();
}

#[test]
fn rotation_keeps_every_record() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "0", "first");
    // Grow the live log past the rotation size with copies of a valid record.
    let log = repo.path.join(".git/seal/runs.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let line = format!("{}\n", text.lines().last().unwrap());
    let copies = (16 << 20) / line.len() + 1;
    std::fs::write(&log, line.repeat(copies)).unwrap();
    repo.commit_file("a", "1", "second");
    let rotated: Vec<_> = std::fs::read_dir(repo.path.join(".git/seal"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("runs-"))
        .collect();
    assert_eq!(rotated.len(), 1, "the full log was rotated");
    assert!(
        std::fs::metadata(&log).unwrap().len() < 4096,
        "a new live log began"
    );
    let out = repo.seal(&["log", "--check"]).ok().stdout();
    assert_has(&out, format!("{} record(s), 0 bad line(s)", copies + 1));
    let last = log_json(&repo, &["--since", "2000-01-01"]);
    assert_eq!(
        last.last().unwrap()["outputs"]["sealed"][0]["commit"],
        repo.rev("HEAD")
    );
}

/// A run that seals many commits lists the first of them and counts them all, so a
/// backfill writes a line, not megabytes (git's own history: 81,966 commits).
#[test]
fn a_long_run_lists_its_first_commits_and_counts_them_all() {
    let sb = Sandbox::new();
    let repo = sb.init("many", &[]);
    let mut stream = String::new();
    for i in 0..150 {
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter C <c@example.com> {} +0000\ndata 2\nc\nM 100644 inline f{i}.txt\ndata 2\n{}\n\n",
            1_700_000_000 + i,
            i % 10
        ));
    }
    repo.fast_import(&stream);
    repo.seal(&["seal", "--missing"]).ok();
    let records = log_json(&repo, &["--command", "seal"]);
    let last = records.last().unwrap();
    let listed = last["outputs"]["sealed"].as_array().unwrap();
    assert_eq!(listed.len(), git_seal::runlog::LIST_CAP);
    assert_eq!(last["outputs"]["sealed_total"], 150);
    for entry in listed {
        let commit = entry["commit"].as_str().unwrap();
        assert!(repo.note(commit).is_some(), "{commit} is listed and sealed");
    }
}
