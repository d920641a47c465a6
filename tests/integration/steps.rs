//! Pipeline steps: `git seal run` / `record`, shared records, `provenance`, in-toto
//! Statements, and the snapshot routine (`snapshot --push`, `rollback --push`,
//! `seal.notifyCommand`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{assert_has, run_with_stdin, write_script, Run, Sandbox, TestRepo};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The pipeline-step records of the log (local and shared), oldest first.
fn runs(repo: &TestRepo<'_>, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["log", "--json"];
    all.extend_from_slice(args);
    repo.seal(&all)
        .ok()
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["source"] == "run")
        .collect()
}

fn last_run(repo: &TestRepo<'_>) -> Value {
    runs(repo, &[]).pop().expect("a run record")
}

/// `{path: [sha256, size]}` of files under `dir`, from Python's hashlib.
fn hashlib(dir: &Path, paths: &[&str]) -> Value {
    let py = r#"
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
for p in sys.argv[2:]:
    full = os.path.join(root, p)
    files = [full] if os.path.isfile(full) else [
        os.path.join(d, f) for d, _, fs in os.walk(full) for f in fs]
    for f in files:
        data = open(f, 'rb').read()
        out[os.path.relpath(f, root)] = [hashlib.sha256(data).hexdigest(), len(data)]
print(json.dumps(out))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c").arg(py).arg(dir).args(paths);
    let out = cmd.output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn as_map(list: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for a in list.as_array().unwrap() {
        m.insert(
            a["path"].as_str().unwrap().to_string(),
            serde_json::json!([a["sha256"], a["size"]]),
        );
    }
    Value::Object(m)
}

/// `git seal run` of the sealed repository's export step (data/raw → out.csv); its
/// run id.
fn run_export(repo: &TestRepo<'_>) -> String {
    repo.seal(&[
        "run",
        "--name",
        "export",
        "--input",
        "data/raw",
        "--output",
        "out.csv",
        "--",
        "sh",
        "export.sh",
    ])
    .ok();
    last_run(repo)["run_id"].as_str().unwrap().to_string()
}

fn sealed_repo(sb: &Sandbox) -> TestRepo<'_> {
    let repo = sb.installed("r");
    repo.write("data/raw/a.csv", "id,v\n1,2\n");
    repo.write("data/raw/sub/b.csv", "id,v\n3,4\n");
    repo.write(
        "export.sh",
        "cat data/raw/a.csv data/raw/sub/b.csv > out.csv\n",
    );
    repo.git(&["add", "-A"]).ok();
    repo.git(&["commit", "-q", "-m", "data"]).ok();
    repo
}

#[test]
fn run_records_inputs_and_outputs_with_exact_hashes() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    // An untracked input beside the tracked ones, in a directory input.
    repo.write("data/raw/sub/untracked.bin", "\u{0}\u{1}binary");
    let r = repo
        .seal(&[
            "run",
            "--name",
            "export",
            "--input",
            "data/raw",
            "--input",
            "export.sh",
            "--output",
            "out.csv",
            "--",
            "sh",
            "export.sh",
        ])
        .ok();
    assert_eq!(r.stdout(), "", "the step's own stdout is its own");
    let rec = last_run(&repo);
    assert_eq!(rec["schema"], "git-seal/run/v2");
    assert_eq!(rec["name"], "export");
    assert_eq!(rec["status"], "SUCCESS");
    assert_eq!(rec["exit_code"], 0);
    assert_eq!(rec["argv"], serde_json::json!(["sh", "export.sh"]));
    assert_eq!(
        rec["command"], "sh export.sh",
        "text, as v1 readers read it"
    );
    assert_eq!(rec["head"], repo.rev("HEAD"));
    let digest = repo
        .seal(&["show", "HEAD", "--format", "json"])
        .ok()
        .stdout();
    let seal: Value = serde_json::from_str(&digest).unwrap();
    assert_eq!(rec["head_seal"], seal["digest"]);
    assert_eq!(
        rec["worktree_clean"], false,
        "an untracked input is not as HEAD has it"
    );
    assert_eq!(rec["by"]["email"], "cy@example.com");
    assert_eq!(
        as_map(&rec["inputs"]),
        hashlib(&repo.path, &["data/raw", "export.sh"])
    );
    assert_eq!(as_map(&rec["outputs"]), hashlib(&repo.path, &["out.csv"]));
    let paths: Vec<&str> = rec["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "data/raw/a.csv",
            "data/raw/sub/b.csv",
            "data/raw/sub/untracked.bin",
            "export.sh"
        ],
        "sorted, repository-relative"
    );
    // With only tracked, unchanged inputs the worktree matched HEAD.
    repo.seal(&[
        "run",
        "--input",
        "export.sh",
        "--output",
        "out.csv",
        "--",
        "sh",
        "export.sh",
    ])
    .ok();
    let rec = last_run(&repo);
    assert_eq!(rec["worktree_clean"], true);
    assert_eq!(
        rec["name"], "sh",
        "the name defaults to the command's file name"
    );
}

