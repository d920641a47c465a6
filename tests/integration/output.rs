//! One output language: errors of each kind as the binary prints them (text and
//! JSON), tags in every read command, `--json` documents with a schema and the same
//! problems as the text, git's dates, colour only when git would colour.

use crate::harness::{assert_has, Run, Sandbox, TestRepo, SEAL};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn sealed_repo(sb: &Sandbox) -> TestRepo<'_> {
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_file("b", "2\n", "second");
    repo
}

fn run(cmd: &mut std::process::Command) -> Run {
    Run {
        out: cmd.output().expect("run git-seal"),
    }
}

#[test]
fn a_failed_check_is_one_error_line_a_hint_and_exit_1() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let head = repo.commit_file("a", "1\n", "unsealed");
    let r = repo.seal(&["show"]).fails_with(1);
    assert_eq!(
        r.stderr(),
        format!(
            "error: commit {} has no seal\nhint: seal it: git seal seal HEAD\n",
            &head[..7]
        )
    );
    assert_eq!(r.stdout(), "");
}

#[test]
fn a_usage_error_exits_2_with_a_hint_that_names_forms_that_work() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let r = repo.seal(&["log", "--since", "soon-ish"]).fails_with(2);
    assert_has(
        &r.stderr(),
        "error: --since 'soon-ish' is not a date git-seal or git understands\nhint: e.g. --since yesterday",
    );
    // The hint's forms work when pasted.
    repo.seal(&["log", "--since", "yesterday"]).ok();
    repo.seal(&["log", "--since", "10 minutes ago"]).ok();
}

#[test]
fn an_environment_error_exits_2_and_prints_its_cause_once() {
    let sb = Sandbox::new();
    // Outside any repository.
    let r = run(sb.command(SEAL, sb.path()).arg("status")).fails_with(2);
    assert_has(&r.stderr(), "is not a git repository");
    assert_eq!(r.stderr().matches("error:").count(), 1);
    // A write that fails: the cause (the OS error) on its own line, once.
    let repo = sealed_repo(&sb);
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let r = run(repo.cmd(SEAL, &["status"]).stdout(full)).fails_with(2);
    assert_has(
        &r.stderr(),
        "error: cannot write output\ncaused by: No space left on device",
    );
    assert_eq!(r.stderr().matches("No space left").count(), 1);
}

#[test]
fn under_json_an_error_is_a_json_document_on_stdout_too() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.commit_file("a", "1\n", "unsealed");
    let r = repo.seal(&["show", "--json"]).fails_with(1);
    let doc = json(&r.stdout());
    assert_eq!(doc["schema"], "git-seal/error/v1");
    assert_eq!(doc["error"]["kind"], "check");
    assert_eq!(doc["error"]["exit_code"], 1);
    assert_has(doc["error"]["message"].as_str().unwrap(), "has no seal");
    assert_eq!(doc["error"]["hint"], "seal it: git seal seal HEAD");
    assert_eq!(doc["error"]["causes"], serde_json::json!([]));
    // The person watching still reads it as text.
    assert_has(&r.stderr(), "error: commit ");
    let r = repo
        .seal(&["log", "--json", "--until", "not a date"])
        .fails_with(2);
    let doc = json(&r.stdout());
    assert_eq!(doc["error"]["kind"], "usage");
    assert_has(doc["error"]["hint"].as_str().unwrap(), "--until yesterday");
    // Without --json, stdout stays empty.
    let r = repo.seal(&["log", "--until", "not a date"]).fails_with(2);
    assert_eq!(r.stdout(), "");
}

#[test]
fn show_of_a_tag_prints_the_tag_seal_and_its_commit_with_commit_suffix() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git_hooks_off(&["tag", "-a", "v1.4", "-m", "release"])
        .ok();
    repo.seal(&["seal", "v1.4"]).ok();
    let yaml = repo.seal(&["show", "v1.4"]).ok().stdout();
    assert_has(&yaml, "kind: tag");
    assert_has(&yaml, "tag: v1.4");
    let doc = json(&repo.seal(&["show", "v1.4", "--json"]).ok().stdout());
    assert_eq!(doc["kind"], "tag");
    assert_eq!(doc["tag"], "v1.4");
    assert_eq!(doc["target"], repo.rev("HEAD").as_str());
    let commit = json(
        &repo
            .seal(&["show", "v1.4^{commit}", "--json"])
            .ok()
            .stdout(),
    );
    assert_eq!(commit["kind"], "commit");
    // A tag with no seal is a failed check, not the commit's seal.
    repo.git_hooks_off(&["tag", "v2"]).ok();
    let r = repo.seal(&["show", "v2"]).fails_with(1);
    assert_eq!(
        r.stderr(),
        "error: tag v2 has no seal\nhint: seal it: git seal seal v2\n"
    );
    repo.seal(&["seal", "v2"]).ok();
    repo.seal(&["show", "v2"]).ok().stdout_has("tag: v2");
}

