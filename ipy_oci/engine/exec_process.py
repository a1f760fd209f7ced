"""The process spec of an exec session, derived from its container's own process.

The container's config.json already holds the resolved env, user, caps and
rlimits; an exec copies that and changes only what was asked for. This keeps
the spec builders (and their imports) off the exec hot path: they load only
for ``-u`` or ``--privileged``.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import UsageError
from ..state.records import ExecConfig


def _merge_env(base: list[str], extra: list[str], tty: bool) -> list[str]:
    env: dict[str, str] = {}
    for item in base:
        key, _, val = item.partition("=")
        env[key] = val
    if tty:
        env.setdefault("TERM", "xterm")
    for item in extra:
        key, _, val = item.partition("=")
        env[key] = val
    return [f"{k}={v}" for k, v in env.items()]


def exec_process(spec: dict[str, Any], cfg: ExecConfig) -> dict[str, Any]:
    """The exec's ``process``: only that object is derived. Seccomp lives in the
    container's ``linux.seccomp``, which runc applies to every exec process, so
    ``exec --privileged`` (more capabilities) stays under the container's filter;
    noNewPrivileges and an AppArmor profile are inherited with the process."""
    base: dict[str, Any] = spec.get("process") or {}
    proc = copy.deepcopy(base)
    proc.pop("consoleSize", None)
    proc["args"] = list(cfg.command)
    proc["terminal"] = cfg.tty
    proc["env"] = _merge_env(base.get("env") or [], cfg.env, cfg.tty)
    if cfg.workdir:
        if not cfg.workdir.startswith("/"):
            raise UsageError(f"invalid working directory {cfg.workdir!r}: it must be an "
                             "absolute path inside the container")
        proc["cwd"] = cfg.workdir
    caps = base.get("capabilities") or {}
    if cfg.user:
        from ..oci.spec_user import resolve_user

        uid, gid, groups, _home = resolve_user(spec["root"]["path"], cfg.user)
        user: dict[str, Any] = {"uid": uid, "gid": gid,
                                "umask": (base.get("user") or {}).get("umask", 0o022)}
        if groups:
            user["additionalGids"] = groups
        proc["user"] = user
    uid = int((proc.get("user") or {}).get("uid", 0))
    if cfg.privileged or (cfg.user and uid != 0):
        from ..oci.spec_caps import build_capabilities

        extra = [c for c in caps.get("bounding", []) if c not in _default_caps()]
        proc["capabilities"] = build_capabilities(extra, [], cfg.privileged, uid)
    return proc


def _default_caps() -> set[str]:
    from ..oci.spec_caps import DEFAULT_CAPS, normalize_cap

    return {normalize_cap(c) for c in DEFAULT_CAPS}