#[test]
fn each_status_success_partial_failed_skipped() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let step = |extra: &[&str], cmd: &[&str]| {
        let mut a = vec![
            "run", "--name", "s", "--input", "data/raw", "--output", "out.csv",
        ];
        a.extend_from_slice(extra);
        a.push("--");
        a.extend_from_slice(cmd);
        let r = repo.seal(&a);
        (r, last_run(&repo))
    };
    let (r, rec) = step(&[], &["sh", "export.sh"]);
    assert_eq!((r.code(), rec["status"].as_str()), (0, Some("SUCCESS")));
    // Exit 0 and the output left as it was: PARTIAL.
    let (r, rec) = step(&[], &["true"]);
    assert_eq!((r.code(), rec["status"].as_str()), (0, Some("PARTIAL")));
    assert_eq!(rec["message"], "output out.csv not written");
    // Exit 0 and the output gone: PARTIAL.
    let (r, rec) = step(&[], &["rm", "out.csv"]);
    assert_eq!((r.code(), rec["status"].as_str()), (0, Some("PARTIAL")));
    assert_eq!(rec["message"], "output out.csv missing");
    assert_eq!(rec["missing"], serde_json::json!(["out.csv"]));
    // A non-zero exit is FAILED, whatever it wrote; the exit code is the step's.
    let (r, rec) = step(&[], &["sh", "-c", "sh export.sh; exit 3"]);
    assert_eq!((r.code(), rec["status"].as_str()), (3, Some("FAILED")));
    assert_eq!(rec["exit_code"], 3);
    // A command that cannot start: FAILED, 127.
    let (r, rec) = step(&[], &["./no-such-program"]);
    assert_eq!((r.code(), rec["status"].as_str()), (127, Some("FAILED")));
    // SKIPPED: the last SUCCESS run of this name and command had these inputs and
    // left these outputs (out.csv holds what the first run wrote).
    let (r, rec) = step(&["--skip-unchanged"], &["sh", "export.sh"]);
    assert_eq!((r.code(), rec["status"].as_str()), (0, Some("SKIPPED")));
    r.stderr_has("skipped s: inputs and outputs are as run");
    let (_, rec) = step(
        &["--skip-unchanged"],
        &["sh", "-c", "echo ran > ran; sh export.sh"],
    );
    assert_eq!(rec["status"], "SUCCESS", "another command is another step");
    std::fs::remove_file(repo.path.join("ran")).unwrap();
    let (_, rec) = step(
        &["--skip-unchanged"],
        &["sh", "-c", "echo ran > ran; sh export.sh"],
    );
    assert_eq!(
        rec["status"], "SKIPPED",
        "files the step did not declare do not count"
    );
    assert!(
        !repo.path.join("ran").exists(),
        "a skipped step does not run"
    );
    repo.write("data/raw/a.csv", "id,v\n9,9\n");
    let (_, rec) = step(
        &["--skip-unchanged"],
        &["sh", "-c", "echo ran > ran; sh export.sh"],
    );
    assert_eq!(rec["status"], "SUCCESS", "a changed input runs it again");
    assert!(repo.path.join("ran").exists());
    // record: any status, as given.
    for status in ["SUCCESS", "PARTIAL", "FAILED", "SKIPPED"] {
        repo.seal(&[
            "record", "--name", "agent", "--status", status, "-m", "done",
        ])
        .ok();
        let rec = last_run(&repo);
        assert_eq!(
            (rec["name"].as_str(), rec["status"].as_str()),
            (Some("agent"), Some(status))
        );
        assert_eq!(rec.get("argv"), None, "a recorded step has no command");
    }
    repo.seal(&["log", "--check"]).ok();
}

#[test]
fn a_killed_step_is_failed_and_a_killed_git_seal_leaves_no_torn_record() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    // The step dies of SIGKILL: FAILED, with the signal, exit 128+9.
    let r = repo.seal(&["run", "--name", "k", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(r.code(), 137);
    let rec = last_run(&repo);
    assert_eq!(rec["status"], "FAILED");
    assert_eq!(rec["signal"], 9);
    assert_eq!(rec["message"], "killed by signal 9");
    // git-seal itself is SIGKILLed mid-run: no record, never half of one.
    let before = runs(&repo, &[]).len();
    let mut child = repo
        .cmd(
            crate::harness::SEAL,
            &["run", "--name", "long", "--output", "o", "--", "sleep", "3"],
        )
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        runs(&repo, &[]).len(),
        before,
        "a killed run leaves no record"
    );
    repo.seal(&["log", "--check"])
        .ok()
        .stdout_has("0 bad line(s)");
    // The next step records as usual.
    repo.seal(&["run", "--name", "after", "--", "true"]).ok();
    assert_eq!(last_run(&repo)["name"], "after");
}