#[test]
fn conflicting_output_flags_are_refused_by_the_parser() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let r = repo
        .seal(&["show", "--json", "--format", "yaml"])
        .fails_with(2);
    assert_has(&r.stderr(), "cannot be used with");
    let r = repo
        .seal(&["manifest", "--json", "--format", "sha256sum"])
        .fails_with(2);
    assert_has(&r.stderr(), "cannot be used with");
    repo.seal(&["show", "--format", "json"]).ok();
    // Under --json, the refusal is the error document on stdout, as other errors are.
    let r = repo
        .seal(&["show", "--json", "--format", "yaml"])
        .fails_with(2);
    let doc = json(&r.stdout());
    assert_eq!(doc["schema"], "git-seal/error/v1");
    assert_eq!(doc["error"]["kind"], "usage");
    assert_eq!(doc["error"]["exit_code"], 2);
    assert_has(
        doc["error"]["message"].as_str().unwrap(),
        "cannot be used with",
    );
    let r = repo
        .seal(&["diff", "HEAD~1", "HEAD", "--json", "--checksums"])
        .fails_with(2);
    assert_has(&r.stderr(), "cannot be used with");
    let r = repo.seal(&["verify", "--json", "--bogus"]).fails_with(2);
    assert_eq!(json(&r.stdout())["error"]["kind"], "usage");
    // Help is not an error: text only.
    let r = repo.seal(&["verify", "--json", "--help"]).ok();
    assert!(r.stdout().starts_with("Check"), "{}", r.stdout());
}

#[test]
fn verify_json_carries_the_tag_problems_the_text_lists() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git_hooks_off(&["tag", "v1"]).ok();
    let text = repo.seal(&["verify", "v1"]).fails_with(1).stdout();
    assert_has(&text, "tag v1: ");
    let doc = json(
        &repo
            .seal(&["verify", "v1", "--json"])
            .fails_with(1)
            .stdout(),
    );
    assert_eq!(doc["schema"], "git-seal/verify/v1");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["tags"][0]["tag"], "v1");
    assert_eq!(doc["tags"][0]["ok"], false);
    assert_eq!(doc["tags"][0]["problems"][0]["code"], "no_seal");
    let reason = doc["tags"][0]["problems"][0]["reason"].as_str().unwrap();
    assert_has(&text, format!("tag v1: {reason}"));
    // Commit problems carry a code beside their wording too.
    repo.tamper_seal("HEAD", |s| {
        s.replacen("digest: sha256:", "digest: sha256:0", 1)
    });
    let doc = json(&repo.seal(&["verify", "--json"]).fails_with(1).stdout());
    assert!(doc["problems"][0]["code"].is_string());
    assert!(doc["problems"][0]["reason"].is_string());
}

#[test]
fn verify_json_lists_worktree_problems_as_data() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.write("a", "changed\n");
    std::fs::remove_file(repo.path.join("b")).unwrap();
    let doc = json(
        &repo
            .seal(&["verify", "--worktree", "--json"])
            .fails_with(1)
            .stdout(),
    );
    let wt = doc["worktree"].as_array().unwrap();
    assert_eq!(wt.len(), 2);
    assert_eq!(wt[0]["path"], "a");
    assert_eq!(wt[0]["code"], "modified");
    assert_eq!(wt[1]["path"], "b");
    assert_eq!(wt[1]["code"], "missing");
}

#[test]
fn status_diff_and_rollback_list_json_name_their_schema() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let status = json(&repo.seal(&["status", "--json"]).ok().stdout());
    assert_eq!(status["schema"], "git-seal/status/v2");
    let diff = json(
        &repo
            .seal(&["diff", "HEAD~1", "HEAD", "--json"])
            .ok()
            .stdout(),
    );
    assert_eq!(diff["schema"], "git-seal/diff/v1");
    assert_eq!(diff["changes"][0]["status"], "added");
    let list = json(&repo.seal(&["rollback", "--list", "--json"]).ok().stdout());
    assert_eq!(list["schema"], "git-seal/rollback-list/v1");
    assert_eq!(list["rollbacks"], serde_json::json!([]));
    // --json is for the list only.
    repo.seal(&["rollback", "--json", "--reason", "x"])
        .fails_with(2);
}

