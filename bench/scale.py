#!/usr/bin/env python3
"""Scale benchmark (issue 14): backfill and full-history verify beside the floor.

    python3 bench/scale.py [--commits N] [--files N] [--changes N] [--runs N]
                           [--clone PATH] [--keep DIR] [--push]

Builds a synthetic history with `git fast-import` (default 20,000 commits over
10,000 files, three files changed per commit), or takes a real repository with
`--clone PATH` (cloned with --no-local, then `git repack -ad`), and prints, measured
in the same run:

- the floor, in two parts: objects (every object inflated and SHA-256-hashed once:
  `git cat-file --batch-all-objects --batch --unordered | openssl dgst -sha256`) and
  manifests (OpenSSL's SHA-256 over as many bytes as all the commits' canonical
  listings hold: a cost the manifest format forces);
- `git seal seal --missing` (the backfill) with its peak RSS;
- full `verify`, cold (`--no-cache`) and warm, with peak RSS;
- with `--push`, pushing the sealed history whole to a freshly gated bare server,
  with the time of the client's pre-push and of each of the server's pre-receive
  runs read from their run logs (`seal/runs.jsonl`), beside a push with no hooks;
  then 1,000 more sealed commits pushed onto that server's ledger (pre-receive
  target: 5 s whatever the ledger's size);

each with its ratio to the floor. Medians over `--runs` runs (default 3) for the
floors and the warm verify; backfill and cold verify each start from a fresh copy.
Uses target/release/git-seal (built first if missing) and hermetic git config.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# GIT_SEAL_BIN measures another build (a baseline) with the same history.
BIN = os.environ.get("GIT_SEAL_BIN") or os.path.join(ROOT, "target", "release", "git-seal")


# The hermetic environment every benchmark uses (bench.py is beside this file).
from bench import PROBE, env_for  # noqa: E402


def run(args, cwd, env, stdin=None, check=True):
    p = subprocess.run(args, cwd=cwd, env=env, input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.decode(errors='replace').strip()[-2000:]}")
    return p


def measured(args, cwd, env, check=True):
    """Wall seconds and peak RSS (MB) of one command, children included (the largest
    of them: ru_maxrss through a small wrapper, see PROBE)."""
    p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode(errors="replace")
    try:
        code, wall, peak_kb = p.stdout.decode().split()
    except ValueError:
        sys.exit(f"{' '.join(args)}: the measuring wrapper failed: {err.strip()[-2000:]}")
    if check and int(code) != 0:
        sys.exit(f"{' '.join(args)} failed ({code}): {err.strip()[-2000:]}")
    return float(wall), int(peak_kb) / 1024


def entry_len(path, size):
    # <mode 6> SP <sha256 hex 64> SP <size> SP <path> NUL
    return 6 + 1 + 64 + 1 + len(str(size)) + 1 + len(path) + 1


def synthesize(path, env, commits, files, changes):
    """A linear history through fast-import; returns the total bytes of every
    commit's canonical manifest listing, tracked as the history is written."""
    subprocess.run(["git", "init", "-q", "-b", "main", path], env=env, check=True)
    run(["git", "config", "gc.auto", "0"], path, env)
    rnd = random.Random(14)
    names = [f"d{i // 1000:03d}/s{(i // 100) % 10}/f{i:06d}.txt".encode() for i in range(files)]
    sizes = [0] * files
    listing = 0
    out = []
    mark = 0

    def blob(data):
        nonlocal mark
        mark += 1
        out.append(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
        out.append(data)
        out.append(b"\n")
        return mark

    when = 1_700_000_000
    current = 0  # the listing length of the commit being written
    for c in range(commits):
        touched = range(files) if c == 0 else rnd.sample(range(files), changes)
        mods = []
        for i in touched:
            data = (b"%d %d " % (c, i)) + rnd.randbytes(rnd.randint(100, 900)).hex().encode()
            if c > 0:
                current -= entry_len(names[i], sizes[i])
            sizes[i] = len(data)
            current += entry_len(names[i], sizes[i])
            mods.append((i, blob(data)))
        out.append(b"commit refs/heads/main\n")
        out.append(b"committer Bench <bench@example.com> %d +0000\n" % (when + c * 60))
        msg = b"commit %d\n" % c
        out.append(b"data %d\n%s" % (len(msg), msg))
        for i, m in mods:
            out.append(b"M 100644 :%d %s\n" % (m, names[i]))
        out.append(b"\n")
        listing += current
        if len(out) > 20000:
            _feed(path, env, b"".join(out))
            out.clear()
    _feed(path, env, b"".join(out), done=True)
    run(["git", "checkout", "-q", "main"], path, env)
    return listing


_importer = {}


def _feed(path, env, data, done=False):
    p = _importer.get(path)
    if p is None:
        p = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, env=env, stdin=subprocess.PIPE)
        _importer[path] = p
    p.stdin.write(data)
    if done:
        p.stdin.close()
        if p.wait() != 0:
            sys.exit("git fast-import failed")
        del _importer[path]


