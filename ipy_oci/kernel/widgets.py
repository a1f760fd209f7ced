"""Live views (ipywidgets 8): ``ContainerTable`` and ``ExecSessionView``.

Background threads only ever set widget traits; ipykernel 7 sends the resulting
comm messages through its IOPub thread, so this is thread-safe (Output-widget
capture is not). Each thread opens its own ``Runtime`` (SQLite connections are
not shared between threads). Threads end when the widget is closed and at
kernel shutdown.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections import Counter
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import Unicode

from ..engine.networks import ps_ports_text
from ..engine.records import State
from ..engine.slurm_placement import placement_text
from ..engine.stats import UsageMeter
from ..engine.views import describe_exit, human_duration
from ..errors import NoSuchContainer, NoSuchExecSession, OciError
from . import html as h
from .context import get_context
from .interrupts import StopControl

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.records import ExecConfig
    from ..engine.runtime import Runtime

MIN_INTERVAL = 0.5  # refresh at most twice a second
_SYNC_EVERY = 4  # every 4th poll also syncs with the runtime (exit files, conmon)
_COLUMNS = ("name", "image", "state", "uptime", "cpu · mem", "execs", "ports", "")
_LOG_LINES = 200
# Every button of a row the same width: "pause" turning into "unpause" (or "remove"
# into "remove?") must not shift the columns.
_BUTTON = {"width": "5.8em", "min_width": "5.8em", "flex": "0 0 auto", "padding": "0 2px"}


class _Poller:
    """Calls ``fn`` every ``interval`` seconds on a daemon thread until stopped."""

    def __init__(self, fn: Callable[[], bool], interval: float, name: str) -> None:
        self._fn = fn
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=name)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._fn() is False:
                return
            self._stop.wait(self._interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def _uptime(state: str, started: float) -> str:
    """podman's words at minute resolution: a ticking seconds column would send a
    message every second."""
    if state not in (State.RUNNING, State.PAUSED, State.STOPPING) or not started:
        return ""
    seconds = time.time() - started
    return "Less than a minute" if seconds < 60 else human_duration(seconds)


def _ports_html(text: str) -> str:
    """podman's PORTS column (engine/networks.ps_ports_text), one mapping a line."""
    return "<br>".join(f"<code>{escape(p)}</code>" for p in text.split(", ") if p)


def _usage_text(usage: tuple[float | None, int] | None, available: bool) -> str:
    """The table's "cpu · mem" cell: "n/a" without cgroups, "" for a stopped container."""
    if not available:
        return "n/a"
    if usage is None:
        return ""
    cpu, mem = usage
    from ..engine.gounits import go_human_size

    return " · ".join(t for t in ("" if cpu is None else f"{cpu:.1f}%", go_human_size(mem))
                      if t)


