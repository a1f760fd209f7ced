"""REST routes under /ipy-oci/api/, shaped like the Docker and Podman APIs.

Every handler resolves names and unique ID prefixes through the engine and does
its engine work in the pool (``self.engine``), never on the event loop. Bodies
are checked in full (types, counts, sizes, ``Limits``) before any engine call,
so a refused request leaves nothing behind.
"""

from __future__ import annotations

import signal as _signal
import threading
from typing import Any

from jupyter_server.auth.decorator import authorized

from ..engine import images as eng
from ..engine.options import parse_detach_keys
from ..engine.records import ExecConfig
from ..engine.runtime import Runtime
from ..engine.stats import UsageMeter
from ..engine.views import container_summary, image_inspect, image_summary
from ..errors import NoSuchContainer, UsageError
from ..grammar import signals
from .api_errors import ApiError
from .handlers_base import BaseApiHandler, to_int
from .limits import Limits, show, size

MAX_TERM_SIZE = 65535
# String fields of an exec body (characters): PATH_MAX, a generous user[:group],
# a generous detach key list.
MAX_FIELD = {"WorkingDir": 4096, "User": 256, "DetachKeys": 64}


def parse_signal(raw: str | None) -> int:
    """'KILL', 'SIGKILL', 'kill' or '9' (default SIGKILL, as docker kill)."""
    if raw is None or raw == "":
        return int(_signal.SIGKILL)
    try:
        return signals.parse_signal(raw)
    except UsageError as exc:
        raise ApiError(400, f"signal={show(raw)}: {exc}") from None


class ContainersHandler(BaseApiHandler):
    @authorized
    async def get(self) -> None:
        every = self.flag("all", True)
        stats = self.flag("stats", False)
        # One meter for the server: CPU % is measured between two polls.
        lock, meter = self.settings.setdefault("ipy_oci_usage_meter",
                                               (threading.Lock(), UsageMeter()))

        def work(rt: Runtime) -> list[dict[str, Any]]:
            out = []
            counts = rt.exec_counts()
            ctrs = []
            for ctr in rt.containers(all=every):
                try:
                    ctrs.append(rt.touch(ctr))
                except NoSuchContainer:
                    continue  # removed meanwhile
            usage: dict[str, tuple[float | None, int]] = {}
            if stats:
                with lock:
                    usage = meter.read(ctrs)
            for ctr in ctrs:
                row = container_summary(ctr, counts.get(ctr.id, 0))
                if stats:
                    # podman's stats words: null CPU before a second sample; Available
                    # false where containers have no cgroup (rootless on cgroup v1).
                    cpu, mem = usage.get(ctr.id, (None, None))
                    row["Stats"] = {"Available": meter.available, "CPUPerc": cpu,
                                    "MemUsage": mem}
                out.append(row)
            return out

        self.reply(await self.engine(work))


class ContainerHandler(BaseApiHandler):
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.engine(lambda rt: rt.touch(rt.lookup_container(ref)).inspect()))

    @authorized
    async def delete(self, ref: str) -> None:
        force = self.flag("force", False)
        await self.engine(lambda rt: rt.lookup_container(ref).remove(force=force))
        self.no_content()


class ContainerActionHandler(BaseApiHandler):
    @authorized
    async def post(self, ref: str, action: str) -> None:
        if action == "stop":
            timeout = self.number("t", None, 0, 86400)
            await self.engine(lambda rt: rt.lookup_container(ref).stop(timeout))
        elif action == "kill":
            sig = parse_signal(self.get_query_argument("signal", None))
            await self.engine(lambda rt: rt.lookup_container(ref).kill(sig))
        elif action == "resize":
            rows, cols = term_size(self)
            await self.engine(lambda rt: rt.lookup_container(ref).resize(rows, cols))
        else:  # start, pause, unpause (the route admits nothing else)
            await self.engine(lambda rt: getattr(rt.lookup_container(ref), action)())
        self.no_content()


