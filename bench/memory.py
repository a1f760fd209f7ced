"""Memory per live exec session: the RSS of conmon plus anything of ours (the
attached client), for ipy-oci and podman side by side."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import PODMAN_RUN_FLAGS, Bench, summary


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def exec_conmons(marker: str) -> list[int]:
    """conmon processes of exec sessions (``-e``) whose command line holds ``marker``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and b"-e" in argv and \
                any(marker.encode() in a for a in argv):
            out.append(int(entry))
    return out


def measure(argv: list[str], env: dict[str, str], marker: str, n: int) -> tuple[float, float]:
    """(conmon KiB, client KiB) per session with ``n`` attached ``sleep`` sessions live."""
    clients = [subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(n)]
    deadline = time.monotonic() + 60
    while len(exec_conmons(marker)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # let every client settle into its streaming loop
    conmon = sum(rss_kib(p) for p in exec_conmons(marker)) / n
    client = sum(rss_kib(c.pid) for c in clients) / n
    for c in clients:
        c.terminate()
    for c in clients:
        c.wait()
    return conmon, client


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10)
    args = ap.parse_args()
    with Bench() as b:
        b.ours("run", "-d", "--name", "mem", "busybox", "sleep", "100000")
        image = b.podman_busybox()
        b.pod("run", "-d", "--name", "mem", *PODMAN_RUN_FLAGS, image, "sleep", "100000")
        ours = measure(b.cli("exec", "mem", "sleep", "600"), b.env, str(b.runroot),
                       args.sessions)
        b.ours("system", "reap", "--prune-age", "0")
        pod = measure([*b.podman, "exec", "mem", "sleep", "600"], b.podman_env,
                      str(b.base / "podman"), args.sessions)
        print(f"### memory per live attached exec session ({args.sessions} live)\n")
        print("| tool | conmon RSS MiB | client RSS MiB | total MiB |")
        print("|---|---:|---:|---:|")
        for name, (c, cl) in (("ipy-oci", ours), ("podman", pod)):
            print(f"| {name} | {c / 1024:.1f} | {cl / 1024:.1f} | {(c + cl) / 1024:.1f} |")
        o, p_ = sum(ours) / 1024, sum(pod) / 1024
        summary("memory per live attached exec (conmon + client RSS)", f"{o:.1f} MiB",
                f"{p_:.1f} MiB", "", f"{o / p_:.2f}× podman's", "", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
