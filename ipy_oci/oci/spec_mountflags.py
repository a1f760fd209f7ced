"""``--mount type=bind|volume|tmpfs,...`` and ``--tmpfs PATH[:OPTS]``, podman's keys.

Both become ``BindMount`` entries (oci/spec_mounts.py) as ``-v`` does: a bind mount,
a named (or anonymous) volume the engine resolves when the container is created,
or ``type="tmpfs"``. Every bad key or value is a UsageError naming it.
"""

from __future__ import annotations

import csv
import os
import posixpath
import re

from ipy_oci.errors import UsageError
from ipy_oci.oci.spec_mounts import VOLUME_NAME_RE, BindMount

_MOUNT_FORM = ("--mount type=bind|volume|tmpfs,[source=HOST-DIR|VOLUME,]"
               "destination=CONTAINER-DIR[,OPTION...]")
_PROPAGATIONS = ("shared", "rshared", "private", "rprivate", "slave", "rslave",
                 "unbindable", "runbindable")
# Tmpfs sizes the kernel takes: a number with an optional unit, or a % of memory.
_TMPFS_SIZE = re.compile(r"[0-9]+[kKmMgGtTpPeE%]?")
_TMPFS_MODE = re.compile(r"[0-7]{1,4}")
# Options with no meaning here: SELinux relabeling, and Docker Desktop's consistency.
_IGNORED = ("z", "Z", "relabel", "consistency")
_UNSUPPORTED = {
    "U": "changing the owner of the source (U, chown) is not supported by ipy-oci",
    "chown": "changing the owner of the source (U, chown) is not supported by ipy-oci",
    "idmap": "idmapped mounts (idmap) are not supported by ipy-oci",
    "volume-opt": "volume driver options (volume-opt) are not supported: create the "
                  "volume first with 'ipy-oci volume create'",
    "volume-label": "the volume-label option is not implemented (nor in podman)",
}
_KNOWN = {
    "bind": "source, destination, ro, readonly, rw, bind-propagation, bind-nonrecursive, "
            "nosuid, suid, nodev, dev, noexec, exec, relabel, z, Z",
    "volume": "source, destination, ro, readonly, rw, nosuid, suid, nodev, dev, noexec, exec",
    "tmpfs": "destination, tmpfs-size, tmpfs-mode, ro, readonly, rw, nosuid, suid, nodev, dev, "
             "noexec, exec, tmpcopyup, notmpcopyup",
}


def _bool(text: str, key: str, value: str | None) -> bool:
    if value is None:
        return True
    low = value.lower()
    if low not in ("true", "false"):
        raise UsageError(f"invalid mount {text!r}: {key} must be true or false, "
                         f"not {value!r}")
    return low == "true"


def _destination(text: str, value: str) -> str:
    if not value.startswith("/"):
        raise UsageError(f"invalid mount {text!r}: the destination {value!r} must be an "
                         "absolute path in the container")
    dst = posixpath.normpath(value)
    if dst == "/":
        raise UsageError(f"invalid mount {text!r}: cannot mount over the container's /")
    return dst


def _once(seen: set[str], group: str, text: str) -> None:
    if group in seen:
        raise UsageError(f"invalid mount {text!r}: {group} given more than once")
    seen.add(group)


