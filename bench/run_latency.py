"""Figure 3 of issue 10: ``run --rm busybox true`` as whole processes, paired round
by round: ``ipy-oci run --rm --network none busybox true`` against ``podman run --rm
--network none … busybox true`` on the same image (ipy-oci's built-in busybox, saved
and loaded into podman: same image id), with raw ``runc run`` of a prepared bundle
(ipy-oci's own spec and rootfs, copied) as the floor. Target: ipy-oci ≥ 2× faster.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from common import (
    PODMAN_RUN_FLAGS,
    RUNC,
    Bench,
    interleave,
    median,
    paired_ratio,
    run_quiet,
    step,
    summary,
    table,
)


def prepared_bundle(b: Bench) -> Path:
    """A bundle for raw ``runc run``: the spec ipy-oci writes for ``run --network none
    busybox true``, with copies of its rootfs and of the files it bind-mounts."""
    b.ours("create", "--name", "bundle-src", "--network", "none", "busybox", "true")
    b.ours("init", "bundle-src")
    info = json.loads(b.ours("inspect", "--type", "container", "bundle-src"))[0]
    merged = Path(info["GraphDriver"]["Data"]["MergedDir"])
    src = merged.parent  # the container's directory: config.json, hosts, …
    bundle = b.base / "raw-bundle"
    (bundle / "rootfs").mkdir(parents=True)
    run_quiet(["cp", "-a", f"{merged}/.", str(bundle / "rootfs")])
    spec = json.loads((src / "config.json").read_text())
    spec["root"]["path"] = str(bundle / "rootfs")
    spec.setdefault("linux", {})["cgroupsPath"] = "/ipy-oci-bench-raw"
    for m in spec.get("mounts", []):
        source = Path(str(m.get("source", "")))
        if source.is_relative_to(src):
            copy = bundle / source.relative_to(src)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
            m["source"] = str(copy)
    (bundle / "config.json").write_text(json.dumps(spec))
    b.ours("rm", "-f", "-t", "0", "bundle-src")
    return bundle


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bridge", action="store_true",
                    help="also both on their default bridge networks (issue 12)")
    args = ap.parse_args()
    with Bench() as b:
        with step("podman image and raw bundle"):
            image = b.podman_busybox()
            bundle = prepared_bundle(b)
        state = str(b.base / "raw-runc")
        n = 0

        def raw() -> None:
            nonlocal n
            n += 1
            run_quiet([RUNC, "--root", state, "run", "--bundle", str(bundle), f"raw{n}"])

        ours_name, pod_name = "ipy-oci run --rm", "podman run --rm"
        with step(f"figure 3: {args.rounds} rounds"):
            samples = interleave({
                "raw runc run (prepared bundle)": raw,
                ours_name: lambda: b.ours("run", "--rm", "--network", "none", "busybox",
                                          "true"),
                pod_name: lambda: b.pod("run", "--rm", *PODMAN_RUN_FLAGS, image, "true"),
            }, args.rounds, args.warmup)
        print(table(f"3. run --rm --network none busybox true ({args.rounds} rounds, "
                    "interleaved)", samples, "raw runc run (prepared bundle)", pod_name))
        ours, pod = median(samples[ours_name]), median(samples[pod_name])
        raw_m = median(samples["raw runc run (prepared bundle)"])
        print(f"podman ÷ ipy-oci: {pod / ours:.2f}× (median of per-round ratios "
              f"{paired_ratio(samples[pod_name], samples[ours_name]):.2f}×)\n")
        summary("`ipy-oci run --rm busybox true` vs `podman run --rm` (processes, "
                "`--network none`)", f"{ours:.1f} ms", f"{pod:.1f} ms",
                f"{raw_m:.1f} ms (runc run)", f"{pod / ours:.2f}× faster", "≥ 2× faster",
                pod / ours >= 2, figure=3)
        if args.bridge:
            bridge(b, image, args.rounds, args.warmup)
    return 0


def bridge(b: Bench, image: str, rounds: int, warmup: int) -> None:
    """Issue 12's figure: the same, each on its default bridge network (netavark)."""
    pod_flags = [f for f in PODMAN_RUN_FLAGS if f not in ("--network", "none")]
    ours_name, pod_name = "ipy-oci run --rm (bridge)", "podman run --rm (bridge)"
    with step(f"bridge: {rounds} rounds"):
        samples = interleave({
            ours_name: lambda: b.ours("run", "--rm", "busybox", "true"),
            pod_name: lambda: b.pod("run", "--rm", *pod_flags, image, "true"),
        }, rounds, warmup)
    print(table(f"run --rm busybox true on the default bridge network ({rounds} rounds, "
                "interleaved)", samples, ours_name, pod_name))
    ours, pod = median(samples[ours_name]), median(samples[pod_name])
    summary("`ipy-oci run --rm busybox true` vs `podman run --rm`, default bridge networks "
            "(issue 12)", f"{ours:.1f} ms", f"{pod:.1f} ms", "",
            f"{pod / ours:.2f}× faster", "≥ 2× faster", pod / ours >= 2)


if __name__ == "__main__":
    sys.exit(main())
