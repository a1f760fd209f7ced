"""Where state lives and which binaries run containers.

Precedence: explicit arguments (CLI flags) > environment variables >
TOML file (``IPY_OCI_CONFIG``, else ``/etc/ipy-oci/ipy-oci.toml`` for root or
``~/.config/ipy-oci/ipy-oci.toml`` for a normal user) > defaults.

A normal user (rootless) gets per-user defaults: the store under
``${XDG_DATA_HOME:-~/.local/share}/ipy-oci`` and the runroot under
``$XDG_RUNTIME_DIR/ipy-oci`` or ``/tmp/ipy-oci-run-UID``. Inside the user's namespace
the process is uid 0, so "who am I" is always ``host_uid()``, never ``geteuid()``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_ROOT = "/var/lib/ipy-oci"
DEFAULT_RUNROOT = "/run/ipy-oci"
DEFAULT_CONFIG_FILE = "/etc/ipy-oci/ipy-oci.toml"



def host_uid() -> int:
    """The uid this process has on the host: what uid 0 maps to in a user namespace
    (``0 1001 1`` -> 1001), else the real uid."""
    try:
        with open("/proc/self/uid_map", "rb") as fh:
            first = fh.readline().split()
    except OSError:
        return os.getuid()
    if len(first) == 3 and first[0] == b"0" and first[2] != b"4294967295":
        return int(first[1])
    return os.getuid()


def is_rootless() -> bool:
    """True for a normal user, inside or outside its user namespace."""
    return host_uid() != 0


def user_home() -> Path:
    """The user's home (inside the namespace, ``getpwuid(getuid())`` names root's)."""
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    import pwd

    try:
        return Path(pwd.getpwuid(host_uid()).pw_dir)
    except KeyError:
        return Path("/")


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "")
    return Path(value) if os.path.isabs(value) else user_home() / fallback


def default_paths() -> tuple[str, str, str]:
    """(root, runroot, config file) for this user."""
    uid = host_uid()
    if uid == 0:
        return DEFAULT_ROOT, DEFAULT_RUNROOT, DEFAULT_CONFIG_FILE
    root = _xdg("XDG_DATA_HOME", ".local/share") / "ipy-oci"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    runroot = (Path(runtime_dir) / "ipy-oci" if _owned_dir(runtime_dir, uid)
               else Path(f"/tmp/ipy-oci-run-{uid}"))
    conf = _xdg("XDG_CONFIG_HOME", ".config") / "ipy-oci" / "ipy-oci.toml"
    return str(root), str(runroot), str(conf)


def _owned_dir(path: str, uid: int) -> bool:
    if not os.path.isabs(path):
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    # Inside the namespace the user's own files show as uid 0.
    return st.st_uid in (uid, os.geteuid())


def _config_path() -> str:
    return os.environ.get("IPY_OCI_CONFIG") or default_paths()[2]


def config_file() -> str:
    """The TOML file settings come from (for messages that say what to change)."""
    return _config_path()


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20,
               "mib": 1 << 20, "mb": 1000**2, "g": 1 << 30, "gib": 1 << 30, "gb": 1000**3,
               "t": 1 << 40, "tib": 1 << 40, "tb": 1000**4}


def parse_size(value: object) -> int:
    """Bytes from ``1073741824``, ``"1GiB"``, ``"512 MiB"``, ``"1g"`` (k/m/g/t are
    binary, as docker's flags; KB/MB/GB decimal). ValueError if it is none of these."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        number, unit = float(value), ""
    elif isinstance(value, str):
        import re

        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _SIZE_UNITS:
            raise ValueError(value)
        number, unit = float(m.group(1)), m.group(2).lower()
    else:
        raise ValueError(value)
    if number < 0:
        raise ValueError(value)
    return int(number * _SIZE_UNITS[unit])


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


DEFAULT_MAX_LAYER_SIZE = 32 << 30
DEFAULT_MAX_IMAGE_SIZE = 64 << 30
DEFAULT_MIN_FREE_SPACE = 100 << 20


@dataclass(frozen=True)
class StorageLimits:
    """The storage limits of a Config, as the image store takes them (bytes, 0: none)."""

    max_layer_size: int = DEFAULT_MAX_LAYER_SIZE
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    min_free_space: int = DEFAULT_MIN_FREE_SPACE


@dataclass
class Config:
    root: Path
    runroot: Path
    runtime: str = "runc"
    conmon: str = "conmon"
    log_level: str = "warn"
    # --runtime-flag FLAG (global, per invocation): "--FLAG" before every runtime
    # command, as podman passes it (runc's --debug, --log-format=json, ...).
    runtime_flags: list[str] = field(default_factory=list)
    # The Slurm node this process runs on for a job (its -N name), or "": the
    # login side, where Slurm containers are remote (engine/slurm.py).
    slurm_node: str = ""
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
    # -- storage limits (bytes; in the TOML file as a number or "32GiB"; 0: none) ------
    # The most one layer may expand to (its uncompressed tar, and what it writes).
    max_layer_size: int = DEFAULT_MAX_LAYER_SIZE
    # The most all layers of one image may expand to together.
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    # Space pulls, imports and extraction leave free on the storage root's filesystem,
    # so the state database and running containers keep working.
    min_free_space: int = DEFAULT_MIN_FREE_SPACE
    # The events log (<runroot>/events/events.log) is rotated past this size, keeping
    # its newest half (podman's events_logfile_max_size; 0: never rotated).
    events_logfile_max_size: int = 1_000_000

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

        default_root, default_runroot, _ = default_paths()
        cfg = cls(
            root=Path(pick(root, "IPY_OCI_ROOT", "root", default_root)).absolute(),
            runroot=Path(pick(runroot, "IPY_OCI_RUNROOT", "runroot", default_runroot)).absolute(),
            runtime=pick(runtime, "IPY_OCI_RUNTIME", "runtime", "runc"),
            conmon=pick(None, "IPY_OCI_CONMON", "conmon", "conmon"),
            log_level=pick(log_level, "IPY_OCI_LOG_LEVEL", "log_level", "warn"),
        )
        cfg.slurm_node = os.environ.get("IPY_OCI_SLURM_NODE", "")
        cfg._apply_tunables(toml)
        cfg._apply_sizes(toml)
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

    def _apply_sizes(self, toml: dict[str, object]) -> None:
        from .errors import ConfigError

        for name in SIZE_LIMITS:
            if name not in toml:
                continue
            try:
                setattr(self, name, parse_size(toml[name]))
            except ValueError:
                raise ConfigError(f"{name} = {toml[name]!r} in {_config_path()} is not a "
                                  'size: write a number of bytes or a size such as "32GiB" '
                                  '(0 means no limit), and fix the configuration file'
                                  ) from None

    def storage_limits(self) -> StorageLimits:
        return StorageLimits(self.max_layer_size, self.max_image_size, self.min_free_space)

    def cli_args(self) -> list[str]:
        """Global flags that reproduce this config in a child ``ipy-oci`` (exit commands)."""
        node = ["--slurm-node", self.slurm_node] if self.slurm_node else []
        return ["--root", str(self.root), "--runroot", str(self.runroot),
                "--runtime", self.runtime, *node]


# The engine's timing knobs (seconds); the Jupyter server mirrors them as traitlets.
TUNABLES = ("exec_prune_age", "exec_stop_timeout", "exec_exit_delay", "attached_exit_delay",
            "attached_client_grace", "kernel_stop_timeout", "interrupt_grace")

# Sizes in bytes (see Config): the image store's limits and the events log's cap.
SIZE_LIMITS = ("max_layer_size", "max_image_size", "min_free_space",
               "events_logfile_max_size")
