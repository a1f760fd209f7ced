"""Seccomp profiles and the other ``--security-opt`` settings.

**Profiles.** A profile file is the JSON that containers-common ships as
``/usr/share/containers/seccomp.json`` (podman's default) and that
``--security-opt seccomp=PATH`` names. It is not an OCI ``linux.seccomp`` object yet:
its rules carry conditions, resolved here for one container:

- ``includes.caps``: the rule applies only if *every* listed capability is in the
  container's bounding set; ``excludes.caps``: it is dropped if *any* of them is.
- ``includes.arches`` / ``excludes.arches``: the native architecture, in libseccomp's
  words (``amd64``, ``arm64``, ``x86`` ...), must / must not be listed.
- ``includes.minKernel`` (``"5.8"``): the host kernel must be at least that
  major.minor; ``excludes.minKernel``: the rule is dropped from that kernel on.
- ``archMap``: the entry of the native architecture gives ``architectures`` (it and
  its sub-architectures, e.g. x86_64 with x86 and x32); ``architectures`` may be
  given directly instead, not both.
- ``errnoRet`` / ``defaultErrnoRet`` are numbers; ``errno`` / ``defaultErrno``
  (names such as ``EPERM``) are read when the number is missing.

Everything else (actions, operators, architectures, flags) is checked here, so a
bad profile fails with a message naming its file and rule rather than as a runc
error. A profile with neither ``defaultAction`` nor rules is refused (podman would
quietly run unconfined): unconfined is said with ``seccomp=unconfined``.

**Rules** (podman 4.3's): the default profile applies unless ``seccomp=unconfined``
or ``--privileged`` (which also ignores ``seccomp=PATH``). Without a profile file the
container does not start (fail closed). Seccomp belongs to the container, so every
exec session, ``exec --privileged`` included, runs under the container's filter.

**Other options**: ``no-new-privileges[=true|false]``, ``mask=PATH[:PATH...]``
(masked even with ``--privileged``), ``unmask=PATH[:PATH...]|ALL`` (paths may be
globs as in Go's filepath.Match; they remove entries from both the masked and the
read-only lists), ``label=...`` (accepted: SELinux is not used) and
``apparmor=NAME|unconfined`` (applied only where AppArmor is enabled).
"""

from __future__ import annotations

import errno as errno_mod
import functools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ipy_oci.errors import ConfigError, RuntimeMissing, UsageError
from ipy_oci.oci.spec_mounts import MASKED_PATHS, READONLY_PATHS

DEFAULT_PROFILE = "/usr/share/containers/seccomp.json"
PROFILE_PACKAGE = "golang-github-containers-common"

ACTIONS = frozenset({
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
})  # fmt: skip
_ERRNO_ACTIONS = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})
OPERATORS = frozenset({
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
    "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
})  # fmt: skip
ARCHES = frozenset("SCMP_ARCH_" + a for a in (
    "NATIVE", "X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32",
    "MIPSEL", "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X",
    "PARISC", "PARISC64", "RISCV64", "LOONGARCH64", "M68K", "SH", "SHEB",
))  # fmt: skip
FLAGS = frozenset({
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
})  # fmt: skip

# uname -m -> libseccomp's name of the native architecture (what conditions compare).
_MACHINE_TO_ARCH = {
    "x86_64": "amd64", "amd64": "amd64", "i386": "x86", "i486": "x86", "i586": "x86",
    "i686": "x86", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
    "ppc64": "ppc64", "ppc": "ppc", "s390x": "s390x", "s390": "s390", "mips64": "mips64",
    "mips": "mips", "riscv64": "riscv64", "loongarch64": "loong64", "parisc64": "parisc64",
    "parisc": "parisc",
}  # fmt: skip
# native architecture -> the archMap entry that applies to it.
_NATIVE_TO_SCMP = {
    "amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32", "s390x": "SCMP_ARCH_S390X",
    "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64",
}  # fmt: skip


# --- host facts ------------------------------------------------------------------------