#[test]
fn sigterm_sent_to_git_seal_reaches_the_step() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let mut child = repo
        .cmd(
            crate::harness::SEAL,
            &[
                "run", "--name", "t", "--", "sh", "-c",
                "trap 'echo got-term > got; exit 7' TERM; touch ready; while :; do sleep 0.05; done",
            ],
        )
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if repo.path.join("ready").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(7),
        "git-seal exits with the step's code"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("got")).unwrap(),
        "got-term\n"
    );
    let rec = last_run(&repo);
    assert_eq!(
        (rec["status"].as_str(), rec["exit_code"].as_i64()),
        (Some("FAILED"), Some(7))
    );
}

#[test]
fn concurrent_runs_from_two_linked_worktrees_all_land() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git(&["worktree", "add", "-q", "../wt2"]).ok();
    let wt2 = sb.at(sb.path().join("wt2"));
    let mut children = Vec::new();
    for i in 0..8 {
        let (r, n) = if i % 2 == 0 {
            (&repo, "main")
        } else {
            (&wt2, "wt2")
        };
        let name = format!("{n}-{i}");
        let out = format!("out-{i}");
        children.push(
            r.cmd(
                crate::harness::SEAL,
                &[
                    "run",
                    "--name",
                    &name,
                    "--input",
                    "data/raw",
                    "--output",
                    &out,
                    "--",
                    "sh",
                    "-c",
                    &format!("sh export.sh && cp out.csv {out}"),
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        );
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // One log in the common git dir, read from either worktree.
    for r in [&repo, &wt2] {
        let all = runs(r, &[]);
        assert_eq!(all.len(), 8);
        assert!(all.iter().all(|x| x["status"] == "SUCCESS"));
    }
    repo.seal(&["log", "--check"])
        .ok()
        .stdout_has("0 bad line(s)");
}

#[test]
fn an_unwritable_log_never_fails_the_step_nor_record() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    // A log that cannot be appended to (the tests run as root, whom permission bits
    // do not stop: a directory where the file belongs fails every write the same way).
    let log = repo.path.join(".git/seal/runs.jsonl");
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let r = repo.seal(&[
        "run",
        "--name",
        "ro",
        "--output",
        "out.csv",
        "--",
        "sh",
        "export.sh",
    ]);
    assert_eq!(r.code(), 0, "the step ran and its exit code is kept");
    assert!(repo.path.join("out.csv").exists());
    r.stderr_has("warning: the run record of step ro was not written");
    let r = repo.seal(&["run", "--", "sh", "-c", "exit 5"]);
    assert_eq!(r.code(), 5);
    let r = repo.seal(&["record", "--name", "agent", "--status", "SUCCESS"]);
    assert_eq!(r.code(), 0);
    r.stderr_has("warning: the run record of step agent was not written");
    // Outside any repository: still exit 0, with a warning.
    let r = Run {
        out: sb
            .command(crate::harness::SEAL, sb.path())
            .args(["record", "--name", "x", "--status", "FAILED"])
            .output()
            .unwrap(),
    };
    assert_eq!(r.code(), 0);
    r.stderr_has("warning: step x not recorded");
    let r = Run {
        out: sb
            .command(crate::harness::SEAL, sb.path())
            .args(["run", "--name", "y", "--", "sh", "-c", "echo ran; exit 4"])
            .output()
            .unwrap(),
    };
    assert_eq!(
        (r.code(), r.stdout().as_str()),
        (4, "ran\n"),
        "the step runs all the same"
    );
    r.stderr_has("warning: step y runs unrecorded");
}

#[test]
fn record_and_run_check_their_arguments_loudly() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.seal(&["record", "--name", "x", "--status", "DONE"])
        .fails_with(2);
    repo.seal(&["record", "--name", "", "--status", "SUCCESS"])
        .fails_with(2);
    repo.seal(&["record", "--name", "a\u{1b}[31m", "--status", "SUCCESS"])
        .fails_with(2);
    let r = repo
        .seal(&[
            "record",
            "--name",
            "x",
            "--status",
            "SUCCESS",
            "--output",
            "../outside",
        ])
        .fails_with(2);
    r.stderr_has("error: ../outside cannot be recorded: it is outside the worktree");
    r.stderr_has("hint: ");
    repo.seal(&[
        "record",
        "--name",
        "x",
        "--status",
        "SUCCESS",
        "--input",
        ".git/config",
    ])
    .fails_with(2)
    .stderr_has("it is inside .git");
    repo.seal(&["run", "--name", "x"]).fails_with(2);
    assert!(
        !repo.path.join("ran").exists() && runs(&repo, &[]).is_empty(),
        "nothing was run or recorded"
    );
    let r = repo
        .seal(&["run", "--output", "/etc/passwd", "--", "touch", "ran"])
        .fails_with(2);
    r.stderr_has("outside the worktree");
    assert!(!repo.path.join("ran").exists(), "refused before it ran");
}

