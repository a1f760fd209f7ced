"""The Python objects ``%oci`` returns, each with a rich HTML repr.

They wrap engine objects (``Container``, ``ExecSession``, ``Image``) and keep the
``Runtime`` they came from, so methods act on the same storage root.
"""

from __future__ import annotations

import json
import signal as _signal
from typing import TYPE_CHECKING, Any

from ..engine.attached import ProcessResult
from ..engine.networks import ps_ports, ps_ports_text
from ..engine.records import State
from ..engine.views import ago, describe_exit, human_size, status_text
from ..errors import NoSuchContainer
from . import html as h

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.exec_session import ExecSession
    from ..engine.runtime import Runtime


class ContainerHandle:
    """One container: ``%oci run -d`` returns it, ``%oci ps`` lists them."""

    def __init__(self, rt: Runtime, ctr: Container) -> None:
        self._rt = rt
        self.container = ctr
        self._sessions: int | None = None
        self.removed = False  # e.g. an --rm container that exited

    # -- identity and state ---------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.container.id

    @property
    def name(self) -> str:
        return self.container.name

    @property
    def image(self) -> str:
        return self.container.record.image_name

    @property
    def state(self) -> str:
        return "removed" if self.removed else State.display(self.container.state)

    @property
    def exit_code(self) -> int | None:
        return self.container.record.exit_code

    @property
    def command(self) -> list[str]:
        return list(self.container.record.config.command)

    def exec_sessions(self) -> int:
        if self.removed:
            return 0
        if self._sessions is None:
            self._sessions = len(self._rt.exec_sessions(self.id, sync=False))
        return self._sessions

    def refresh(self) -> ContainerHandle:
        try:
            self._rt.touch(self.container)
        except NoSuchContainer:
            self.removed = True
        self._sessions = None
        return self

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> ContainerHandle:
        self.container.start()
        return self

    def stop(self, timeout: float | None = None) -> ContainerHandle:
        self.container.stop(timeout)
        return self.refresh()

    def kill(self, sig: int = _signal.SIGKILL) -> ContainerHandle:
        self.container.kill(sig)
        return self.refresh()

    def pause(self) -> ContainerHandle:
        self.container.pause()
        return self

    def unpause(self) -> ContainerHandle:
        self.container.unpause()
        return self

    def remove(self, force: bool = False) -> None:
        try:
            self.container.remove(force=force)
        except NoSuchContainer:
            pass
        self.removed = True

    def wait(self, timeout: float | None = None) -> int | None:
        return self.container.wait(timeout)

    def logs(self) -> str:
        """The container's output so far (stdout and stderr, interleaved)."""
        return b"".join(d for _s, d in self.container.logs()).decode(errors="replace")

    def inspect(self) -> InspectData:
        return InspectData(self.container.inspect())

    @property
    def ports(self) -> list[dict[str, Any]]:
        """The published ports, as ``ps --format json``'s ``Ports`` rows."""
        return ps_ports(self.container.record.config)

    # -- display ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Container {self.name} {self.id[:12]} {self.state}>"

    def _repr_html_(self) -> str:
        r = self.container.record
        if self.removed:
            return h.fields([("name", h.esc(self.name)), ("id", h.mono(self.id[:12])),
                             ("state", h.badge("removed"))])
        pairs = [
            ("name", h.esc(self.name)),
            ("id", h.mono(self.id[:12])),
            ("image", h.esc(self.image)),
            ("command", h.mono(" ".join(self.command))),
            ("state", h.badge(self.state) + " " + h.esc(status_text(self.container))),
            ("created", h.esc(ago(r.created_at))),
            ("exec sessions", str(self.exec_sessions())),
        ]
        if r.state in (State.EXITED, State.STOPPED):
            pairs.append(("exit code", h.esc(describe_exit(r.exit_code))))
        if r.config.ports:
            pairs.append(("ports", ports_html(self.ports)))
        if r.config.auto_remove:
            pairs.append(("removed on exit", "yes"))
        return h.fields(pairs)


class ContainerList(list[ContainerHandle]):
    """What ``%oci ps`` returns: a list of handles shown as a table."""

    def __repr__(self) -> str:
        if not self:
            return "(no containers)"
        return "\n".join(f"{c.id[:12]}  {c.name:<20} {c.image:<28} "
                         f"{status_text(c.container)}" for c in self)

    def _repr_html_(self) -> str:
        if not self:
            return "<i>no containers</i>"
        rows = [[h.mono(c.id[:12]), h.esc(c.name), h.esc(c.image),
                 h.mono(_short(" ".join(c.command), 30)), h.badge(c.state),
                 h.esc(status_text(c.container)), str(c.exec_sessions()),
                 ports_html(c.ports) if not c.removed else ""]
                for c in self]
        return h.table(["ID", "NAME", "IMAGE", "COMMAND", "STATE", "STATUS", "EXECS",
                        "PORTS"], rows)


