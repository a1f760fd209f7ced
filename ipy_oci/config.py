"""Where state lives and which binaries run containers.

Precedence: explicit arguments (CLI flags) > environment variables >
TOML file (``IPY_OCI_CONFIG`` or ``/etc/ipy-oci/ipy-oci.toml``) > defaults.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_ROOT = "/var/lib/ipy-oci"
DEFAULT_RUNROOT = "/run/ipy-oci"
DEFAULT_CONFIG_FILE = "/etc/ipy-oci/ipy-oci.toml"


def _config_path() -> str:
    return os.environ.get("IPY_OCI_CONFIG", DEFAULT_CONFIG_FILE)


def _load_toml() -> dict[str, object]:
    path = _config_path()
    if not os.path.exists(path):
        return {}
    import tomllib

    from .errors import ConfigError

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc}: fix it, "
                          "or point IPY_OCI_CONFIG at another file") from None
    engine = data.get("engine", data)
    return engine if isinstance(engine, dict) else {}


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
    # -- tunables: each can be set in the TOML file under its own name ----------------
    # Seconds a stopped, detached exec session is kept before pruning.
    exec_prune_age: float = 300.0
    # Grace period before SIGKILL when stopping an exec session.
    exec_stop_timeout: float = 10.0
    # Seconds conmon waits before running the exit command of an attached session:
    # the attached client normally reaps first; the command is the safety net.
    exec_exit_delay: int = 60
    # The same for an attached ``run``: if its client was killed, cleanup runs this
    # much later.
    attached_exit_delay: int = 2
    # How long ``rm -f`` lets an attached client read the exit code before removing.
    attached_client_grace: float = 10.0
    # Seconds a shutting-down kernel gives its exec sessions between SIGTERM and
    # SIGKILL (all at once, one shared wait).
    kernel_stop_timeout: float = 1.0
    # After a cell interrupt (SIGINT to the process group), seconds before SIGKILL.
    interrupt_grace: float = 2.0
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
        cfg._apply_tunables(toml)
        regs = toml.get("unqualified_search_registries")
        if isinstance(regs, list):
            cfg.unqualified_registries = [str(r) for r in regs]
        return cfg

    def _apply_tunables(self, toml: dict[str, object]) -> None:
        from .errors import ConfigError

        for f in fields(self):
            if f.name not in TUNABLES or f.name not in toml:
                continue
            kind = int if f.type in ("int", int) else float
            value = toml[f.name]
            try:
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise ValueError
                number: float = float(value)
                if number < 0 or (kind is int and number != int(number)):
                    raise ValueError
            except ValueError:
                raise ConfigError(f"{f.name} = {value!r} in {_config_path()} is not a "
                                  f"{'whole ' if kind is int else ''}number of seconds "
                                  ">= 0: fix the configuration file") from None
            setattr(self, f.name, kind(number))

    def cli_args(self) -> list[str]:
        """Global flags that reproduce this config in a child ``ipy-oci`` (exit commands)."""
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--runtime", self.runtime]


# The engine's timing knobs (seconds); the Jupyter server mirrors them as traitlets.
TUNABLES = ("exec_prune_age", "exec_stop_timeout", "exec_exit_delay", "attached_exit_delay",
            "attached_client_grace", "kernel_stop_timeout", "interrupt_grace")