#[test]
fn provenance_names_the_run_and_sees_edits() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let run_id = run_export(&repo);
    let head = repo.rev("HEAD");
    let out = repo.seal(&["provenance", "out.csv"]).ok().stdout();
    assert_has(
        &out,
        format!("produced by run {run_id}  step export  SUCCESS"),
    );
    assert_has(&out, format!("on commit {head}"));
    assert_has(&out, "input data/raw/a.csv  sha256 ");
    assert!(out.contains("matches") && !out.contains("CHANGED"), "{out}");
    // From a subdirectory, by a relative path.
    std::fs::create_dir_all(repo.path.join("sub")).unwrap();
    let r = Run {
        out: sb
            .command(crate::harness::SEAL, &repo.path.join("sub"))
            .args(["provenance", "../out.csv", "--json"])
            .output()
            .unwrap(),
    }
    .ok();
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["path"], "out.csv");
    assert_eq!(doc["runs"][0]["run_id"], run_id.as_str());
    assert_eq!(doc["runs"][0]["inputs_match"], true);
    // An input edited since: the run still produced this content; its input changed.
    repo.write("data/raw/a.csv", "id,v\n5,5\n");
    let doc: Value = serde_json::from_str(
        &repo
            .seal(&["provenance", "out.csv", "--json"])
            .ok()
            .stdout(),
    )
    .unwrap();
    assert_eq!(doc["runs"][0]["inputs_match"], false);
    let changed: Vec<&Value> = doc["runs"][0]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["now"] != "matches")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["path"], "data/raw/a.csv");
    // The output edited: no recorded run produced this content.
    repo.write("out.csv", "edited by hand\n");
    let r = repo.seal(&["provenance", "out.csv"]).fails_with(1);
    r.stderr_has("error: no recorded run produced the current content of out.csv");
    r.stderr_has(format!(
        "run {run_id} (export) wrote it, and it changed since"
    ));
    repo.seal(&["provenance", "nope.csv"]).fails_with(2);
}

#[test]
fn provenance_from_a_fresh_clone_reads_shared_records() {
    let sb = Sandbox::new();
    sb.bare("hub.git");
    let repo = sealed_repo(&sb);
    repo.git(&["remote", "add", "origin", "../hub.git"]).ok();
    repo.seal(&["install"]).ok();
    repo.git(&["config", "seal.shareRuns", "true"]).ok();
    let run_id = run_export(&repo);
    let shared = repo.git_out(&[
        "cat-file",
        "-p",
        &format!("refs/notes/seal:runs/{run_id}.json"),
    ]);
    let doc: Value = serde_json::from_str(&shared).unwrap();
    assert_eq!(doc["run_id"], run_id.as_str());
    assert!(doc["digest"].as_str().unwrap().starts_with("sha256:"));
    repo.git(&["add", "out.csv"]).ok();
    repo.git(&["commit", "-q", "-m", "export"]).ok();
    repo.git(&["push", "-q", "origin", "main"]).ok();
    let clone = sb.clone("hub.git", "c");
    clone.seal(&["install"]).ok();
    clone.seal(&["fetch", "origin"]).ok();
    let out = clone.seal(&["provenance", "out.csv"]).ok().stdout();
    assert_has(
        &out,
        format!("produced by run {run_id}  step export  SUCCESS"),
    );
    assert_has(&out, "from shared, unsigned");
    assert_has(&out, "by Cy Committer <cy@example.com>");
    // The shared records are in the clone's log too, and filter by name and path.
    assert_eq!(runs(&clone, &["--name", "export"]).len(), 1);
    assert_eq!(runs(&clone, &["--path", "data/raw"]).len(), 1);
    assert_eq!(runs(&clone, &["--path", "data/raw/a.csv"]).len(), 1);
    assert_eq!(runs(&clone, &["--path", "export.sh"]).len(), 0);
    assert_eq!(runs(&clone, &["--local"]).len(), 0);
    // A shared record that was changed in the ledger does not count.
    let edited = shared.replace("\"SUCCESS\"", "\"PARTIAL\"");
    clone.hostile_ledger_file(&format!("runs/{run_id}.json"), edited.as_bytes());
    // (hostile_ledger_file writes the local ledger; the tracking one still has the good one.)
    clone
        .git(&["update-ref", "-d", "refs/seal/remotes/origin/seal"])
        .ok();
    let r = clone.seal(&["provenance", "out.csv"]).fails_with(1);
    r.stderr_has("its digest does not hold");
}

