#!/usr/bin/env python3
"""git-seal on a reftable repository vs the files backend (issue 15: within 1.1x).

    python3 bench/reftable.py [--runs N] [--git DIR] [--bin PATH]

Two repositories alike but for `git init --ref-format=files|reftable` (200 files,
20 sealed commits). Per run, alternating between the two: a commit with the
post-commit hook (the seal), `git seal verify HEAD`, `git seal status`, and a push of
one sealed commit to a gated bare server of the same format (pre-push + pre-receive).
Prints medians of wall and CPU time (user + system of every process a figure
starts, which load on a shared machine moves least), the files backend as
baseline, the ratio per figure, and how many
git processes each figure starts on either backend (counted with GIT_TRACE2 in one
more run): in a reftable repository git-seal reads and moves refs through `git`,
which libgit2 does in-process on the files backend. Also prints the cost of one
`git` process that reads a ref. Uses target/release/git-seal (or --bin) and the git
in --git (default: the newest git scripts/test builds, if built; else PATH's,
which must be 2.45 or later).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, ROOT, alternate, env_for, write_small_tree  # noqa: E402

NEWEST_GIT = os.path.expanduser("~/.cache/git-seal/test-tools/git-2.55.0/bin")
FIGURES = ["post-commit", "verify HEAD", "status", "push (pre-push + pre-receive)"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--git", default=NEWEST_GIT if os.path.isdir(NEWEST_GIT) else None,
                    help="directory of the git to use (first on PATH)")
    ap.add_argument("--bin", default=BIN, help="the git-seal to measure")
    args = ap.parse_args()
    if args.bin == BIN and not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    seal = os.path.abspath(args.bin)
    base = tempfile.mkdtemp(prefix="git-seal-bench-reftable-")
    env = env_for(base, args.git)
    # The hooks call the git-seal on PATH: the one measured.
    env["PATH"] = os.path.dirname(seal) + ":" + env["PATH"]

    def run(cwd, *a, extra=None):
        p = subprocess.run(a, cwd=cwd, env=dict(env, **(extra or {})), capture_output=True)
        if p.returncode != 0:
            sys.exit(f"{' '.join(a)} in {cwd} failed: {p.stderr.decode().strip()}")
        return p

    def timed(cwd, *a):
        """(wall seconds, CPU seconds of the processes it started: user + system).
        CPU time is what other load on a shared machine moves least."""
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        run(cwd, *a)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    version = run(base, "git", "--version").stdout.decode().strip()
    repos = {}
    for fmt in ["files", "reftable"]:
        server = os.path.join(base, f"{fmt}-server.git")
        run(base, "git", "init", "-q", "--bare", f"--ref-format={fmt}", server)
        run(server, seal, "install", "--server")
        path = os.path.join(base, fmt)
        run(base, "git", "init", "-q", "-b", "main", f"--ref-format={fmt}", path)
        run(path, "git", "config", "gc.auto", "0")  # no background gc in the figures
        run(path, "git", "remote", "add", "origin", server)
        run(path, seal, "install")
        write_small_tree(path)
        run(path, "git", "add", "-A")
        run(path, "git", "commit", "-q", "-m", "base")
        for i in range(19):
            with open(os.path.join(path, "d1", "f1.txt"), "a") as f:
                f.write(f"{i}\n")
            run(path, "git", "commit", "-q", "-a", "-m", f"c{i}")
        run(path, "git", "push", "-q", "origin", "main")
        repos[fmt] = path

    def commands(i):
        return {
            "post-commit": ["git", "commit", "-q", "-a", "-m", f"r{i}"],
            "verify HEAD": [seal, "verify", "HEAD"],
            "status": [seal, "status"],
            "push (pre-push + pre-receive)": ["git", "push", "-q", "origin", "main"],
        }

    def step(i, fmt, path):
        with open(os.path.join(path, "d0", "f0.txt"), "a") as f:
            f.write(f"{i}\n")
        return {figure: timed(path, *argv) for figure, argv in commands(i).items()}

    times = alternate(repos, args.runs, step)

    # One more round, traced: the git processes each figure starts.
    spawned = {}
    for fmt, path in repos.items():
        with open(os.path.join(path, "d0", "f0.txt"), "a") as f:
            f.write("traced\n")
        for figure, argv in commands("traced").items():
            trace = os.path.join(base, "trace2")
            run(path, *argv, extra={"GIT_TRACE2": trace})
            if not os.path.exists(trace):  # no git ran
                spawned[(fmt, figure)] = 0
                continue
            with open(trace) as f:
                spawned[(fmt, figure)] = sum(1 for line in f if " start " in line)
            os.remove(trace)

    for fmt, path in repos.items():
        n = run(path, "git", "notes", "--ref", "seal", "list").stdout.count(b"\n")
        if n != 21 + args.runs:
            sys.exit(f"{fmt}: {n} seals for {21 + args.runs} commits")
    ref_read = [timed(repos["reftable"], "git", "for-each-ref", "--include-root-refs")
                for _ in range(args.runs)]
    load = os.getloadavg()[0]

    def med(fmt, f, kind):
        return statistics.median(t[kind] for t in times[(fmt, f)]) * 1000

    print(f"{version}, {args.runs} runs each, medians; baseline: the files backend; "
          f"load average {load:.1f}")
    for kind, what in ((0, "wall"), (1, "CPU")):
        print(f"{'figure [' + what + ']':32} {'files':>9} {'reftable':>9} {'ratio':>6}"
              f"  (bar: <= 1.10)  git processes files/reftable")
        for f in FIGURES:
            a, b = med("files", f, kind), med("reftable", f, kind)
            print(f"{f:32} {a:7.1f}ms {b:7.1f}ms {b / a:6.3f}"
                  f"  {spawned[('files', f)]}/{spawned[('reftable', f)]}")
    print("one git process reading every ref (for-each-ref --include-root-refs): "
          f"{statistics.median(t[0] for t in ref_read) * 1000:.1f} ms wall, "
          f"{statistics.median(t[1] for t in ref_read) * 1000:.1f} ms CPU (medians)")


if __name__ == "__main__":
    main()
