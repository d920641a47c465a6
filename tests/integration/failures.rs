//! Failure behaviour: dry runs change nothing, partial failures leave no half state,
//! a read-only or full disk never fails a commit, contended writers never lose a seal.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{assert_has, write_script, Sandbox, TestRepo};

/// Every file under `root` (the .git dir included): path → (mode, bytes).
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let key = p.strip_prefix(root).unwrap().display().to_string();
            if meta.is_dir() {
                out.insert(key + "/", (meta.permissions().mode(), Vec::new()));
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(key, (0, target.display().to_string().into_bytes()));
            } else {
                out.insert(key, (meta.permissions().mode(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[test]
fn every_dry_run_changes_nothing() {
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare"]);
    let repo = sb.init("r", &[]);
    repo.git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    repo.commit_file("a", "1", "first (unsealed)");
    repo.commit_file("a", "2", "second (unsealed)");
    let hook = repo.path.join(".git/hooks/post-commit");
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    let out = sb.path().join("export");
    let cases: Vec<Vec<&str>> = vec![
        vec!["install", "--dry-run"],
        vec!["install", "--server", "--dry-run"],
        vec!["seal", "--dry-run"],
        vec!["seal", "--missing", "--dry-run"],
        vec!["push", "--dry-run"],
        vec!["fetch", "--dry-run"],
    ];
    let before = snapshot(&repo.path);
    for args in &cases {
        let r = repo.seal(args).ok();
        assert!(r.stdout().contains("would"), "{args:?}: {}", r.stdout());
        assert_eq!(
            before,
            snapshot(&repo.path),
            "{args:?} changed the repository"
        );
    }
    // The same, once installed and sealed: uninstall and export dry runs.
    repo.install();
    repo.seal(&["seal", "--missing"]).ok();
    let before = snapshot(&repo.path);
    for args in [
        vec!["uninstall", "--dry-run"],
        vec![
            "export",
            "HEAD",
            "--out",
            out.to_str().unwrap(),
            "--dry-run",
        ],
        vec!["seal", "--missing", "--dry-run"],
    ] {
        let r = repo.seal(&args).ok();
        assert!(r.stdout().contains("would"), "{args:?}: {}", r.stdout());
        assert_eq!(
            before,
            snapshot(&repo.path),
            "{args:?} changed the repository"
        );
    }
    assert!(!out.exists(), "export --dry-run wrote files");
}

#[test]
fn export_that_fails_part_way_leaves_no_files() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1", "first");
    let out = sb.path().join("out");
    // The third file's directory is taken by a plain file: its write fails.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("checksums"), "in the way").unwrap();
    let r = repo
        .seal(&["export", "HEAD", "--out", out.to_str().unwrap()])
        .fails_with(2);
    r.stderr_has("cannot write");
    assert!(!out
        .join("seals")
        .join(format!("SEAL-{}.yaml", repo.rev("HEAD")))
        .exists());
    assert!(!out
        .join("manifests")
        .join(format!("MANIFEST-{}.json", repo.rev("HEAD")))
        .exists());
    let log = repo
        .seal(&["log", "--command", "export", "--json"])
        .ok()
        .stdout();
    assert_has(&log, "\"status\":\"FAILED\"");
    // And succeeds once the way is clear, with files that outside tools accept.
    std::fs::remove_file(out.join("checksums")).unwrap();
    repo.seal(&["export", "HEAD", "--out", out.to_str().unwrap()])
        .ok();
    let sums = out
        .join("checksums")
        .join(format!("CHECKSUMS-{}.sha256", repo.rev("HEAD")));
    let check = repo
        .cmd("sha256sum", &["-c", "--strict", sums.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success());
}

/// A tmpfs mounted over `dir` for the life of the guard (root only).
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }
    fn read_only(&self) {
        let s = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(s.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A repository whose git dir lives on a small tmpfs (when root may mount one).
fn repo_on_tmpfs<'s>(sb: &'s Sandbox, size: &str) -> (TestRepo<'s>, Option<Mount>) {
    let repo = sb.init("r", &[]);
    repo.install_shims();
    repo.commit_file("a", "1", "first");
    // Move .git onto the tmpfs: the repository keeps working through a gitfile.
    let store = sb.path().join("store");
    let mount = Mount::tmpfs(&store, size);
    let dest = store.join("git");
    let copied = std::process::Command::new("cp")
        .args(["-a"])
        .arg(repo.path.join(".git"))
        .arg(&dest)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::remove_dir_all(repo.path.join(".git")).unwrap();
    std::fs::write(
        repo.path.join(".git"),
        format!("gitdir: {}\n", dest.display()),
    )
    .unwrap();
    repo.git(&["status", "-s"]).ok();
    (repo, mount)
}

#[test]
fn read_only_git_dir_keeps_the_commit_and_backfill_seals_it_later() {
    let sb = Sandbox::new();
    let (repo, mount) = repo_on_tmpfs(&sb, "64m");
    // Only the ledger and log are made unwritable; git itself must still commit, so the
    // objects and refs stay writable: the fault is git-seal's own state going away.
    let seal_dir = sb.path().join("store/git/seal");
    let notes = sb.path().join("store/git/refs/notes");
    let readonly: Vec<_> = match &mount {
        // Root ignores permission bits: a read-only tmpfs over git-seal's directories.
        Some(_) => [&seal_dir, &notes]
            .iter()
            .map(|d| {
                let inner = Mount::tmpfs(d, "1m").expect("nested tmpfs");
                inner.read_only();
                inner
            })
            .collect(),
        None => {
            for d in [&seal_dir, &notes] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o555)).unwrap();
            }
            Vec::new()
        }
    };
    repo.write("a", "2");
    let r = repo
        .git(&["commit", "-q", "-a", "-m", "on a read-only ledger"])
        .ok();
    r.stderr_has("warning: git-seal (post-commit): nothing sealed");
    assert_eq!(
        repo.git_out(&["log", "-1", "--format=%s"]),
        "on a read-only ledger"
    );
    assert!(repo.note("HEAD").is_none());
    // pre-push refuses with the reason
    let server = sb.init("server.git", &["--bare"]);
    repo.git(&["remote", "add", "origin", server.path.to_str().unwrap()])
        .ok();
    let r = repo.git(&["push", "-q", "origin", "main"]).fails_with(1);
    r.stderr_has("no seal");
    drop(readonly);
    if mount.is_none() {
        for d in [&seal_dir, &notes] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    repo.seal(&["seal", "--missing"]).ok();
    repo.seal(&["verify", "HEAD~1..HEAD"]).ok();
}

#[test]
fn full_disk_never_fails_a_commit() {
    let sb = Sandbox::new();
    let (repo, mount) = repo_on_tmpfs(&sb, "8m");
    if mount.is_some() {
        // A hook that was there before git-seal, chained ahead of it, fills the disk
        // after git has written the commit: git-seal's hook then meets a full disk.
        let fill = sb.path().join("store/fill");
        repo.seal(&["uninstall"]).ok();
        let hook = sb.path().join("store/git/hooks/post-commit");
        let script = format!(
            "#!/bin/sh\ndd if=/dev/zero of='{}' bs=4k 2>/dev/null\nexit 0\n",
            fill.display()
        );
        write_script(&hook, &script);
        repo.install_shims();
    } else {
        // Without root: the log cannot be written (ENOSPC from /dev/full).
        let log = sb.path().join("store/git/seal/runs.jsonl");
        let _ = std::fs::remove_file(&log);
        std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    }
    repo.write("a", "2");
    let r = repo.git(&["commit", "-q", "-a", "-m", "on a full disk"]);
    // git committed in the room left; the hook ran out of space and did not fail it.
    let r = r.ok();
    assert_eq!(
        repo.git_out(&["log", "-1", "--format=%s"]),
        "on a full disk"
    );
    r.stderr_has("warning:");
    let _ = std::fs::remove_file(sb.path().join("store/fill"));
    let _ = std::fs::remove_file(sb.path().join("store/git/seal/runs.jsonl"));
    repo.seal(&["seal", "--missing"]).ok();
    repo.seal(&["verify", "HEAD"]).ok();
    drop(mount);
}
