"""The flags of ``run``/``create`` (the container's configuration) and of ``exec``.

grammar/options.py turns what these parse into ContainerConfig and ExecConfig.
"""

from __future__ import annotations

import argparse
from typing import Any

from .parser_images import add_pull_flags
from .parser_networks import add_network_flags


def detach_keys_flag(p: Any) -> None:
    # No default here: options.detach_keys() fills in the engine's, so that building
    # the parser (``--help``) imports nothing of the engine.
    p.add_argument("--detach-keys", default=None, metavar="KEYS",
                   help="key sequence that detaches, e.g. ctrl-p,ctrl-q ('' disables)")


def add_create_flags(p: Any, run: bool = False) -> None:
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL")
    p.add_argument("-u", "--user", default="", help="user[:group] to run as")
    p.add_argument("-w", "--workdir", default="", help="working directory")
    p.add_argument("--entrypoint", default=None, help="override the image's ENTRYPOINT")
    p.add_argument("-v", "--volume", action="append", default=[],
                   metavar="HOST:CTR[:ro]", help="bind mount a host path")
    p.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VAL")
    p.add_argument("--annotation", action="append", default=[], metavar="KEY=VAL")
    p.add_argument("--stop-signal", default=None, help="signal to stop (default SIGTERM)")
    p.add_argument("--stop-timeout", type=int, default=None,
                   help="seconds to wait before SIGKILL on stop (default 10)")
    p.add_argument("--init", action="store_true", help="run an init (catatonit) as PID 1")
    add_network_flags(p)
    p.add_argument("-h", "--hostname", default="", help="container host name")
    p.add_argument("--privileged", action="store_true",
                   help="all capabilities and devices, no seccomp, no masked paths")
    p.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                   help="seccomp=unconfined|PATH, no-new-privileges[=true|false], "
                   "mask=PATH[:PATH...], unmask=PATH[:PATH...]|ALL, label=disable, "
                   "apparmor=NAME|unconfined")
    p.add_argument("--read-only", action="store_true", help="mount the rootfs read-only")
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--ulimit", action="append", default=[], metavar="NAME=SOFT[:HARD]")
    p.add_argument("-m", "--memory", default=None, help="memory limit, e.g. 64m")
    p.add_argument("--pids-limit", type=int, default=None,
                   help="most processes at once (default 2048; -1 or 0: unlimited)")
    p.add_argument("--cpus", type=float, default=None)
    p.add_argument("--shm-size", default=None)
    add_more_create_flags(p)
    if run:
        add_run_only_flags(p)
    detach_keys_flag(p)
    p.add_argument("--pull", default="missing", choices=["missing", "always", "never"])
    add_pull_flags(p, with_image=False)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")


def env_file_flag(p: Any) -> None:
    p.add_argument("--env-file", action="append", default=[], metavar="FILE",
                   help="read KEY=VALUE lines (KEY alone: this host's value) from FILE")


def add_more_create_flags(p: Any) -> None:
    """Mounts, files, restart, logging, devices and resources (grammar/options.py)."""
    env_file_flag(p)
    p.add_argument("--label-file", action="append", default=[], metavar="FILE",
                   help="read KEY=VALUE labels, one a line, from FILE")
    p.add_argument("--mount", action="append", default=[], metavar="type=TYPE,...",
                   help="type=bind|volume|tmpfs,source=...,destination=...[,ro][,...]")
    p.add_argument("--tmpfs", action="append", default=[], metavar="PATH[:OPTS]",
                   help="mount a tmpfs at PATH (OPTS: size=, mode=, ro, noexec, ...)")
    p.add_argument("--cidfile", default=None, metavar="FILE",
                   help="write the container ID to FILE (which must not exist)")
    p.add_argument("--conmon-pidfile", default=None, metavar="FILE",
                   help="write the pid of the container's conmon to FILE")
    p.add_argument("--replace", action="store_true",
                   help="remove a container of the same --name first")
    p.add_argument("--slurm", action="store_true",
                   help="run the container as a Slurm job on a compute node (docs/SCALE.md)")
    p.add_argument("--slurm-opt", action="append", default=[], metavar="ARG",
                   help="pass ARG to Slurm (--slurm-opt=--nodelist=n2, "
                        "--slurm-opt=--time=1:00:00); implies --slurm")
    p.add_argument("--timeout", default=None, metavar="SECONDS",
                   help="kill the container after SECONDS (0: no limit)")
    p.add_argument("--tz", default=None, metavar="ZONE",
                   help="the container's time zone (e.g. Europe/Paris), or 'local'")
    p.add_argument("--restart", default=None, metavar="POLICY",
                   help="no, on-failure[:N], always or unless-stopped")
    p.add_argument("--log-driver", default=None, metavar="DRIVER",
                   help="k8s-file (default; json-file is an alias), none or passthrough")
    p.add_argument("--log-opt", action="append", default=[], metavar="NAME=VALUE",
                   help="max-size=SIZE, path=FILE or tag=TAG")
    p.add_argument("--device", action="append", default=[],
                   metavar="HOST[:CONTAINER][:PERMS]", help="add a host device (PERMS: rwm)")
    p.add_argument("--device-cgroup-rule", action="append", default=[],
                   metavar="'TYPE MAJOR:MINOR ACCESS'",
                   help="allow devices in the cgroup, e.g. 'c 1:3 rwm' ('*' any number)")
    p.add_argument("--group-add", action="append", default=[], metavar="GROUP",
                   help="an additional group (name or gid) for the process")
    p.add_argument("--sysctl", action="append", default=[], metavar="NAME=VALUE",
                   help="a namespaced kernel parameter (net.*, kernel.shm*, fs.mqueue.* ...)")
    p.add_argument("--cpuset-cpus", default=None, metavar="CPUS",
                   help="CPUs the container may use, e.g. 0-1,3")
    p.add_argument("-c", "--cpu-shares", type=int, default=None, metavar="SHARES",
                   help="CPU shares (relative weight; default 1024)")
    p.add_argument("--memory-swap", default=None, metavar="SIZE",
                   help="memory plus swap limit (with --memory; -1: unlimited swap)")
    p.add_argument("--kernel-memory", default=None, metavar="SIZE",
                   help="accepted and ignored with a warning, as podman (no longer "
                   "supported by the kernel)")


def add_run_only_flags(p: Any) -> None:
    p.add_argument("-a", "--attach", action="append", default=[], metavar="STREAM",
                   help="attach only to stdin, stdout and/or stderr")
    p.add_argument("--preserve-fds", type=int, default=0, metavar="N",
                   help="pass fds 3 to 3+N-1 on to the container")


def add_exec_flags(p: Any) -> None:
    p.add_argument("-d", "--detach", action="store_true",
                   help="run in the background; print the session ID")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY[=VAL]",
                   help="set an environment variable (KEY alone: this process's value)")
    env_file_flag(p)
    p.add_argument("-u", "--user", default="", help="user[:group] to run as")
    p.add_argument("-w", "--workdir", default="", help="working directory")
    detach_keys_flag(p)
    p.add_argument("--privileged", action="store_true",
                   help="every capability (still under the container's seccomp profile)")
    p.add_argument("--preserve-fds", type=int, default=0, metavar="N",
                   help="pass file descriptors 3 to 3+N-1 to the process")
    p.add_argument("-l", "--latest", action="store_true",
                   help="the container created last (CONTAINER is then the command)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
