"""The grammar of a container's output: ``logs``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AddFn = Callable[[str, str], Any]


def add_logs_commands(add: AddFn) -> None:
    p = add("logs", "show a container's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("container", metavar="CONTAINER")
