"""Where state lives and which binaries run containers.

Precedence: explicit arguments (CLI flags) > environment variables >
TOML file (``IPY_OCI_CONFIG`` or ``/etc/ipy-oci/ipy-oci.toml``) > defaults.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = "/var/lib/ipy-oci"
DEFAULT_RUNROOT = "/run/ipy-oci"
DEFAULT_CONFIG_FILE = "/etc/ipy-oci/ipy-oci.toml"
RUNTIME_NAMES = ("runc", "crun")


def _load_toml() -> dict[str, object]:
    path = os.environ.get("IPY_OCI_CONFIG", DEFAULT_CONFIG_FILE)
    if not os.path.exists(path):
        return {}
    import tomllib

    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return data.get("engine", data) if isinstance(data, dict) else {}


def find_binary(name: str, candidates: tuple[str, ...] = ()) -> str | None:
    """Resolve a binary name or path; None when it is not installed."""
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    for cand in candidates:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin")


@dataclass
class Config:
    root: Path
    runroot: Path
    runtime: str = "runc"
    conmon: str = "conmon"
    log_level: str = "warn"
    # Seconds a stopped, detached exec session is kept before pruning.
    exec_prune_age: float = 300.0
    # Grace period before SIGKILL when stopping an exec session.
    exec_stop_timeout: float = 10.0
    # Seconds conmon waits before running the exit command of an attached session:
    # the attached client normally reaps first; the command is the safety net.
    exec_exit_delay: int = 60
    unqualified_registries: list[str] = field(default_factory=lambda: ["docker.io"])

    @classmethod
    def load(
        cls,
        root: str | None = None,
        runroot: str | None = None,
        runtime: str | None = None,
        log_level: str | None = None,
    ) -> Config:
        toml = _load_toml()

        def pick(arg: str | None, env: str, key: str, default: str) -> str:
            if arg:
                return arg
            if os.environ.get(env):
                return os.environ[env]
            val = toml.get(key)
            return str(val) if val else default

        cfg = cls(
            root=Path(pick(root, "IPY_OCI_ROOT", "root", DEFAULT_ROOT)).absolute(),
            runroot=Path(pick(runroot, "IPY_OCI_RUNROOT", "runroot", DEFAULT_RUNROOT)).absolute(),
            runtime=pick(runtime, "IPY_OCI_RUNTIME", "runtime", "runc"),
            conmon=pick(None, "IPY_OCI_CONMON", "conmon", "conmon"),
            log_level=pick(log_level, "IPY_OCI_LOG_LEVEL", "log_level", "warn"),
        )
        if "exec_prune_age" in toml:
            cfg.exec_prune_age = float(str(toml["exec_prune_age"]))
        regs = toml.get("unqualified_search_registries")
        if isinstance(regs, list):
            cfg.unqualified_registries = [str(r) for r in regs]
        return cfg

    def cli_args(self) -> list[str]:
        """Global flags that reproduce this config in a child ``ipy-oci`` (exit commands)."""
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--runtime", self.runtime]
