"""Attach throughput: SIZE bytes through ``exec -i CTR cat`` to /dev/null, against a
raw pipe through the host's ``cat``, with podman alongside."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import PODMAN_RUN_FLAGS, Bench, summary


def pipe_through(argv: list[str], size: int, env: dict[str, str] | None = None) -> float:
    """MB/s of ``head -c SIZE /dev/zero | ARGV > /dev/null``."""
    t = time.perf_counter()
    head = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
    res = subprocess.run(argv, stdin=head.stdout, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    assert head.stdout is not None
    head.stdout.close()
    head.wait()
    if res.returncode != 0:
        raise RuntimeError(f"{argv} failed: {res.stderr.decode(errors='replace')}")
    return size / (time.perf_counter() - t) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1 << 30)
    args = ap.parse_args()
    with Bench() as b:
        b.ours("run", "-d", "--name", "tp", "busybox", "sleep", "100000")
        image = b.podman_busybox()
        b.pod("run", "-d", "--name", "tp", *PODMAN_RUN_FLAGS, image, "sleep", "100000")
        raw = pipe_through(["cat"], args.size)
        ours = pipe_through(b.cli("exec", "-i", "tp", "cat"), args.size, b.env)
        pod = pipe_through([*b.podman, "exec", "-i", "tp", "cat"], args.size, b.podman_env)
        mib = args.size / (1 << 20)
        print(f"### attach throughput ({mib:.0f} MiB through exec -i cat)\n")
        print("| path | MB/s | share of raw pipe |")
        print("|---|---:|---:|")
        for name, v in (("raw pipe (host cat)", raw), ("ipy-oci exec -i", ours),
                        ("podman exec -i", pod)):
            print(f"| {name} | {v:.0f} | {v / raw:.0%} |")
        summary(f"attach throughput ({mib:.0f} MiB via exec -i cat)", f"{ours:.0f} MB/s",
                f"{pod:.0f} MB/s", f"{raw:.0f} MB/s (pipe)", f"{ours / raw:.0%} of a pipe",
                "≥ 50% of a pipe", ours / raw >= 0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
