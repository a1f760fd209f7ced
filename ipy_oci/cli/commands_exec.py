"""``ipy-oci exec``: the hot path, kept lean (no version probes, no runtime state calls)."""

from __future__ import annotations

import argparse
import os
import sys

from ..engine.runtime import Runtime
from ..grammar.options import exec_config


def cmd_exec(rt: Runtime, args: argparse.Namespace) -> int:
    from .terminal import RawWhenStarted, write_stream

    config = exec_config(args)
    if args.latest:
        from ..engine.selection import latest_container

        ctr = rt.touch(latest_container(rt))
    else:
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
    from ..engine.slurm_exec import SlurmExec

    if isinstance(sess, SlurmExec) and tty_fd is not None:
        return sess.run_in_terminal()  # srun --pty on this terminal
    with RawWhenStarted(tty_fd, sess.resize) as term:
        res = sess.start_and_attach(write_stream, stdin_fd=stdin_fd, on_started=term.started,
                                    remove=True)
    if res.detached:
        sys.stderr.write(f"\ndetached from exec session {res.session_id[:12]}\n")
        return 0
    code = res.exit_code
    if code is None or code < 0:
        return 125
    return code