class _Row:
    """The widgets of one container in a ContainerTable."""

    def __init__(self, table: ContainerTable, cid: str) -> None:
        self.cid = cid
        self.name = w.HTML()
        self.image = w.Label()
        self.state = w.HTML()
        self.uptime = w.Label()
        self.usage = w.Label()  # CPU % and memory
        self.execs = w.Label()
        self.ports = w.HTML()
        self.stop = w.Button(description="stop", layout=w.Layout(**_BUTTON),
                             tooltip="stop the container")
        self.pause = w.Button(description="pause", layout=w.Layout(**_BUTTON))
        self.remove = w.Button(description="remove", layout=w.Layout(**_BUTTON),
                               button_style="danger",
                               tooltip="remove the container (stopping it first)")
        self.logs = w.Button(description="logs", layout=w.Layout(**_BUTTON),
                             tooltip="show its output, following it live")
        # Removing a live container asks first (as the side panel does).
        self.confirm = w.Button(description="remove?", layout=w.Layout(**_BUTTON),
                                button_style="danger",
                                tooltip="stop (SIGKILL after its stop timeout) and remove")
        self.cancel = w.Button(description="cancel", layout=w.Layout(**_BUTTON))
        # While a stop waits out its timeout: end it now with SIGKILL.
        self.kill_now = w.Button(description="kill now", layout=w.Layout(**_BUTTON),
                                 button_style="warning",
                                 tooltip="send SIGKILL instead of waiting")
        self.buttons = w.HBox([self.stop, self.pause, self.remove, self.logs])
        self.stop.on_click(lambda _b: table._act(cid, "stop"))
        self.pause.on_click(lambda _b: table._act(cid, self.pause.description))
        self.remove.on_click(lambda _b: table._ask_remove(cid))
        self.confirm.on_click(lambda _b: table._act(cid, "remove"))
        self.cancel.on_click(lambda _b: self.show("normal"))
        self.kill_now.on_click(lambda _b: table._kill_now(cid))
        self.logs.on_click(lambda _b: table._act(cid, "logs"))
        self.busy = False
        self._state = ""
        self._label = ""
        self.countdown = ""  # while stopping: what the state badge says instead

    @property
    def cells(self) -> list[Any]:
        return [self.name, self.image, self.state, self.uptime, self.usage, self.execs,
                self.ports, self.buttons]

    @property
    def live(self) -> bool:
        return self._state in (State.RUNNING, State.PAUSED)

    def show(self, mode: str) -> None:
        """The buttons for ``mode``: normal, confirm (remove?) or stopping (kill now)."""
        self.buttons.children = {
            "confirm": [self.confirm, self.cancel, self.logs],
            "stopping": [self.kill_now, self.logs],
        }.get(mode, [self.stop, self.pause, self.remove, self.logs])

    def show_countdown(self, text: str) -> None:
        self.countdown = text
        self.state.value = h.badge("stopping", text) if text else h.badge(self._state,
                                                                             self._label)

    def update(self, name: str, image: str, state: str, uptime: str, code: int | None,
               execs: int, ports: str = "", usage: str = "", where: str = "") -> None:
        # Setting a trait to its current value sends nothing: only changes go out.
        self._state = state
        # A Slurm container says where it runs under its name ("n2 · job 42").
        self.name.value = f"<b>{escape(name)}</b>" + (
            f"<br><small title='Slurm node and job'>{escape(where)}</small>" if where else "")
        self.image.value = image
        self._label = state if state != "exited" else f"exited ({describe_exit(code)})"
        if not self.countdown:
            self.state.value = h.badge(state, self._label)
        self.uptime.value = uptime
        self.usage.value = usage
        self.execs.value = str(execs)
        self.ports.value = _ports_html(ports)
        self.pause.description = "unpause" if state == State.PAUSED else "pause"
        self._enable()

    def _enable(self) -> None:
        live = self._state in (State.RUNNING, State.PAUSED)
        self.stop.disabled = self.busy or not live
        self.pause.disabled = self.busy or not live
        self.remove.disabled = self.busy

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._enable()

    def close(self) -> None:
        for widget in [*self.cells, self.stop, self.pause, self.remove, self.logs,
                       self.confirm, self.cancel, self.kill_now]:
            widget.close()


