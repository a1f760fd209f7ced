"""A small YAML writer for ``info`` without ``--format`` (podman prints YAML there).

Enough YAML for JSON-like data, laid out as podman's (go-yaml) output: two-space
indents, list items at their key's indent, ``{}``/``[]`` for empty ones, ``null``,
block scalars (``|-``) for multi-line strings, and quotes where a plain scalar
would read as something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLAIN = re.compile(r"[\w/.][\w./+@,()~=-]*(?: [\w./+@,()~:=-]+)*")
_NUMBER = re.compile(r"[-+]?(?:\.?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|"
                     r"0o[0-7_]+|\.inf|\.nan)")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if not text:
        return '""'
    if _PLAIN.fullmatch(text) and not _NUMBER.fullmatch(text) \
            and text.lower() not in _RESERVED and not text.endswith(":"):
        return text
    if _NUMBER.fullmatch(text) or text.lower() in _RESERVED:
        return json.dumps(text)  # go-yaml double-quotes what would read as a number
    if "'" not in text and "\n" not in text:
        return f"'{text}'"
    return json.dumps(text)


def dump(data: Any, indent: int = 0) -> str:
    """``data`` (dicts, lists, scalars) as YAML text ending with a newline."""
    return "".join(_lines(data, indent))


def _lines(data: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            out += _entry(f"{pad}{_scalar(key)}:", value, indent, list_indent=indent)
        return out
    if isinstance(data, list):
        for item in data:
            out += _entry(f"{pad}-", item, indent + 2, list_indent=indent + 2)
        return out
    return [f"{pad}{_scalar(data)}\n"]


def _entry(head: str, value: Any, indent: int, list_indent: int) -> list[str]:
    if isinstance(value, Mapping) and value:
        if head.endswith("-"):  # the first key goes on the dash's line
            inner = _lines(value, indent)
            return [f"{head} {inner[0].lstrip()}", *inner[1:]]
        return [f"{head}\n", *_lines(value, indent + 2)]
    if isinstance(value, list) and value:
        if head.endswith("-"):
            inner = _lines(value, indent)
            return [f"{head} {inner[0].lstrip()}", *inner[1:]]
        return [f"{head}\n", *_lines(value, list_indent)]
    if isinstance(value, Mapping):
        return [f"{head} {{}}\n"]
    if isinstance(value, list):
        return [f"{head} []\n"]
    if isinstance(value, str) and "\n" in value:
        pad = " " * (indent + 2)
        body = "".join(f"{pad}{line}\n" if line else "\n" for line in value.split("\n"))
        return [f"{head} |-\n", body]
    return [f"{head} {_scalar(value)}\n"]