@functools.cache
def native_arch() -> str:
    """This machine's architecture in libseccomp's words (``amd64``, ``arm64`` ...)."""
    machine = os.uname().machine.lower()
    if machine.startswith("arm") and machine != "arm64":
        return "arm"
    return _MACHINE_TO_ARCH.get(machine, machine)


def parse_kernel_version(text: str) -> tuple[int, int]:
    """``"5.8"``, ``"6.1.0-13-amd64"`` -> (major, minor); only those two count."""
    m = re.match(r"\s*(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"not a kernel version (expected MAJOR.MINOR, e.g. 5.8): {text!r}")
    return int(m.group(1)), int(m.group(2))


@functools.cache
def kernel_version() -> tuple[int, int]:
    return parse_kernel_version(os.uname().release)


def apparmor_enabled() -> bool:
    """Whether the kernel has AppArmor switched on (as runc and podman check it)."""
    try:
        with open("/sys/module/apparmor/parameters/enabled", encoding="ascii") as fh:
            return fh.read(1) == "Y"
    except OSError:
        return False


# --- profiles ------------------------------------------------------------------------


class _Bad(Exception):
    """A profile defect; turned into a UsageError/ConfigError naming the file."""


def _errno_value(num: Any, name: Any, where: str) -> int | None:
    if num is not None:
        if isinstance(num, bool) or not isinstance(num, int) or not 0 <= num < 4096:
            raise _Bad(f"{where}: errnoRet must be an errno number, got {num!r}")
        return num
    if name in (None, ""):
        return None
    value = getattr(errno_mod, str(name), None) if str(name).startswith("E") else None
    if not isinstance(value, int):
        raise _Bad(f"{where}: unknown errno name {name!r} (use e.g. EPERM or ENOSYS)")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{where} must be a list of strings, got {value!r}")
    return list(value)


def _cap_name(name: str) -> str:
    canon = name.strip().upper()
    return canon if canon.startswith("CAP_") else "CAP_" + canon


def _kernel_cond(value: Any, where: str) -> tuple[int, int] | None:
    if value in (None, ""):
        return None
    try:
        return parse_kernel_version(str(value))
    except ValueError as exc:
        raise _Bad(f"{where}: {exc}") from None


def _filter(value: Any, where: str) -> tuple[list[str], list[str], tuple[int, int] | None]:
    """(caps, arches, minKernel) of an includes/excludes object."""
    if value is None:
        return [], [], None
    if not isinstance(value, dict):
        raise _Bad(f"{where} must be an object, got {value!r}")
    unknown = set(value) - {"caps", "arches", "minKernel"}
    if unknown:
        raise _Bad(f"{where}: unknown key {sorted(unknown)[0]!r} (known: caps, arches, "
                   "minKernel)")
    caps = [_cap_name(c) for c in _str_list(value.get("caps"), f"{where}.caps")]
    arches = _str_list(value.get("arches"), f"{where}.arches")
    return caps, arches, _kernel_cond(value.get("minKernel"), f"{where}.minKernel")


def _args(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where}.args must be a list, got {value!r}")
    out = []
    for i, arg in enumerate(value):
        w = f"{where}.args[{i}]"
        if not isinstance(arg, dict):
            raise _Bad(f"{w} must be an object")
        index, val, two, op = (arg.get(k) for k in ("index", "value", "valueTwo", "op"))
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 5:
            raise _Bad(f"{w}.index must be 0 to 5 (a syscall has six arguments), got {index!r}")
        for what, v in (("value", val), ("valueTwo", two)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)
                                  or not 0 <= v < 2**64):
                raise _Bad(f"{w}.{what} must be an unsigned 64-bit number, got {v!r}")
        if op not in OPERATORS:
            raise _Bad(f"{w}.op {op!r} is not a seccomp operator (one of "
                       f"{', '.join(sorted(OPERATORS))})")
        entry: dict[str, Any] = {"index": index, "value": val or 0, "op": op}
        if two:
            entry["valueTwo"] = two
        out.append(entry)
    return out


