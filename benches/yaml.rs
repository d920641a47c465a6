//! Hostile YAML: how long each candidate parser takes, and how much memory it peaks
//! at, on inputs an attacker can put in a ledger note (brief §1, §6). Also the end to
//! end figure: `git seal verify` on a commit whose note is a hostile 1 MB document.
//!
//! Run with `cargo bench --bench yaml` (builds the release binary first if missing).
//! Each cell is one child process (this binary re-run with `--child`), so that its
//! peak resident memory (`VmHWM`) is its own; the "floor" row is a child that builds
//! the input and parses nothing. A child still running after the time limit is
//! killed and shown as `>LIMIT`. Medians of three runs. The `git-seal` column is
//! serde-saphyr under the budget `git_seal::yaml` reads ledger documents with (the
//! `serde-saphyr` column is its default budget); in git-seal itself no note over
//! the 64 KiB cap (`git_seal::limits`) reaches the parser, as the end-to-end rows show.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PARSERS: &[&str] = &["serde_norway", "yaml_serde", "serde-saphyr", "git-seal"];
const CASES: &[&str] = &[
    "flow-seq-nesting",
    "flow-map-nesting",
    "block-nesting",
    "long-simple-key",
    "many-aliases",
    "billion-laughs",
    "huge-scalar",
    "wide-map",
];
const LIMIT: Duration = Duration::from_secs(10);
const RUNS: usize = 3;

/// About `size` bytes of the hostile document `case`.
fn input(case: &str, size: usize) -> String {
    match case {
        "flow-seq-nesting" => "[".repeat(size),
        "flow-map-nesting" => "{a: ".repeat(size / 4),
        "block-nesting" => {
            // Each level indents one more space: depth d costs d²/2 bytes.
            let mut s = String::new();
            let mut d = 0;
            while s.len() + d + 3 < size {
                s.push_str(&" ".repeat(d));
                s.push_str("a:\n");
                d += 1;
            }
            s
        }
        "long-simple-key" => format!("{}: 1\n", "k".repeat(size)),
        "many-aliases" => {
            let mut s = String::from("a: &a [x, y, z]\nb: [");
            while s.len() < size {
                s.push_str("*a, ");
            }
            s.push_str("*a]\n");
            s
        }
        "billion-laughs" => {
            let mut s = String::from(
                "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
            );
            let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
            for w in names.windows(2) {
                let refs = vec![format!("*{}", w[0]); 9].join(",");
                s.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
            }
            while s.len() < size {
                s.push_str("# padding to the size of the other inputs\n");
            }
            s
        }
        "huge-scalar" => format!("x: {}\n", "a".repeat(size)),
        "wide-map" => {
            let mut s = String::new();
            let mut i = 0;
            while s.len() < size {
                s.push_str(&format!("k{i}: v{i}\n"));
                i += 1;
            }
            s
        }
        _ => String::new(),
    }
}

