#!/usr/bin/env python3
"""Pipeline-step figures (issue 12): each prints the figure, the baseline measured in the
same run, and their ratio (medians).

    python3 bench/steps.py [overhead|hashing|provenance|all] [--runs N] [--gb N]

- overhead: `git seal run -- true` (no inputs) against `true` alone; the figure is the
  difference (budget: <= 10 ms).
- hashing: `git seal run --input big -- true` over one 1 GB file (so that hashing files
  in parallel does not help) against `sha256sum big`; the ratio is sha256sum's time over
  ours (floor: >= 0.8). The file is generated in a temp dir and read once first, so both
  read from the page cache.
- provenance: `git seal provenance out.csv` with 100,000 run records in the log
  (budget: <= 0.5 s), beside `grep -c` of the file's digest over the same log (a floor).

Uses target/release/git-seal (built first if missing) and hermetic git config.
BENCH_CLOCK=cpu measures CPU time (user + system, children included) instead of wall
time: on a loaded machine it is the figure that says what git-seal itself costs.
"""
import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "git-seal")


# The hermetic environment every benchmark uses (bench.py is beside this file).
from bench import env_for  # noqa: E402


def run(args, cwd, env, check=True):
    p = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.decode().strip()}")
    return p


CPU = os.environ.get("BENCH_CLOCK", "wall") == "cpu"


def timed(args, cwd, env):
    """Seconds `args` took: wall clock, or with BENCH_CLOCK=cpu the CPU time (user +
    system) of it and its children, which other load on the machine moves much less."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    run(args, cwd, env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return cpu if CPU else wall


def median_pair(a, b, cwd, env, runs):
    """Medians of `a` and `b`, run alternately so that load hits both alike."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a, cwd, env))
        tb.append(timed(b, cwd, env))
    return statistics.median(ta), statistics.median(tb)


def repo(base, env):
    path = os.path.join(base, "r")
    run(["git", "init", "-q", "-b", "main", path], base, env)
    run(["git-seal", "install"], path, env)
    with open(os.path.join(path, "README"), "w") as f:
        f.write("bench\n")
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-q", "-m", "first"], path, env)
    return path


def overhead(base, env, runs):
    path = repo(base, env)
    ours, true = median_pair(["git-seal", "run", "--", "true"], ["true"], path, env, runs)
    extra = (ours - true) * 1000
    print(f"run overhead: git seal run -- true {ours * 1000:.1f} ms, true {true * 1000:.1f} ms: "
          f"+{extra:.1f} ms (budget 10 ms, ratio to budget {extra / 10:.2f})")


def hashing(base, env, runs, gb):
    path = repo(base, env)
    big = os.path.join(path, "big")
    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, not all one byte
    with open(big, "wb") as f:
        for i in range(gb * 1024):
            f.write(block[i % 32:] + block[:i % 32])
    run(["sha256sum", big], path, env)  # into the page cache
    ours, theirs = median_pair(["git-seal", "run", "--input", "big", "--", "true"],
                               ["sha256sum", "big"], path, env, runs)
    size = gb * 1024
    print(f"hashing {gb} GB: git seal run {size / ours:.0f} MiB/s ({ours:.2f} s), "
          f"sha256sum {size / theirs:.0f} MiB/s ({theirs:.2f} s): ratio {theirs / ours:.2f} "
          f"(floor 0.8)")
    os.remove(big)


def provenance(base, env, runs, records=100_000):
    path = repo(base, env)
    with open(os.path.join(path, "out.csv"), "w") as f:
        f.write("id,v\n1,2\n")
    run(["git-seal", "run", "--name", "export", "--output", "out.csv", "--",
         "sh", "-c", "printf 'id,v\\n1,2\\n' > out.csv"], path, env)
    log = os.path.join(path, ".git", "seal", "runs.jsonl")
    with open(log) as f:
        template = json.loads(f.read().splitlines()[-1])
    lines = []
    for i in range(records - 1):
        r = dict(template)
        r["run_id"] = f"01900000-0000-7000-8000-{i:012d}"
        r["outputs"] = [{"path": f"out/{i}.csv", "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                         "size": 10}]
        r["inputs"] = [{"path": f"in/{i}.csv", "sha256": hashlib.sha256(b"in" + str(i).encode()).hexdigest(),
                        "size": 10}]
        lines.append(json.dumps(r, separators=(",", ":")))
    with open(log) as f:
        last = f.read()
    with open(log, "w") as f:
        f.write("\n".join(lines) + "\n" + last)
    digest = hashlib.sha256(b"id,v\n1,2\n").hexdigest()
    ours, grep = median_pair(["git-seal", "provenance", "out.csv"], ["grep", "-c", digest, log],
                             path, env, runs)
    print(f"provenance over {records} records: {ours:.3f} s (budget 0.5 s, ratio to budget "
          f"{ours / 0.5:.2f}); grep -c over the same log {grep:.3f} s (ratio {ours / grep:.1f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="all",
                    choices=["overhead", "hashing", "provenance", "all"])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--gb", type=int, default=1)
    a = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="git-seal-bench-") as base:
        home = os.path.join(base, "home")
        os.makedirs(home)
        env = env_for(home)
        print(f"clock: {'CPU time' if CPU else 'wall'}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    for name, fn in [("overhead", lambda b: overhead(b, env, a.runs * 3)),
                         ("hashing", lambda b: hashing(b, env, max(3, a.runs // 3), a.gb)),
                         ("provenance", lambda b: provenance(b, env, a.runs))]:
            if a.which in (name, "all"):
                sub = os.path.join(base, name)
                os.makedirs(sub)
                fn(sub)


if __name__ == "__main__":
    main()
