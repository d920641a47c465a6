#!/usr/bin/env python3
"""The server's append-only rule costs what a push changes, not the ledger's size.

    python3 bench/ledger_rule.py [--runs N] [--keep DIR]

Two bare servers gated with `git seal install --server`, one whose ledger holds 100
seals and one with 100,000 (fake notes for commits that do not exist, built with
git fast-import; the rule reads trees, not commits). Each receives the same push: 10
new commits, really sealed by post-commit, and the ledger. Measured, median of
--runs, interleaved so that drift hits both sizes alike:

- pre-receive alone (`git seal hook pre-receive` run in the server as a sealed push
  runs it: the append-only rule on the ledger update, then the gate on the branch
  against the ledger that update landed), wall and CPU time (CPU moves less when
  other work shares the machine);
- the whole `git push origin main` (client pre-push, transfer, server pre-receive);
- the same push of main and the ledger with no hook on either side: what git itself
  costs at each size, the floor the hooks add to.

Prints each figure at both sizes and the ratio 100,000 / 100 (target <= 1.5).
"""
import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, Repo, env_for, init  # noqa: E402


def rev(r, name):
    return r.git("rev-parse", name).stdout.decode().strip()


def build(base, env, seals, rng):
    """A gated server whose ledger holds `seals` seals, and a client with 10 sealed
    commits on top that the server has not seen. Returns (server, client, refs)."""
    srv_path = os.path.join(base, f"server-{seals}.git")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", srv_path], env=env, check=True)
    server = Repo(srv_path, env)
    server.run(BIN, "install", "--server")
    subprocess.run(["git", "clone", "-q", srv_path, os.path.join(base, f"client-{seals}")],
                   env=env, check=True, stderr=subprocess.DEVNULL)
    client = Repo(os.path.join(base, f"client-{seals}"), env)
    client.git("config", "user.name", "Bench")
    client.git("config", "user.email", "bench@example.com")
    client.git("config", "gc.auto", "0")
    client.run(BIN, "install")
    with open(os.path.join(client.path, "f"), "w") as f:
        f.write("base\n")
    client.git("add", "f")
    client.git("commit", "-q", "-m", "base")
    client.git("push", "-q", "origin", "main")
    # The ledger grows to `seals` notes, the real seal among them, fanned out as
    # git-seal's writer leaves it: a level is split in 2-hex subtrees past 256 notes.
    depth, per = 0, seals
    while per > 256:
        depth, per = depth + 1, per / 256

    def path(hexid):
        return "/".join([hexid[2 * i:2 * i + 2] for i in range(depth)] + [hexid[2 * depth:]])

    real = [line.split() for line in
            client.git("ls-tree", "-r", "refs/notes/seal").stdout.decode().splitlines()]
    lines = [f"commit refs/notes/seal\ncommitter B <b@x> 1700000000 +0000\ndata 5\nbulk\n"
             f"from {rev(client, 'refs/notes/seal')}\ndeleteall\n"]
    for mode, _, oid, name in real:
        name = name.replace("/", "")
        lines.append(f"M {mode} {oid} {path(name)}\n")
    for i in range(seals - len(real)):
        hexid = "%040x" % rng.getrandbits(160)
        data = f"schema: git-seal/seal/v1\nkind: commit\ncommit: {hexid}\n"
        lines.append(f"M 100644 inline {path(hexid)}\ndata {len(data)}\n{data}")
    lines.append("\n")
    client.git("fast-import", "--quiet", stdin="".join(lines).encode())
    client.run(BIN, "push")
    client.git("gc", "-q")
    server.git("gc", "-q")
    old = {"main": rev(client, "main"), "ledger": rev(client, "refs/notes/seal")}
    for i in range(10):
        with open(os.path.join(client.path, "f"), "a") as f:
            f.write(f"edit {i}\n")
        client.git("commit", "-q", "-am", f"edit {i}")
    new = {"main": rev(client, "main"), "ledger": rev(client, "refs/notes/seal")}
    count = client.git("ls-tree", "-r", "--name-only", "refs/notes/seal").stdout.decode().count("\n")
    assert count >= seals + 10, count
    # One push so that the server has the objects the direct pre-receive runs need.
    client.git("push", "-q", "origin", "main")
    assert rev(server, "refs/notes/seal") == new["ledger"]
    return server, client, old, new


