"""Concurrent execs: P processes × N execs each on one container, for ipy-oci and
podman side by side. Reports throughput and the error count of each tool."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import PODMAN_RUN_FLAGS, Bench, summary

LOOP = 'for i in $(seq {n}); do "$@" >/dev/null 2>>"$ERRLOG" || echo x >> "$FAILLOG"; done'


def hammer(argv: list[str], env: dict[str, str], procs: int, n: int, tag: str,
           base: str) -> tuple[float, int, str]:
    errlog, faillog = f"{base}/{tag}.err", f"{base}/{tag}.fail"
    open(errlog, "w").close()
    open(faillog, "w").close()
    env = dict(env, ERRLOG=errlog, FAILLOG=faillog)
    t = time.perf_counter()
    ps = [subprocess.Popen(["sh", "-c", LOOP.format(n=n), "sh", *argv], env=env)
          for _ in range(procs)]
    for p in ps:
        p.wait()
    elapsed = time.perf_counter() - t
    with open(faillog) as fh:
        failures = len(fh.read().split())
    with open(errlog) as fh:
        err = fh.read()
    return elapsed, failures, err


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--execs", type=int, default=50)
    args = ap.parse_args()
    with Bench() as b:
        b.ours("run", "-d", "--name", "conc", "busybox", "sleep", "100000")
        image = b.podman_busybox()
        b.pod("run", "-d", "--name", "conc", *PODMAN_RUN_FLAGS, image, "sleep", "100000")
        total = args.procs * args.execs
        rows = []
        for tag, argv in (("ipy-oci", b.cli("exec", "conc", "true")),
                          ("podman", [*b.podman, "exec", "conc", "true"])):
            elapsed, failures, err = hammer(argv, b.env, args.procs, args.execs, tag,
                                            str(b.base))
            locked = err.count("database is locked")
            rows.append((tag, total / elapsed, failures, locked, elapsed))
        print(f"### concurrent execs ({args.procs} processes × {args.execs} execs, "
              "one container)\n")
        print("| tool | execs/s | errors | 'database is locked' | wall s |")
        print("|---|---:|---:|---:|---:|")
        for tag, rate, failures, locked, elapsed in rows:
            print(f"| {tag} | {rate:.1f} | {failures} | {locked} | {elapsed:.1f} |")
        (_, ours, err_o, lock_o, _), (_, pod, err_p, _, _) = rows
        summary(f"concurrent execs ({args.procs}×{args.execs}): throughput, errors",
                f"{ours:.1f}/s, {err_o} errors ({lock_o} locked)",
                f"{pod:.1f}/s, {err_p} errors", "", f"{ours / pod:.2f}× podman's rate",
                "zero errors", err_o == 0 and lock_o == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
