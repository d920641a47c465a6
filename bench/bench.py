#!/usr/bin/env python3
"""git-seal benchmarks: each prints its figure, the baseline, and their ratio.

    python3 bench/bench.py [small|large|ledger|memory|prepush|logread|tags|nofetch|all] [--runs N] [--keep DIR]

Uses target/release/git-seal (built first if missing) and hermetic git config.
Medians over several runs; the machines are noisy. `large` builds a 100,000-file
(~400 MB) repository, `ledger` 1,000 commits on 10,000 files, `memory` a 1 GB file:
they take minutes and need ~2 GB of disk.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "git-seal")


# Linux keeps a process's high-water RSS across exec, so a command's ru_maxrss
# counts the memory of the process that forked it: read from a benchmark's own
# Python, every command's peak was at least that Python's RSS (214 MB on git/git). A
# fresh, small Python starts the command and prints its exit code, its wall time and
# its children's peak RSS (KB): `python3 -c PROBE cmd args...`.
PROBE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
         "print(p.returncode, time.perf_counter() - t, "
         "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def env_for(home, git=None):
    """Hermetic git config, fixed identities, `home` as HOME; `git`: a directory
    whose git comes first on PATH."""
    env = {
        "PATH": (git + ":" if git else "") + os.path.dirname(BIN) + ":" + os.environ.get("PATH", ""),
        "HOME": home,
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "LC_ALL": "C",
    }
    return env


def alternate(cases, runs, step):
    """The benchmark loop: `runs` rounds, each calling `step(i, name, case)` once for
    every case in turn, so drift on a noisy machine falls on every case alike. A step
    returns what it measured: a number (seconds, or a tuple of them) or a dict of
    them by figure. Returns {name: [measured…]}, or {(name, figure): [measured…]}."""
    times = {}
    for i in range(runs):
        for name, case in cases.items():
            got = step(i, name, case)
            for key, value in (got.items() if isinstance(got, dict) else [(None, got)]):
                times.setdefault(name if key is None else (name, key), []).append(value)
    return times


class Repo:
    def __init__(self, path, env):
        self.path, self.env = path, env

    def run(self, *args, stdin=None, check=True):
        p = subprocess.run(args, cwd=self.path, env=self.env, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and p.returncode != 0:
            sys.exit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.decode().strip()}")
        return p

    def git(self, *args, **kw):
        return self.run("git", *args, **kw)

    def timed(self, *args):
        t = time.perf_counter()
        self.run(*args)
        return time.perf_counter() - t


def init(base, name, env):
    path = os.path.join(base, name)
    subprocess.run(["git", "init", "-q", "-b", "main", path], env=env, check=True)
    r = Repo(path, env)
    r.git("config", "user.name", "Bench")
    r.git("config", "user.email", "bench@example.com")
    r.git("config", "gc.auto", "0")  # no background gc racing the measured ones
    return r


def ms(s):
    return f"{s * 1000:.1f} ms"


def report(name, value, unit, target=None, baseline=None, ratio_target=None):
    line = f"{name}: {value:.1f} {unit}"
    if target is not None:
        line += f" (target ≤ {target} {unit})"
    if baseline is not None:
        ratio = value / baseline if baseline else float("inf")
        line += f"; baseline {baseline:.1f} {unit}, ratio {ratio:.3f}"
        if ratio_target is not None:
            line += f" (target ≤ {ratio_target})"
    print(line, flush=True)


def bench_small(base, env, runs):
    """Whole cost the hooks add to `git commit` on a small repository: post-commit
    alone (`install --no-tag-hook`), and every hook git-seal installs (git also runs
    reference-transaction for the branch update: five times per commit)."""
    variants = (("post-commit alone", ["--no-tag-hook"]), ("all hooks", []),
                ("/bin/true as reference-transaction, nothing else", None))
    for label, args in variants:
        r = init(base, f"small-{variants.index((label, args))}", env)
        for i in range(5):
            with open(os.path.join(r.path, f"f{i}.txt"), "w") as f:
                f.write(f"file {i}\n")
        r.git("add", "-A")
        r.git("commit", "-q", "-m", "init")
        if args is None:
            # The floor for any reference-transaction hook: a process that does nothing.
            os.symlink("/bin/true", os.path.join(r.path, ".git", "hooks", "reference-transaction"))
        else:
            r.run(BIN, "install", *args)
            r.run(BIN, "seal")
        with_hooks, without = [], []
        for i in range(runs):
            for hooks in ([True, False] if i % 2 else [False, True]):
                with open(os.path.join(r.path, "f0.txt"), "a") as f:
                    f.write(f"{i}{hooks}\n")
                args_ = ["git"] + ([] if hooks else ["-c", "core.hooksPath=/dev/null"]) + \
                    ["commit", "-q", "-a", "-m", f"c{i}"]
                (with_hooks if hooks else without).append(r.timed(*args_))
        a, b = statistics.median(with_hooks), statistics.median(without)
        report(f"small repo, {label}: git commit with hooks (median)", a * 1000, "ms")
        report(f"small repo, {label}: git commit without hooks (median)", b * 1000, "ms")
        report(f"small repo, {label}: cost the hooks add", (a - b) * 1000, "ms", target=10)


def write_small_tree(root, files=200):
    """`files` small text files spread over ten directories: the repository the
    per-hook benchmarks (config hooks, reftable) commit into."""
    for i in range(files):
        d = os.path.join(root, f"d{i % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * 50)


def write_tree(root, files, size):
    rnd = random.Random(42)
    for i in range(files):
        d = os.path.join(root, f"d{i // 1000:03d}", f"s{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.txt"), "wb") as f:
            f.write(rnd.randbytes(size // 2).hex().encode())


def bench_large(base, env, runs):
    """100,000 files, ~400 MB: first full seal, and the post-commit hook. With
    --keep DIR, a repository already built there is reused."""
    if os.path.isdir(os.path.join(base, "large", ".git")):
        r = Repo(os.path.join(base, "large"), env)
        print("(reusing the 100,000-file repository)", flush=True)
    else:
        r = init(base, "large", env)
        t = time.perf_counter()
        write_tree(r.path, 100_000, 4096)
        r.git("add", "-A")
        r.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "init")
        r.git("gc", "-q")
        print(f"(built the 100,000-file repository in {time.perf_counter() - t:.0f} s)", flush=True)

    baseline, full = [], []
    for _ in range(max(3, runs // 10)):
        baseline.append(r.timed("sh", "-c", "git ls-files -z | xargs -0 -P2 sha256sum > /dev/null"))
        shutil.rmtree(os.path.join(r.path, ".git", "seal"), ignore_errors=True)
        r.git("update-ref", "-d", "refs/notes/seal")
        full.append(r.timed(BIN, "seal", "HEAD"))
    report("100k files: first full seal (cold cache, median)", statistics.median(full), "s",
           baseline=statistics.median(baseline), ratio_target=0.6)
    inflate = [r.timed("sh", "-c", "git cat-file --batch-all-objects --batch > /dev/null")
               for _ in range(3)]
    report("   floor: git cat-file --batch-all-objects (inflating every object, 1 thread)",
           statistics.median(inflate), "s")
    # The same inflating split over two processes, as the seal spreads its hashing
    # over the two cores: what no reader of this repository's objects goes under.
    ids = r.git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)").stdout.split()
    halves = []
    for i in range(2):
        halves.append(os.path.join(base, f"large-ids-{i}"))
        with open(halves[-1], "wb") as f:
            f.write(b"\n".join(ids[i::2]) + b"\n")
    two = [r.timed("sh", "-c", f"git cat-file --batch < {halves[0]} > /dev/null & "
                               f"git cat-file --batch < {halves[1]} > /dev/null; wait")
           for _ in range(3)]
    report("   floor: the same on 2 processes (median)", statistics.median(two), "s")
    report("100k files: first full seal beside that floor", statistics.median(full), "s",
           baseline=statistics.median(two))

    r.run(BIN, "install")
    r.run(BIN, "seal", "--missing")
    hook = os.path.join(r.path, ".git", "hooks", "post-commit")
    commits, hooks, spawns, with_hooks = [], [], [], []
    for i in range(runs):
        with open(os.path.join(r.path, "d000", "s0", "f000000.txt"), "a") as f:
            f.write(f"change {i}\n")
        commits.append(r.timed("git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-a", "-m", f"c{i}"))
        hooks.append(r.timed(hook))
        spawns.append(r.timed("/bin/true"))
        with open(os.path.join(r.path, "d000", "s0", "f000001.txt"), "a") as f:
            f.write(f"change {i}\n")
        with_hooks.append(r.timed("git", "commit", "-q", "-a", "-m", f"h{i}"))
    c, h, sp = statistics.median(commits), statistics.median(hooks), statistics.median(spawns)
    report("100k files: git commit (hooks off, median)", c * 1000, "ms")
    report("100k files: post-commit hook wall time (median, run as a process from this script)",
           h * 1000, "ms", target=50, baseline=c * 1000, ratio_target=0.15)
    report("   of which this script's own cost of starting a process (/bin/true, median)", sp * 1000, "ms")
    report("100k files: cost hooks add to git commit (median with - median without)",
           (statistics.median(with_hooks) - c) * 1000, "ms", baseline=c * 1000, ratio_target=0.15)
    r.run(BIN, "verify", f"HEAD~{2 * runs}..HEAD")

    # Snapshot (tag, seal with the evtag checksum over every object, frozen manifest
    # JSON and checksum file), against the first full seal measured above.
    snaps = [r.timed(BIN, "snapshot", f"bench{i}") for i in range(3)]
    report("100k files: snapshot (median)", statistics.median(snaps), "s",
           baseline=statistics.median(full))


def bench_ledger(base, env, runs):
    """Bytes the ledger adds to .git after 1,000 sealed commits on a 10,000-file repo."""
    r = init(base, "ledger", env)
    write_tree(r.path, 10_000, 512)
    r.git("add", "-A")
    r.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "init")
    r.run(BIN, "seal", "HEAD")
    # 1,000 commits touching one file each, made fast by fast-import.
    head = r.git("rev-parse", "HEAD").stdout.decode().strip()
    stream = []
    for i in range(1000):
        data = f"edit {i}\n"
        stream.append(f"commit refs/heads/main\ncommitter B <b@x> {1_700_000_000 + i} +0000\n"
                      f"data 1\nc\n{'from ' + head + chr(10) if i == 0 else ''}"
                      f"M 644 inline d{i % 10:03d}/s0/f{i % 10 * 1000:06d}.txt\ndata {len(data)}\n{data}\n")
    r.git("fast-import", "--quiet", stdin="".join(stream).encode())
    r.git("reset", "-q", "--hard", "main")
    commits = r.git("rev-list", "--reverse", "HEAD~1000..HEAD").stdout.decode().split()
    r.git("gc", "-q")
    t = time.perf_counter()
    for c in commits:  # one append per commit, as the hook does
        r.run(BIN, "seal", c)
    per = (time.perf_counter() - t) / len(commits)
    r.git("gc", "-q")
    objs = r.git("rev-list", "--objects", "refs/notes/seal").stdout.decode().split("\n")
    ids = "\n".join(line.split(" ")[0] for line in objs if line).encode()
    sizes = r.git("cat-file", "--batch-check=%(objectsize:disk)", stdin=ids).stdout.decode().split()
    ledger = sum(int(s) for s in sizes)
    report("ledger: bytes on disk after 1,000 sealed commits + gc", ledger / 1e6, "MB", target=2)
    report("ledger: per-commit seal (one process each)", per * 1000, "ms")
    r.run(BIN, "verify", "HEAD~1000..HEAD")


def bench_prepush(base, env, runs):
    """pre-push of 1,000 new commits (~5 files each), at two repository sizes, and
    pre-push when nothing new is pushed. Times the gate (seal.push=off: pushing the
    ledger is a transfer the user asked for, not a check)."""
    for files in (10_000, 50_000):
        r = init(base, f"prepush-{files}", env)
        write_tree(r.path, files, 256)
        r.git("add", "-A")
        r.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "init")
        server = os.path.join(base, f"prepush-{files}.git")
        subprocess.run(["git", "init", "-q", "--bare", server], env=env, check=True)
        r.git("remote", "add", "origin", server)
        r.run(BIN, "install")
        r.git("config", "seal.push", "off")
        r.run(BIN, "seal")
        r.git("push", "-q", "origin", "main")
        old = r.git("rev-parse", "HEAD").stdout.decode().strip()
        stream = []
        for i in range(1000):
            stream.append(f"commit refs/heads/main\ncommitter B <b@x> {1_700_000_000 + i} +0000\n"
                          f"data 1\nc\n{'from ' + old + chr(10) if i == 0 else ''}")
            for k in range(5):
                n = (i * 5 + k) * 7 % files
                data = f"edit {i} {k}\n"
                stream.append(f"M 644 inline d{n // 1000:03d}/s{(n // 100) % 10}/f{n:06d}.txt\n"
                              f"data {len(data)}\n{data}")
            stream.append("\n")
        r.git("fast-import", "--quiet", stdin="".join(stream).encode())
        r.git("reset", "-q", "--hard", "main")
        r.run(BIN, "seal", "--missing")
        new = r.git("rev-parse", "HEAD").stdout.decode().strip()
        hook = os.path.join(r.path, ".git", "hooks", "pre-push")
        line = f"refs/heads/main {new} refs/heads/main {old}\n".encode()
        times = []
        for _ in range(max(3, runs // 4)):
            t = time.perf_counter()
            p = subprocess.run([hook, "origin", server], cwd=r.path, env=env, input=line,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t)
            assert p.returncode == 0, p.stderr.decode()
        report(f"pre-push, 1,000 new commits, {files:,}-file repo (median)",
               statistics.median(times), "s", target=2)
        r.git("push", "-q", "origin", "main")
        nothing = f"refs/heads/main {new} refs/heads/main {new}\n".encode()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([hook, "origin", server], cwd=r.path, env=env, input=nothing, check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t)
        report(f"pre-push, nothing new, {files:,}-file repo (median)",
               statistics.median(times) * 1000, "ms", target=20)


def bench_logread(base, env, runs):
    """`git seal log` (table and --json) over 100,000 run records."""
    r = init(base, "logread", env)
    os.makedirs(os.path.join(r.path, ".git", "seal"), exist_ok=True)
    with open(os.path.join(ROOT, "tests", "fixtures", "runs-v1.jsonl")) as f:
        record = f.readline()
    with open(os.path.join(r.path, ".git", "seal", "runs.jsonl"), "w") as f:
        f.write(record * 100_000)
    for args in (["log"], ["log", "--json"]):
        times = [r.timed(BIN, *args) for _ in range(5)]
        report(f"git seal {' '.join(args)} over 100,000 records (median)",
               statistics.median(times), "s", target=1)


def bench_tags(base, env, runs):
    """reference-transaction hook on a non-tag update: wall per call, called as git
    calls it, and the whole cost it adds to `git update-ref` of a branch."""
    r = init(base, "tags", env)
    r.git("commit", "-q", "--allow-empty", "-m", "x")
    r.run(BIN, "install")
    hook = os.path.join(r.path, ".git", "hooks", "reference-transaction")
    empty = os.path.join(base, "empty-hook.sh")
    with open(empty, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(empty, 0o755)
    head = r.git("rev-parse", "HEAD").stdout.decode().strip()

    def median_ms(script, state, stdin, n):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            subprocess.run([script, state], cwd=r.path, env=env, input=stdin, check=True)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1000

    line = f"{'0' * 40} {head} refs/heads/feature\n".encode()
    for state in ("prepared", "committed"):
        report(f"reference-transaction hook, branch update, {state} (median)",
               median_ms(hook, state, line, runs * 5), "ms", target=5)
    report("   floor: an empty sh script run the same way (median)",
           median_ms(empty, "committed", line, runs * 5), "ms")
    # One transaction of 500 branch updates (`git update-ref --stdin`; from git 2.51
    # a fetch too): the shim reads all 500 lines, as sh does, byte by byte.
    batch = "".join(f"{'0' * 40} {head} refs/heads/batch{j}\n" for j in range(500)).encode()
    report("reference-transaction hook, one committed transaction of 500 branches (median)",
           median_ms(hook, "committed", batch, runs), "ms",
           baseline=median_ms(empty, "committed", batch, runs))
    on, off = [], []
    for i in range(runs * 3):
        on.append(r.timed("git", "update-ref", f"refs/heads/on{i}", head))
        off.append(r.timed("git", "-c", "core.hooksPath=/dev/null", "update-ref", f"refs/heads/off{i}", head))
    report("git update-ref of a branch: cost the hooks add (median)",
           (statistics.median(on) - statistics.median(off)) * 1000, "ms")
    bench_fetch(base, env, r, empty)


def bench_fetch(base, env, src, empty_hook):
    """`git fetch` of 500 new branches: without a hook, with an empty sh hook (what git
    charges for any reference-transaction hook: 2.47 runs it twice per fetched ref),
    and with git-seal's. Fresh repositories, interleaved; runs made side by side are
    compared round by round, which a noisy machine moves least."""
    src.git("update-ref", "--stdin",
            stdin="".join(f"create refs/heads/b{i} HEAD\n" for i in range(500)).encode())
    times = {"none": [], "empty": [], "git-seal": []}
    for i in range(9):
        for j, variant in enumerate(times):
            r = init(base, f"fetch-{i}-{j}", env)
            if variant == "empty":
                os.symlink(empty_hook, os.path.join(r.path, ".git", "hooks", "reference-transaction"))
            elif variant == "git-seal":
                r.run(BIN, "install")
            times[variant].append(r.timed("git", "fetch", "-q", src.path, "refs/heads/*:refs/remotes/o/*"))
    none, floor, seal = (statistics.median(times[v]) for v in times)
    report("git fetch of 500 branches, no hook (median)", none * 1000, "ms")
    report("git fetch of 500 branches, empty sh hook (median)", floor * 1000, "ms")
    report("git fetch of 500 branches, git-seal's hook (median)", seal * 1000, "ms",
           baseline=floor * 1000)
    report("   git-seal's hook per fetched ref, over no hook", (seal - none) * 1000 / 500, "ms")
    ratios = [s / f for s, f in zip(times["git-seal"], times["empty"])]
    print(f"   git-seal's hook to the empty hook, median of the rounds' ratios: "
          f"{statistics.median(ratios):.3f}", flush=True)


def bench_memory(base, env, runs):
    """Peak memory sealing a commit that holds one 1 GB file."""
    r = init(base, "memory", env)
    chunk = random.Random(7).randbytes(1 << 20)
    with open(os.path.join(r.path, "big.bin"), "wb") as f:
        for _ in range(1024):
            f.write(chunk)
    r.git("add", "big.bin")
    r.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "big")
    # Measured through PROBE, so that only the seal and what it runs (git cat-file)
    # count, not this Python nor the `git add` above.
    code, took, peak_kb = r.run(sys.executable, "-c", PROBE, BIN, "seal", "HEAD").stdout.decode().split()
    if code != "0":
        sys.exit(f"git seal seal HEAD failed ({code})")
    report("1 GB file: peak RSS of the seal and its children", int(peak_kb) / 1024, "MB", target=100)
    report("1 GB file: seal wall time", float(took), "s")


def bench_nofetch(base, env, runs):
    """Issue 9: `git fetch` from a remote that has no ledger, in a clone with git-seal
    installed and in one without: the same exit code, and the time git-seal adds.
    Each round pushes one new commit upstream, then fetches it into both clones
    (alternating which goes first); the rounds' ratios are compared one by one."""
    up = init(base, "nofetch-up", env)
    for i in range(50):
        up.git("commit", "-q", "--allow-empty", "-m", f"c{i}")
    clones = {}
    for name in ("plain", "git-seal"):
        path = os.path.join(base, f"nofetch-{name}")
        subprocess.run(["git", "clone", "-q", up.path, path], env=env, check=True)
        clones[name] = Repo(path, env)
    clones["git-seal"].run(BIN, "install")
    wall = {"plain": [], "git-seal": []}
    cpu = {"plain": [], "git-seal": []}
    codes = set()
    for i in range(max(runs, 9)):
        up.git("commit", "-q", "--allow-empty", "-m", f"round {i}")
        order = list(clones) if i % 2 == 0 else list(reversed(clones))
        for name in order:
            before = os.times()
            t = time.perf_counter()
            p = clones[name].run("git", "fetch", "-q", check=False)
            wall[name].append(time.perf_counter() - t)
            after = os.times()
            cpu[name].append(after.children_user + after.children_system
                             - before.children_user - before.children_system)
            codes.add((name, p.returncode))
    print(f"exit codes: {sorted(codes)}")
    for what, times in (("wall", wall), ("CPU (user+sys, git and its children)", cpu)):
        plain, seal = (statistics.median(times[v]) for v in ("plain", "git-seal"))
        report(f"git fetch, remote without a ledger, plain clone, {what} (median)",
               plain * 1000, "ms")
        report(f"git fetch, remote without a ledger, git-seal installed, {what} (median)",
               seal * 1000, "ms", baseline=plain * 1000, ratio_target=1.05)
        ratios = [s / p for s, p in zip(times["git-seal"], times["plain"]) if p > 0]
        print(f"   median of the rounds' ratios: {statistics.median(ratios):.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="small",
                    choices=["small", "large", "ledger", "memory", "prepush", "logread", "tags",
                             "nofetch", "all"])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--keep", help="build repositories here and keep them")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    base = args.keep or tempfile.mkdtemp(prefix="git-seal-bench-")
    os.makedirs(os.path.join(base, "home"), exist_ok=True)
    env = env_for(os.path.join(base, "home"))
    try:
        todo = ["small", "large", "ledger", "memory", "prepush", "logread", "tags", "nofetch"] if args.which == "all" else [args.which]
        for name in todo:
            globals()[f"bench_{name}"](base, env, args.runs)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
