#!/usr/bin/env python3
"""What signing costs (issue 11): each case prints its figure, the baseline measured in
the same run, and their ratio (medians).

    python3 bench/signing.py [--runs N] [--commits N]

1. post-commit on a small repository (20 files): the hook run alone
   (`git-seal hook post-commit` on a fresh commit) unsigned (baseline), signing with
   a key file (target: <= 5 ms added), and with a key held only by ssh-agent.
2. `git seal verify` of 1,000 signed commits judged against an allowed-signers file
   (target <= 1 s), beside the same 1,000 commits sealed unsigned.

Uses target/release/git-seal (built first if missing), hermetic git config, keys
made by ssh-keygen in a temporary HOME, and a private ssh-agent.
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
from bench import BIN, ROOT, alternate, env_for  # noqa: E402


def run(args, cwd, env, stdin=None):
    p = subprocess.run(args, cwd=cwd, env=env, input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.decode().strip()}")
    return p


def timed(args, cwd, env):
    """(wall seconds, CPU seconds of the child: user + system). CPU time is what
    other load on a shared machine moves least; wall time includes ssh-agent's."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    run(args, cwd, env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def repo(base, name, env, files=20):
    path = os.path.join(base, name)
    run(["git", "init", "-q", "-b", "main", path], base, env)
    for i in range(files):
        with open(os.path.join(path, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * 20)
    run(["git", "add", "-A"], path, env)
    run(["git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "base"], path, env)
    run([BIN, "install"], path, env)
    run([BIN, "seal", "--missing"], path, env)
    return path


def hook_run(i, path, env):
    """The post-commit hook alone, on a new commit: (wall, CPU) seconds."""
    with open(os.path.join(path, "f0.txt"), "a") as f:
        f.write(f"change {i}\n")
    run(["git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", f"c{i}"], path, env)
    return timed([BIN, "hook", "post-commit"], path, env)


def signed(path, env):
    note = run(["git", "notes", "--ref=seal", "show", "HEAD"], path, env).stdout.decode()
    return "signature:" in note


def med(pairs):
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))


def line(what, figure, base, unit="ms", scale=1000.0):
    for i, kind in ((1, "CPU"), (0, "wall")):
        f, b = figure[i], base[i]
        print(f"{what} [{kind}]: {f * scale:.1f} {unit}  baseline {b * scale:.1f} {unit}  "
              f"ratio {f / b:.2f}  (added {(f - b) * scale:+.1f} {unit})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--commits", type=int, default=1000)
    a = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    base = tempfile.mkdtemp(prefix="git-seal-sign-bench-")
    agent = None
    try:
        home = os.path.join(base, "home")
        os.makedirs(os.path.join(home, ".ssh"))
        env = env_for(home)
        key = os.path.join(home, ".ssh", "id_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], base, env)
        held = os.path.join(home, ".ssh", "held")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", held], base, env)
        sock = os.path.join(base, "agent.sock")
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(sock):
            time.sleep(0.01)
        agent_env = dict(env, SSH_AUTH_SOCK=sock)
        run(["ssh-add", "-q", held], base, agent_env)
        os.remove(held)  # the agent alone holds it

        plain = repo(base, "plain", env)
        keyed = repo(base, "keyed", env)
        run(["git", "config", "gpg.format", "ssh"], keyed, env)
        run(["git", "config", "user.signingKey", key], keyed, env)
        agented = repo(base, "agent", agent_env)
        run(["git", "config", "gpg.format", "ssh"], agented, env)
        run(["git", "config", "user.signingKey", held + ".pub"], agented, env)

        # Interleaved runs, so load on the machine falls on every case alike.
        cases = {"plain": (plain, env), "key": (keyed, env), "agent": (agented, agent_env)}
        res = alternate(cases, 3 * a.runs, lambda i, _, c: hook_run(i, *c))
        signs = {name: signed(*c) for name, c in cases.items()}
        assert not signs["plain"] and signs["key"] and signs["agent"], signs
        p = med(res["plain"])
        line("post-commit, signing with a key file", med(res["key"]), p)
        line("post-commit, signing through ssh-agent", med(res["agent"]), p)

        # verify of N signed commits against allowed signers, beside N unsigned.
        pub = open(key + ".pub").read().split()
        allowed = os.path.join(home, "allowed_signers")
        with open(allowed, "w") as f:
            f.write(f'bench@example.com namespaces="git-seal" {pub[0]} {pub[1]}\n')
        cases = {}
        for name, signing in (("unsigned", False), ("signed", True)):
            path = os.path.join(base, f"v-{name}")
            run(["git", "init", "-q", "-b", "main", path], base, env)
            stream = []
            for i in range(a.commits + 1):
                data = f"commit {i}\n"
                stream.append(
                    f"commit refs/heads/main\nmark :{i + 1}\n"
                    f"committer Bench <bench@example.com> {1700000000 + i} +0000\n"
                    f"data {len(data)}\n{data}"
                    + (f"from :{i}\n" if i else "")
                    + f"M 100644 inline f{i % 50}.txt\ndata {len(data)}\n{data}\n")
            run(["git", "fast-import", "--quiet"], path, env, "".join(stream).encode())
            run(["git", "reset", "-q", "--hard", "main"], path, env)
            if signing:
                run(["git", "config", "gpg.format", "ssh"], path, env)
                run(["git", "config", "user.signingKey", key], path, env)
            run(["git", "config", "gpg.ssh.allowedSignersFile", allowed], path, env)
            run(["git", "config", "seal.requireSigned", str(signing).lower()], path, env)
            run([BIN, "seal", "--missing"], path, env)
            root = run(["git", "rev-list", "--max-parents=0", "HEAD"], path, env).stdout.decode().strip()
            rng = f"{root}..HEAD"
            out = run([BIN, "verify", rng], path, env).stdout.decode()
            if signing:
                assert f"signatures: {a.commits} trusted" in out, out
            cases[name] = (path, rng)
        times = alternate(cases, 5, lambda _i, _n, c: timed([BIN, "verify", c[1]], c[0], env))
        s, u = med(times["signed"]), med(times["unsigned"])
        line(f"verify {a.commits} signed commits (allowed signers, requireSigned)", s, u)
    finally:
        if agent:
            agent.kill()
            agent.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