@dataclass(frozen=True)
class _Rule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None
    args: tuple[Any, ...]  # spec arg dicts (never mutated)
    inc_caps: tuple[str, ...] = ()
    inc_arches: tuple[str, ...] = ()
    inc_kernel: tuple[int, int] | None = None
    exc_caps: tuple[str, ...] = ()
    exc_arches: tuple[str, ...] = ()
    exc_kernel: tuple[int, int] | None = None

    def applies(self, bounding: frozenset[str], arch: str, kernel: tuple[int, int]) -> bool:
        if self.exc_arches and arch in self.exc_arches:
            return False
        if any(c in bounding for c in self.exc_caps):
            return False
        if self.exc_kernel is not None and kernel >= self.exc_kernel:
            return False
        if self.inc_arches and arch not in self.inc_arches:
            return False
        if not all(c in bounding for c in self.inc_caps):
            return False
        return self.inc_kernel is None or kernel >= self.inc_kernel

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"names": list(self.names), "action": self.action}
        if self.errno_ret is not None:
            out["errnoRet"] = self.errno_ret
        if self.args:
            out["args"] = [dict(a) for a in self.args]
        return out


@dataclass(frozen=True)
class Profile:
    """A checked profile file; ``resolve`` gives one container's ``linux.seccomp``."""

    default_action: str
    default_errno: int | None
    architectures: tuple[str, ...]
    arch_map: tuple[tuple[str, tuple[str, ...]], ...]
    rules: tuple[_Rule, ...]
    flags: tuple[str, ...] = ()
    listener_path: str = ""
    listener_metadata: str = ""

    def resolve(self, bounding: Iterable[str], arch: str | None = None,
                kernel: tuple[int, int] | None = None) -> dict[str, Any]:
        arch = native_arch() if arch is None else arch
        kernel = kernel_version() if kernel is None else kernel
        caps = frozenset(bounding)
        out: dict[str, Any] = {"defaultAction": self.default_action}
        if self.default_errno is not None:
            out["defaultErrnoRet"] = self.default_errno
        arches = list(self.architectures)
        native = _NATIVE_TO_SCMP.get(arch)
        for main, subs in self.arch_map:
            if native is not None and main == native:
                arches += [main, *subs]
                break
        if arches:
            out["architectures"] = arches
        if self.flags:
            out["flags"] = list(self.flags)
        if self.listener_path:
            out["listenerPath"] = self.listener_path
        if self.listener_metadata:
            out["listenerMetadata"] = self.listener_metadata
        out["syscalls"] = [r.to_spec() for r in self.rules if r.applies(caps, arch, kernel)]
        return out


def _rule(call: Any, where: str) -> _Rule:
    if not isinstance(call, dict):
        raise _Bad(f"{where} must be an object")
    name, names = call.get("name"), call.get("names")
    if name and names:
        raise _Bad(f"{where}: 'name' and 'names' are both given; use one of them")
    listed = [name] if isinstance(name, str) and name else _str_list(names, f"{where}.names")
    if not listed or not all(listed):
        raise _Bad(f"{where} names no syscall (give 'names': [...])")
    action = call.get("action")
    if action not in ACTIONS:
        raise _Bad(f"{where}: action {action!r} is not a seccomp action (one of "
                   f"{', '.join(sorted(ACTIONS))})")
    errno_ret = _errno_value(call.get("errnoRet"), call.get("errno"), where)
    if errno_ret is not None and action not in _ERRNO_ACTIONS:
        raise _Bad(f"{where}: an errno only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
                   f"not {action}")
    inc = _filter(call.get("includes"), f"{where}.includes")
    exc = _filter(call.get("excludes"), f"{where}.excludes")
    return _Rule(tuple(listed), action, errno_ret, tuple(_args(call.get("args"), where)),
                 tuple(inc[0]), tuple(inc[1]), inc[2], tuple(exc[0]), tuple(exc[1]), exc[2])


