"""The run/create flags beyond the basics: files read on the client (``--env-file``,
``--label-file``), mounts (``-v``, ``--mount``, ``--tmpfs``), ``--restart``, logging,
devices, sysctls, resources and the rest, each checked here so a bad value fails
``create`` with exit 125 before anything exists. grammar/options.py puts the results
into the ContainerConfig.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from ..errors import UsageError

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
LOG_DRIVERS = ("k8s-file", "json-file", "none", "passthrough")
_CPUSET = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")
# go-units' FromHumanSize, which podman uses for --log-opt max-size: decimal units.
_HUMAN_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


# -- files read on the client, as podman reads them ---------------------------------------
def _read_text(path: str, flag: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it: {exc.strerror or exc}; "
                         "give an existing, readable file") from None


def host_env_entry(name: str) -> list[str]:
    """``KEY`` alone takes KEY's value from this process (nothing if unset);
    ``PREFIX*`` takes every variable that starts with PREFIX (podman)."""
    if name.endswith("*"):
        prefix = name[:-1]
        return [f"{k}={v}" for k, v in os.environ.items() if k.startswith(prefix)]
    return [f"{name}={os.environ[name]}"] if name in os.environ else []


def read_env_file(path: str) -> list[str]:
    """podman's env file: ``KEY=VALUE`` lines (the value kept as written, quotes and
    spaces included), ``KEY`` alone for this host's value; leading blanks are dropped;
    blank lines and lines starting with ``#`` are skipped."""
    out: list[str] = []
    for n, raw in enumerate(_read_text(path, "--env-file").splitlines(), start=1):
        line = raw.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise UsageError(f"--env-file {path}, line {n}: invalid environment variable "
                             f"{raw!r}: use KEY=VALUE, or KEY for this host's value")
        if sep:
            out.append(f"{key}={value}")
        elif "\0" in key or any(c.isspace() for c in key.rstrip()):
            raise UsageError(f"--env-file {path}, line {n}: invalid variable name "
                             f"{key.rstrip()!r}: use KEY=VALUE")
        else:
            out += host_env_entry(key.rstrip())
    return out