def term_size(handler: BaseApiHandler) -> tuple[int, int]:
    """``{"h": rows, "w": cols}`` from the JSON body, or ``?h=&w=``."""
    body = handler.json_body()
    h = body.get("h", handler.get_query_argument("h", None))
    w = body.get("w", handler.get_query_argument("w", None))
    if h is None or w is None:
        raise ApiError(400, 'a resize needs both "h" (rows) and "w" (columns)')
    return to_int("h", h, 1, MAX_TERM_SIZE), to_int("w", w, 1, MAX_TERM_SIZE)


def _checked_str(key: str, value: str, what: str = "") -> int:
    """The UTF-8 size of ``value``; 400 for what no process could be given."""
    where = f'"{key}"{what}'
    if "\0" in value:
        raise ApiError(400, f"{where} contains a NUL character, which a process "
                            "cannot be given: remove it")
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(400, f"{where} is not valid Unicode (it has a lone surrogate "
                            "escape such as \\ud800): send valid UTF-8 text") from None


def _str_list(body: dict[str, Any], key: str, max_items: int, max_bytes: int,
              traits: tuple[str, str], required: bool = False) -> list[str]:
    """A list of strings, within ``max_items`` entries and ``max_bytes`` in all (the
    traitlets ``traits`` name these limits)."""
    value = body.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f'"{key}" must be a list of strings')
    if len(value) > max_items:
        raise ApiError(400, f'"{key}" has {len(value)} entries; at most {max_items} are '
                            f"accepted (IpyOciApp.{traits[0]})")
    total = 0
    for i, item in enumerate(value):
        total += _checked_str(key, item, f" entry {i}")
        if total > max_bytes:
            raise ApiError(400, f'"{key}" holds more than {size(max_bytes)} of text; at '
                                f"most {size(max_bytes)} is accepted "
                                f"(IpyOciApp.{traits[1]})")
    return value