def _profile(doc: Any) -> Profile:
    if not isinstance(doc, dict):
        raise _Bad("the profile must be a JSON object with defaultAction and syscalls")
    default = doc.get("defaultAction")
    calls = doc.get("syscalls")
    if not default and not calls:
        raise _Bad("it has neither defaultAction nor syscalls; to run without seccomp use "
                   "--security-opt seccomp=unconfined")
    if default not in ACTIONS:
        raise _Bad(f"defaultAction {default!r} is not a seccomp action (one of "
                   f"{', '.join(sorted(ACTIONS))})")
    default_errno = _errno_value(doc.get("defaultErrnoRet"), doc.get("defaultErrno"),
                                 "defaultErrnoRet")
    if default_errno is not None and default not in _ERRNO_ACTIONS:
        raise _Bad(f"defaultErrnoRet only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
                   f"not {default}")
    architectures = _str_list(doc.get("architectures"), "architectures")
    raw_map = doc.get("archMap") or []
    if architectures and raw_map:
        raise _Bad("'architectures' and 'archMap' are both given; use one of them")
    if not isinstance(raw_map, list):
        raise _Bad("archMap must be a list")
    arch_map = []
    for i, entry in enumerate(raw_map):
        if not isinstance(entry, dict):
            raise _Bad(f"archMap[{i}] must be an object")
        main = str(entry.get("architecture"))
        subs = _str_list(entry.get("subArchitectures"), f"archMap[{i}].subArchitectures")
        arch_map.append((main, tuple(subs)))
        for a in (main, *subs):
            if a not in ARCHES:
                raise _Bad(f"archMap[{i}]: unknown architecture {a!r} (e.g. SCMP_ARCH_X86_64)")
    for a in architectures:
        if a not in ARCHES:
            raise _Bad(f"unknown architecture {a!r} in architectures (e.g. SCMP_ARCH_X86_64)")
    flags = _str_list(doc.get("flags"), "flags")
    for f in flags:
        if f not in FLAGS:
            raise _Bad(f"unknown flag {f!r} (one of {', '.join(sorted(FLAGS))})")
    if calls is None:
        calls = []
    if not isinstance(calls, list):
        raise _Bad("syscalls must be a list")
    rules = tuple(_rule(c, f"syscalls[{i}]") for i, c in enumerate(calls))
    listener = doc.get("listenerPath") or ""
    if not isinstance(listener, str):
        raise _Bad("listenerPath must be a string")
    uses_notify = default == "SCMP_ACT_NOTIFY" or any(r.action == "SCMP_ACT_NOTIFY"
                                                      for r in rules)
    if uses_notify and not listener:
        raise _Bad("SCMP_ACT_NOTIFY needs a listenerPath (a seccomp agent's socket)")
    return Profile(default, default_errno, tuple(architectures), tuple(arch_map), rules,
                   tuple(flags), listener, str(doc.get("listenerMetadata") or ""))


def parse_profile(text: str | bytes, source: str = "the seccomp profile") -> Profile:
    """Check a profile document; ConfigError naming ``source`` and the defect."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"seccomp profile {source} is not valid JSON: {exc}") from None
    try:
        return _profile(doc)
    except _Bad as exc:
        raise ConfigError(f"seccomp profile {source} is not usable: {exc}") from None


def _file_key(path: str) -> tuple[int, int, int]:
    """Identity of the file's current content (a changed file is read again)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path == DEFAULT_PROFILE:
            raise RuntimeMissing(
                f"podman's default seccomp profile {DEFAULT_PROFILE} is missing, and "
                "containers do not run without one: install it with 'apt-get install "
                f"{PROFILE_PACKAGE}', or run this container with --security-opt "
                "seccomp=unconfined") from None
        raise UsageError(f"seccomp profile {path} does not exist: give the path of a "
                         "profile file (JSON), or use --security-opt seccomp=unconfined"
                         ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read seccomp profile {path}: {exc.strerror}") from None
    return st.st_ino, st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, _key: tuple[int, int, int]) -> Profile:
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read seccomp profile {path}: {exc.strerror}") from None
    return parse_profile(text, path)


def load_profile(path: str) -> Profile:
    """The profile at ``path``, parsed once per process (until the file changes)."""
    return _load_cached(path, _file_key(path))


def check_default_profile() -> None:
    """Fail closed now (RuntimeMissing) if the default profile is missing or unusable."""
    load_profile(DEFAULT_PROFILE)


