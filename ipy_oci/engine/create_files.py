"""What ``create``/``run`` do around the record: ``--replace`` and ``--cidfile``.

``Runtime.create_container`` calls these, so the CLI, the magics and API users get
the same behaviour: podman's words, and nothing left behind when a step fails.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import NoSuchContainer, UsageError

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime


def check_cidfile(path: str) -> None:
    """Refuse an existing --cidfile before anything is made (podman never overwrites)."""
    if os.path.lexists(path):
        raise UsageError(f"container id file exists. Ensure another container is not "
                         f"using it or delete {path}")
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise UsageError(f"cannot write --cidfile {path}: its directory does not exist; "
                         "create it first")


def write_cidfile(ctr: Container) -> None:
    """Write the id to --cidfile (O_EXCL: a file made meanwhile is not overwritten); on
    failure the container just made is removed and the error names the file."""
    path = ctr.record.config.cidfile
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, ctr.id.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        try:
            ctr.remove(force=True, timeout=0)
        except Exception:
            pass
        if isinstance(exc, FileExistsError):
            raise UsageError(f"container id file exists. Ensure another container is not "
                             f"using it or delete {path}") from None
        raise UsageError(f"cannot write --cidfile {path}: {exc.strerror or exc}") from None


def replace_container(rt: Runtime, name: str | None) -> None:
    """``--replace``: remove the container called ``name`` (stopping it first), if any."""
    if not name:
        raise UsageError("cannot replace container without --name being set")
    try:
        old = rt.lookup_container(name)
    except NoSuchContainer:
        return
    if old.name != name:
        return  # ``name`` only matched an id prefix: not the same name
    try:
        old.remove(force=True)
    except NoSuchContainer:
        pass
