"""``run --rm true`` latency, side by side: the ipy-oci CLI, the engine from a warm
process, podman, and raw ``runc run`` on a prepared bundle."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

from common import PODMAN_RUN_FLAGS, Bench, median, pct, run_quiet, summary, time_call


def prepared_bundle(b: Bench) -> str:
    """A bundle with ipy-oci's own spec and a copied rootfs, for raw ``runc run``."""
    rt = b.runtime()
    from ipy_oci.engine.records import ContainerConfig

    ctr = rt.create_container(ContainerConfig(image="busybox", command=[], cmd=["true"]),
                              name="bundle-src")
    ctr.init()
    bundle = b.base / "raw-bundle"
    (bundle / "rootfs").mkdir(parents=True)
    subprocess.run(["cp", "-a", f"{ctr.record.rootfs}/.", str(bundle / "rootfs")], check=True)
    spec = json.loads((ctr.dir / "config.json").read_text())
    spec["root"]["path"] = str(bundle / "rootfs")
    spec["linux"]["cgroupsPath"] = "/ipy-oci-bench-raw"
    spec["mounts"] = [m for m in spec["mounts"] if not str(m.get("source", "")).startswith(
        str(ctr.dir))]
    (bundle / "config.json").write_text(json.dumps(spec))
    ctr.remove(force=True, timeout=0)
    return str(bundle)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    b = Bench()
    try:
        rt = b.runtime()
        from ipy_oci.engine.records import ContainerConfig

        image = b.import_busybox_into_podman()
        bundle = prepared_bundle(b)
        state = str(b.base / "raw-runc")
        n = 0

        def raw() -> None:
            nonlocal n
            n += 1
            run_quiet(["runc", "--root", state, "run", "--bundle", bundle, f"raw{n}"])

        def engine() -> None:
            ctr = rt.create_container(ContainerConfig(image="busybox", command=[],
                                                      cmd=["true"], auto_remove=True))
            res = ctr.run_attached(lambda s, d: None)
            assert res.exit_code == 0

        cli = b.cli("run", "--rm", "busybox", "true")
        podman = [*b.podman, "run", "--rm", *PODMAN_RUN_FLAGS, image, "true"]
        samples: dict[str, list[float]] = {"raw runc run": [], "engine (warm process)": [],
                                           "ipy-oci run --rm (CLI)": [], "podman run --rm": []}
        for _ in range(2):
            raw(); engine(); run_quiet(cli, b.env); run_quiet(podman)  # noqa: E702
        for _ in range(args.rounds):
            samples["raw runc run"].append(time_call(raw))
            samples["engine (warm process)"].append(time_call(engine))
            samples["ipy-oci run --rm (CLI)"].append(time_call(lambda: run_quiet(cli, b.env)))
            samples["podman run --rm"].append(time_call(lambda: run_quiet(podman)))
        raw_m = median(samples["raw runc run"])
        pod = median(samples["podman run --rm"])
        print(f"### run --rm true latency ({args.rounds} rounds, interleaved)\n")
        print("| path | median ms | p90 ms | × raw runc | podman ÷ this |")
        print("|---|---:|---:|---:|---:|")
        for name, xs in samples.items():
            m = median(xs)
            print(f"| {name} | {m:.1f} | {pct(xs, 0.9):.1f} | {m / raw_m:.2f} | "
                  f"{pod / m:.2f} |")
        cli_m = median(samples["ipy-oci run --rm (CLI)"])
        summary("run --rm true, CLI vs podman run --rm", f"{cli_m:.1f} ms", f"{pod:.1f} ms",
                f"{raw_m:.1f} ms (runc run)", f"{pod / cli_m:.2f}× faster", "≥ 2× faster",
                pod / cli_m >= 2)
        shutil.rmtree(bundle, ignore_errors=True)
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