def read_label_file(path: str) -> dict[str, str]:
    """``KEY=VALUE`` labels, one a line (``KEY`` alone is an empty label); blank lines
    and ``#`` comments are skipped."""
    out: dict[str, str] = {}
    for n, raw in enumerate(_read_text(path, "--label-file").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if not key:
            raise UsageError(f"--label-file {path}, line {n}: invalid label {raw!r}: "
                             "use KEY=VALUE")
        out[key] = value
    return out


# -- mounts --------------------------------------------------------------------------------
def mounts(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``-v``, ``--mount`` and ``--tmpfs`` as ContainerConfig.mounts; each destination
    once (the same ``--tmpfs`` given twice counts once, as in podman)."""
    from ..engine.options import bind_mount, mount_flag, tmpfs_flag

    out: list[dict[str, Any]] = []
    for flag, items, parse in (("-v", args.volume, bind_mount),
                               ("--mount", getattr(args, "mount", []), mount_flag),
                               ("--tmpfs", getattr(args, "tmpfs", []), tmpfs_flag)):
        for item in items:
            m = parse(item)
            same = next((o for o in out if o["destination"] == m["destination"]), None)
            if same is not None:
                if same == m and m.get("type") == "tmpfs":
                    continue
                raise UsageError(f"{flag} {item}: {m['destination']} is already a mount "
                                 "destination (-v, --mount, --tmpfs): give each one once")
            out.append(m)
    return out


# -- restart, timeout, time zone -----------------------------------------------------------
def restart_policy(text: str | None, auto_remove: bool) -> tuple[str, int]:
    """``--restart`` -> (policy, retries); "" when not given."""
    if text is None or text == "":
        return "", 0
    name, sep, count = text.partition(":")
    if name not in RESTART_POLICIES:
        raise UsageError(f"invalid --restart {text!r}: use no, on-failure[:N], always or "
                         "unless-stopped")
    retries = 0
    if sep:
        if name != "on-failure":
            raise UsageError(f"invalid --restart {text!r}: a retry count goes only with "
                             "on-failure, e.g. on-failure:3")
        if not count.isdigit():
            raise UsageError(f"invalid --restart {text!r}: the retry count must be a "
                             "number, e.g. on-failure:3")
        retries = int(count)
    if auto_remove and name in ("always", "unless-stopped"):
        raise UsageError(f"the --rm option conflicts with --restart {text}: a container "
                         "that restarts itself is never removed; use --restart no or "
                         "on-failure, or drop --rm")
    return name, retries


def timeout_seconds(text: str | None) -> int:
    if text is None:
        return 0
    if not text.isdigit():
        raise UsageError(f"invalid --timeout {text!r}: give a whole number of seconds "
                         "(0: no limit)")
    return int(text)


def timezone(text: str | None) -> str:
    if text is None or text == "":
        return ""
    from ..engine.options import check_timezone

    check_timezone(text)
    return text


# -- logging -------------------------------------------------------------------------------
def human_size(text: str) -> int:
    """``10mb``, ``1.5k`` -> bytes in decimal units, as podman reads --log-opt max-size."""
    m = _HUMAN_SIZE.fullmatch(text.strip())
    if not m:
        raise UsageError(f"invalid --log-opt max-size={text}: use a size such as 10mb, "
                         "512k or 1g")
    return int(float(m.group(1)) * _DECIMAL[(m.group(2) or "").lower()])


def log_config(driver: str | None, opts: list[str]) -> dict[str, Any]:
    """``--log-driver`` and ``--log-opt`` -> the ContainerConfig's log fields."""
    name = "k8s-file" if driver is None or driver == "" else driver
    if name not in LOG_DRIVERS:
        extra = (" (journald is not available: ipy-oci has no journal reader)"
                 if name == "journald" else "")
        raise UsageError(f"invalid --log-driver {name!r}{extra}: use k8s-file (json-file "
                         "is an alias), none or passthrough")
    out: dict[str, Any] = {"log_driver": name, "log_path": "", "log_size_max": 0,
                           "log_tag": ""}
    for opt in opts:
        key, sep, value = opt.partition("=")
        key = key.lower()
        if not sep:
            raise UsageError(f"invalid --log-opt {opt!r}: use NAME=VALUE (max-size, path "
                             "or tag)")
        if key == "max-size":
            out["log_size_max"] = -1 if value == "-1" else human_size(value)
        elif key == "path":
            if not value.startswith("/"):
                raise UsageError(f"invalid --log-opt {opt!r}: the log path must be absolute")
            if not os.path.isdir(os.path.dirname(value)):
                raise UsageError(f"invalid --log-opt {opt!r}: the directory "
                                 f"{os.path.dirname(value)} does not exist; create it first")
            if os.path.isdir(value):
                raise UsageError(f"invalid --log-opt {opt!r}: {value} is a directory; give "
                                 "a file path")
            out["log_path"] = value
        elif key == "tag":
            out["log_tag"] = value
        else:
            raise UsageError(f"invalid --log-opt {opt!r}: unknown option {key!r}; use "
                             "max-size, path or tag")
    if name in ("none", "passthrough") and out["log_path"]:
        raise UsageError(f"--log-opt path=... needs a log file, which --log-driver {name} "
                         "does not write: use --log-driver k8s-file")
    return out


def check_passthrough() -> None:
    """podman's rules: passthrough hands our own stdin/stdout/stderr to the container,
    which is unsafe on a terminal (TIOCSTI) and makes no sense with --attach."""
    import sys

    for stream in (sys.stdin, sys.stdout, sys.stderr):
        try:
            tty = stream is not None and os.isatty(stream.fileno())
        except (OSError, ValueError, AttributeError):
            tty = False
        if tty:
            raise UsageError("the '--log-driver passthrough' option cannot be used on a "
                             "TTY: redirect stdin, stdout and stderr, or use k8s-file")


# -- devices, sysctls, resources -----------------------------------------------------------
def devices(items: list[str]) -> list[dict[str, str]]:
    from ..engine.options import device_flag

    out: list[dict[str, str]] = []
    for item in items:
        out += device_flag(item)
    return out


def device_cgroup_rules(items: list[str]) -> list[str]:
    from ..engine.options import cgroup_rule_flag

    for item in items:
        cgroup_rule_flag(item)  # a bad rule fails at create, with podman's words
    return list(items)


def sysctls(items: list[str], network: str) -> dict[str, str]:
    from ..engine.options import sysctl_flag

    return dict(sysctl_flag(item, network) for item in items)


def cpuset(text: str | None) -> str:
    if text is None or text == "":
        return ""
    if not _CPUSET.fullmatch(text):
        raise UsageError(f"invalid --cpuset-cpus {text!r}: use CPU numbers and ranges such "
                         "as 0-1,3")
    ncpu = os.cpu_count() or 1
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if int(hi or lo) >= ncpu or (hi and int(hi) < int(lo)):
            raise UsageError(f"invalid --cpuset-cpus {text!r}: this host has CPUs 0 to "
                             f"{ncpu - 1}")
    return text


def cpu_shares(value: int | None) -> int | None:
    if value is not None and not 2 <= value <= 262144:
        raise UsageError(f"invalid --cpu-shares {value}: use 2 to 262144 (default 1024)")
    return value


def memory_swap(text: str | None, memory: int | None) -> int | None:
    """``--memory-swap``: memory plus swap, at least --memory; -1 for unlimited swap.
    Not given with --memory: twice --memory, as podman, where swap can be limited."""
    if text is None or text == "":
        if memory is None:
            return None
        from ..engine.options import swap_limit_supported

        return 2 * memory if swap_limit_supported() else None
    from .options import parse_size

    if memory is None:
        raise UsageError("--memory-swap needs --memory as well (it limits memory plus swap)")
    value = -1 if text.strip() == "-1" else parse_size(text)
    if 0 <= value < memory:
        raise UsageError(f"invalid --memory-swap {text}: it limits memory plus swap, so it "
                         "must be at least --memory (or -1 for unlimited swap)")
    return value


def group_add(items: list[str]) -> list[str]:
    for g in items:
        if g == "keep-groups":
            raise UsageError("--group-add keep-groups needs crun; ipy-oci runs runc: give "
                             "group names or gids instead")
        if not g or ":" in g or any(c.isspace() for c in g):
            raise UsageError(f"invalid --group-add {g!r}: give a group name or a gid")
    return list(items)


def attach_streams(items: list[str]) -> tuple[bool, bool, bool] | None:
    """``-a stdin|stdout|stderr`` -> which of (stdin, stdout, stderr) run attaches;
    None when -a was not given (all of them)."""
    if not items:
        return None
    chosen = set()
    for item in items:
        for name in item.split(","):
            low = name.strip().lower()
            if low not in ("stdin", "stdout", "stderr"):
                raise UsageError(f"invalid stream {name!r} for --attach: must be one of "
                                 "stdin, stdout, or stderr")
            chosen.add(low)
    return "stdin" in chosen, "stdout" in chosen, "stderr" in chosen


def check_cell_flags(args: argparse.Namespace) -> None:
    """Flags a kernel cannot honour: its fds 3+ are its own sockets, and its stdio is
    not the cell's."""
    if getattr(args, "preserve_fds", 0):
        raise UsageError("%oci run --preserve-fds: a kernel's open files are its own "
                         "sockets, never passed to a container; use the CLI")
    if getattr(args, "log_driver", None) == "passthrough":
        raise UsageError("%oci --log-driver passthrough: a cell has no stdin, stdout and "
                         "stderr to hand over; use k8s-file (the default) or none")


def stream_filter(items: list[str], on_output: Any) -> Any:
    """``run -a stdout|stderr``: ``on_output`` for the chosen streams only."""
    streams = attach_streams(items)
    if streams is None:
        return on_output
    _stdin, out, err = streams

    def filtered(stream: int, data: bytes) -> None:
        if out if stream != 3 else err:
            on_output(stream, data)

    return filtered


def slurm_options(slurm: bool, opts: list[str], restart: str,
                  preserve_fds: int) -> list[str] | None:
    """``--slurm`` / ``--slurm-opt``: sbatch's options, or None to run here."""
    if not slurm and not opts:
        return None
    for opt in opts:
        if not opt.startswith("-"):
            raise UsageError(f"--slurm-opt {opt!r} is not an option of Slurm's: write it "
                             "as Slurm does, e.g. --slurm-opt=--partition=debug")
        if opt.split("=")[0] in ("--wrap", "--output", "-o", "--error", "-e", "--parsable",
                                 "--job-name", "-J", "--array", "-a"):
            raise UsageError(f"--slurm-opt {opt}: ipy-oci sets this one itself for the "
                             "container's job")
    if restart not in ("", "no"):
        raise UsageError("--restart cannot be used with --slurm: the container's job ends "
                         "with the container (use --slurm-opt=--requeue for Slurm's own)")
    if preserve_fds:
        raise UsageError("--preserve-fds cannot pass descriptors to a Slurm node")
    return list(opts)
