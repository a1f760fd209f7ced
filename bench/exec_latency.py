"""Exec latency, side by side in one run: the engine from a warm process, the
ipy-oci CLI, podman exec, and raw ``runc exec`` of the same container.

Samples are interleaved (one of each per round) so machine noise hits all
tools alike. Prints a markdown table of medians and ratios; ``--json FILE``
keeps the raw samples for plotting.
"""

from __future__ import annotations

import argparse
import json
import sys

from common import PODMAN_RUN_FLAGS, Bench, median, pct, run_quiet, summary, time_call


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    b = Bench()
    try:
        rt = b.runtime()
        from ipy_oci.engine.records import ContainerConfig

        ctr = rt.run(ContainerConfig(image="busybox", command=[], cmd=["sleep", "100000"]),
                     name="bench")
        image = b.import_busybox_into_podman()
        run_quiet([*b.podman, "run", "-d", "--name", "bench", *PODMAN_RUN_FLAGS, image,
                   "sleep", "100000"])
        runc = ["runc", "--root", str(b.runroot / "runc"), "exec", ctr.id, "true"]
        cli = b.cli("exec", "bench", "true")
        podman = [*b.podman, "exec", "bench", "true"]

        def engine() -> None:
            res = rt.exec(ctr, ["true"], on_output=lambda s, d: None)
            assert res.exit_code == 0

        samples: dict[str, list[float]] = {"raw runc exec": [], "engine (warm process)": [],
                                           "ipy-oci exec (CLI)": [], "podman exec": []}
        for _ in range(3):  # warm caches
            engine(); run_quiet(runc); run_quiet(cli, b.env); run_quiet(podman)  # noqa: E702
        for _ in range(args.rounds):
            samples["raw runc exec"].append(time_call(lambda: run_quiet(runc)))
            samples["engine (warm process)"].append(time_call(engine))
            samples["ipy-oci exec (CLI)"].append(time_call(lambda: run_quiet(cli, b.env)))
            samples["podman exec"].append(time_call(lambda: run_quiet(podman)))
        raw = median(samples["raw runc exec"])
        pod = median(samples["podman exec"])
        print(f"### exec latency ({args.rounds} rounds, interleaved)\n")
        print("| path | median ms | p90 ms | × raw runc | podman ÷ this |")
        print("|---|---:|---:|---:|---:|")
        for name, xs in samples.items():
            m = median(xs)
            print(f"| {name} | {m:.1f} | {pct(xs, 0.9):.1f} | {m / raw:.2f} | {pod / m:.2f} |")
        eng = median(samples["engine (warm process)"])
        cli_m = median(samples["ipy-oci exec (CLI)"])
        summary("exec true, warm process vs raw runc exec", f"{eng:.1f} ms", "",
                f"{raw:.1f} ms (runc exec)", f"{eng / raw:.2f}×", "≤ 1.3×", eng / raw <= 1.3)
        summary("exec true, CLI vs podman exec", f"{cli_m:.1f} ms", f"{pod:.1f} ms", "",
                f"{pod / cli_m:.2f}× faster", "≥ 3× faster", pod / cli_m >= 3)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(samples, fh)
        ctr.remove(force=True, timeout=0)
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