/// Runs the in-toto-attestation package's Statement validation over `statement`.
fn validate_with_in_toto(repo: &TestRepo<'_>, statement: &str) -> Value {
    let py = r#"
import json, sys
try:
    from in_toto_attestation.v1.statement import Statement
    from in_toto_attestation.v1 import statement_pb2
    from google.protobuf import json_format
except ImportError as e:
    print("in-toto-attestation is not installed (run the suite with scripts/test): %s" % e, file=sys.stderr)
    sys.exit(3)
from in_toto_attestation.predicates.link.v0 import link_pb2
text = sys.stdin.read()
pb = json_format.Parse(text, statement_pb2.Statement())
Statement.copy_from_pb(pb).validate()
# The predicate parses as the link predicate's own message (unknown fields refused).
json_format.ParseDict(json.loads(text)["predicate"], link_pb2.Link())
print(json.dumps({"type": pb.type, "predicate_type": pb.predicate_type,
                  "subjects": [[s.name, dict(s.digest)] for s in pb.subject]}))
"#;
    let r = run_with_stdin(repo.cmd("python3", &["-c", py]), statement.as_bytes());
    assert_eq!(r.code(), 0, "in-toto validation failed:\n{}", r.stderr());
    serde_json::from_str(&r.stdout()).unwrap()
}

#[test]
fn in_toto_statements_validate_with_the_in_toto_attestation_package() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.seal(&[
        "run",
        "--name",
        "export",
        "--input",
        "data/raw",
        "--output",
        "out.csv",
        "--output",
        "export.sh",
        "--",
        "sh",
        "-c",
        "sh export.sh; touch export.sh",
    ])
    .ok();
    let rec = last_run(&repo);
    let id = rec["run_id"].as_str().unwrap();
    let statement = repo.seal(&["log", "--in-toto", id]).ok().stdout();
    let checked = validate_with_in_toto(&repo, &statement);
    assert_eq!(checked["type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        checked["predicate_type"],
        "https://in-toto.io/attestation/link/v0.3"
    );
    let want = hashlib(&repo.path, &["export.sh", "out.csv"]);
    let subjects: Vec<(String, String)> = checked["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s[0].as_str().unwrap().into(),
                s[1]["sha256"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        subjects,
        vec![
            (
                "export.sh".to_string(),
                want["export.sh"][0].as_str().unwrap().to_string()
            ),
            (
                "out.csv".to_string(),
                want["out.csv"][0].as_str().unwrap().to_string()
            ),
        ]
    );
    let doc: Value = serde_json::from_str(&statement).unwrap();
    assert_eq!(doc["predicate"]["name"], "export");
    assert_eq!(doc["predicate"]["command"][0], "sh");
    assert_eq!(
        doc["predicate"]["materials"].as_array().unwrap().len(),
        3,
        "two inputs and HEAD"
    );
    assert_eq!(doc["predicate"]["byproducts"]["status"], "SUCCESS");
    // A unique prefix works; a hook's record is not a step.
    repo.seal(&["log", "--in-toto", &id[..23]]).ok();
    repo.seal(&["log", "--in-toto", "ffffffff"]).fails_with(1);
    // The commit seal's Statement: gitCommit and the manifest digest.
    let statement = repo.seal(&["export", "HEAD", "--in-toto"]).ok().stdout();
    let checked = validate_with_in_toto(&repo, &statement);
    let seal: Value = serde_json::from_str(
        &repo
            .seal(&["show", "HEAD", "--format", "json"])
            .ok()
            .stdout(),
    )
    .unwrap();
    let manifest = seal["manifest"]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    assert_eq!(checked["subjects"][0][1]["gitCommit"], repo.rev("HEAD"));
    assert_eq!(checked["subjects"][1][1]["sha256"], manifest);
}

#[test]
fn old_hook_records_and_run_records_are_read_by_one_reader() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    let log = repo.path.join(".git/seal/runs.jsonl");
    std::fs::copy(format!("{ROOT}/tests/fixtures/runs-v1.jsonl"), &log).unwrap();
    repo.commit_file("a", "1", "first");
    repo.seal(&[
        "run",
        "--name",
        "step",
        "--output",
        "a",
        "--",
        "sh",
        "-c",
        "echo 2 > a",
    ])
    .ok();
    repo.seal(&["log", "--check"])
        .ok()
        .stdout_has("5 record(s), 0 bad line(s)");
    let all: Vec<Value> = repo
        .seal(&["log", "--json"])
        .ok()
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 5);
    assert_eq!(all.iter().filter(|r| r["source"] == "run").count(), 1);
    assert_eq!(runs(&repo, &["--name", "step"]).len(), 1);
    assert_eq!(
        runs(&repo, &["--status", "SUCCESS", "--path", "a"]).len(),
        1
    );
    let table = repo.seal(&["log"]).ok().stdout();
    assert_has(&table, "run step");
    assert_has(&table, "post-commit");
    // Filters written for hooks still select hooks only.
    let r = repo
        .seal(&["log", "--json", "--hook", "pre-push"])
        .ok()
        .stdout();
    assert_eq!(r.lines().count(), 1);
}

