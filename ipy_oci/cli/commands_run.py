"""CLI handlers that make containers: run and create (and the attached run loop)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..engine.container import Container
from ..engine.options import DEFAULT_DETACH_KEYS
from ..engine.records import ContainerConfig
from ..engine.runtime import Runtime
from ..errors import OciError, RuntimeFailure
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
                               pull_options=pull_options(args), replace=args.replace)


def cmd_create(rt: Runtime, args: argparse.Namespace) -> int:
    cfg = container_config(args)
    ctr = _create(rt, args, cfg)
    if cfg.log_driver != "passthrough":  # podman: stdout is the container's then
        _out(ctr.id)
    return 0


def cmd_run(rt: Runtime, args: argparse.Namespace) -> int:
    from ..grammar.options_run import attach_streams

    cfg = container_config(args)
    streams = attach_streams(args.attach)
    if streams is not None and cfg.log_driver == "passthrough":
        from ..errors import UsageError

        raise UsageError("cannot specify --attach with --log-driver=passthrough: the "
                         "container already has this process's stdin, stdout and stderr")
    if streams is not None and args.detach:
        from ..errors import UsageError

        raise UsageError("--attach and --detach cannot be used together: -a chooses the "
                         "streams a foreground run attaches")
    ctr = _create(rt, args, cfg)
    try:
        if args.detach:
            try:
                ctr.start(preserve_fds=args.preserve_fds)
            except BaseException:
                _remove_quietly(ctr)
                raise
            if cfg.log_driver != "passthrough":
                _out(ctr.id)
            return 0
        return run_attached(ctr, detach_keys(args), remove=cfg.auto_remove,
                            attach=args.attach, preserve_fds=args.preserve_fds)
    except RuntimeFailure as exc:
        # podman run: the runtime failing to start the container is 126 (127 when its
        # words say something was not found), unlike the 125 of ``start``
        low = str(exc).lower()
        exc.exit_code = 127 if "not found" in low or "no such file" in low else 126
        raise


def run_attached(ctr: Container, detach_keys: str = DEFAULT_DETACH_KEYS,
                 remove: bool = False, attach: list[str] | None = None,
                 preserve_fds: int = 0) -> int:
    """Init, attach, start, stream until exit; the exit code is the container's.

    ``attach``: ``run -a`` values (which of stdout and stderr to show; podman attaches
    stdin whenever the container has -i, whatever -a says).
    """
    from ..engine.options import parse_detach_keys
    from ..grammar.options_run import attach_streams, stream_filter
    from .terminal import RawWhenStarted, write_stream

    cfg = ctr.record.config
    _in, want_out, want_err = attach_streams(attach or []) or (True, True, True)
    keys = parse_detach_keys(detach_keys) if cfg.tty else b""
    stdin_fd = sys.stdin.fileno() if cfg.stdin else None
    tty_fd = stdin_fd if stdin_fd is not None and os.isatty(stdin_fd) and cfg.tty else None

    def started(c: Container) -> None:
        term.started(c)
        if not want_out and not want_err:
            _out(c.id)  # podman: with no output attached, the id is what run prints

    from ..engine.slurm import SlurmContainer

    if isinstance(ctr, SlurmContainer) and tty_fd is not None:
        # srun --pty puts our terminal in raw mode and carries its size itself.
        with proxied_signals(ctr):
            res = ctr.run_attached(write_stream, stdin_fd=stdin_fd, remove=remove,
                                   terminal=True)
        return res.exit_code if res.exit_code is not None and res.exit_code >= 0 else 125
    with RawWhenStarted(tty_fd, ctr.resize) as term, proxied_signals(ctr):
        res = ctr.run_attached(stream_filter(attach or [], write_stream), stdin_fd=stdin_fd,
                               detach_keys=keys, on_started=started, remove=remove,
                               preserve_fds=preserve_fds)
    if res.detached:
        sys.stderr.write(f"\ndetached from {ctr.id[:12]}\n")
        return 0
    code = res.exit_code
    if code is None:
        return 0
    # -1: conmon's --timeout killed it (podman exits 255 then); 125 for a lost process.
    return code if code >= 0 else (255 if cfg.timeout else 125)


# What an attached run passes on to its container, as podman's --sig-proxy (SIGINT
# is the attach loop's own: forwarded, then a stop; SIGWINCH is the terminal's size).
PROXIED_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                   signal.SIGUSR2, signal.SIGALRM)


@contextmanager
def proxied_signals(ctr: Container) -> Iterator[None]:
    """Signals sent to this process go to the container while we are attached, so
    ``kill`` of the client (or Slurm's scancel of a step) reaches the process."""
    def forward(sig: int, _frame: object) -> None:
        try:
            ctr.kill(sig)
        except OciError:
            pass  # it exited meanwhile: our attach loop sees that

    saved = {sig: signal.signal(sig, forward) for sig in PROXIED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _remove_quietly(ctr: Container) -> None:
    try:
        ctr.remove(force=True, timeout=0)
    except Exception:
        pass
