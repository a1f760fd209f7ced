"""The container's command line and environment, with docker/podman semantics."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ipy_oci.errors import UsageError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # a shell-form string in a hand-written config
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"image config {what} must be a list of strings, got {value!r}")
    return list(value)


def resolve_command(
    image_cfg: Mapping[str, Any], entrypoint: list[str] | None, cmd: list[str] | None
) -> list[str]:
    """argv of the container's process.

    ``image_cfg`` is an OCI image config (its ``config`` object, or the whole document).
    ``--entrypoint`` (``entrypoint`` not None; ``[]`` clears it) replaces the image's
    Entrypoint and also drops the image's Cmd, unless a command was given.
    """
    inner = image_cfg.get("config")
    cfg: Mapping[str, Any] = inner if isinstance(inner, Mapping) else image_cfg
    image_ep = _str_list(cfg.get("Entrypoint"), "Entrypoint")
    image_cmd = _str_list(cfg.get("Cmd"), "Cmd")
    ep = image_ep if entrypoint is None else list(entrypoint)
    if cmd:
        args = list(cmd)
    elif entrypoint is None:
        args = image_cmd
    else:
        args = []
    argv = ep + args
    if not argv or not argv[0]:
        raise UsageError("no command or entrypoint provided, and no CMD or ENTRYPOINT from image")
    return argv


def _env_dict(entries: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in entries:
        key, sep, val = e.partition("=")
        if key and sep:
            out[key] = val
    return out


def _user_env(entries: list[str], host_env: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in entries:
        key, sep, val = e.partition("=")
        if not key or "\0" in e or (not sep and any(c.isspace() for c in key)):
            raise UsageError(f"invalid environment variable {e!r}: expected KEY=VALUE or KEY")
        if sep:
            out[key] = val
        elif key.endswith("*"):
            # "-e 'FOO*'" imports every host variable with that prefix, as podman does.
            prefix = key[:-1]
            out.update({k: v for k, v in host_env.items() if k.startswith(prefix)})
        elif key in host_env:
            out[key] = host_env[key]
        # "-e KEY" with KEY unset on the host sets nothing (docker and podman agree).
    return out


def build_env(
    image_env: list[str],
    user_env: list[str],
    hostname: str,
    terminal: bool,
    home: str | None = None,
    host_env: Mapping[str, str] | None = None,
) -> list[str]:
    """The final KEY=VAL list: defaults < image < HOSTNAME < user ``-e``.

    ``-e KEY`` (no ``=``) copies KEY from ``host_env`` (default: our environment).
    HOME defaults to the user's home from passwd when neither image nor user set it.
    """
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    if terminal:
        env["TERM"] = "xterm"
    env["container"] = "oci"
    env.update(_env_dict(image_env))
    env["HOSTNAME"] = hostname
    env.update(_user_env(user_env, os.environ if host_env is None else host_env))
    if "HOME" not in env and home:
        env["HOME"] = home
    return [f"{k}={v}" for k, v in env.items()]
