"""``ipy-oci exec``: the hot path, kept lean (no version probes, no runtime state calls)."""

from __future__ import annotations

import argparse
import os
import sys

from ..engine.runtime import Runtime
from .options import exec_config


def _write(stream: int, data: bytes) -> None:
    fd = 2 if stream == 3 else 1
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def cmd_exec(rt: Runtime, args: argparse.Namespace) -> int:
    from .terminal import raw_terminal

    config = exec_config(args)
    ctr = rt.touch(rt.lookup_container(args.container))
    sess = rt.exec_create(ctr, config)
    if args.detach:
        sess.start()
        print(sess.id)
        return 0
    stdin_fd = sys.stdin.fileno() if config.attach_stdin else None
    if stdin_fd is not None:
        os.set_blocking(stdin_fd, True)
    tty_fd = stdin_fd if stdin_fd is not None and config.tty and os.isatty(stdin_fd) else None
    # Raw mode starts once the session runs, so the first resize has a target.
    term = raw_terminal(tty_fd, sess.resize)
    entered = False

    def on_started(_s: object) -> None:
        nonlocal entered
        term.__enter__()
        entered = True

    try:
        res = sess.start_and_attach(_write, stdin_fd=stdin_fd, on_started=on_started,
                                    remove=True)
    finally:
        if entered:
            term.__exit__(None, None, None)
    if res.detached:
        sys.stderr.write(f"\ndetached from exec session {res.session_id[:12]}\n")
        return 0
    code = res.exit_code
    if code is None or code < 0:
        return 125
    return code