def listing_bytes(path, env):
    """The total bytes of every commit's canonical listing in a real history: each
    commit's listing is its first parent's plus the first-parent diff."""
    sizes = {}
    for line in run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
                    path, env).stdout.split(b"\n"):
        parts = line.split(b" ")
        if len(parts) == 3 and parts[1] == b"blob":
            sizes[parts[0]] = int(parts[2])
    order = run(["git", "rev-list", "--topo-order", "--reverse", "--parents", "HEAD"], path, env).stdout.split(b"\n")
    order = [l.split(b" ") for l in order if l]
    stdin = b"".join(b"%s %s\n" % (l[0], l[1]) if len(l) > 1 else b"%s\n" % l[0] for l in order)
    diff = run(["git", "diff-tree", "--stdin", "-r", "--root", "--no-renames", "--raw", "-z"], path, env,
               stdin=stdin).stdout
    by_path = {}
    current = 0
    total = 0
    # diff-tree --stdin prints "<commit>\0" then raw records for each input line, in order.
    fields = diff.split(b"\0")
    i = 0
    prev_commit = None
    while i < len(fields):
        f = fields[i]
        if len(f) in (40, 64) and not f.startswith(b":"):
            if prev_commit is not None:
                total += current
            prev_commit = f
            i += 1
            continue
        if not f.startswith(b":"):
            i += 1
            continue
        meta = f[1:].split(b" ")
        new_mode, new_oid, status = meta[1], meta[3], meta[4]
        p = fields[i + 1]
        i += 2
        old = by_path.pop(p, 0)
        current -= old
        if status != b"D":
            size = 0 if new_mode == b"160000" else sizes.get(new_oid, 0)
            n = entry_len(p, size)
            by_path[p] = n
            current += n
    if prev_commit is not None:
        total += current
    return total