#[test]
fn status_gives_a_remote_ledger_state_as_data_not_a_sentence() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let server = sb.bare("server.git");
    repo.git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    let status = json(&repo.seal(&["status", "--json"]).ok().stdout());
    let state = &status["ledger"]["upstream"]["origin"]["state"];
    assert!(
        matches!(state.as_str(), Some("no_refspec" | "not_fetched")),
        "{status}"
    );
}

#[test]
fn log_reads_git_style_dates_in_utc_and_status_in_any_case() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let count = |args: &[&str]| {
        let mut all = vec!["log", "--json"];
        all.extend_from_slice(args);
        repo.seal(&all).ok().stdout().lines().count()
    };
    let all = count(&[]);
    assert!(all >= 3, "install and two commits are recorded");
    assert_eq!(count(&["--since", "yesterday"]), all);
    assert_eq!(count(&["--since", "10 minutes ago"]), all);
    assert_eq!(count(&["--since", "1.week.ago"]), all);
    assert_eq!(count(&["--until", "10 minutes ago"]), 0);
    assert_eq!(count(&["--since", "2000-01-01"]), all);
    assert_eq!(count(&["--since", "2000-01-01 09:30"]), all);
    assert_eq!(count(&["--until", "2000-01-01T00:00:00Z"]), 0);
    assert_eq!(count(&["--since", "now"]), 0);
    let success = count(&["--status", "SUCCESS"]);
    assert!(success > 0);
    assert_eq!(count(&["--status", "success"]), success);
    assert_eq!(count(&["--status", "Success"]), success);
    // Every line is one JSON record: JSON Lines, as its help says.
    repo.seal(&["log", "-h"])
        .ok()
        .stdout_has("JSON Lines: one run record");
    for line in repo.seal(&["log", "--json"]).ok().stdout().lines() {
        assert_eq!(json(line)["schema"], "git-seal/run/v2");
    }
}

#[test]
fn run_records_spell_the_tool_version_as_seals_do() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let last = repo
        .seal(&["log", "--json"])
        .ok()
        .stdout()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let record = json(&last);
    assert_eq!(record["tool"]["name"], "git-seal");
    assert_eq!(record["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(record.get("tool_version").is_none(), "{record}");
    // A v1 record, which spelled it `tool_version`, is still read.
    let log = repo.path.join(".git/seal/runs.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(
        "{\"schema\":\"git-seal/run/v1\",\"run_id\":\"01a1fca2-e7cc-7346-b257-0d14fe010f77\",\
         \"command\":\"seal\",\"started_at\":\"2026-11-02T10:00:00.000Z\",\
         \"finished_at\":\"2026-11-02T10:00:00.050Z\",\"status\":\"SUCCESS\",\"head\":null,\
         \"inputs\":{},\"outputs\":{},\"attempts\":1,\"message\":\"old\",\"tool_version\":\"0.0.9\"}\n",
    );
    std::fs::write(&log, text).unwrap();
    repo.seal(&["log", "--check"]).ok();
    let old = repo.seal(&["log", "--json"]).ok().stdout();
    let line = old
        .lines()
        .find(|l| l.contains("01a1fca2-e7cc-7346-b257-0d14fe010f77"))
        .unwrap_or_else(|| panic!("the v1 record is listed: {old}"));
    assert_has(line, "\"tool_version\":\"0.0.9\"");
}

#[test]
fn sealing_a_tag_is_logged_as_it_happened() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.commit_file("a", "1\n", "first");
    repo.seal(&["seal"]).ok();
    repo.git(&["tag", "-a", "v1.4", "-m", "release"]).ok();
    repo.seal(&["seal", "v1.4"]).ok();
    let last = |repo: &TestRepo<'_>| {
        let out = repo
            .seal(&["log", "--command", "seal", "--json"])
            .ok()
            .stdout();
        json(out.lines().last().unwrap())
    };
    let record = last(&repo);
    assert_eq!(record["status"], "SUCCESS", "{record}");
    assert_eq!(record["outputs"]["tags"][0]["tag"], "v1.4");
    assert_eq!(record["outputs"]["tags"][0]["written"], true);
    // Sealed again: nothing to do.
    repo.seal(&["seal", "v1.4"]).ok();
    assert_eq!(last(&repo)["status"], "SKIPPED");
    // A tag git-seal cannot seal (it names a tree) fails the run, and says so.
    repo.git(&["tag", "treetag", "HEAD^{tree}"]).ok();
    repo.seal(&["seal", "treetag"]).fails_with(2);
    let record = last(&repo);
    assert_eq!(record["status"], "FAILED", "{record}");
    assert_eq!(record["outputs"]["failed_tag"], "treetag");
    assert_has(record["message"].as_str().unwrap(), "treetag");
}

