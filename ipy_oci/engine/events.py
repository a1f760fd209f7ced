"""Events: podman's ``file`` backend, one JSON object per line in
``<runroot>/events/events.log``.

Writing (``emit``, ``container_event``, ``exec_event``) is one ``O_APPEND`` write of a
whole line, so concurrent writers (CLI, kernels, the server, conmon's exit commands)
never interleave; it is cheap enough for the exec hot path (no lookup, no lock file:
a shared ``flock`` on the log itself). A failed write never fails the operation that
emitted it: events are a record, not a precondition.

Size cap: once the log passes ``events_logfile_max_size`` bytes (config; podman's
default 1 MB; 0: no cap) the writer that crossed it rotates it as podman does:
under an exclusive ``flock`` the newest half is kept (whole lines) in a new file,
followed by a ``system log-rotation`` event, and renamed over the log. Writers that
opened the old file see it unlinked (``st_nlink == 0``) and append to the new one;
followers (``read_events`` streaming) reopen it at its last rotation event.

Reading (``read_events``) applies podman's filters: the same key twice is either,
different keys must all match.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from .container import Container
    from .exec_session import ExecSession
    from .runtime import Runtime

EVENT_TYPES = ("container", "image", "machine", "network", "pod", "system", "volume")

# podman's statuses (libpod/events), for ``--filter event=`` typos.
EVENT_STATUSES = (
    "attach", "auto-update", "build", "checkpoint", "cleanup", "commit", "connect", "copy",
    "create", "died", "disconnect", "exec", "exec_died", "export", "health_status",
    "history", "import", "init", "kill", "loadfromarchive", "log-rotation", "mount",
    "pause", "prune", "pull", "push", "refresh", "remove", "rename", "renumber", "restart",
    "restore", "save", "start", "stop", "sync", "tag", "unmount", "unpause", "untag",
)

FILTER_KEYS = ("container", "event", "status", "image", "label", "network", "pod", "type",
               "volume", "since", "until")

DEFAULT_MAX_SIZE = 1_000_000  # podman's events_logfile_max_size default


def events_path(runroot: Path) -> Path:
    return runroot / "events" / "events.log"


# -- the event ------------------------------------------------------------------------
class Event:
    """One event, with podman's fields (libpod/events.Event). A plain class: it is
    made on the exec hot path, where a dataclass's import cost shows."""

    __slots__ = ("type", "status", "time", "id", "name", "image", "network", "exit_code",
                 "health_status", "pod_id", "attributes")

    def __init__(self, type: str, status: str, time: int = 0, id: str = "", name: str = "",
                 image: str = "", network: str = "", exit_code: int = 0,
                 health_status: str = "", pod_id: str = "",
                 attributes: dict[str, str] | None = None) -> None:
        self.type = type
        self.status = status
        self.time = time  # ns since the epoch
        self.id = id
        self.name = name
        self.image = image
        self.network = network
        self.exit_code = exit_code  # ContainerExitCode
        self.health_status = health_status
        self.pod_id = pod_id
        self.attributes = attributes

    def __repr__(self) -> str:
        return f"<Event {self.type} {self.status} {self.name or self.id[:12]}>"

    def to_json(self) -> str:
        """The log line (and ``--format json``): Go's field order, empty fields left out."""
        from .timeparse import rfc3339_nano

        out: dict[str, Any] = {}
        if self.exit_code:
            out["ContainerExitCode"] = self.exit_code
        for key, value in (("ID", self.id), ("Image", self.image), ("Name", self.name),
                           ("network", self.network)):
            if value:
                out[key] = value
        out["Status"] = self.status
        out["Time"] = rfc3339_nano(self.time)
        out["Type"] = self.type
        if self.health_status:
            out["health_status"] = self.health_status
        if self.pod_id:
            out["PodID"] = self.pod_id
        out["Attributes"] = (None if self.attributes is None
                             else dict(sorted(self.attributes.items())))
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str | bytes) -> Event | None:
        """An event from a log line; None for a line that is not one."""
        from .timeparse import parse_rfc3339

        try:
            d = json.loads(line)
        except ValueError:
            return None
        if not isinstance(d, dict) or not isinstance(d.get("Type"), str):
            return None
        ns = parse_rfc3339(str(d.get("Time", "")))
        attrs = d.get("Attributes")
        code = d.get("ContainerExitCode", 0)
        return cls(type=d["Type"], status=str(d.get("Status", "")),
                   time=ns if ns is not None else 0, id=str(d.get("ID", "")),
                   name=str(d.get("Name", "")), image=str(d.get("Image", "")),
                   network=str(d.get("network", "")),
                   exit_code=code if isinstance(code, int) else 0,
                   health_status=str(d.get("health_status", "")),
                   pod_id=str(d.get("PodID", "")),
                   attributes={str(k): str(v) for k, v in attrs.items()}
                   if isinstance(attrs, dict) else None)

    def human(self, truncate: bool = False) -> str:
        """podman's default line (``ToHumanReadable``); attributes sorted by key."""
        from .timeparse import go_time

        when = go_time(self.time)
        ident = self.id[:12] if truncate else self.id
        if self.type in ("container", "pod"):
            text = f"{when} {self.type} {self.status} {ident} (image={self.image}, " \
                   f"name={self.name}"
            if self.pod_id:
                text += f", pod_id={self.pod_id}"
            if self.health_status:
                text += f", health_status={self.health_status}"
            for k, v in sorted((self.attributes or {}).items()):
                text += f", {k}={v}"
            return text + ")"
        if self.type == "network":
            if self.status in ("connect", "disconnect"):
                return f"{when} network {self.status} {ident} (container={ident}, " \
                       f"name={self.network})"
            return f"{when} network {self.status} {ident} (name={self.network})"
        if self.type == "image":
            return f"{when} image {self.status} {ident} {self.name}"
        if self.type == "system":
            return f"{when} system {self.status}" + (f" {self.name}" if self.name else "")
        return f"{when} {self.type} {self.status} {self.name}"


