"""``ps -a`` latency with 10, 100 and 1,000 containers, for ipy-oci and podman."""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import PODMAN_RUN_FLAGS, Bench, median, run_quiet, summary, time_call


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    b = Bench()
    try:
        rt = b.runtime()
        from ipy_oci.engine.records import ContainerConfig

        image = b.import_busybox_into_podman()
        have = 0
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            for i in range(have, size):
                rt.create_container(ContainerConfig(image="busybox", command=[],
                                                    cmd=["true"]), name=f"s{i}")
            # podman create is slow: four at a time.
            names = "\n".join(f"s{i}" for i in range(have, size))
            subprocess.run(["xargs", "-P", "4", "-I", "{}", *b.podman, "create", "--name",
                            "{}", *PODMAN_RUN_FLAGS, image, "true"], input=names.encode(),
                           stdout=subprocess.DEVNULL, check=True)
            have = size
            ours = median([time_call(lambda: run_quiet(b.cli("ps", "-a"), b.env))
                           for _ in range(args.rounds)])
            pod = median([time_call(lambda: run_quiet([*b.podman, "ps", "-a"]))
                          for _ in range(args.rounds)])
            rows.append((size, ours, pod))
        print("### ps -a latency by number of containers\n")
        print("| containers | ipy-oci ms | podman ms | podman ÷ ipy-oci |")
        print("|---:|---:|---:|---:|")
        for size, ours, pod in rows:
            print(f"| {size} | {ours:.0f} | {pod:.0f} | {pod / ours:.2f} |")
            summary(f"ps -a with {size} containers", f"{ours:.0f} ms", f"{pod:.0f} ms", "",
                    f"{pod / ours:.2f}× faster", "", None)
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