#[test]
fn a_hostile_shared_record_is_bounded_quoted_and_never_written() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.seal(&[
        "run",
        "--share",
        "--name",
        "export",
        "--output",
        "out.csv",
        "--",
        "sh",
        "export.sh",
    ])
    .ok();
    let id = last_run(&repo)["run_id"].as_str().unwrap().to_string();
    let good = repo.git_out(&["cat-file", "-p", &format!("refs/notes/seal:runs/{id}.json")]);
    // Re-digest an edited record as a hostile writer would (the digest then holds).
    let forge = |edit: &str, new_id: &str| -> String {
        let py = format!(
            r#"
import hashlib, json, sys
d = json.loads(sys.stdin.read())
d.pop("digest"); d.pop("signature", None)
d["run_id"] = "{new_id}"
{edit}
c = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
d["digest"] = "sha256:" + hashlib.sha256(c.encode()).hexdigest()
print(json.dumps(d))
"#
        );
        run_with_stdin(repo.cmd("python3", &["-c", &py]), good.as_bytes())
            .ok()
            .stdout()
    };
    let outside = sb.path().join("escaped");
    let traversal = forge(
        &format!(
            "d['outputs'][0]['path'] = '../../../{}'",
            outside.file_name().unwrap().to_str().unwrap()
        ),
        "01900000-0000-7000-8000-000000000001",
    );
    repo.hostile_ledger_file(
        "runs/01900000-0000-7000-8000-000000000001.json",
        traversal.as_bytes(),
    );
    let control = forge(
        "d['name'] = 'evil\\x1b]0;pwned\\x07\\nfake line'; d['message'] = '\\x1b[2J'",
        "01900000-0000-7000-8000-000000000002",
    );
    repo.hostile_ledger_file(
        "runs/01900000-0000-7000-8000-000000000002.json",
        control.as_bytes(),
    );
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    repo.hostile_ledger_file(
        "runs/01900000-0000-7000-8000-000000000003.json",
        huge.as_bytes(),
    );
    let renamed = forge("", "01900000-0000-7000-8000-000000000009");
    repo.hostile_ledger_file(
        "runs/01900000-0000-7000-8000-000000000004.json",
        renamed.as_bytes(),
    );

    let r = repo.seal(&["log"]).ok();
    r.stderr_has(
        "runs/01900000-0000-7000-8000-000000000001.json: names a path outside the worktree",
    );
    r.stderr_has(
        "runs/01900000-0000-7000-8000-000000000003.json: is 307210 bytes, over the 262144-byte cap",
    );
    r.stderr_has("runs/01900000-0000-7000-8000-000000000004.json: is not named by its own run id");
    let table = r.stdout();
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{7}'),
        "{table:?}"
    );
    assert_has(&table, "run evil\\u{1b}]0;pwned\\u{7}\\u{a}fake line");
    assert_eq!(table.lines().filter(|l| l.contains("fake line")).count(), 1);
    assert!(!r.stderr().contains('\u{1b}'));
    let r = repo.seal(&["provenance", "out.csv"]).ok();
    assert!(!r.stdout().contains('\u{1b}') && !r.stderr().contains('\u{1b}'));
    repo.seal(&["log", "--in-toto", "01900000-0000-7000-8000-000000000001"])
        .fails_with(1);
    assert!(
        !outside.exists(),
        "nothing from a record is ever written to disk"
    );
    repo.seal(&["verify"]).ok();
}

// ---- the snapshot routine ----

fn hub_and_repo(sb: &Sandbox) -> TestRepo<'_> {
    sb.bare("hub.git");
    let repo = sealed_repo(sb);
    repo.git(&["remote", "add", "origin", "../hub.git"]).ok();
    repo.seal(&["install"]).ok();
    repo.git(&["push", "-q", "origin", "main"]).ok();
    repo
}

fn remote_refs(sb: &Sandbox) -> String {
    sb.at(sb.path().join("hub.git"))
        .git_out(&["for-each-ref", "--format=%(refname) %(objectname)"])
}