# -- writing --------------------------------------------------------------------------
def emit(rt: Runtime, type: str, status: str, *, id: str = "", name: str = "",
         image: str = "", network: str = "", exit_code: int = 0,
         attributes: Mapping[str, str] | None = None) -> None:
    """Append one event to the log (never raises: see the module docstring).

    Other modules call this where a thing happens, e.g.
    ``emit(rt, "volume", "create", name=vol.name)``.
    """
    ev = Event(type=type, status=status, time=time.time_ns(), id=id, name=name,
               image=image, network=network, exit_code=exit_code,
               attributes=dict(attributes) if attributes is not None else None)
    write_event(rt.runroot, ev, rt.config.events_logfile_max_size)


def container_event(ctr: Container, status: str, exit_code: int = 0,
                    extra: Mapping[str, str] | None = None) -> None:
    """A container event: its ID, name, image, and its labels as attributes."""
    rec = ctr.record
    attrs = dict(rec.config.labels)
    if extra:
        attrs.update(extra)
    emit(ctr.runtime, "container", status, id=rec.id, name=rec.name, image=rec.image_name,
         exit_code=exit_code, attributes=attrs)


def exec_event(sess: ExecSession, status: str, exit_code: int = 0) -> None:
    """``exec`` / ``exec_died`` of a session: a container event naming the session."""
    rt = sess.runtime
    rec = sess.__dict__.get("container_record") or rt.state.container(
        sess.record.container_id)
    if rec is None:
        return
    attrs = dict(rec.config.labels)
    attrs["execID"] = sess.id
    emit(rt, "container", status, id=rec.id, name=rec.name, image=rec.image_name,
         exit_code=exit_code, attributes=attrs)


