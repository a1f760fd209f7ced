"""CLI handlers that make containers: run and create (and the attached run loop)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from ..engine.container import Container
from ..engine.options import DEFAULT_DETACH_KEYS
from ..engine.records import ContainerConfig
from ..engine.runtime import Runtime
from ..grammar.options import container_config, detach_keys


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _create(rt: Runtime, args: argparse.Namespace, cfg: ContainerConfig) -> Container:
    from ..grammar.options import pull_options

    # The progress display loads only if a pull really happens (most runs use a
    # local image): run's start-up stays lean.
    display: list[Callable[[Any], None] | None] = []

    def progress(event: Any) -> None:
        if not display:
            from .pull_progress import cli_progress

            display.append(cli_progress(sys.stderr))
        if display[0] is not None:
            display[0](event)

    return rt.create_container(cfg, args.name, pull=args.pull, progress=progress,
                               pull_options=pull_options(args))


def cmd_create(rt: Runtime, args: argparse.Namespace) -> int:
    ctr = _create(rt, args, container_config(args))
    _out(ctr.id)
    return 0


def cmd_run(rt: Runtime, args: argparse.Namespace) -> int:
    cfg = container_config(args)
    ctr = _create(rt, args, cfg)
    if args.detach:
        try:
            ctr.start()
        except BaseException:
            _remove_quietly(ctr)
            raise
        _out(ctr.id)
        return 0
    return run_attached(ctr, detach_keys(args), remove=cfg.auto_remove)


def run_attached(ctr: Container, detach_keys: str = DEFAULT_DETACH_KEYS,
                 remove: bool = False) -> int:
    """Init, attach, start, stream until exit; the exit code is the container's."""
    from ..engine.options import parse_detach_keys
    from .terminal import RawWhenStarted, write_stream

    cfg = ctr.record.config
    keys = parse_detach_keys(detach_keys) if cfg.tty else b""
    stdin_fd = sys.stdin.fileno() if cfg.stdin else None
    tty_fd = stdin_fd if stdin_fd is not None and os.isatty(stdin_fd) and cfg.tty else None
    with RawWhenStarted(tty_fd, ctr.resize) as term:
        res = ctr.run_attached(write_stream, stdin_fd=stdin_fd, detach_keys=keys,
                               on_started=term.started, remove=remove)
    if res.detached:
        sys.stderr.write(f"\ndetached from {ctr.id[:12]}\n")
        return 0
    code = res.exit_code
    return 0 if code is None else (code if code >= 0 else 125)


def _remove_quietly(ctr: Container) -> None:
    try:
        ctr.remove(force=True, timeout=0)
    except Exception:
        pass