#[test]
fn snapshot_push_lands_tag_safety_branch_and_ledger_together() {
    let sb = Sandbox::new();
    let repo = hub_and_repo(&sb);
    let r = repo.seal(&["snapshot", "v1", "--push"]).ok();
    r.stdout_has("pushed refs/tags/snapshot/v1@");
    r.stdout_has("refs/heads/safety/v1 and the ledger to origin, atomically");
    let refs = remote_refs(&sb);
    let head = repo.rev("HEAD");
    assert_has(&refs, format!("refs/heads/safety/v1 {head}"));
    let tag = repo.git_out(&["tag", "-l", "snapshot/v1@*"]);
    assert_has(
        &refs,
        format!("refs/tags/{tag} {}", repo.rev(&format!("refs/tags/{tag}"))),
    );
    assert_has(
        &refs,
        format!("refs/notes/seal {}", repo.rev("refs/notes/seal")),
    );
    let push = runs_of(&repo, "snapshot-push");
    assert_eq!(push["status"], "SUCCESS");
    assert_eq!(push["outputs"]["atomic"], true);
    // Over git's own daemon on loopback, the same.
    if let Some(daemon) = Daemon::start(&sb) {
        let url = format!("git://127.0.0.1:{}/hub.git", daemon.port);
        repo.git(&["remote", "add", "d", &url]).ok();
        repo.commit_file("b", "2", "second");
        repo.seal(&["snapshot", "v2", "--push", "d"]).ok();
        assert_has(
            &remote_refs(&sb),
            format!("refs/heads/safety/v2 {}", repo.rev("HEAD")),
        );
        assert_has(
            &remote_refs(&sb),
            format!("refs/notes/seal {}", repo.rev("refs/notes/seal")),
        );
    }
}

fn runs_of(repo: &TestRepo<'_>, command: &str) -> Value {
    repo.seal(&["log", "--json", "--command", command])
        .ok()
        .stdout()
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("a record")
}

#[test]
fn strict_snapshot_push_that_is_rejected_pushes_nothing() {
    let sb = Sandbox::new();
    let repo = hub_and_repo(&sb);
    // The hub already has a safety/v1 elsewhere: the branch update is not a fast-forward.
    repo.git(&["checkout", "-q", "--orphan", "other"]).ok();
    repo.commit_file("x", "other", "other root");
    repo.git(&["push", "-q", "origin", "other:refs/heads/safety/v1"])
        .ok();
    repo.git(&["checkout", "-q", "-f", "main"]).ok();
    repo.git(&["config", "seal.push", "strict"]).ok();
    repo.commit_file("b", "2", "more");
    let before = remote_refs(&sb);
    let r = repo
        .seal(&["snapshot", "v1", "--push", "origin"])
        .fails_with(1);
    r.stderr_has("push to origin refused (seal.push=strict)");
    r.stderr_has("nothing was pushed (atomic push)");
    r.stderr_has("hint: see what the remote has: git ls-remote origin");
    assert_eq!(
        remote_refs(&sb),
        before,
        "no tag, no ledger update, no branch"
    );
    assert!(
        !repo.git_out(&["tag", "-l", "snapshot/v1@*"]).is_empty(),
        "made here"
    );
    assert_eq!(runs_of(&repo, "snapshot-push")["status"], "FAILED");
    // best-effort: still refused (the branch is the problem, not the ledger).
    repo.git(&["config", "seal.push", "best-effort"]).ok();
    repo.seal(&["snapshot", "v1", "--push"]).fails_with(1);
    assert!(!remote_refs(&sb).contains("refs/tags/snapshot/"));
}

#[test]
fn rollback_push_pushes_its_safety_ref_and_the_ledger() {
    let sb = Sandbox::new();
    let repo = hub_and_repo(&sb);
    repo.seal(&["snapshot", "good"]).ok();
    let good = repo.rev("HEAD");
    let bad = repo.commit_file("data/raw/a.csv", "broken", "bad data");
    let r = repo
        .seal(&["rollback", "--reason", "bad export", "--push"])
        .ok();
    r.stdout_has("pushed refs/heads/safety/rollback-");
    assert_eq!(repo.rev("HEAD"), good);
    let refs = remote_refs(&sb);
    let line = refs
        .lines()
        .find(|l| l.starts_with("refs/heads/safety/rollback-"))
        .expect("safety branch pushed");
    assert!(line.ends_with(&bad), "{line}");
    assert_has(
        &refs,
        format!("refs/notes/seal {}", repo.rev("refs/notes/seal")),
    );
}

