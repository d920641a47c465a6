#!/usr/bin/env python3
"""git-seal on a reftable repository vs the files backend (issue 15: within 1.1x).

    python3 bench/reftable.py [--runs N]

Two repositories alike but for `git init --ref-format=files|reftable` (200 files,
20 sealed commits). Per run, alternating between the two: a commit with the
post-commit hook (the seal), `git seal verify HEAD`, `git seal status`, and a push of
one sealed commit to a gated bare server of the same format (pre-push + pre-receive).
Prints medians, the files backend as baseline, and the ratio per figure. Also prints
the cost of one ref read through `git` (what reftable repositories pay per ref) next
to a run of `git-seal` that reads refs through libgit2. Uses target/release/git-seal
and the git on PATH (2.45 or later).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "git-seal")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    base = tempfile.mkdtemp(prefix="git-seal-bench-reftable-")
    env = {
        "PATH": os.path.dirname(BIN) + ":" + os.environ.get("PATH", ""),
        "HOME": base, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "LC_ALL": "C",
    }

    def run(cwd, *a):
        p = subprocess.run(a, cwd=cwd, env=env, capture_output=True)
        if p.returncode != 0:
            sys.exit(f"{' '.join(a)} in {cwd} failed: {p.stderr.decode().strip()}")
        return p

    def timed(cwd, *a):
        t = time.perf_counter()
        run(cwd, *a)
        return time.perf_counter() - t

    version = run(base, "git", "--version").stdout.decode().strip()
    repos = {}
    for fmt in ["files", "reftable"]:
        server = os.path.join(base, f"{fmt}-server.git")
        run(base, "git", "init", "-q", "--bare", f"--ref-format={fmt}", server)
        run(server, BIN, "install", "--server")
        path = os.path.join(base, fmt)
        run(base, "git", "init", "-q", "-b", "main", f"--ref-format={fmt}", path)
        run(path, "git", "remote", "add", "origin", server)
        run(path, BIN, "install")
        for i in range(200):
            d = os.path.join(path, f"d{i % 10}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"f{i}.txt"), "w") as f:
                f.write(f"file {i}\n" * 50)
        run(path, "git", "add", "-A")
        run(path, "git", "commit", "-q", "-m", "base")
        for i in range(19):
            with open(os.path.join(path, "d1", "f1.txt"), "a") as f:
                f.write(f"{i}\n")
            run(path, "git", "commit", "-q", "-a", "-m", f"c{i}")
        run(path, "git", "push", "-q", "origin", "main")
        repos[fmt] = path

    figures = ["post-commit", "verify HEAD", "status", "push (pre-push + pre-receive)"]
    times = {(fmt, f): [] for fmt in repos for f in figures}
    for i in range(args.runs):
        for fmt, path in repos.items():
            with open(os.path.join(path, "d0", "f0.txt"), "a") as f:
                f.write(f"{i}\n")
            times[(fmt, "post-commit")].append(
                timed(path, "git", "commit", "-q", "-a", "-m", f"r{i}"))
            times[(fmt, "verify HEAD")].append(timed(path, BIN, "verify", "HEAD"))
            times[(fmt, "status")].append(timed(path, BIN, "status"))
            times[(fmt, "push (pre-push + pre-receive)")].append(
                timed(path, "git", "push", "-q", "origin", "main"))
    for fmt, path in repos.items():
        n = run(path, "git", "notes", "--ref", "seal", "list").stdout.count(b"\n")
        if n != 20 + args.runs:
            sys.exit(f"{fmt}: {n} seals for {20 + args.runs} commits")
    ref_read = []
    for _ in range(args.runs):
        ref_read.append(timed(repos["reftable"], "git", "show-ref", "--verify", "-q",
                              "refs/notes/seal"))

    print(f"{version}, {args.runs} runs each, medians; baseline: the files backend")
    print(f"{'figure':32} {'files':>9} {'reftable':>9} {'ratio':>6}  (bar: <= 1.10)")
    for f in figures:
        a = statistics.median(times[("files", f)]) * 1000
        b = statistics.median(times[("reftable", f)]) * 1000
        print(f"{f:32} {a:7.1f}ms {b:7.1f}ms {b / a:6.3f}")
    print(f"one ref read through git (show-ref --verify): "
          f"{statistics.median(ref_read) * 1000:.1f} ms median")


if __name__ == "__main__":
    main()
