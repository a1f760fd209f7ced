"""Shared set-up for the side-by-side benchmarks: an ipy-oci root and a podman root,
both holding the same busybox rootfs, and timing helpers."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PODMAN_FLAGS = ["--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "vfs", "--runtime", "/usr/sbin/runc"]
PODMAN_RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000",
                    "--network", "none"]


class Bench:
    """Temporary roots for ipy-oci and podman, removed by ``close``."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="ioci-bench-", dir="/tmp"))
        self.root = self.base / "root"
        self.runroot = self.base / "run"
        self.env = dict(os.environ, IPY_OCI_ROOT=str(self.root),
                        IPY_OCI_RUNROOT=str(self.runroot), IPY_OCI_RUNTIME="runc")
        self.podman = ["podman", "--root", str(self.base / "podman" / "root"),
                       "--runroot", str(self.base / "podman" / "run"), *PODMAN_FLAGS]

    def cli(self, *args: str) -> list[str]:
        return [str(ROOT / ".venv" / "bin" / "ipy-oci"), *args]

    def runtime(self):  # type: ignore[no-untyped-def]
        from ipy_oci.config import Config
        from ipy_oci.engine.runtime import Runtime

        return Runtime(Config.load(str(self.root), str(self.runroot), "runc"))

    def import_busybox_into_podman(self) -> str:
        """The same rootfs as ipy-oci's built-in image, imported with ``podman import``."""
        img = self.runtime().images.lookup("busybox")
        tar = self.base / "busybox-rootfs.tar"
        subprocess.run(["tar", "-C", str(img.layer_dirs[0]), "-cf", str(tar), "."],
                       check=True)
        subprocess.run([*self.podman, "import", str(tar), "bench-busybox"], check=True,
                       capture_output=True)
        return "localhost/bench-busybox"

    def close(self) -> None:
        subprocess.run([*self.podman, "rm", "-af", "-t", "0"], capture_output=True)
        subprocess.run([*self.podman, "system", "reset", "-f"], capture_output=True)
        subprocess.run(self.cli("rm", "-af", "-t", "0"), env=self.env, capture_output=True)
        subprocess.run(["umount", "-R", "-l", str(self.base)], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def time_call(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000.0


def run_quiet(argv: list[str], env: dict[str, str] | None = None) -> None:
    res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr.decode(errors='replace')}")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def summary(metric: str, ours: str, podman: str, baseline: str, ratio: str, target: str,
            met: bool | None) -> None:
    """One row of the combined table ``run_all.py`` prints (appended as a JSON line to
    the file named by IPY_OCI_BENCH_SUMMARY, when set)."""
    import json

    path = os.environ.get("IPY_OCI_BENCH_SUMMARY")
    if not path:
        return
    with open(path, "a") as fh:
        fh.write(json.dumps({"metric": metric, "ipy-oci": ours, "podman": podman,
                             "baseline": baseline, "ratio": ratio, "target": target,
                             "met": met}) + "\n")