def floor_objects(path, env, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        cat = subprocess.Popen(["git", "cat-file", "--batch-all-objects", "--batch", "--unordered"],
                               cwd=path, env=env, stdout=subprocess.PIPE)
        subprocess.run(["openssl", "dgst", "-sha256"], stdin=cat.stdout, stdout=subprocess.DEVNULL, check=True)
        cat.stdout.close()
        cat.wait()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def floor_manifests(total_bytes, runs):
    """OpenSSL SHA-256 over total_bytes (from a 64 MiB buffer fed repeatedly)."""
    chunk = os.urandom(64 << 20)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.Popen(["openssl", "dgst", "-sha256"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        view, left = memoryview(chunk), total_bytes
        while left > 0:
            n = min(left, len(chunk))
            p.stdin.write(view[:n])
            left -= n
        p.stdin.close()
        p.wait()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sha256_rate(runs):
    """OpenSSL's in-memory SHA-256 rate (bytes/s; `openssl speed`, 1 MiB blocks): the
    manifests floor without the pipe the recipe above pays for, so the stricter one."""
    rates = []
    for _ in range(runs):
        out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", str(1 << 20), "-seconds", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout.decode()
        last = [l for l in out.splitlines() if l.startswith("sha256")][-1]
        rates.append(float(last.split()[-1].rstrip("k")) * 1000)
    return statistics.median(rates)


def fresh_copy(src, dst, env):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


STRICT = None  # the floor with the manifests part hashed in memory, set by main


def line(name, seconds, floor, rss=None, target=None):
    s = f"{name}: {seconds:.2f} s; floor {floor:.2f} s; ratio {seconds / floor:.2f}"
    if target:
        s += f" (target ≤ {target})"
    if STRICT:
        s += f"; strict floor {STRICT:.2f} s, ratio {seconds / STRICT:.2f}"
    if rss is not None:
        s += f"; peak RSS {rss:.0f} MB"
    print(s, flush=True)


def branch_of(path, env):
    return run(["git", "symbolic-ref", "--short", "HEAD"], path, env).stdout.decode().strip()


def extend(path, env, commits):
    """`commits` more commits on the current branch, each changing one of 50 small files."""
    ref = b"refs/heads/" + branch_of(path, env).encode()
    out = [b"reset %s\nfrom %s^0\n" % (ref, ref)]
    when = int(run(["git", "log", "-1", "--format=%ct", "HEAD"], path, env).stdout) + 60
    for c in range(commits):
        data = b"extra commit %d\n" % c
        msg = b"extra %d\n" % c
        out.append(b"commit %s\n" % ref)
        out.append(b"committer Bench <bench@example.com> %d +0000\n" % (when + c * 60))
        out.append(b"data %d\n%s" % (len(msg), msg))
        out.append(b"M 100644 inline bench-extra/f%02d.txt\ndata %d\n%s\n" % (c % 50, len(data), data))
    _feed(path, env, b"".join(out), done=True)
    run(["git", "reset", "-q", "--hard", ref.decode()], path, env)


def hook_runs(repo, env, hook, since):
    """Seconds each `hook` run took in repo's own run log, for runs started at or
    after `since` (RFC 3339), read through `git seal log`, the log's one reader."""
    out = run([BIN, "log", "--local", "--hook", hook, "--since", since, "--json"], repo, env).stdout
    took = []
    for line in out.splitlines():
        r = json.loads(line)
        if r.get("status") != "SUCCESS":
            sys.exit(f"{hook} in {repo} did not succeed: {line.decode(errors='replace')}")
        start, end = (datetime.fromisoformat(r[k].replace("Z", "+00:00")) for k in ("started_at", "finished_at"))
        took.append((end - start).total_seconds())
    return took


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def push_figures(base, work, env, floor):
    """The gate's cost: the whole sealed history to a fresh gated server, then 1,000
    more commits onto the ledger it holds. Each hook's time is read from its run log."""
    hooks_off = ["-c", "core.hooksPath=/dev/null"]
    branch = branch_of(work, env)
    plain = os.path.join(base, "plain.git")
    server = os.path.join(base, "server.git")
    for bare in (plain, server):
        shutil.rmtree(bare, ignore_errors=True)
        run(["git", "init", "-q", "--bare", bare], base, env)
    run([BIN, "install", "--server"], server, env)
    for name, url in (("plain", plain), ("gated", server)):
        run(["git", "remote", "remove", name], work, env, check=False)
        run(["git", "remote", "add", name, url], work, env)
    run([BIN, "install"], work, env)
    wall, _ = measured(["git", *hooks_off, "push", "-q", "plain", branch, "refs/notes/seal"], work, env)
    print(f"push, no hooks anywhere (the transfer alone): {wall:.2f} s", flush=True)

    since = now_iso()
    wall, rss = measured(["git", "push", "-q", "gated", branch], work, env)
    pre_push = hook_runs(work, env, "pre-push", since)
    pre_receive = hook_runs(server, env, "pre-receive", since)
    print(f"push whole sealed history to a fresh gated server: {wall:.2f} s in all; peak RSS {rss:.0f} MB",
          flush=True)
    # pre-push pushes the ledger first, in a push of its own that the server's
    # pre-receive checks: that part of pre-push is the server's, shown apart.
    nested = pre_receive[0] if len(pre_receive) > 1 else 0.0
    line("  client pre-push (reusing what this machine verified), its ledger push excluded",
         pre_push[-1] - nested, floor, target=2)
    for i, t in enumerate(pre_receive):
        what = "the ledger" if i == 0 and len(pre_receive) > 1 else "the branch"
        line(f"  server pre-receive on {what}", t, floor, target=2)

    extend(work, env, 1000)
    run([BIN, "seal", "--missing"], work, env)
    since = now_iso()
    wall, _ = measured(["git", "push", "-q", "gated", branch], work, env)
    runs = hook_runs(server, env, "pre-receive", since)
    print(f"1,000 more sealed commits onto that ledger: push {wall:.2f} s in all; server pre-receive runs "
          f"{', '.join(f'{t:.2f} s' for t in runs)}; slowest {max(runs):.2f} s (target <= 5 s)", flush=True)
    run([BIN, "verify", "--no-cache", f"{branch}~1000..{branch}"], server, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=20_000)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clone", help="measure a real repository (path or URL) instead of a synthetic one")
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--push", action="store_true", help="also push the sealed history to a fresh gated server")
    a = ap.parse_args()

    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    base = a.keep or tempfile.mkdtemp(prefix="git-seal-scale-")
    os.makedirs(base, exist_ok=True)
    home = os.path.join(base, "home")
    os.makedirs(home, exist_ok=True)
    env = env_for(home)
    pristine = os.path.join(base, "pristine")
    if not os.path.isdir(pristine):
        t = time.perf_counter()
        if a.clone:
            run(["git", "clone", "-q", "--no-local", a.clone, pristine], base, env)
            run(["git", "config", "gc.auto", "0"], pristine, env)
            run(["git", "repack", "-adq"], pristine, env)
            listing = listing_bytes(pristine, env)
        else:
            listing = synthesize(pristine, env, a.commits, a.files, a.changes)
            run(["git", "repack", "-adq"], pristine, env)
        with open(os.path.join(base, "listing-bytes"), "w") as f:
            f.write(str(listing))
        print(f"(built the history in {time.perf_counter() - t:.0f} s)", flush=True)
    with open(os.path.join(base, "listing-bytes")) as f:
        listing = int(f.read())
    commits = int(run(["git", "rev-list", "--count", "HEAD"], pristine, env).stdout)
    files = len(run(["git", "ls-tree", "-r", "--name-only", "-z", "HEAD"], pristine, env).stdout.split(b"\0")) - 1
    print(f"history: {commits} commits, {files} files at HEAD, {listing / 1e9:.2f} GB of canonical listings",
          flush=True)

    objects = floor_objects(pristine, env, a.runs)
    manifests = floor_manifests(listing, a.runs)
    floor = objects + manifests
    print(f"floor: objects {objects:.2f} s + manifests {manifests:.2f} s = {floor:.2f} s", flush=True)
    global STRICT
    in_memory = listing / sha256_rate(a.runs)
    STRICT = objects + in_memory
    print(f"strict floor: objects {objects:.2f} s + manifests hashed in memory {in_memory:.2f} s "
          f"(openssl speed) = {STRICT:.2f} s", flush=True)

    # Backfill and cold verify: each run on a fresh copy, the median shown.
    backfills = []
    for _ in range(a.runs):
        work = fresh_copy(pristine, os.path.join(base, "work"), env)
        run([BIN, "install"], work, env)
        backfills.append(measured([BIN, "seal", "--missing"], work, env))
    line(f"backfill (seal --missing, median of {a.runs})", statistics.median(w for w, _ in backfills), floor,
         max(r for _, r in backfills), target=2)

    all_flag = b"--all" in run([BIN, "verify", "--help"], work, env).stdout
    target = ["--all"] if all_flag else ["HEAD", run(["git", "rev-list", "--max-parents=0", "HEAD"], work, env)
                                         .stdout.decode().split()[0] + "..HEAD"]
    nocache = [measured([BIN, "verify", "--no-cache", *target], work, env) for _ in range(a.runs)]
    line(f"full verify, --no-cache (median of {a.runs})", statistics.median(w for w, _ in nocache), floor,
         max(r for _, r in nocache), target=2)
    cold = []
    for _ in range(a.runs):
        shutil.rmtree(os.path.join(work, ".git", "seal", "cache"), ignore_errors=True)
        cold.append(measured([BIN, "verify", *target], work, env))
    line(f"full verify, cold cache (median of {a.runs})", statistics.median(w for w, _ in cold), floor,
         max(r for _, r in cold), target=2)
    warm = [measured([BIN, "verify", *target], work, env) for _ in range(a.runs)]
    line("full verify, warm cache (median)", statistics.median(w for w, _ in warm), floor,
         max(r for _, r in warm), target=0.3)

    if a.push:
        push_figures(base, work, env, floor)
    if not a.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