class ContainerTable(w.VBox):
    """Every container with its state, uptime and exec sessions, kept up to date.

    Per row: stop, pause/unpause, remove and logs. The state database is read at most
    twice a second, and widgets are only updated when something changed.
    """

    def __init__(self, all: bool = True, interval: float = MIN_INTERVAL,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ctx = get_context()
        self._all = all
        self._lock = threading.RLock()
        self._rows: dict[str, _Row] = {}
        self._order: list[str] = []
        self._last: list[tuple[Any, ...]] | None = None
        self._polls = 0
        self._rt: Runtime | None = None
        self._meter = UsageMeter()
        self._usage: dict[str, str] = {}
        self._title = w.HTML()
        self._header = [w.HTML(f"<b>{c}</b>") for c in _COLUMNS]
        self._grid = w.GridBox(children=self._header, layout=w.Layout(
            grid_template_columns="minmax(6em,auto) minmax(6em,16em) auto auto "
                                  "minmax(6em,auto) auto auto auto",
            grid_gap="2px 12px", align_items="center", overflow="auto"))
        self._message = w.HTML()
        self._logs_for = ""
        self._logs = w.HTML()
        self.children = [self._title, self._grid, self._message, self._logs]
        self.add_class("ipy-oci-live")  # the lab extension's "disconnected" notice
        self._poller = _Poller(self._poll, max(MIN_INTERVAL, interval), "ipy-oci-table")
        self._ctx.closers.append(self._stop_threads)
        self._poller.start()

    # -- polling (background thread) -----------------------------------------------------
    def _read(self, rt: Runtime, sync: bool) -> list[tuple[Any, ...]]:
        counts = Counter(s.record.container_id for s in rt.exec_sessions(sync=False))
        ctrs = rt.containers(all=self._all, sync=sync)
        if sync:  # CPU and memory move all the time: read them with the syncs only
            usage = self._meter.read(ctrs)
            live = (State.RUNNING, State.PAUSED, State.STOPPING)
            self._usage = {c.id: _usage_text(usage.get(c.id), self._meter.available)
                           for c in ctrs if c.state in live}
        return [(c.id, c.name, c.record.image_name, State.display(c.state),
                 _uptime(c.state, c.record.started_at), c.record.exit_code, counts[c.id],
                 ps_ports_text(c.record.config), self._usage.get(c.id, ""),
                 placement_text(c))
                for c in ctrs]

    def _poll(self) -> bool:
        try:
            if self._rt is None:
                self._rt = self._ctx.new_runtime()
            rows = self._read(self._rt, sync=self._polls % _SYNC_EVERY == 0)
            self._polls += 1
            self._apply(rows)
            if self._logs_for:
                self._follow_logs(self._rt)
        except Exception as exc:  # keep polling: the DB may be busy for a moment
            self._say(f"refresh failed: {exc}", error=True)
        return True

    def _apply(self, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            if rows == self._last:
                return  # nothing changed: no widget is touched
            self._last = rows
            ids = [r[0] for r in rows]
            if self._logs_for and self._logs_for not in ids:
                # Its row left the table (stopped, without -a; or removed): so do the logs.
                self._logs_for = ""
                self._logs.value = ""
            if ids != self._order:
                for cid in set(self._rows) - set(ids):
                    self._rows.pop(cid).close()
                for cid in ids:
                    if cid not in self._rows:
                        self._rows[cid] = _Row(self, cid)
                self._order = ids
                self._grid.children = self._header + [
                    cell for cid in ids for cell in self._rows[cid].cells]
            for cid, name, image, state, uptime, code, execs, ports, usage, where in rows:
                self._rows[cid].update(name, image, state, uptime, code, execs, ports,
                                       usage, where)
            running = sum(1 for r in rows if r[3] == State.RUNNING)
            self._title.value = (f"<b>ipy-oci containers</b>: {len(rows)} "
                                 f"({running} running)")

    def refresh(self) -> None:
        """Read the state now (on the caller's thread, with its own connection)."""
        rt = self._ctx.new_runtime()
        try:
            self._apply(self._read(rt, sync=True))
        finally:
            rt.close()

    # -- actions (button clicks run on the kernel's main thread; the work does not) -------
    def _ask_remove(self, cid: str) -> None:
        row = self._rows.get(cid)
        if row is not None and row.live:
            row.show("confirm")
        else:
            self._act(cid, "remove")

    def _act(self, cid: str, action: str) -> None:
        row = self._rows.get(cid)
        if row is not None and action != "logs":
            row.set_busy(True)
            row.show("normal")
        threading.Thread(target=self._run_action, args=(cid, action), daemon=True,
                         name=f"ipy-oci-{action}").start()

    def _kill_now(self, cid: str) -> None:
        def kill() -> None:
            rt = self._ctx.new_runtime()
            try:
                rt.lookup_container(cid).kill()
            except OciError as exc:  # it ended meanwhile: the stop finishes as it is
                self._say(f"kill: {exc}")
            finally:
                rt.close()

        threading.Thread(target=kill, daemon=True, name="ipy-oci-kill").start()

    def _countdown(self, row: _Row, timeout: float, done: threading.Event) -> None:
        """The stop timeout counting down in the row's state, with "kill now"."""
        if timeout <= 0:
            return
        row.show("stopping")
        deadline = time.monotonic() + timeout
        while not done.is_set():
            left = deadline - time.monotonic()
            row.show_countdown(f"stopping: SIGKILL in {max(0, int(left + 0.999))} s"
                               if left > 0 else "stopping: SIGKILL sent")
            done.wait(1.0 if left <= 0 else (left % 1.0 or 1.0))  # next whole second
        row.show_countdown("")
        row.show("normal")

    def _run_action(self, cid: str, action: str) -> None:
        rt = self._ctx.new_runtime()
        done = threading.Event()
        try:
            ctr = rt.touch(rt.lookup_container(cid))
            row = self._rows.get(cid)
            if action in ("stop", "remove") and row is not None and \
                    ctr.state in (State.RUNNING, State.PAUSED):
                threading.Thread(target=self._countdown, daemon=True,
                                 name="ipy-oci-countdown",
                                 args=(row, float(ctr.record.config.stop_timeout),
                                       done)).start()
            if action == "stop":
                ctr.stop()
            elif action == "pause":
                ctr.pause()
            elif action == "unpause":
                ctr.unpause()
            elif action == "remove":
                ctr.remove(force=True)
            elif action == "logs":
                self._show_logs(ctr)
                return
            self._say(f"{action}: {ctr.name}")
        except NoSuchContainer:
            self._say("the container was removed meanwhile")
        except OciError as exc:
            self._say(f"{action} failed: {exc}", error=True)
        finally:
            done.set()
            rt.close()
            with self._lock:
                row = self._rows.get(cid)
                if row is not None:
                    row.set_busy(False)

    def _show_logs(self, ctr: Container) -> None:
        if self._logs_for == ctr.id:  # a second click hides them
            self._logs_for = ""
            self._logs.value = ""
            return
        self._logs_for = ctr.id
        self._render_logs(ctr)

    def _follow_logs(self, rt: Runtime) -> None:
        """On each poll: the shown logs grow with the container's output."""
        try:
            ctr = rt.lookup_container(self._logs_for)
        except NoSuchContainer:
            self._logs_for = ""
            self._logs.value = ""
            return
        self._render_logs(ctr)

    def _render_logs(self, ctr: Container) -> None:
        lines = b"".join(d for _s, d in ctr.logs()).decode(errors="replace").splitlines()
        tail = "\n".join(lines[-_LOG_LINES:]) or "(no output yet)"
        # A column-reverse scroller opens at its end and stays there as lines arrive.
        self._logs.value = (
            f"<div><b>logs of {escape(ctr.name)}</b> (live, last {_LOG_LINES} lines; "
            "click logs again to hide)</div><div style=\"max-height:20em;overflow:auto;"
            "display:flex;flex-direction:column-reverse\"><pre style=\"margin:0\">"
            f"{escape(tail)}</pre></div>")

    def _say(self, text: str, error: bool = False) -> None:
        # JupyterLab's theme colours: readable on light and dark themes alike.
        color = ("var(--jp-error-color1, #c62828)" if error
                 else "var(--jp-ui-font-color2, #616161)")
        self._message.value = f'<span style="color:{color}">{escape(text)}</span>'

    # -- lifetime ----------------------------------------------------------------------------
    def _stop_threads(self) -> None:
        self._poller.stop()
        if self._rt is not None:
            self._rt.close()
            self._rt = None

    @property
    def polling(self) -> bool:
        return self._poller.alive

    def close(self) -> None:
        self._stop_threads()
        try:
            self._ctx.closers.remove(self._stop_threads)
        except ValueError:
            pass
        super().close()  # the container first, then what it held
        with self._lock:
            self._grid.close()
            for row in self._rows.values():
                row.close()
            self._rows.clear()
            for widget in [*self._header, self._title, self._message, self._logs]:
                widget.close()


class ExecSessionView(w.VBox):
    """One exec session: created -> running -> stopped (exit code), with live output.

    ``ExecSessionView.start(container, config)`` runs a command in the background
    (what ``%%oci exec --widget`` does); ``ExecSessionView(session_id)`` follows a
    session started elsewhere (its state only: its output goes to whoever attached).
    """

    state = Unicode("created", help="created, running, stopped or removed")

    def __init__(self, session_id: str = "", max_chars: int = 200_000,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("ipy-oci-live")  # the lab extension's "disconnected" notice
        self._ctx = get_context()
        self.session_id = session_id
        self.exit_code: int | None = None
        self._max_chars = max_chars
        self._command = ""
        self._container = ""
        self._lock = threading.Lock()
        self._parts: list[tuple[int, str]] = []
        self._chars = 0
        self._dirty = False
        self._last_render = 0.0
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")(errors="replace")
                          for s in (2, 3)}
        self._ctl: StopControl | None = None
        self._thread: threading.Thread | None = None
        self._poller: _Poller | None = None
        self._header = w.HTML()
        self._output = w.HTML()
        self._stop = w.Button(description="interrupt", layout=w.Layout(width="auto"),
                              tooltip="SIGINT to the process group; click again to kill")
        self._stop.on_click(lambda _b: self.interrupt())
        self._stop.disabled = True
        self.children = [w.HBox([self._header, self._stop]), self._output]
        self._ctx.closers.append(self._stop_threads)
        self.observe(lambda _c: self._render_header(), names="state")
        if session_id:
            self._watch(session_id)
        self._render_header()

    # -- running a command -----------------------------------------------------------------
    @classmethod
    def start(cls, ctr: Container, config: ExecConfig, stdin: bytes | None = None,
              grace: float = 2.0, timeout: float | None = None) -> ExecSessionView:
        """Create the session now (errors are the caller's), run it in the background."""
        ctx = get_context()
        if stdin is not None:
            config.attach_stdin = True
        sess = ctr.runtime.exec_create(ctr, config, owner_kernel=ctx.kernel_id)
        view = cls()
        view.session_id = sess.id
        view._command = " ".join(config.command)
        view._container = ctr.name
        view._ctl = StopControl(grace, timeout)
        view._stop.disabled = False
        view._render_header()
        view._thread = threading.Thread(target=view._run, args=(sess.id, stdin), daemon=True,
                                        name="ipy-oci-exec-view")
        view._thread.start()
        return view

    def _run(self, session_id: str, stdin: bytes | None) -> None:
        from .execs import attached_exec

        assert self._ctl is not None
        rt = self._ctx.new_runtime()
        try:
            sess = rt.lookup_exec(session_id)
            ctr = rt.lookup_container(sess.record.container_id)
            res = attached_exec(self._ctx, rt, ctr, sess.record.config, self._ctl, "exec",
                                stdin=stdin, session=sess, on_output=self._on_output,
                                on_started=lambda _s: setattr(self, "state", "running"))
            self.exit_code = res.exit_code
        except OciError as exc:
            self._append(3, f"\n{type(exc).__name__}: {exc}\n")
        finally:
            rt.close()
            for stream, dec in self._decoders.items():
                tail = dec.decode(b"", final=True)
                if tail:
                    self._append(stream, tail)
            self._render_output(force=True)
            self._stop.disabled = True
            self.state = "stopped"

    def _on_output(self, stream: int, data: bytes) -> None:
        text = self._decoders[3 if stream == 3 else 2].decode(data)
        if text:
            self._append(stream, text)
        self._render_output()

    def _append(self, stream: int, text: str) -> None:
        with self._lock:
            if self._parts and self._parts[-1][0] == stream:
                self._parts[-1] = (stream, self._parts[-1][1] + text)
            else:
                self._parts.append((stream, text))
            self._chars += len(text)
            while self._chars > self._max_chars and len(self._parts) > 1:
                self._chars -= len(self._parts.pop(0)[1])
            self._dirty = True

    def _render_output(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_render < 0.1:
            return  # at most ten updates a second; the final one is forced
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            parts = list(self._parts)
        self._last_render = now
        html = "".join(escape(t) if s != 3 else f'<span style="color:#c62828">{escape(t)}'
                       "</span>" for s, t in parts)
        self._output.value = (f'<pre style="max-height:30em;overflow:auto;margin:0">{html}'
                              "</pre>")

    def output_text(self) -> str:
        """Everything shown so far (stdout and stderr, interleaved)."""
        with self._lock:
            return "".join(t for _s, t in self._parts)

    # -- following a session started elsewhere ------------------------------------------------
    def _watch(self, session_id: str) -> None:
        holder: dict[str, Runtime] = {}

        def poll() -> bool:
            rt = holder.setdefault("rt", self._ctx.new_runtime())
            try:
                sess = rt.lookup_exec(session_id).sync()
            except NoSuchExecSession:
                self.state = "removed"
                rt.close()
                return False
            except OciError:
                return True
            rec = sess.record
            self._command = " ".join(rec.config.command)
            self._container = rec.container_id[:12]
            self.exit_code = rec.exit_code
            self.state = rec.state
            self._render_header()
            if rec.state == "stopped":
                rt.close()
                return False
            return True

        self._output.value = ("<i>output goes to the client attached to this session</i>")
        self._poller = _Poller(poll, MIN_INTERVAL, "ipy-oci-exec-watch")
        self._poller.start()

    # -- display and control ----------------------------------------------------------------
    def _render_header(self) -> None:
        label = self.state
        if self.state == "stopped":
            label = f"stopped (exit {describe_exit(self.exit_code)})"
        first, _, more = self._command.partition("\n")
        cmd = first + (" …" if more.strip() else "")
        cmd = cmd if len(cmd) <= 60 else cmd[:59] + "…"
        badge = {"created": "created", "running": "running"}.get(self.state, "exited")
        self._header.value = (f"{h.badge(badge, label)} {h.mono(cmd)} in "
                              f"{escape(self._container)} · session "
                              f"{h.mono(self.session_id[:12])}")

    def interrupt(self) -> None:
        """SIGINT to the command's process group; a second call kills it."""
        if self._ctl is not None and self.state != "stopped":
            self._ctl.interrupt()
            self._stop.description = "kill"

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the command ends; returns its exit code."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.exit_code

    def _stop_threads(self) -> None:
        if self._ctl is not None and self._thread is not None and self._thread.is_alive():
            self._ctl.interrupt()
            self._ctl.interrupt()  # kill now: the view (or the kernel) is going away
            self._thread.join(10)
        if self._poller is not None:
            self._poller.stop()

    def close(self) -> None:
        self._stop_threads()
        try:
            self._ctx.closers.remove(self._stop_threads)
        except ValueError:
            pass
        children = list(self.children)
        super().close()  # the container first, then what it held
        for widget in (*children, self._header, self._output, self._stop):
            widget.close()