fn parse(parser: &str, text: &str) -> Result<(), String> {
    let r: Result<serde_json::Value, String> = match parser {
        "serde_norway" => serde_norway::from_str(text).map_err(|e| e.to_string()),
        "yaml_serde" => yaml_serde::from_str(text).map_err(|e| e.to_string()),
        "serde-saphyr" => serde_saphyr::from_str(text).map_err(|e| e.to_string()),
        // serde-saphyr under the budget git-seal reads ledger documents with.
        "git-seal" => git_seal::yaml::from_str(text),
        "none" => Ok(serde_json::Value::Null),
        _ => Err(format!("unknown parser {parser}")),
    };
    r.map(drop)
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// In the child: build the input, parse it, print `ms kb ok|refused`.
fn child(parser: &str, case: &str, size: usize) {
    let text = input(case, size);
    let t = Instant::now();
    let r = parse(parser, &text);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let verdict = if r.is_ok() { "ok" } else { "refused" };
    println!("{ms:.2} {} {verdict}", vm_hwm_kb());
}

struct Cell {
    ms: Option<f64>,
    kb: u64,
    verdict: String,
}

fn run_child(parser: &str, case: &str, size: usize) -> Cell {
    let exe = std::env::current_exe().expect("bench binary path");
    let mut c = Command::new(exe)
        .args(["--child", parser, case, &size.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = c.try_wait() {
            break;
        }
        if start.elapsed() > LIMIT {
            let _ = c.kill();
            let _ = c.wait();
            return Cell {
                ms: None,
                kb: 0,
                verdict: "timeout".into(),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = c.wait_with_output().expect("child output");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    match (f.next(), f.next(), f.next()) {
        (Some(ms), Some(kb), Some(v)) => Cell {
            ms: ms.parse().ok(),
            kb: kb.parse().unwrap_or(0),
            verdict: v.into(),
        },
        _ => Cell {
            ms: None,
            kb: 0,
            verdict: format!("crashed ({})", out.status),
        },
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn table(size: usize) {
    println!(
        "\n{} input: parse time (median of {RUNS}) and peak RSS, minus the floor's RSS",
        human(size)
    );
    print!("{:<18}", "case");
    for p in PARSERS {
        print!(" | {p:>28}");
    }
    println!();
    for case in CASES {
        let floor = run_child("none", case, size).kb;
        print!("{case:<18}");
        for p in PARSERS {
            let mut cells = vec![run_child(p, case, size)];
            if cells[0].ms.is_some() {
                cells.extend((1..RUNS).map(|_| run_child(p, case, size)));
            }
            let first = &cells[0];
            let shown = if first.ms.is_none() {
                format!(">{}s {}", LIMIT.as_secs(), first.verdict)
            } else {
                let ms = median(cells.iter().filter_map(|c| c.ms).collect());
                let kb = cells.iter().map(|c| c.kb).max().unwrap_or(0);
                format!(
                    "{ms:>9.1} ms {:>7.1} MB {}",
                    kb.saturating_sub(floor) as f64 / 1024.0,
                    first.verdict
                )
            };
            print!(" | {shown:>28}");
            std::io::stdout().flush().ok();
        }
        println!();
    }
}

fn human(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut c = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git");
    if let Some(bytes) = stdin {
        c.stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write");
    }
    let out = c.wait_with_output().expect("git output");
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn release_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/git-seal");
    if !bin.exists() {
        let ok = Command::new("cargo")
            .args(["build", "--release", "--locked"])
            .current_dir(&root)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "cargo build --release failed");
    }
    bin
}

/// `git seal verify` on a commit whose note is `note`: (median ms, max RSS KB).
fn verify_with_note(bin: &Path, dir: &Path, note: &[u8]) -> (f64, u64) {
    let blob = git(dir, &["hash-object", "-w", "--stdin"], Some(note));
    git(
        dir,
        &["notes", "--ref=seal", "add", "-f", "-C", &blob, "HEAD"],
        None,
    );
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(bin)
            .args(["verify", "HEAD"])
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("/usr/bin/time git-seal verify");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let err = String::from_utf8_lossy(&out.stderr);
        let kb: u64 = err
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        rss = rss.max(kb);
    }
    (median(times), rss)
}

fn end_to_end() {
    let bin = release_binary();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main", "."], None);
    std::fs::write(dir.join("a.txt"), "a\n").expect("write");
    git(dir, &["add", "a.txt"], None);
    git(dir, &["commit", "-q", "-m", "one"], None);
    let seal = Command::new(&bin)
        .args(["seal", "HEAD"])
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git-seal seal");
    assert!(seal.status.success(), "git-seal seal failed");
    let valid = git(dir, &["notes", "--ref=seal", "show", "HEAD"], None) + "\n";
    let (floor_ms, floor_kb) = verify_with_note(&bin, dir, valid.as_bytes());
    println!("\nend to end: git seal verify HEAD, median of 5 (target ≤ 50 ms, ≤ 20 MB max RSS)");
    println!(
        "{:<28} {floor_ms:>8.1} ms {:>7.1} MB  (the floor)",
        "valid seal",
        floor_kb as f64 / 1024.0
    );
    for case in [
        "flow-seq-nesting",
        "long-simple-key",
        "billion-laughs",
        "huge-scalar",
    ] {
        let (ms, kb) = verify_with_note(&bin, dir, input(case, 1 << 20).as_bytes());
        println!(
            "{:<28} {ms:>8.1} ms {:>7.1} MB  ratio to floor {:.2} (time), {:.2} (memory)",
            format!("1 MiB {case}"),
            kb as f64 / 1024.0,
            ms / floor_ms,
            kb as f64 / floor_kb.max(1) as f64
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--child" {
        child(&args[2], &args[3], args[4].parse().unwrap_or(0));
        return;
    }
    // `cargo bench` passes `--bench`; anything else after it filters nothing.
    table(64 << 10);
    table(1 << 20);
    end_to_end();
}
