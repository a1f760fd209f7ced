"""Shared set-up for the side-by-side benchmarks.

``Bench`` is one temporary world: an ipy-oci root and runroot, a private podman
root/runroot/tmpdir holding the very same busybox image (``ipy-oci save`` then
``podman load``, so both sides run identical bytes), and, when asked, a real
IPython kernel with ``%load_ext ipy_oci``. Use it as a context manager: whatever
happens (an exception, Ctrl-C, SIGTERM), it removes the containers of both tools,
the kernel, podman's storage, every mount and process under its directory and the
directory itself, then checks that nothing is left and says so if something is.

``interleave`` takes the samples: one of each contender per round, the order
rotated every round, so machine noise and order effects hit all of them alike.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
IPY_OCI = str(ROOT / ".venv" / "bin" / "ipy-oci")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
PODMAN_FLAGS = ["--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "vfs", "--runtime", "/usr/sbin/runc"]
PODMAN_RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000",
                    "--network", "none"]
# podman 4.3 writes its blob-info cache here whatever --root says (see close()).
PODMAN_SHARED_CACHE = Path("/var/lib/containers/cache")
CTR = "C"  # the running container the exec figures use, on both sides


class BenchError(RuntimeError):
    pass


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # so every ``finally`` and ``__exit__`` runs


class Bench:
    """Temporary roots for ipy-oci and podman (and maybe a kernel), removed on exit."""

    def __init__(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _terminate)
        self.base = Path(tempfile.mkdtemp(prefix="ioci-bench-", dir="/tmp"))
        self.root = self.base / "root"
        self.runroot = self.base / "run"
        self.runc_root = self.runroot / "runc"  # where ipy-oci keeps runc's state
        # Bytecode: an installed package has its .pyc files; a working tree under edit,
        # with PYTHONDONTWRITEBYTECODE set (as on these machines), would recompile every
        # changed module at every CLI start (≈1 ms each). A private pycache, filled by
        # the warm-up rounds and removed with the rest, gives the installed state
        # without writing into the tree.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(IPY_OCI_ROOT=str(self.root), IPY_OCI_RUNROOT=str(self.runroot),
                        IPY_OCI_RUNTIME="runc", PYTHONPYCACHEPREFIX=str(self.base / "pycache"),
                        IPY_OCI_CONFIG=str(self.base / "ipy-oci.toml"))  # absent: defaults
        pod = self.base / "podman"
        self.podman_env = dict(os.environ, TMPDIR=str(pod / "tmp"))
        self.podman = ["podman", "--root", str(pod / "root"), "--runroot", str(pod / "run"),
                       "--tmpdir", str(pod / "libpod"), *PODMAN_FLAGS]
        self._podman_used = False
        self._cache_parent_existed = PODMAN_SHARED_CACHE.parent.exists()
        self._kernel: Kernel | None = None

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        leftovers = self.close()
        if leftovers:
            print(f"bench: LEFT BEHIND after clean-up: {leftovers}", file=sys.stderr)
            if exc[0] is None:
                raise BenchError(f"left behind: {leftovers}")

    # -- running the two tools -----------------------------------------------------------
    def cli(self, *args: str) -> list[str]:
        """argv of the ``ipy-oci`` console script, as a user runs it."""
        return [IPY_OCI, *args]

    def ours(self, *args: str) -> str:
        """Run ``ipy-oci ARGS`` in this root; its stdout."""
        return run_quiet(self.cli(*args), self.env)

    def pod(self, *args: str) -> str:
        """Run ``podman GLOBAL-FLAGS ARGS`` in the private podman root; its stdout."""
        self._podman_used = True
        return run_quiet([*self.podman, *args], self.podman_env)

    def podman_busybox(self) -> str:
        """ipy-oci's built-in busybox image, saved and loaded into podman (same image id,
        same layer, same config); its name on the podman side."""
        (self.base / "podman" / "tmp").mkdir(parents=True, exist_ok=True)
        archive = self.base / "busybox.tar"
        self.ours("save", "--format", "docker-archive", "-o", str(archive), "busybox")
        self.pod("load", "-q", "-i", str(archive))
        archive.unlink()
        return "localhost/busybox:latest"

    def container_id(self, name: str) -> str:
        """The full id (runc's container id) from ``ipy-oci inspect``."""
        data = json.loads(self.ours("inspect", "--type", "container", name))
        return str(data[0]["Id"])

    # -- a real kernel ---------------------------------------------------------------
    def kernel(self) -> Kernel:
        """An IPython kernel (jupyter_client) on this root with ipy_oci loaded; shut
        down by ``close``."""
        assert self._kernel is None
        self._kernel = Kernel(self.base / "kernel", self.env)
        self._kernel.run("%load_ext ipy_oci")
        return self._kernel

    def close_kernel(self) -> None:
        """Shut the kernel down (its containers without --rm stay)."""
        if self._kernel is not None:
            self._kernel.shutdown()
            self._kernel = None

    # -- clean-up ----------------------------------------------------------------------
    def close(self) -> list[str]:
        """Remove everything; returns what could not be removed (empty when clean)."""
        self.close_kernel()
        if self._podman_used:
            _try([*self.podman, "rm", "-af", "-t", "0"], self.podman_env)
            _try([*self.podman, "system", "reset", "-f"], self.podman_env)
        if self.root.exists():
            _try(self.cli("rm", "-af", "-t", "0"), self.env)
        # Whatever survived (a broken engine, a killed run): kill, delete, unmount.
        for pid, _ in processes_under(self.base):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for state in (self.runc_root, self.base / "raw-runc"):
            if state.is_dir():
                for cid in os.listdir(state):
                    _try([RUNC, "--root", str(state), "delete", "--force", cid])
        for mp in sorted(mounts_under(self.base), key=len, reverse=True):
            _try(["umount", "-l", mp])
        shutil.rmtree(self.base, ignore_errors=True)
        parent = PODMAN_SHARED_CACHE.parent
        if self._podman_used and not self._cache_parent_existed and parent.is_dir() \
                and os.listdir(parent) == [PODMAN_SHARED_CACHE.name]:
            shutil.rmtree(parent, ignore_errors=True)  # ours alone: nobody else used podman
        time.sleep(0.2)  # killed processes vanish from /proc
        left = [f"process {pid}: {cmd}" for pid, cmd in processes_under(self.base)]
        left += [f"mount {m}" for m in mounts_under(self.base)]
        if self.base.exists():
            left.append(f"directory {self.base}")
        return left


def _try(argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run a clean-up command; its failure is not an error (what it should remove may
    already be gone), only what is left at the end counts."""
    try:
        subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        pass


def processes_under(base: Path) -> list[tuple[int, str]]:
    """Live processes whose command line or root directory lies under ``base``
    (conmon, runc, container processes, the kernel); zombies are not counted."""
    needle = str(base).encode()
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            if stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
            root = os.readlink(f"/proc/{entry}/root").encode()
        except OSError:
            continue
        if needle in cmd or root.startswith(needle):
            out.append((int(entry), cmd.replace(b"\0", b" ").decode(errors="replace")[:120]))
    return out


def mounts_under(base: Path) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        mps = [line.split()[4] for line in fh]
    return [m for m in mps if m == str(base) or m.startswith(f"{base}/")]


class Kernel:
    """A real IPython kernel started through jupyter_client, with a private IPYTHONDIR."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        from jupyter_client import KernelManager

        base.mkdir(parents=True)
        env = dict(env, IPYTHONDIR=str(base / "ipython"), PYDEVD_DISABLE_FILE_VALIDATION="1")
        self.km = KernelManager(connection_file=str(base / "kernel-bench.json"))
        self.log = base / "kernel.log"
        with open(self.log, "wb") as log:  # the kernel's own stdout/stderr, not ours
            self.km.start_kernel(env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=60)
        except BaseException:
            self.km.shutdown_kernel(now=True)
            raise

    def run(self, code: str, timeout: float = 600) -> str:
        """Execute ``code`` in the kernel; its stdout. Raises if the cell failed."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook,
                                            allow_stdin=False)
        if reply["content"]["status"] != "ok":
            text = re.sub(r"\x1b\[[0-9;]*m", "", "".join(errors))
            raise BenchError(f"kernel cell failed: {code[:80]!r}:\n{text}")
        return "".join(out)

    def value(self, code: str, timeout: float = 600) -> Any:
        """Run ``code``, whose last line must print one JSON document; that value."""
        return json.loads(self.run(code, timeout).strip().splitlines()[-1])

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)  # ipy-oci's shutdown hooks run
        except Exception:
            self.km.shutdown_kernel(now=True)


# -- timing -------------------------------------------------------------------------------
def time_call(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000.0


def interleave(contenders: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 3
               ) -> dict[str, list[float]]:
    """ms samples of every contender, one each per round, the order rotated per round."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(time_call(contenders[name]))
    return samples


def run_quiet(argv: list[str], env: dict[str, str] | None = None) -> str:
    res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    if res.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {res.returncode}: "
                         f"{res.stderr.decode(errors='replace').strip()}")
    return res.stdout.decode(errors="replace")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def paired_ratio(num: list[float], den: list[float]) -> float:
    """The median of per-round ratios num[i] / den[i] (samples taken in the same round)."""
    return median([a / b for a, b in zip(num, den, strict=True)])


def table(title: str, samples: dict[str, list[float]], base: str, peer: str | None = None
          ) -> str:
    """Markdown: median, p90 and × ``base`` for every row, and ``peer`` ÷ this."""
    b = median(samples[base])
    head = f"| path | median ms | p90 ms | × {base} |" + (f" {peer} ÷ this |" if peer else "")
    lines = [f"### {title}\n", head, "|---|---:|---:|---:|" + ("---:|" if peer else "")]
    for name, xs in samples.items():
        m = median(xs)
        row = f"| {name} | {m:.1f} | {pct(xs, 0.9):.1f} | {m / b:.2f} |"
        if peer:
            row += f" {median(samples[peer]) / m:.2f} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def summary(metric: str, ours: str, podman: str, baseline: str, ratio: str, target: str,
            met: bool | None, figure: int | None = None) -> None:
    """One row of the combined table ``run_all.py`` prints (appended as a JSON line to
    the file named by IPY_OCI_BENCH_SUMMARY, when set). ``figure``: the number of one
    of the four figures of issue 10, which the table lists first."""
    path = os.environ.get("IPY_OCI_BENCH_SUMMARY")
    row = {"figure": figure, "metric": metric, "ipy-oci": ours, "podman": podman,
           "baseline": baseline, "ratio": ratio, "target": target, "met": met}
    if not path:
        verdict = "" if met is None else ("  [met]" if met else "  [NOT met]")
        print(f"summary: {metric}: {ours} | podman {podman or '-'} | baseline "
              f"{baseline or '-'} | {ratio} | target {target or '-'}{verdict}")
        return
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


@contextmanager
def step(what: str) -> Iterator[None]:
    """Progress on stderr for the slow set-up steps."""
    t = time.perf_counter()
    print(f"bench: {what} …", file=sys.stderr, flush=True)
    yield
    print(f"bench: {what}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