def write_event(runroot: Path, ev: Event, max_size: int = DEFAULT_MAX_SIZE) -> None:
    try:
        _append(events_path(runroot), (ev.to_json() + "\n").encode(), max_size)
    except OSError:
        pass  # a read-only or full runroot: the operation itself went through


def _append(path: Path, line: bytes, max_size: int) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    for _attempt in range(10):
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, flags, 0o600)
        try:
            # Shared: many writers at once; a rotation takes it exclusively.
            fcntl.flock(fd, fcntl.LOCK_SH)
            st = os.fstat(fd)
            if st.st_nlink == 0:
                continue  # rotated away after we opened it: append to the new log
            os.write(fd, line)
        finally:
            os.close(fd)
        if max_size and st.st_size + len(line) > max_size:
            _rotate(path, max_size)
        return


def _rotate(path: Path, max_size: int) -> None:
    """Keep the newest half of the log, then a ``log-rotation`` event (podman's)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        st = os.fstat(fd)
        if st.st_nlink == 0 or st.st_size <= max_size:
            return  # another writer rotated it first
        os.lseek(fd, max(0, st.st_size - max_size // 2), os.SEEK_SET)
        kept = b""
        while chunk := os.read(fd, 1 << 20):
            kept += chunk
        kept = kept.split(b"\n", 1)[1] if b"\n" in kept else b""  # whole lines only
        marker = Event(type="system", status="log-rotation", time=time.time_ns(),
                       name=str(path))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(tfd, kept + (marker.to_json() + "\n").encode())
        finally:
            os.close(tfd)
        os.rename(tmp, path)
    finally:
        os.close(fd)


# -- filters ----------------------------------------------------------------------------
class EventQuery:
    """Parsed ``--filter``/``--since``/``--until``: values per key (either matches)."""

    def __init__(self, filters: dict[str, list[str]] | None = None, since: int | None = None,
                 until: int | None = None) -> None:
        self.filters = filters or {}
        self.since = since  # ns; events strictly after
        self.until = until  # ns; events strictly before

    def matches(self, ev: Event) -> bool:
        if self.since is not None and ev.time <= self.since:
            return False
        if self.until is not None and ev.time >= self.until:
            return False
        return all(any(_match(key, v, ev) for v in values)
                   for key, values in self.filters.items())


def parse_query(filters: Sequence[str] = (), since: str | None = None,
                until: str | None = None, now_ns: int | None = None) -> EventQuery:
    """UsageError (exit 125) for a filter that is malformed, unknown or impossible."""
    from .timeparse import parse_input_time

    q = EventQuery()
    for item in filters:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise UsageError(f"invalid filter {item!r}: use KEY=VALUE, e.g. "
                             "--filter event=start")
        if key not in FILTER_KEYS:
            raise UsageError(f"{key!r} is an invalid events filter: use "
                             f"{', '.join(FILTER_KEYS)}")
        if key == "status":
            key = "event"
        if key == "type" and value not in EVENT_TYPES:
            raise UsageError(f"unknown event type {value!r}: use one of "
                             f"{', '.join(EVENT_TYPES)}")
        if key == "event" and value not in EVENT_STATUSES:
            raise UsageError(f"unknown event status {value!r}: use one of "
                             f"{', '.join(EVENT_STATUSES)}")
        if key in ("since", "until"):
            since, until = (value, until) if key == "since" else (since, value)
            continue
        if not value:
            raise UsageError(f"filter {item!r} needs a value after '='")
        q.filters.setdefault(key, []).append(value)
    for flag, text in (("since", since), ("until", until)):
        if text:
            try:
                ns = parse_input_time(text, since=flag == "since", now_ns=now_ns)
            except UsageError as exc:
                raise UsageError(f"--{flag}: {exc}") from None
            setattr(q, flag, ns)
    return q


def _image_names(name: str) -> set[str]:
    """``docker.io/library/busybox:latest`` is also ``busybox:latest``, ``busybox``."""
    out = {name}
    base = name.rsplit("/", 1)[-1]
    out.add(base)
    for n in (name, base):
        if n.endswith(":latest"):
            out.add(n[: -len(":latest")])
    return out


def _match(key: str, value: str, ev: Event) -> bool:
    if key == "event":
        return ev.status == value
    if key == "type":
        return ev.type == value
    if key == "container":
        return ev.type == "container" and (ev.name == value or ev.id.startswith(value))
    if key == "image":
        return ev.type == "image" and (value in _image_names(ev.name)
                                       or (bool(ev.id) and ev.id.startswith(value)))
    if key == "volume":
        return ev.type == "volume" and (ev.name == value
                                        or (bool(ev.id) and ev.id.startswith(value)))
    if key == "network":
        return ev.type == "network" and (ev.network == value or (
            ev.status in ("create", "remove") and bool(ev.id) and ev.id.startswith(value)))
    if key == "pod":
        return ev.type == "pod" and (ev.name == value or ev.id.startswith(value))
    if key == "label":
        k, eq, v = value.partition("=")
        attrs = ev.attributes or {}
        return k in attrs and (not eq or attrs[k] == v)
    return False


# -- reading ----------------------------------------------------------------------------
def read_events(rt: Runtime, query: EventQuery, stream: bool = True,
                should_stop: Callable[[], bool] | None = None,
                poll: float = 0.2) -> Iterator[Event]:
    """The matching events. Without ``stream``: what the log holds, then stop. With it:
    new events until ``should_stop()`` (or Ctrl-C); with ``since``/``until`` the log is
    read from its start, and ``until`` ends the stream once it has passed (podman's)."""
    path = events_path(rt.runroot)
    from_start = not stream or query.since is not None or query.until is not None
    follower = _Follower(path, from_start)
    try:
        while True:
            got = False
            for line in follower.lines():
                got = True
                ev = Event.from_json(line)
                if ev is not None and query.matches(ev):
                    yield ev
            if got:
                continue
            if not stream:
                return
            if query.until is not None and time.time_ns() >= query.until:
                return
            if should_stop is not None and should_stop():
                return
            time.sleep(poll)
            follower.check_rotated()
    finally:
        follower.close()


class _Follower:
    """Whole lines appended to a file, across podman-style rotations."""

    def __init__(self, path: Path, from_start: bool) -> None:
        self.path = path
        self._fh: Any = None
        self._buf = b""
        self._open(skip=not from_start)

    def _open(self, skip: bool = False, after_rotation: bool = False) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            self._fh = None
            return
        if skip:
            fh.seek(0, os.SEEK_END)
        elif after_rotation:
            # The kept half was seen before the rotation: go on from its marker.
            data = fh.read()
            cut = data.rfind(b'"Status":"log-rotation"')
            fh.seek(data.rfind(b"\n", 0, cut) + 1 if cut >= 0 else 0)
        self._fh = fh
        self._buf = b""

    def lines(self) -> list[bytes]:
        if self._fh is None:
            self._open()  # created since: everything in it is new
            if self._fh is None:
                return []
        chunk = self._fh.read(1 << 20)
        if not chunk:
            return []
        self._buf += chunk
        *done, self._buf = self._buf.split(b"\n")
        return [line for line in done if line]

    def check_rotated(self) -> None:
        if self._fh is None:
            return
        try:
            now = os.stat(self.path).st_ino
        except FileNotFoundError:
            return
        if now != os.fstat(self._fh.fileno()).st_ino:
            self._fh.close()
            self._open(after_rotation=True)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def last_exit_code(rt: Runtime, ctr_id: str) -> int | None:
    """The exit code in the last ``died`` event of a container (one removed already)."""
    q = EventQuery(filters={"event": ["died"]})
    code = None
    for ev in read_events(rt, q, stream=False):
        if ev.type == "container" and ev.id == ctr_id:
            code = ev.exit_code
    return code
