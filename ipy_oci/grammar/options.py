"""Parsed flags -> engine configs. Shared by the CLI and the magics."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.options import DEFAULT_DETACH_KEYS, parse_detach_keys
from ..engine.records import ContainerConfig, ExecConfig
from ..errors import UsageError
from .signals import parse_signal

if TYPE_CHECKING:
    from ..engine.images import PullOptions


def resolve_env(items: list[str], env_files: list[str] | None = None) -> list[str]:
    """``--env-file`` entries first, then '-e KEY=VAL' as given (later wins); '-e KEY'
    takes KEY's value from this process, '-e PREFIX*' every variable with that
    prefix (podman)."""
    out: list[str] = []
    if env_files:  # loaded only when needed: exec is the hot path
        from .options_run import read_env_file

        out = [e for path in env_files for e in read_env_file(path)]
    for item in items:
        if "=" in item:
            if item.startswith("="):
                raise UsageError(f"invalid environment variable {item!r}: use KEY=VALUE")
            out.append(item)
        elif item:
            from .options_run import host_env_entry

            out += host_env_entry(item)
        else:
            raise UsageError("invalid environment variable '': use KEY=VALUE")
    return out


def parse_kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        if not key:
            raise UsageError(f"invalid {what} {item!r}: use KEY=VALUE")
        out[key] = val
    return out


def detach_keys(args: argparse.Namespace) -> str:
    """``--detach-keys`` as given ('' disables detaching), else the engine's default."""
    keys = getattr(args, "detach_keys", None)
    return DEFAULT_DETACH_KEYS if keys is None else str(keys)


def parse_size(text: str) -> int:
    """'64m' -> bytes (podman's units: b, k, m, g; binary multiples)."""
    t = text.strip().lower().removesuffix("b") or "0"
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(t[-1], 1)
    num = t[:-1] if t[-1] in "kmgt" else t
    try:
        value = int(float(num) * mult)
    except ValueError:
        raise UsageError(f"invalid size {text!r}: use a number with an optional unit "
                         "(b, k, m, g), e.g. 64m") from None
    if value <= 0:
        raise UsageError(f"invalid size {text!r}: it must be positive")
    return value


def container_config(args: argparse.Namespace) -> ContainerConfig:
    from . import options_run as run

    if args.entrypoint is not None:
        import json
        import shlex

        ep = args.entrypoint
        entrypoint = json.loads(ep) if ep.startswith("[") else (shlex.split(ep) if ep else [])
    else:
        entrypoint = None
    stop_signal = parse_signal(args.stop_signal) if args.stop_signal else 15
    if args.stop_timeout is not None and args.stop_timeout < 0:
        raise UsageError("--stop-timeout must be zero or more seconds")
    if args.pids_limit is not None and args.pids_limit < -1:
        raise UsageError(f"invalid --pids-limit {args.pids_limit}: give a positive number, "
                         "or -1 or 0 for no limit")
    if args.cpus is not None and args.cpus <= 0:
        raise UsageError("--cpus must be a positive number")
    parse_detach_keys(detach_keys(args))
    security_opt = security_opts(getattr(args, "security_opt", []), args.privileged)
    from ..engine.networks import network_flags

    net = network_flags(args)
    if getattr(args, "preserve_fds", 0) < 0:
        raise UsageError("--preserve-fds must be zero or a positive number")
    if args.replace and not args.name:
        raise UsageError("cannot replace container without --name being set")
    restart, retries = run.restart_policy(args.restart, args.rm)
    slurm_opts = run.slurm_options(getattr(args, "slurm", False),
                                   getattr(args, "slurm_opt", []), restart,
                                   getattr(args, "preserve_fds", 0))
    logs = run.log_config(args.log_driver, args.log_opt)
    if logs["log_driver"] == "passthrough":
        run.check_passthrough()
    labels = {k: v for path in args.label_file for k, v in run.read_label_file(path).items()}
    labels.update(parse_kv(args.label, "label"))
    if getattr(args, "kernel_memory", None) is not None:
        print("Warning: The --kernel-memory flag is no longer supported. This flag is a noop.",
              file=sys.stderr)
    # --memory 0 means no limit, as in podman.
    memory = parse_size(args.memory) if args.memory and args.memory.strip() != "0" else None
    return ContainerConfig(
        image=args.image,
        command=[],
        entrypoint=entrypoint,
        cmd=list(args.command) or None,
        env=resolve_env(args.env, args.env_file),
        user=args.user,
        workdir=args.workdir,
        tty=args.tty,
        stdin=args.interactive,
        hostname=args.hostname,
        network=net.network,
        mounts=run.mounts(args),
        labels=labels,
        annotations=parse_kv(args.annotation, "annotation"),
        stop_signal=stop_signal,
        stop_timeout=10 if args.stop_timeout is None else args.stop_timeout,
        init=args.init,
        auto_remove=args.rm,
        privileged=args.privileged,
        read_only=args.read_only,
        cap_add=list(args.cap_add),
        cap_drop=list(args.cap_drop),
        ulimits=list(args.ulimit),
        memory=memory,
        pids_limit=args.pids_limit,
        cpus=args.cpus,
        shm_size=parse_size(args.shm_size) if args.shm_size else None,
        security_opt=security_opt,
        networks=net.networks,
        network_aliases=list(args.network_alias),
        static_ip=args.ip or "",
        static_mac=args.mac_address or "",
        ports=net.ports,
        expose=net.expose,
        dns_servers=list(args.dns),
        dns_search=list(args.dns_search),
        dns_options=list(args.dns_option),
        add_hosts=list(args.add_host),
        no_hosts=args.no_hosts,
        publish_all=args.publish_all,
        devices=run.devices(args.device),
        device_cgroup_rules=run.device_cgroup_rules(args.device_cgroup_rule),
        group_add=run.group_add(args.group_add),
        sysctls=run.sysctls(args.sysctl, net.network),
        cpuset_cpus=run.cpuset(args.cpuset_cpus),
        cpu_shares=run.cpu_shares(args.cpu_shares),
        memory_swap=run.memory_swap(args.memory_swap, memory),
        timezone=run.timezone(args.tz),
        timeout=run.timeout_seconds(args.timeout),
        restart_policy=restart,
        restart_retries=retries,
        backend="slurm" if slurm_opts is not None else "",
        slurm_opts=slurm_opts or [],
        cidfile=os.path.abspath(args.cidfile) if args.cidfile else "",
        conmon_pidfile=os.path.abspath(args.conmon_pidfile) if args.conmon_pidfile else "",
        **logs,
    )