#[test]
fn colour_only_when_git_would_colour() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let log = |config: &[&str], no_color: Option<&str>| {
        let mut args: Vec<&str> = Vec::new();
        for c in config {
            args.extend(["-c", c]);
        }
        let mut cmd = repo.cmd("git", &args);
        cmd.args(["seal", "log"]).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        run(&mut cmd).ok().stdout()
    };
    // Into a pipe: no colour, unless color.ui=always.
    assert!(!log(&[], None).contains('\x1b'));
    assert!(log(&["color.ui=always"], None).contains("\x1b["));
    // NO_COLOR beats everything; color.ui=never too.
    assert!(!log(&["color.ui=always"], Some("1")).contains('\x1b'));
    assert!(!log(&["color.ui=never"], None).contains('\x1b'));
    // An empty NO_COLOR is unset.
    assert!(log(&["color.ui=always"], Some("")).contains("\x1b["));
}

#[test]
fn status_json_holds_the_values_its_text_prints_as_data() {
    let sb = Sandbox::new();
    // No hooks at all: every hook is missing, and the fix is named.
    let repo = sb.init("r", &[]);
    repo.commit_file("a", "1\n", "first");
    repo.seal(&["seal"]).ok();
    repo.commit_file("b", "2\n", "second, unsealed");
    let server = sb.bare("server.git");
    repo.git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    let text = repo.seal(&["status"]).ok().stdout();
    let doc = json(&repo.seal(&["status", "--json"]).ok().stdout());
    assert_eq!(doc["schema"], "git-seal/status/v2");
    let hooks = doc["hooks"].as_object().unwrap();
    assert!(!hooks.is_empty());
    for (hook, installed) in hooks {
        assert_eq!(installed, false, "{doc}");
        let holder = &doc["hook_holders"][hook];
        assert_eq!(holder["state"], "missing", "{doc}");
        assert_has(&text, format!("hook {hook:<22} missing"));
        assert_has(&text, format!("hint: {}", holder["fix"].as_str().unwrap()));
    }
    assert_eq!(doc["branch"]["sealed"], 1);
    assert_eq!(doc["branch"]["unsealed"], 1);
    assert_has(&text, "branch: 1 sealed, 1 unsealed commit(s)");
    let tip = doc["ledger"]["tip"].as_str().unwrap();
    assert_has(&text, format!("ledger refs/notes/seal at {}", &tip[..7]));
    assert_eq!(doc["ledger"]["upstream"]["origin"]["state"], "no_refspec");
    assert_has(&text, "ledger upstream origin: no fetch refspec");
    // Signing is data: a state and its parts, not the sentence the text prints.
    assert_eq!(doc["signing"]["key"]["state"], "none", "{doc}");
    assert_eq!(doc["signing"]["allowed_signers"]["state"], "none", "{doc}");
    assert_has(&text, "signing key: none (seals are unsigned");
    assert_eq!(doc["tags_sealed_by_hook"], true);
    // Installed, with a key: the key's fingerprint and principal are values.
    repo.seal(&["install"]).ok();
    let key = sb.path().join("id_ed25519");
    let keygen = sb
        .command("ssh-keygen", sb.path())
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success());
    repo.git(&["config", "gpg.format", "ssh"]).ok();
    repo.git(&["config", "user.signingKey", key.to_str().unwrap()])
        .ok();
    let text = repo.seal(&["status"]).ok().stdout();
    let doc = json(&repo.seal(&["status", "--json"]).ok().stdout());
    for (hook, installed) in doc["hooks"].as_object().unwrap() {
        assert_eq!(installed, true, "{doc}");
        assert_eq!(doc["hook_holders"][hook]["state"], "installed", "{doc}");
    }
    let k = &doc["signing"]["key"];
    assert_eq!(k["state"], "configured", "{doc}");
    let fp = k["fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("SHA256:"), "{doc}");
    assert_has(&text, fp);
    assert_has(
        &text,
        format!("signing as {}", k["principal"].as_str().unwrap()),
    );
    assert_eq!(k["principal_from"], "user.email");
}

