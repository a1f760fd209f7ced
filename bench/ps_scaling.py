"""``ps -a`` latency with 10, 100 and 1,000 containers, ipy-oci and podman side by side
(figure 4 of issue 10: ``ipy-oci ps -a`` with 1,000 containers under 100 ms).

The containers are created but not started (``create busybox true``), as a user's
stopped and never-started containers are; ipy-oci's are made by one warm Python
process calling the CLI's ``main`` (1,000 separate processes would take minutes),
podman's by ``podman create``, four at a time. Both listings run as whole processes,
interleaved round by round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import PODMAN_RUN_FLAGS, PYTHON, Bench, interleave, median, step, summary

# One process creating many containers through the CLI's own entry point.
CREATE_MANY = """
import sys
from ipy_oci.cli.main import main
for name in sys.stdin.read().split():
    rc = main(["create", "--name", name, "busybox", "true"])
    if rc:
        sys.exit(f"create {name} exited {rc}")
"""
TARGET_MS = 100.0  # for 1,000 containers


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-podman", action="store_true",
                    help="ipy-oci alone (podman creates 1,000 containers slowly)")
    args = ap.parse_args()
    with Bench() as b:
        image = "" if args.no_podman else b.podman_busybox()
        have = 0
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            names = "\n".join(f"s{i}" for i in range(have, size))
            with step(f"{size} containers"):
                subprocess.run([PYTHON, "-c", CREATE_MANY], input=names.encode(), env=b.env,
                               stdout=subprocess.DEVNULL, check=True)
                if not args.no_podman:
                    subprocess.run(["xargs", "-P", "4", "-I", "{}", *b.podman, "create",
                                    "--name", "{}", *PODMAN_RUN_FLAGS, image, "true"],
                                   input=names.encode(), env=b.podman_env,
                                   stdout=subprocess.DEVNULL, check=True)
            have = size
            listed = len(b.ours("ps", "-a", "-q").split())
            assert listed == size, f"ipy-oci ps -a lists {listed}, not {size}"
            contenders = {"ipy-oci": lambda: b.ours("ps", "-a")}
            if not args.no_podman:
                contenders["podman"] = lambda: b.pod("ps", "-a")
            samples = interleave(contenders, args.rounds, warmup=1)
            rows.append((size, median(samples["ipy-oci"]),
                         median(samples["podman"]) if "podman" in samples else None))
        print(f"### ps -a latency by number of containers ({args.rounds} rounds, "
              "interleaved)\n")
        print("| containers | ipy-oci ms | podman ms | podman ÷ ipy-oci |")
        print("|---:|---:|---:|---:|")
        for size, ours, pod in rows:
            pod_ms, ratio = (f"{pod:.0f}", f"{pod / ours:.2f}") if pod else ("", "")
            print(f"| {size} | {ours:.0f} | {pod_ms} | {ratio} |")
        print()
        for size, ours, pod in rows:
            fig = 4 if size == 1000 else None
            summary(f"`ipy-oci ps -a` with {size:,} containers", f"{ours:.0f} ms",
                    f"{pod:.0f} ms" if pod else "", "",
                    f"{pod / ours:.2f}× faster" if pod else "",
                    f"< {TARGET_MS:.0f} ms" if fig else "",
                    ours < TARGET_MS if fig else None, figure=fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