def parse_mount(text: str) -> BindMount:
    """One ``--mount`` value (comma separated, CSV quoting as podman reads it)."""
    try:
        rows = list(csv.reader([text]))
    except csv.Error as exc:
        raise UsageError(f"invalid mount {text!r}: {exc}; expected {_MOUNT_FORM}") from None
    fields = rows[0] if rows else []
    kind = None
    items: list[tuple[str, str | None]] = []
    for f in fields:
        name, sep, given = f.partition("=")
        if name == "type" and sep and kind is None:
            kind = given
            continue
        if not name:
            raise UsageError(f"invalid mount {text!r}: empty option; expected {_MOUNT_FORM}")
        items.append((name, given if sep else None))
    if kind is None:
        raise UsageError(f"invalid mount {text!r}: no type given; expected {_MOUNT_FORM}")
    if kind in ("image", "devpts"):
        raise UsageError(f"invalid mount {text!r}: type={kind} is not supported by ipy-oci; "
                         "use bind, volume or tmpfs")
    if kind not in _KNOWN:
        raise UsageError(f"invalid mount {text!r}: unknown type {kind!r}; use bind, volume "
                         "or tmpfs")
    source: str | None = None
    dest = ""
    readonly = False
    options: list[str] = []
    seen: set[str] = set()
    for key, value in items:
        if key in _IGNORED:
            continue
        if key in _UNSUPPORTED:
            raise UsageError(f"invalid mount {text!r}: {_UNSUPPORTED[key]}")
        if key in ("target", "dst", "destination"):
            if not value:
                raise UsageError(f"invalid mount {text!r}: {key} needs a value")
            dest = _destination(text, value)
        elif key in ("src", "source") and kind != "tmpfs":
            if not value:
                raise UsageError(f"invalid mount {text!r}: {key} needs a value")
            source = value
        elif key in ("ro", "readonly", "rw"):
            _once(seen, "ro/readonly/rw", text)
            flag = _bool(text, key, value)
            readonly = flag if key != "rw" else not flag
        elif key in ("nosuid", "suid", "nodev", "dev", "noexec", "exec") and value is None:
            _once(seen, key.removeprefix("no"), text)
            options.append(key)
        elif kind == "bind" and key == "bind-propagation":
            if value not in _PROPAGATIONS:
                raise UsageError(f"invalid mount {text!r}: bind-propagation must be one of "
                                 f"{', '.join(_PROPAGATIONS)}")
            _once(seen, "bind-propagation", text)
            options.append(value)
        elif kind == "bind" and key in _PROPAGATIONS and value is None:
            _once(seen, "bind-propagation", text)
            options.append(key)
        elif kind == "bind" and key == "bind-nonrecursive":
            if _bool(text, key, value):
                options.append("bind")
        elif kind == "tmpfs" and key == "tmpfs-size":
            if not value or not _TMPFS_SIZE.fullmatch(value):
                raise UsageError(f"invalid mount {text!r}: tmpfs-size must be a size such as "
                                 "64m, 512k or 1g")
            _once(seen, "tmpfs-size", text)
            options.append(f"size={value}")
        elif kind == "tmpfs" and key == "tmpfs-mode":
            if not value or not _TMPFS_MODE.fullmatch(value):
                raise UsageError(f"invalid mount {text!r}: tmpfs-mode must be an octal mode "
                                 "such as 700 or 1777")
            _once(seen, "tmpfs-mode", text)
            options.append(f"mode={value}")
        elif kind == "tmpfs" and key in ("tmpcopyup", "notmpcopyup") and value is None:
            _once(seen, "tmpcopyup", text)
            options.append(key)
        elif kind == "tmpfs" and key in ("src", "source"):
            raise UsageError(f"invalid mount {text!r}: a tmpfs mount has no source")
        else:
            raise UsageError(f"invalid mount {text!r}: unknown option {key!r} for "
                             f"type={kind}; known: {_KNOWN[kind]}")
    if not dest:
        raise UsageError(f"invalid mount {text!r}: no destination given (destination=, "
                         "dst= or target=)")
    if kind == "tmpfs":
        return BindMount("tmpfs", dest, readonly, options, type="tmpfs")
    if kind == "volume":
        if source is None:
            return BindMount("", dest, readonly, options, anonymous=True)
        if source.startswith(".") or not VOLUME_NAME_RE.fullmatch(source):
            raise UsageError(f"invalid mount {text!r}: {source!r} is not a volume name "
                             "([a-zA-Z0-9][a-zA-Z0-9_.-]*); use type=bind for a host path")
        return BindMount("", dest, readonly, options, volume=source)
    src = os.path.abspath(source if source is not None else dest)
    if not os.path.exists(src):
        raise UsageError(f"invalid mount {text!r}: the host path {src!r} does not exist; "
                         "create it first")
    return BindMount(src, dest, readonly, options)


_TMPFS_FLAGS = ("nosuid", "suid", "nodev", "dev", "noexec", "exec", "tmpcopyup",
                "notmpcopyup", *_PROPAGATIONS)


def parse_tmpfs(text: str) -> BindMount:
    """``--tmpfs PATH[:OPTS]``: OPTS as mount(8) takes them (size=, mode=, ro, ...)."""
    path, _, opts = text.partition(":")
    dest = _destination(text, path)
    readonly = False
    options: list[str] = []
    seen: set[str] = set()
    for opt in opts.split(",") if opts else []:
        key, sep, value = opt.partition("=")
        if key in ("ro", "rw") and not sep:
            _once(seen, "ro/rw", text)
            readonly = key == "ro"
        elif key == "size" and sep:
            if not _TMPFS_SIZE.fullmatch(value):
                raise UsageError(f"invalid tmpfs {text!r}: size must be a size such as 64m, "
                                 "512k or 1g")
            _once(seen, "size", text)
            options.append(opt)
        elif key == "mode" and sep:
            if not _TMPFS_MODE.fullmatch(value):
                raise UsageError(f"invalid tmpfs {text!r}: mode must be an octal mode such "
                                 "as 700 or 1777")
            _once(seen, "mode", text)
            options.append(opt)
        elif key in _TMPFS_FLAGS and not sep:
            group = "propagation" if key in _PROPAGATIONS else key.removeprefix("no")
            _once(seen, group, text)
            options.append(key)
        else:
            raise UsageError(f"invalid tmpfs {text!r}: unknown option {opt!r}; use size=, "
                             "mode=, ro, rw, [no]exec, [no]suid, [no]dev, [no]tmpcopyup or a "
                             "propagation mode")
    return BindMount("tmpfs", dest, readonly, options, type="tmpfs")


def tmpfs_spec_options(m: BindMount) -> list[str]:
    """A tmpfs mount's options as podman completes them: what was given, then rw/ro,
    rprivate, nosuid, nodev and tmpcopyup unless told otherwise (no noexec: podman
    leaves tmpfs mounts executable)."""
    given = [o for o in m.options if o != "notmpcopyup"]
    opts = [*given, "ro" if m.readonly else "rw"]
    if not any(o in _PROPAGATIONS for o in m.options):
        opts.append("rprivate")
    for on, off in (("nosuid", "suid"), ("nodev", "dev")):
        if on not in m.options and off not in m.options:
            opts.append(on)
    if "tmpcopyup" not in m.options and "notmpcopyup" not in m.options:
        opts.append("tmpcopyup")
    return opts