def _typed(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ApiError(400, f'"{key}" must be a {"boolean" if kind is bool else "string"}')
    if isinstance(value, str):
        if len(value) > MAX_FIELD[key]:
            raise ApiError(400, f'"{key}" is {len(value)} characters long; at most '
                                f"{MAX_FIELD[key]} are accepted")
        _checked_str(key, value)
    return value


def exec_config(body: dict[str, Any], limits: Limits) -> ExecConfig:
    """The ExecConfig of a POST /containers/NAME/exec body; ApiError if refused."""
    cmd = _str_list(body, "Cmd", limits.exec_max_args, limits.exec_max_cmd_bytes,
                    ("exec_max_args", "exec_max_cmd_bytes"), required=True)
    if not cmd or not cmd[0]:
        raise ApiError(400, '"Cmd" must name a command, e.g. ["sh"]')
    env = _str_list(body, "Env", limits.exec_max_env, limits.exec_max_env_bytes,
                    ("exec_max_env", "exec_max_env_bytes"))
    bad = next((e for e in env if "=" not in e or e.startswith("=")), None)
    if bad is not None:
        raise ApiError(400, f'"Env" entries must look like "KEY=VALUE", not {show(bad)}')
    workdir = _typed(body, "WorkingDir", str, "")
    if workdir and not workdir.startswith("/"):
        raise ApiError(400, f'"WorkingDir" must be an absolute path, not {show(workdir)}')
    # Browser terminals have no detach gesture; ctrl-p is the shell's history key.
    detach_keys = _typed(body, "DetachKeys", str, "")
    try:
        parse_detach_keys(detach_keys)
    except UsageError as exc:
        raise ApiError(400, f'"DetachKeys": {exc}') from None
    privileged = _typed(body, "Privileged", bool, False)
    if privileged and not limits.allow_privileged_exec:
        raise ApiError(403, '"Privileged": true is not allowed by this Jupyter server: '
                            "its administrator can allow privileged exec sessions with "
                            "c.IpyOciApp.allow_privileged_exec = True (or run the exec "
                            "without \"Privileged\")")
    return ExecConfig(
        command=cmd,
        tty=_typed(body, "Tty", bool, False),
        attach_stdin=_typed(body, "AttachStdin", bool, True),
        env=env,
        user=_typed(body, "User", str, ""),
        workdir=workdir,
        privileged=privileged,
        detach_keys=detach_keys,
    )


class ExecCreateHandler(BaseApiHandler):
    @authorized
    async def post(self, ref: str) -> None:
        config = exec_config(self.json_body(), self.limits)
        # Created, not started: the first websocket attach starts it. The owner is
        # this server process (the pool thread runs in it).
        sess = await self.engine(lambda rt: rt.exec_create(ref, config))
        self.reply({"Id": sess.id}, status=201)


class ExecListHandler(BaseApiHandler):
    @authorized
    async def get(self) -> None:
        ref = self.get_query_argument("container", None)

        def work(rt: Runtime) -> list[dict[str, Any]]:
            cid = rt.lookup_container(ref).id if ref else None
            return [s.inspect() for s in rt.exec_sessions(cid)]

        self.reply(await self.engine(work))


class ExecHandler(BaseApiHandler):
    @authorized
    async def get(self, sid: str) -> None:
        self.reply(await self.engine(lambda rt: rt.lookup_exec(sid).sync().inspect()))

    @authorized
    async def delete(self, sid: str) -> None:
        force = self.flag("force", False)
        await self.engine(lambda rt: rt.lookup_exec(sid).remove(force=force))
        self.no_content()


class ExecStopHandler(BaseApiHandler):
    @authorized
    async def post(self, sid: str) -> None:
        timeout = self.number("t", None, 0, 86400)
        await self.engine(lambda rt: rt.lookup_exec(sid).stop(timeout))
        self.no_content()


class ExecResizeHandler(BaseApiHandler):
    @authorized
    async def post(self, sid: str) -> None:
        rows, cols = term_size(self)

        def work(rt: Runtime) -> str:
            sess = rt.lookup_exec(sid)
            sess.resize(rows, cols)
            return sess.id

        full_id = await self.engine(work)
        # A session not started yet gets this size when its first viewer starts it.
        self.hub.note_size(full_id, rows, cols)
        self.no_content()


class ImagesHandler(BaseApiHandler):
    @authorized
    async def get(self) -> None:
        """``images --format json`` rows (podman's GET /images/json)."""
        self.reply(await self.engine(lambda rt: [
            image_summary(s.image, s.containers) for s in eng.list_images(rt)]))


class ImageHandler(BaseApiHandler):
    @authorized
    async def get(self, ref: str) -> None:
        """``image inspect`` JSON (podman's GET /images/NAME/json)."""
        self.reply(await self.engine(
            lambda rt: image_inspect(rt, eng.image_store(rt).lookup(ref))))


class InfoHandler(BaseApiHandler):
    @authorized
    async def get(self) -> None:
        self.reply(await self.engine(lambda rt: rt.info()))


def rest_routes(prefix: str) -> list[tuple[str, type[BaseApiHandler]]]:
    ref = r"([^/]+)"
    return [
        (rf"{prefix}/containers/?", ContainersHandler),
        (rf"{prefix}/containers/{ref}", ContainerHandler),
        (rf"{prefix}/containers/{ref}/(start|stop|kill|pause|unpause|resize)",
         ContainerActionHandler),
        (rf"{prefix}/containers/{ref}/exec", ExecCreateHandler),
        (rf"{prefix}/exec/?", ExecListHandler),
        (rf"{prefix}/exec/{ref}", ExecHandler),
        (rf"{prefix}/exec/{ref}/stop", ExecStopHandler),
        (rf"{prefix}/exec/{ref}/resize", ExecResizeHandler),
        (rf"{prefix}/images/?", ImagesHandler),
        (rf"{prefix}/images/(.+)", ImageHandler),  # names have slashes
        (rf"{prefix}/info/?", InfoHandler),
    ]
