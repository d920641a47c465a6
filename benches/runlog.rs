//! Run-log figures: append + read-back per record, and `git seal log` over 100,000
//! records. Run with `cargo bench --bench runlog`.

use std::time::Instant;

use camino::Utf8PathBuf;
use git_seal::runlog::{self, Record, Status};

fn record(i: usize) -> Record {
    Record {
        schema: runlog::SCHEMA.into(),
        run_id: format!("01a1fca2-e790-7248-85f0-{i:012}"),
        hook: Some("post-commit".into()),
        command: None,
        started_at: "2026-11-21T05:00:00.000Z".into(),
        finished_at: "2026-11-21T05:00:00.004Z".into(),
        status: Status::Success,
        head: Some("d68add77812e9db2edd2bade59f1a2ad8bf12b8a".into()),
        inputs: serde_json::json!({"commits": ["d68add77812e9db2edd2bade59f1a2ad8bf12b8a"]}),
        outputs: serde_json::json!({"sealed": [{"commit": "d68add77812e9db2edd2bade59f1a2ad8bf12b8a",
            "digest": "sha256:3466d448efa0c3b73e99e9dc527179ce5b9634d01d894ec38a35f4b5ce0c6f07"}]}),
        attempts: 1,
        message: "sealed 1, 0 already sealed".into(),
        tool: git_seal::seal::Tool {
            name: "git-seal".into(),
            version: "0.1.0".into(),
        },
        tool_version: None,
        ..Record::new()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seal_dir = Utf8PathBuf::from_path_buf(dir.path().join("seal")).expect("utf-8");
    let mut per = Vec::new();
    for i in 0..5_000 {
        let r = record(i);
        let t = Instant::now();
        runlog::append(&seal_dir, &r).expect("append");
        per.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let m = median(per);
    println!("run log: append + read-back, median of 5,000: {m:.3} ms per record (target ≤ 1 ms, ratio {:.2})", m / 1.0);

    // 100,000 records, read the way `git seal log` reads them.
    let line = serde_json::to_string(&record(0)).expect("json") + "\n";
    std::fs::write(seal_dir.join("runs.jsonl"), line.repeat(100_000)).expect("write");
    let mut reads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let c = runlog::read(&seal_dir).expect("read");
        assert_eq!(c.records.len(), 100_000);
        reads.push(t.elapsed().as_secs_f64());
    }
    let m = median(reads);
    println!(
        "run log: read 100,000 records, median of 5: {m:.3} s (target ≤ 1 s, ratio {:.2})",
        m / 1.0
    );
}