#[test]
fn notify_command_gets_the_event_from_user_config_only_and_never_fails() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let events = sb.path().join("events.jsonl");
    let script = sb.path().join("notify.sh");
    write_script(
        &script,
        &format!("#!/bin/sh\ncat >> '{}'\n", events.display()),
    );
    let global = sb.path().join("global.gitconfig");
    std::fs::write(
        &global,
        format!("[seal]\n\tnotifyCommand = {}\n", script.display()),
    )
    .unwrap();
    // In the repository's own config: ignored, with a warning.
    let local_marker = sb.path().join("local-ran");
    repo.git(&[
        "config",
        "seal.notifyCommand",
        &format!("touch {}", local_marker.display()),
    ])
    .ok();
    let r = repo.seal(&["snapshot", "s0"]).ok();
    r.stderr_has("warning: seal.notifyCommand in this repository's own config is ignored");
    assert!(!local_marker.exists() && !events.exists());
    // From the user's global config: it runs, with the event on stdin.
    let with_global = |args: &[&str]| Run {
        out: repo
            .cmd(crate::harness::SEAL, args)
            .env("GIT_CONFIG_GLOBAL", &global)
            .output()
            .unwrap(),
    };
    repo.commit_file("c", "1", "c");
    with_global(&["snapshot", "s1", "-m", "frozen"]).ok();
    assert!(!local_marker.exists(), "the local value never runs");
    let text = std::fs::read_to_string(&events).unwrap();
    let ev: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(ev["schema"], "git-seal/event/v1");
    assert_eq!(ev["event"], "snapshot");
    assert_eq!(ev["commit"], repo.rev("HEAD"));
    assert!(ev["tag"].as_str().unwrap().starts_with("snapshot/s1@"));
    assert!(ev["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(runs_of(&repo, "notify")["status"], "SUCCESS");
    repo.commit_file("d", "1", "d");
    with_global(&["rollback", "--reason", "why not"]).ok();
    let text = std::fs::read_to_string(&events).unwrap();
    let ev: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        (ev["event"].as_str(), ev["reason"].as_str()),
        (Some("rollback"), Some("why not"))
    );
    // `git -c` (command-line config) counts too; a failing command only warns.
    let r = Run {
        out: repo
            .cmd(crate::harness::SEAL, &["snapshot", "s2"])
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "seal.notifyCommand")
            .env("GIT_CONFIG_VALUE_0", "echo boom >&2; exit 4")
            .output()
            .unwrap(),
    }
    .ok();
    r.stderr_has("warning: seal.notifyCommand exited with 4; the snapshot itself is done");
    let rec = runs_of(&repo, "notify");
    assert_eq!(rec["status"], "FAILED");
    assert_eq!(rec["outputs"]["exit_code"], 4);
    assert_eq!(rec["outputs"]["output"], "boom\\u{a}");
}

/// `git daemon` on loopback serving the sandbox, when it can be started.
struct Daemon {
    child: std::process::Child,
    port: u16,
}

impl Daemon {
    fn start(sb: &Sandbox) -> Option<Daemon> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = sb
            .command("git", sb.path())
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", sb.path().display()),
            ])
            .arg(sb.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Daemon { child, port });
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        crate::harness::report("git daemon did not start; the git:// case was not run");
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_shared_record_is_signed_when_signing_is_configured_and_openssh_verifies_it() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let key = sb.path().join("home/id_ed25519");
    Run {
        out: sb
            .command("ssh-keygen", sb.path())
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "sam", "-f"])
            .arg(&key)
            .output()
            .unwrap(),
    }
    .ok();
    repo.git(&["config", "gpg.format", "ssh"]).ok();
    repo.git(&["config", "user.signingKey", key.to_str().unwrap()])
        .ok();
    repo.seal(&[
        "run",
        "--share",
        "--name",
        "export",
        "--output",
        "out.csv",
        "--",
        "sh",
        "export.sh",
    ])
    .ok();
    let id = last_run(&repo)["run_id"].as_str().unwrap().to_string();
    let doc = repo.git_out(&["cat-file", "-p", &format!("refs/notes/seal:runs/{id}.json")]);
    let parsed: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(parsed["signature"]["principal"], "sam@example.com");
    assert_eq!(parsed["signature"]["namespace"], "git-seal");
    // OpenSSH checks it over the canonical JSON of every other field.
    let py = r#"
import json, sys
d = json.loads(sys.stdin.read())
open(sys.argv[1], "w").write(d.pop("signature")["sig"])
d.pop("digest")
sys.stdout.write(json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
"#;
    let sig = sb.path().join("record.sig");
    let canonical = run_with_stdin(
        repo.cmd("python3", &["-c", py, sig.to_str().unwrap()]),
        doc.as_bytes(),
    )
    .ok()
    .stdout();
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = sb.path().join("allowed");
    std::fs::write(&allowed, format!("sam@example.com {public}")).unwrap();
    let mut verify = sb.command("ssh-keygen", sb.path());
    verify
        .args([
            "-Y",
            "verify",
            "-n",
            "git-seal",
            "-I",
            "sam@example.com",
            "-f",
        ])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig);
    run_with_stdin(verify, canonical.as_bytes()).ok();
    let out = repo.seal(&["provenance", "out.csv"]).ok().stdout();
    assert_has(&out, "from shared, signature by sam@example.com (SHA256:");
    // The local record and the shared one are one run.
    let runs_all = runs(&repo, &[]);
    assert_eq!(runs_all.len(), 1);
}
