#!/usr/bin/env python3
"""What a commit and an already-verified history cost with git-seal (issue 14, items 3-4).

    python3 bench/hook_cost.py [post-commit|verify|all] [--runs N] [--files N]
                               [--commits N] [--bin PATH] [--against PATH] [--keep DIR]

post-commit: a 20,000-file repository (`--files`). Each round times `git commit`
(hooks off) and then the post-commit hook run as git runs it (the shim in
.git/hooks, or `git hook run` where install registered config-defined hooks), in two
cases, alternating their order:
- sealed parent: the parent is the commit the hook sealed last;
- unsealed parent: the parent was committed with hooks off (as a commit fetched from
  someone without git-seal), so the hook derives from the nearest ancestor this
  machine holds a manifest of.
It prints the medians of both and of the per-round ratio hook / `git commit`
(targets 0.15 and 0.2), and the cost of a hook that seals nothing (post-merge after
a commit: process start, opening the repository, the ledger's tip, the run record),
and checks every seal written against `verify --no-cache`. With `--against OTHER`
it also alternates the two binaries' `hook post-commit` on the same repository,
each after its own commit (sealed parent), and prints both medians and their ratio:
on a noisy machine, the way to see what a change saved.

verify: a history of `--commits` commits (default 2,000) over 2,000 files, sealed
and verified once; then `verify --all` again (warm) beside the floor, reading every
seal of the ledger: `git notes --ref=seal list` plus one `git cat-file --batch` of
every note blob. Prints both medians and the ratio.

Uses target/release/git-seal (built first if missing), or `--bin`, and hermetic git
config (HOME in a temp dir).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Repo, env_for, init, write_tree  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "git-seal")
# Hooks off on every git: the hooks dir for shims, the config-defined hook for git >= 2.54.
HOOKS_OFF = ["-c", "core.hooksPath=/dev/null", "-c", "hook.git-seal-post-commit.enabled=false"]


def timed(r, *args):
    return measured(r, *args)[0]


def measured(r, *args):
    """Wall seconds and CPU seconds (user + system, children included) of one
    command: on a loaded shared machine the wall time is mostly waiting for a core,
    which a process started from a hook waits for again."""
    t = time.perf_counter()
    p = subprocess.Popen(args, cwd=r.path, env=r.env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed: {err.strip()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def run_hook(r, name="post-commit", *args):
    shim = os.path.join(r.path, ".git", "hooks", name)
    if os.path.exists(shim):
        return measured(r, shim, *args)
    return measured(r, "git", "hook", "run", name, "--", *args)


def bench_post_commit(base, env, args, binary):
    path = os.path.join(base, f"post-commit-{args.files}")
    if os.path.isdir(os.path.join(path, ".git")):
        r = Repo(path, env)
        print(f"(reusing the {args.files}-file repository)", flush=True)
    else:
        r = init(base, f"post-commit-{args.files}", env)
        write_tree(r.path, args.files, 1024)
        r.git("add", "-A")
        r.git(*HOOKS_OFF, "commit", "-q", "-m", "init")
        r.git("gc", "-q")
    r.run(binary, "install", "--no-tag-hook")
    r.run(binary, "seal", "--missing")
    r.git(*HOOKS_OFF, "commit", "-q", "--allow-empty", "-m", "warm")
    run_hook(r)  # the cache holds HEAD's manifest, as after any sealed commit

    n = 0

    def change():
        nonlocal n
        n += 1
        with open(os.path.join(r.path, "d000", "s0", f"f{n % 50:06d}.txt"), "a") as f:
            f.write(f"change {n}\n")

    def commit():
        change()
        return measured(r, "git", *HOOKS_OFF, "commit", "-q", "-a", "-m", f"c{n}")

    rows = {"sealed": [], "unsealed": []}
    fixed = []
    checks = {}
    for i in range(args.runs):
        for case in (("sealed", "unsealed") if i % 2 else ("unsealed", "sealed")):
            if case == "unsealed":
                commit()  # left unsealed: the parent of the one timed
            c = commit()
            h = run_hook(r)
            rows[case].append((c, h))
            checks[case] = r.git("rev-parse", "HEAD").stdout.decode().strip()
        # What any hook costs before it seals anything: post-merge after a commit
        # that is not a merge starts, opens the repository, reads the ledger's tip,
        # finds nothing to seal and records its run.
        fixed.append(run_hook(r, "post-merge", "0"))
    for case, head in checks.items():
        # A parent without a seal is a gap verify reports (exit 1); only the seal's
        # own problems count here.
        p = r.run(binary, "verify", "--no-cache", "--json", head, check=False)
        codes = {pr.get("code") for pr in json.loads(p.stdout).get("problems", [])}
        if codes - {"unsealed_parent"}:
            sys.exit(f"the seal post-commit wrote after a {case} parent does not verify "
                     f"with --no-cache:\n{p.stdout.decode()}{p.stderr.decode()}")
    print(f"post-commit on {args.files} files, {args.runs} rounds ({binary}):", flush=True)
    for case, target in (("sealed", 0.15), ("unsealed", 0.2)):
        for i, what in ((0, "wall"), (1, "CPU")):
            c = statistics.median(x[i] for x, _ in rows[case])
            h = statistics.median(y[i] for _, y in rows[case])
            ratio = statistics.median(y[i] / x[i] for x, y in rows[case] if x[i] > 0)
            print(f"  {case} parent, {what}: post-commit {h * 1000:.1f} ms; git commit "
                  f"{c * 1000:.1f} ms; ratio {ratio:.3f} (median of rounds; target <= {target})",
                  flush=True)
    for i, what in ((0, "wall"), (1, "CPU")):
        print(f"  a hook that seals nothing (post-merge after a commit), {what}: "
              f"{statistics.median(x[i] for x in fixed) * 1000:.1f} ms", flush=True)
    if args.against:
        other = os.path.abspath(args.against)
        times = {binary: [], other: []}
        for i in range(2 * args.runs):
            for b in ((binary, other) if i % 2 else (other, binary)):
                commit()
                times[b].append(measured(r, b, "hook", "post-commit"))
        print(f"alternating `hook post-commit`, {2 * args.runs} rounds each:", flush=True)
        for i, what in ((0, "wall"), (1, "CPU")):
            this = statistics.median(t[i] for t in times[binary])
            that = statistics.median(t[i] for t in times[other])
            print(f"  {what}: {binary} {this * 1000:.2f} ms; {other} {that * 1000:.2f} ms; "
                  f"ratio {this / that:.3f}", flush=True)


def bench_verify(base, env, args, binary):
    from scale import synthesize  # noqa: E402
    path = os.path.join(base, f"verify-{args.commits}")
    if not os.path.isdir(os.path.join(path, ".git")):
        synthesize(path, env, args.commits, 2_000, 3)
    r = Repo(path, env)
    r.run(binary, "seal", "--missing")
    r.run(binary, "verify", "--all")  # the cache now holds what this machine verified

    def read_ledger():
        notes = r.git("notes", "--ref=seal", "list").stdout
        blobs = b"".join(line.split()[0] + b"\n" for line in notes.splitlines())
        r.git("cat-file", "--batch", stdin=blobs)

    warm, floor = [], []
    for i in range(args.runs):
        for which in ((0, 1) if i % 2 else (1, 0)):
            if which:
                warm.append(timed(r, binary, "verify", "--all"))
            else:
                t = time.perf_counter()
                read_ledger()
                floor.append(time.perf_counter() - t)
    ratio = statistics.median(w / f for w, f in zip(warm, floor))
    print(f"verify --all, warm, {args.commits} commits over 2,000 files, {args.runs} rounds "
          f"({binary}): {statistics.median(warm) * 1000:.1f} ms; reading every seal "
          f"(git notes list + cat-file --batch) {statistics.median(floor) * 1000:.1f} ms; "
          f"ratio {ratio:.2f} (median of rounds)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="all", choices=["post-commit", "verify", "all"])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--commits", type=int, default=2_000)
    ap.add_argument("--bin", default=BIN, help="the git-seal binary to measure")
    ap.add_argument("--against", help="another git-seal binary to alternate with (post-commit)")
    ap.add_argument("--keep", help="build repositories here and keep them")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    if binary == BIN and not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    base = args.keep or tempfile.mkdtemp(prefix="git-seal-bench-")
    os.makedirs(os.path.join(base, "home"), exist_ok=True)
    env = env_for(os.path.join(base, "home"))
    env["PATH"] = os.path.dirname(binary) + ":" + env["PATH"]
    try:
        if args.which in ("post-commit", "all"):
            bench_post_commit(base, env, args, binary)
        if args.which in ("verify", "all"):
            bench_verify(base, env, args, binary)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