def security_opts(values: list[str], privileged: bool = False) -> list[str]:
    """``--security-opt`` values checked now (a bad one is a UsageError, exit 125, before
    anything is created; so is a missing default seccomp profile) and normalized for
    the config; notes go to stderr."""
    from ..engine.spec_builder import security_options

    sec = security_options(values, privileged)
    for note in sec.notes:
        print(f"Warning: {note}", file=sys.stderr)
    return sec.normalized()


def check_preserved_fds(count: int) -> None:
    """Podman's rule: every fd to pass on (3 .. 3+N-1) must already be open here.
    Checked before ipy-oci opens anything, so none of our own files can take
    such a number and leak into the container."""
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise UsageError(f"file descriptor {fd} is not available: --preserve-fds "
                             f"{count} needs fds 3 to {2 + count} open in the caller") from None


def exec_config(args: argparse.Namespace) -> ExecConfig:
    if not args.command or not args.command[0]:
        raise UsageError("must provide a non-empty command to start an exec session")
    if args.preserve_fds < 0:
        raise UsageError("--preserve-fds must be zero or a positive number")
    keys = detach_keys(args)
    parse_detach_keys(keys)  # a bad value fails before anything starts
    return ExecConfig(
        command=list(args.command), tty=args.tty, attach_stdin=args.interactive,
        detach_keys=keys, env=resolve_env(args.env, args.env_file), user=args.user,
        workdir=args.workdir, privileged=args.privileged, preserve_fds=args.preserve_fds,
    )


def pull_options(args: argparse.Namespace) -> PullOptions | None:
    """PullOptions from pull's flags (run and create have them too); None when no
    flag is given (the defaults, without loading the pull machinery)."""
    platform = getattr(args, "platform", None)
    arch, os_, variant = (getattr(args, k, None) for k in ("arch", "os", "variant"))
    authfile = getattr(args, "authfile", None)
    tls_verify, creds = getattr(args, "tls_verify", None), getattr(args, "creds", None)
    if not any((platform, arch, os_, variant, authfile, creds)) and tls_verify is None:
        return None
    from ..engine.images import PullOptions, host_platform

    if not platform and (arch or os_ or variant):
        host = host_platform()
        platform = f"{os_ or host.os}/{arch or host.architecture}"
        if variant:
            platform += f"/{variant}"
    return PullOptions(platform=platform, tls_verify=tls_verify,
                       authfile=Path(authfile) if authfile else None, creds=creds)