@functools.lru_cache(maxsize=32)
def _resolved_json(path: str, key: tuple[int, int, int], bounding: frozenset[str]) -> str:
    return json.dumps(_load_cached(path, key).resolve(bounding), separators=(",", ":"))


def seccomp_for(setting: str | None, bounding: Iterable[str],
                privileged: bool = False) -> dict[str, Any] | None:
    """The container's ``linux.seccomp`` (None: unconfined).

    ``setting``: None for the default profile, ``"unconfined"``, or a profile path.
    A profile resolves against the container's bounding capabilities; the result
    for a given file and capability set is computed once per process.
    """
    if privileged or setting == "unconfined":
        return None
    path = setting or DEFAULT_PROFILE
    text = _resolved_json(path, _file_key(path), frozenset(bounding))
    result: dict[str, Any] = json.loads(text)
    return result


# --- --security-opt ------------------------------------------------------------------

SECURITY_OPT_FORMS = ("seccomp=unconfined|PATH, no-new-privileges[=true|false], "
                      "mask=PATH[:PATH...], unmask=PATH[:PATH...]|ALL, label=disable, "
                      "apparmor=NAME|unconfined")
_LABEL_KEYS = ("user", "role", "type", "level", "filetype")


@dataclass
class SecurityOptions:
    """``--security-opt`` values, parsed (the last of a kind wins, masks add up)."""

    seccomp: str | None = None  # None: the default profile; "unconfined"; an absolute path
    no_new_privileges: bool = False
    mask: list[str] = field(default_factory=list)
    unmask: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # label=... values as given
    apparmor: str = ""  # "", "unconfined" or a profile name
    notes: list[str] = field(default_factory=list)  # what the user should be told

    def normalized(self) -> list[str]:
        """What ContainerConfig.security_opt stores (and parse_security_opts reads back)."""
        out = []
        if self.seccomp is not None:
            out.append(f"seccomp={self.seccomp}")
        if self.no_new_privileges:
            out.append("no-new-privileges")
        if self.mask:
            out.append("mask=" + ":".join(self.mask))
        if self.unmask:
            out.append("unmask=" + ":".join(self.unmask))
        out += [f"label={v}" for v in self.labels]
        if self.apparmor:
            out.append(f"apparmor={self.apparmor}")
        return out

    def inspect(self) -> list[str]:
        """HostConfig.SecurityOpt as podman 4.3 prints it (labels joined by a comma)."""
        out = ["no-new-privileges"] if self.no_new_privileges else []
        if self.labels:
            out.append(",".join(f"label={v}" for v in self.labels))
        if self.seccomp is not None:
            out.append(f"seccomp={self.seccomp}")
        if self.apparmor:
            out.append(f"apparmor={self.apparmor}")
        return out


def _bad_opt(opt: str, why: str) -> UsageError:
    return UsageError(f"invalid --security-opt {opt!r}: {why}")