def reset(server, client, old):
    server.git("update-ref", "refs/heads/main", old["main"])
    server.git("update-ref", "refs/notes/seal", old["ledger"])
    client.git("update-ref", "refs/remotes/origin/main", old["main"])
    client.git("update-ref", "refs/seal/remotes/origin/seal", old["ledger"])


def pre_receive(server, old, new):
    """The two pre-receive runs a sealed push makes (pre-push sends the ledger first,
    then the branch, which the server gates on the ledger it already holds): the
    append-only rule on the ledger update, then the gate on the branch. Wall and CPU
    are the sum of the two hook runs."""
    wall = cpu = 0.0
    updates = ((f"{old['ledger']} {new['ledger']} refs/notes/seal\n", "refs/notes/seal", new["ledger"]),
               (f"{old['main']} {new['main']} refs/heads/main\n", "refs/heads/main", new["main"]))
    for stdin, ref, target in updates:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        p = subprocess.run([BIN, "hook", "pre-receive"], cwd=server.path, env=server.env,
                           input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall += time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert p.returncode == 0, p.stderr.decode()
        cpu += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        # What git does once pre-receive accepts: the ref moves.
        server.git("update-ref", ref, target)
    return wall, cpu


def push(client, server, new):
    t = time.perf_counter()
    client.git("push", "-q", "origin", "main")
    took = time.perf_counter() - t
    assert rev(server, "refs/notes/seal") == new["ledger"]
    return took


def plain_push(client, server, new):
    """The same push with no hook on either side: what git itself costs."""
    server.git("config", "core.hooksPath", "/dev/null")
    t = time.perf_counter()
    client.git("-c", "core.hooksPath=/dev/null", "push", "-q", "origin", "main", "refs/notes/seal")
    took = time.perf_counter() - t
    server.git("config", "--unset", "core.hooksPath")
    assert rev(server, "refs/notes/seal") == new["ledger"]
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--keep", help="build repositories here and keep them")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"],
                       cwd=os.path.dirname(os.path.dirname(BIN)) + "/..", check=True)
    base = args.keep or tempfile.mkdtemp(prefix="git-seal-bench-rule-")
    os.makedirs(os.path.join(base, "home"), exist_ok=True)
    env = env_for(os.path.join(base, "home"))
    rng = random.Random(7)
    try:
        sizes = (100, 100_000)
        setups = {n: build(base, env, n, rng) for n in sizes}
        hook = {n: [] for n in sizes}
        hook_cpu = {n: [] for n in sizes}
        e2e = {n: [] for n in sizes}
        plain = {n: [] for n in sizes}
        for _ in range(args.runs):
            for n in sizes:
                server, client, old, new = setups[n]
                reset(server, client, old)
                wall, cpu = pre_receive(server, old, new)
                hook[n].append(wall)
                hook_cpu[n].append(cpu)
                reset(server, client, old)
                e2e[n].append(push(client, server, new))
                reset(server, client, old)
                plain[n].append(plain_push(client, server, new))
        for name, t in (("pre-receive (rule + gate), 10 sealed commits, wall", hook),
                        ("pre-receive (rule + gate), 10 sealed commits, CPU", hook_cpu),
                        ("git push origin main, 10 sealed commits", e2e),
                        ("the same push with no hooks (git's own floor)", plain)):
            small, big = statistics.median(t[100]), statistics.median(t[100_000])
            ratios = [b / s for s, b in zip(t[100], t[100_000])]
            print(f"{name}: 100,000 seals {big * 1000:.1f} ms; 100 seals {small * 1000:.1f} ms; "
                  f"ratio {big / small:.2f} (median of per-run ratios {statistics.median(ratios):.2f}; "
                  f"target <= 1.5; median of {args.runs})")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
