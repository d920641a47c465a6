#!/usr/bin/env python3
"""In-repository trust policy: evaluating the chain costs one pass over the history.

    python3 bench/trust.py [--commits N] [--changes K] [--runs R] [--keep DIR]

A synthetic history of --commits commits (default 10,000, built with git
fast-import): the first brings `.seal/allowed_signers`, and --changes later commits
(default 4) change it, each sealed and signed (ssh-keygen key, native signer) by a
signer the policy before it allows. The root is pinned with `git seal trust --root`.

Measured, median of --runs, interleaved:
- `git seal trust --show`: walks the chain from the root to HEAD (each commit
  placed once, the policy read at each change), then lists the policy in force;
- floor: `git log --first-parent --format=%H%T HEAD`, git reading the same commits.

Prints both (wall and CPU time, median) and the ratios (target <= 3: the chain costs what reading the commits
costs, not a parse per commit).
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, Repo, env_for  # noqa: E402

BIN = os.environ.get("GIT_SEAL_BIN", BIN)


def build(base, env, commits, changes):
    home = env["HOME"]
    os.makedirs(os.path.join(home, ".ssh"), exist_ok=True)
    keys = {}
    for name in ("alice", "bob"):
        path = os.path.join(home, ".ssh", name)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
                       check=True, env=env)
        pub = open(path + ".pub").read().split()
        keys[name] = (path, f'{name}@example.com namespaces="git-seal" {pub[0]} {pub[1]}\n')
    path = os.path.join(base, "history")
    subprocess.run(["git", "init", "-q", "-b", "main", path], check=True, env=env)
    repo = Repo(path, env)
    repo.git("config", "gc.auto", "0")
    every = max(1, commits // (changes + 1))
    change_at = {every * (i + 1) for i in range(changes)}
    stream = []
    t = 1_767_225_600
    for i in range(1, commits + 1):
        body = f"commit {i}\n".encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(f"mark :{i}\n".encode())
        stream.append(f"committer Bench <bench@example.com> {t + i} +0000\n".encode())
        stream.append(b"data %d\n%s\n" % (len(body), body))
        if i > 1:
            stream.append(f"from :{i - 1}\n".encode())
        content = f"{i}\n".encode()
        stream.append(b"M 100644 inline f\ndata %d\n%s\n" % (len(content), content))
        if i == 1 or i in change_at:
            policy = keys["alice"][1]
            if i in change_at and (sorted(change_at).index(i) % 2 == 0):
                policy += keys["bob"][1]
            data = policy.encode()
            stream.append(b"M 100644 inline .seal/allowed_signers\ndata %d\n%s\n" % (len(data), data))
    repo.run("git", "fast-import", "--quiet", stdin=b"".join(stream))
    repo.git("reset", "-q", "--hard", "main")
    repo.git("config", "seal.signingKey", keys["alice"][0])
    repo.git("config", "seal.signingPrincipal", "alice@example.com")
    ids = repo.git("rev-list", "--reverse", "main").stdout.decode().split()
    to_seal = [ids[0]] + [ids[i - 1] for i in sorted(change_at)]
    repo.run(BIN, "seal", *to_seal)
    repo.run(BIN, "trust", "--root", ids[0])
    return repo, len(ids)


def timed(fn):
    """Wall and CPU (user + system of the child processes) milliseconds of `fn()`."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fn()
    wall = (time.perf_counter() - t0) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=4)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep")
    a = ap.parse_args()
    base = a.keep or tempfile.mkdtemp(prefix="git-seal-bench-trust-")
    os.makedirs(base, exist_ok=True)
    home = os.path.join(base, "home")
    os.makedirs(home, exist_ok=True)
    env = env_for(home)
    try:
        repo, n = build(base, env, a.commits, a.changes)
        show = repo.run(BIN, "trust", "--show").stdout.decode()
        assert "alice@example.com" in show, show
        ours, floor = [], []
        for _ in range(a.runs):
            ours.append(timed(lambda: repo.run(BIN, "trust", "--show")))
            floor.append(timed(
                lambda: repo.git("log", "--first-parent", "--format=%H%T", "HEAD")))
        ow, oc = (statistics.median(x[i] for x in ours) for i in (0, 1))
        fw, fc = (statistics.median(x[i] for x in floor) for i in (0, 1))
        print(f"history: {n} commits, {a.changes} policy changes (signed by an allowed signer)")
        print(f"git seal trust --show (chain root..HEAD): wall {ow:.1f} ms, cpu {oc:.1f} ms"
              f"  ({oc * 1000 / n:.1f} us/commit cpu)")
        print(f"floor, git log --first-parent --format=%H%T HEAD: wall {fw:.1f} ms, cpu {fc:.1f} ms")
        print(f"ratio (cpu): {oc / fc:.2f}, (wall): {ow / fw:.2f} (target <= 3)")
    finally:
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