/// Every crate the binary depends on is used by its code (tests' crates are
/// dev-dependencies): a dependency nothing uses costs build time and audit.
#[test]
fn every_dependency_of_the_binary_is_used_in_its_source() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    let mut source = String::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                source.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    for line in deps.lines() {
        let Some((name, _)) = line.split_once(" = ") else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        let name = name.trim().replace('-', "_");
        assert!(
            source.contains(&format!("{name}::")) || source.contains(&format!("use {name}")),
            "{name} is in [dependencies] but nothing in src/ uses it"
        );
    }
}

#[test]
fn every_json_document_names_its_schema() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git_hooks_off(&["tag", "-a", "v1", "-m", "release"])
        .ok();
    repo.seal(&["seal", "v1"]).ok();
    repo.seal(&[
        "run",
        "--output",
        "out.txt",
        "--",
        "sh",
        "-c",
        "echo x > out.txt",
    ])
    .ok();
    let docs: &[(&[&str], &str)] = &[
        (&["verify", "--json"], "git-seal/verify/v1"),
        (&["verify", "v1", "--json"], "git-seal/verify/v1"),
        (&["status", "--json"], "git-seal/status/v2"),
        (&["diff", "HEAD~1", "HEAD", "--json"], "git-seal/diff/v1"),
        (&["show", "--json"], "git-seal/seal/v1"),
        (&["show", "v1", "--json"], "git-seal/seal/v1"),
        (&["manifest", "--json"], "git-seal/manifest/v1"),
        (
            &["rollback", "--list", "--json"],
            "git-seal/rollback-list/v1",
        ),
        (
            &["provenance", "out.txt", "--json"],
            "git-seal/provenance/v1",
        ),
    ];
    for (args, schema) in docs {
        let doc = json(&repo.seal(args).ok().stdout());
        assert_eq!(doc["schema"], *schema, "{args:?}: {doc}");
    }
    for line in repo.seal(&["log", "--json"]).ok().stdout().lines() {
        assert_eq!(json(line)["schema"], "git-seal/run/v2");
    }
}

#[test]
fn rollback_list_json_holds_the_records_its_text_lists() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("app.txt", "v1\n", "release one");
    let one = repo.rev("HEAD");
    repo.seal(&["snapshot", "rel"]).ok();
    repo.commit_file("app.txt", "v2\n", "release two");
    let two = repo.rev("HEAD");
    repo.seal(&["rollback", "--reason", "v2 is broken"]).ok();
    let text = repo.seal(&["rollback", "--list"]).ok().stdout();
    let doc = json(&repo.seal(&["rollback", "--list", "--json"]).ok().stdout());
    let list = doc["rollbacks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{doc}");
    let r = &list[0];
    assert_eq!(r["from"], two.as_str());
    assert_eq!(r["to"], one.as_str());
    assert_eq!(r["reason"], "v2 is broken");
    let tag = r["tag"].as_str().unwrap();
    assert!(tag.starts_with("snapshot/rel@"), "{doc}");
    let at = r["at"].as_str().unwrap();
    assert!(at.ends_with('Z'), "a UTC time: {at}");
    assert_has(
        &text,
        format!("{at}  {} -> {} ({tag})", &two[..7], &one[..7]),
    );
    assert_has(&text, "reason: v2 is broken");
}

/// One spelling of a time git-seal stamps, in every document: RFC 3339 in UTC with
/// `Z` (git's own author and committer times keep their offset).
#[test]
fn every_time_git_seal_stamps_is_utc_spelled_with_z() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git_hooks_off(&["tag", "-a", "v1", "-m", "release"])
        .ok();
    repo.seal(&["seal", "v1"]).ok();
    let utc = |what: &str, t: &serde_json::Value| {
        let t = t.as_str().unwrap_or_else(|| panic!("{what}: {t}"));
        let ok = t.len() >= 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T' && !t.contains('+');
        assert!(ok, "{what}: {t}");
    };
    let commit = json(&repo.seal(&["show", "--json"]).ok().stdout());
    utc("a commit seal's sealed_at", &commit["sealed_at"]);
    let tag = json(&repo.seal(&["show", "v1", "--json"]).ok().stdout());
    utc("a tag seal's sealed_at", &tag["sealed_at"]);
    for line in repo.seal(&["log", "--json"]).ok().stdout().lines() {
        let record = json(line);
        utc("a run record's started_at", &record["started_at"]);
        utc("a run record's finished_at", &record["finished_at"]);
    }
    // The commit's own times are git's, with the offset git recorded.
    let git_time = repo.git_out(&["log", "-1", "--format=%aI"]);
    assert_eq!(
        commit["author"]["time"],
        git_time.replace('Z', "+00:00").as_str()
    );
}