class InspectData(dict[str, Any]):
    """``%oci inspect`` output: a plain dict, shown as a collapsible tree."""

    def _repr_html_(self) -> str:
        return h.json_tree(dict(self), open_depth=1)

    def to_json(self) -> str:
        return json.dumps(self, indent=2, default=str)


class ImageList(list[InspectData]):
    """``%oci images``: one dict per image (``images --format json`` rows), shown as a
    table."""

    def _repr_html_(self) -> str:
        if not self:
            return "<i>no images</i>"
        rows = []
        for img in self:
            for name in img["RepoTags"] or ["<none>:<none>"]:
                repo, _, tag = name.rpartition(":")
                created = ago(img["Created"]) or img["CreatedAt"]
                rows.append([h.esc(repo), h.esc(tag), h.mono(img["Id"][:12]),
                             h.mono(img["Digest"][:19]), h.esc(created),
                             h.esc(human_size(int(img["Size"])))])
        return h.table(["REPOSITORY", "TAG", "IMAGE ID", "DIGEST", "CREATED", "SIZE"], rows)


class ExecSessionHandle:
    """A detached or not-yet-started exec session."""

    def __init__(self, sess: ExecSession, container_name: str = "") -> None:
        self.session = sess
        self.container_name = container_name

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def state(self) -> str:
        return self.session.state

    @property
    def exit_code(self) -> int | None:
        return self.session.record.exit_code

    def refresh(self) -> ExecSessionHandle:
        self.session.sync()
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        return self.session.stop(timeout)

    def remove(self, force: bool = True) -> None:
        self.session.remove(force=force)

    def inspect(self) -> InspectData:
        return InspectData(self.session.inspect())

    def __repr__(self) -> str:
        return f"<ExecSession {self.id[:12]} {self.state} exit={self.exit_code}>"

    def _repr_html_(self) -> str:
        r = self.session.record
        pairs = [("exec session", h.mono(self.id[:12])),
                 ("container", h.esc(self.container_name or r.container_id[:12])),
                 ("command", h.mono(" ".join(r.config.command))),
                 ("state", h.badge(r.state))]
        if r.exit_code is not None:
            pairs.append(("exit code", h.esc(describe_exit(r.exit_code))))
        return h.fields(pairs)


def result_text(res: ProcessResult) -> str:
    """How ``%oci last`` shows the engine's result of a cell (or ``%oci run``)."""
    return (f"<{res.kind} {' '.join(res.command)[:40]!r} in {res.container_name}: "
            f"{res.outcome()}; session {res.session_id[:12]}>")


def result_html(res: ProcessResult) -> str:
    state = ("ok" if res.ok else "interrupted" if res.interrupted or res.timed_out
             else "failed")
    return h.fields([
        ("cell", h.esc(f"%%oci {res.kind}")),
        ("container", h.esc(res.container_name) + " " + h.mono(res.container_id[:12])),
        ("command", h.mono(_short(" ".join(res.command), 80))),
        ("result", h.badge(state, res.outcome())),
        ("started", h.esc(h.iso(res.started_at))),
        ("exec session", h.mono(res.session_id[:12])),
    ])


def register_formatters(ipython: Any) -> None:
    """Display the engine's ProcessResult in the notebook (text and HTML)."""
    formatters = ipython.display_formatter.formatters
    formatters["text/plain"].for_type(
        ProcessResult, lambda res, p, cycle: p.text(result_text(res)))
    formatters["text/html"].for_type(ProcessResult, result_html)


def port_url(host_ip: str, host_port: int) -> str:
    """Where a published port is reached from this machine: loopback for a port
    published on every address (or on loopback), the host address otherwise."""
    ip = host_ip or "0.0.0.0"
    if ip in ("0.0.0.0", "::", "127.0.0.1"):
        ip = "127.0.0.1"
    elif ":" in ip:
        ip = f"[{ip}]"
    return f"http://{ip}:{host_port}/"


def ports_html(ports: list[dict[str, Any]]) -> str:
    """``ps`` rows' ``Ports`` (engine/networks.ps_ports) as podman's PORTS text,
    ``0.0.0.0:8080->80/tcp``, each TCP host port a link."""
    out = []
    for p in ports:
        text = ps_ports_text_of(p)
        if p.get("protocol", "tcp") != "tcp":
            out.append(h.mono(text))
            continue
        first = int(p["host_port"])
        links = [f'<a href="{h.esc(port_url(p.get("host_ip", ""), hp))}" target="_blank" '
                 f'rel="noopener">{h.esc(port_url(p.get("host_ip", ""), hp))}</a>'
                 for hp in range(first, first + int(p.get("range", 1)))]
        out.append(f"{h.mono(text)} {' '.join(links)}")
    return "<br>".join(out)


def ps_ports_text_of(port: dict[str, Any]) -> str:
    """One ``Ports`` row in the PORTS column's words (engine/networks.ps_ports_text)."""
    from types import SimpleNamespace

    return ps_ports_text(SimpleNamespace(ports=[port]))  # type: ignore[arg-type]


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