_GLOB_SPECIALS = re.compile(r"[*?\[\\]")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match on '/'-separated paths: * and ? never match '/'."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError("a trailing backslash escapes nothing")
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 1)
            body = pattern[i + 1: j] if j > 0 else ""
            negate = body[:1] in ("^", "!")
            body = body[1:] if negate else body
            if j < 0 or not body:
                raise ValueError("a '[' without a closing ']' or with an empty class")
            out.append("(?!/)[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as exc:
        raise ValueError(str(exc)) from None


def _paths(opt: str, value: str, allow_all: bool) -> list[str]:
    if not value:
        raise _bad_opt(opt, "give one or more absolute paths separated by ':'")
    out = []
    for p in value.split(":"):
        if allow_all and p.upper() == "ALL":
            out.append("ALL")
            continue
        if not p.startswith("/"):
            raise _bad_opt(opt, f"{p!r} is not an absolute path (give paths such as "
                           "/proc/kcore, separated by ':')" +
                           (", or ALL" if allow_all else ""))
        if allow_all and _GLOB_SPECIALS.search(p):
            try:
                _glob_regex(p)
            except ValueError as exc:
                raise _bad_opt(opt, f"bad pattern {p!r}: {exc}") from None
        out.append(os.path.normpath(p) if not _GLOB_SPECIALS.search(p) else p)
    return out


def parse_security_opts(values: Iterable[str], check_files: bool = True) -> SecurityOptions:
    """Read ``--security-opt`` values; UsageError naming the value and what to write.

    With ``check_files`` a seccomp profile path is made absolute and its file read
    and checked now (so ``create`` fails, not a later ``start``).
    """
    opts = SecurityOptions()
    for opt in values:
        # Docker's deprecated KEY:VALUE form is still read when there is no '=',
        # as podman does (no-new-privileges:true, seccomp:unconfined).
        key, sep, value = opt.partition("=" if "=" in opt else ":")
        key = key.strip()
        if key == "no-new-privileges":
            low = value.strip().lower()
            if sep and low not in ("true", "false"):
                raise _bad_opt(opt, "use no-new-privileges, no-new-privileges=true or "
                               "no-new-privileges=false")
            opts.no_new_privileges = not sep or low == "true"
        elif key == "seccomp":
            if not value:
                raise _bad_opt(opt, "say seccomp=unconfined, or seccomp=PATH to a profile "
                               "file (JSON)")
            if value == "unconfined":
                opts.seccomp = value
            else:
                path = os.path.abspath(value)
                if check_files:
                    if not os.path.isfile(path):
                        raise _bad_opt(opt, f"the profile {path} does not exist; give the path "
                                       "of a seccomp profile file (JSON), or say "
                                       "seccomp=unconfined")
                    try:
                        load_profile(path)
                    except ConfigError as exc:
                        raise _bad_opt(opt, str(exc)) from None
                opts.seccomp = path
        elif key == "mask":
            opts.mask += [p for p in _paths(opt, value, False) if p not in opts.mask]
        elif key == "unmask":
            opts.unmask += [p for p in _paths(opt, value, True) if p not in opts.unmask]
        elif key == "label":
            lkey, colon, lval = value.partition(":")
            if value in ("disable", "nested"):
                pass
            elif not (colon and lkey in _LABEL_KEYS and lval):
                raise _bad_opt(opt, "use label=disable, label=nested or label=KEY:VALUE with "
                               f"KEY one of {', '.join(_LABEL_KEYS)}")
            if value != "disable":
                opts.notes.append(f"--security-opt {opt}: SELinux is not used by ipy-oci, "
                                  "so SELinux labels change nothing here")
            opts.labels.append(value)
        elif key == "apparmor":
            if not value:
                raise _bad_opt(opt, "say apparmor=unconfined or apparmor=PROFILE")
            if not apparmor_enabled():
                opts.notes.append(
                    f"--security-opt {opt}: AppArmor is not enabled on this host, so no "
                    "AppArmor profile applies to any container here" +
                    ("" if value == "unconfined" else f" (profile {value!r} is not loaded)"))
            opts.apparmor = value
        else:
            raise _bad_opt(opt, f"unknown option; use {SECURITY_OPT_FORMS}")
    return opts


def _unmasked(path: str, unmask: list[str]) -> bool:
    for pattern in unmask:
        if pattern == "ALL":
            return True
        if _GLOB_SPECIALS.search(pattern):
            if _glob_regex(pattern).match(path):
                return True
        elif pattern == path:
            return True
    return False


def masked_paths(privileged: bool, mask: list[str], unmask: list[str]
                 ) -> tuple[list[str], list[str]]:
    """(maskedPaths, readonlyPaths): podman's lists minus ``unmask``, plus ``mask``.

    ``--privileged`` starts from empty lists; ``mask`` still applies.
    """
    if privileged:
        masked: list[str] = []
        readonly: list[str] = []
    else:
        masked = [p for p in MASKED_PATHS if not _unmasked(p, unmask)]
        readonly = [p for p in READONLY_PATHS if not _unmasked(p, unmask)]
    masked += [p for p in mask if p not in masked]
    return masked, readonly
