"""The record of a ``%%oci run`` cell: enough to know what ran, where, and to redo it.

It goes into the cell's output metadata under ``ipy_oci.provenance`` (nbformat
keeps it with the notebook), and ``%oci provenance`` shows it again. ``%oci rerun``
and ``ipy-oci rerun FILE`` run it again (engine/rerun.py: the schema, and the fields
added since v1 was first written, all optional: ``run_config``, ``body``,
``exec_env``, ``captured``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..engine.rerun import PROVENANCE_SCHEMA
from ..engine.views import describe_exit
from . import html as h

if TYPE_CHECKING:
    from ..engine.attached import ProcessResult
    from ..engine.container import Container
    from ..engine.images import Image
    from .execs import BodyProgram

SCHEMA = PROVENANCE_SCHEMA
METADATA_KEY = "ipy_oci"
# Container settings that change what a run computes; the rest is noise.
_CONFIG_KEYS = ("user", "workdir", "hostname", "network", "mounts", "read_only", "privileged",
                "cap_add", "cap_drop", "ulimits", "memory", "pids_limit", "cpus", "shm_size",
                "init", "labels", "annotations", "security_opt", "ports")
_REPRODUCE_LIMIT = 4096


def host_info() -> dict[str, str]:
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        os_name = ""
    return {"system": platform.system(), "kernel": platform.release(),
            "machine": platform.machine(), "os": os_name}


def cell_digest(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def build_record(*, line: str, body: str, image_ref: str, image: Image, ctr: Container,
                 env: list[str], env_args: list[str], program: BodyProgram,
                 result: ProcessResult, removed: bool, runtime: dict[str, Any],
                 kernel_id: str, run_config: dict[str, Any] | None = None,
                 captured: dict[str, Any] | None = None) -> dict[str, Any]:
    """``run_config``: the ContainerConfig as asked (before create resolved it);
    ``captured``: the first bytes of stdout and stderr (engine/rerun.OutputCapture)."""
    cfg = ctr.record.config
    config = {k: getattr(cfg, k) for k in _CONFIG_KEYS}
    repo = image.names[0].rsplit(":", 1)[0] if image.names else ""
    pinned = f"{repo}@{image.digest}" if repo else image.digest
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "cell": {"sha256": cell_digest(body), "bytes": len(body.encode()),
                 "magic": f"%%oci {line}".rstrip()},
        "image": {
            "ref": image_ref, "name": image.names[0] if image.names else "",
            "digest": image.digest, "id": "sha256:" + image.id, "pinned": pinned,
            "created": image.created, "os": image.config.get("os", ""),
            "architecture": image.config.get("architecture", ""),
        },
        "command": list(program.command),
        "script_on_stdin": program.stdin is not None,
        "env": env,
        "env_args": env_args,
        "container": {"id": ctr.id, "name": ctr.name, "removed": removed, "config": config},
        "exec_session": result.session_id,
        "exit_code": result.exit_code,
        "exit": describe_exit(result.exit_code),
        "interrupted": result.interrupted,
        "timed_out": result.timed_out,
        "started_at": h.iso(result.started_at),
        "finished_at": h.iso(result.finished_at),
        "duration_s": round(result.duration, 6),
        "output": result.output,
        "runtime": {"name": runtime.get("name", ""), "version": runtime.get("version", ""),
                    "conmon": (runtime.get("conmon") or {}).get("version", "")},
        "ipy_oci_version": __version__,
        "python": platform.python_version(),
        "host": host_info(),
        "kernel_id": kernel_id,
        # For re-runs (engine/rerun.py): added to v1, optional for readers.
        "body": body,
        "exec_env": list(program.env),
    }
    placement = getattr(ctr, "placement", None)  # a Slurm job's (engine/slurm.py)
    if placement:
        record["slurm"] = placement
    if run_config is not None:
        record["run_config"] = run_config
    if captured is not None:
        record["captured"] = captured
    if len(body) <= _REPRODUCE_LIMIT:
        record["reproduce"] = reproduce_command(cfg, env_args, pinned, program)
    return record


def reproduce_command(cfg: Any, env_args: list[str], image: str, program: BodyProgram) -> str:
    """The same run from a shell, with the image pinned by digest."""
    argv = ["ipy-oci", "run", "--rm"]
    for e in env_args:
        argv += ["-e", e]
    if cfg.user:
        argv += ["-u", cfg.user]
    if cfg.workdir:
        argv += ["-w", cfg.workdir]
    for m in cfg.mounts:
        argv += ["-v", f"{m['source']}:{m['destination']}" + (":ro" if m.get("readonly")
                                                               else "")]
    if cfg.network != "bridge":
        argv += ["--network", cfg.network]
    elif cfg.networks and cfg.networks != ["ipy-oci"]:
        argv += ["--network", ",".join(cfg.networks)]
    if cfg.read_only:
        argv.append("--read-only")
    if cfg.privileged:
        argv.append("--privileged")
    for flag, values in (("--cap-add", cfg.cap_add), ("--cap-drop", cfg.cap_drop),
                         ("--ulimit", cfg.ulimits), ("--security-opt", cfg.security_opt)):
        for v in values:
            argv += [flag, v]
    if cfg.memory:
        argv += ["--memory", f"{cfg.memory}b"]
    if cfg.pids_limit:
        argv += ["--pids-limit", str(cfg.pids_limit)]
    if cfg.cpus:
        argv += ["--cpus", str(cfg.cpus)]
    if cfg.shm_size:
        argv += ["--shm-size", f"{cfg.shm_size}b"]
    if program.stdin is not None:
        argv.insert(2, "-i")
    return shlex.join([*argv, image, *program.command])


class Provenance:
    """A record on display: a one-line summary, details on click, metadata attached."""

    def __init__(self, record: dict[str, Any], expanded: bool = False) -> None:
        self.record = record
        self.expanded = expanded

    def summary(self) -> str:
        r = self.record
        img = r["image"]
        return (f"ipy-oci run: {img['name'] or img['ref']} ({img['digest'][:19]}) "
                f"exit {r['exit']} in {r['duration_s']:.2f} s on {r['runtime']['version']}")

    def to_json(self) -> str:
        return json.dumps(self.record, indent=2)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        data = {"text/plain": self.summary(), "text/html": self._html()}
        return data, {METADATA_KEY: {"provenance": self.record}}

    def _html(self) -> str:
        r = self.record
        img = r["image"]
        ok = r["exit_code"] == 0 and not r["interrupted"] and not r["timed_out"]
        state = "ok" if ok else "interrupted" if r["interrupted"] or r["timed_out"] else "failed"
        rows = [
            ("image", h.esc(img["name"] or img["ref"]) + " " + h.mono(img["digest"])),
            ("command", h.mono(_short(" ".join(r["command"]), 120))),
            ("exit", h.badge(state, f"exit {r['exit']}")),
            ("started", h.esc(r["started_at"])),
            ("finished", h.esc(r["finished_at"]) + f" ({r['duration_s']:.3f} s)"),
            ("runtime", h.esc(f"{r['runtime']['version']}; {r['runtime']['conmon']}")),
            ("ipy-oci", h.esc(r["ipy_oci_version"])),
            ("host", h.esc(f"{r['host']['os']} · Linux {r['host']['kernel']} · "
                           f"{r['host']['machine']}")),
            ("cell", h.mono(r["cell"]["sha256"])),
            ("stdout", h.mono(f"{r['output']['stdout']['sha256'][:16]}… "
                              f"({r['output']['stdout']['bytes']} bytes)")),
            ("env", h.mono(" ".join(r["env"]))),
        ]
        if "reproduce" in r:
            rows.append(("reproduce", h.mono(r["reproduce"])))
        rows.append(("re-run", h.mono(f"%oci rerun {r['exec_session'][:12]}")
                     + h.esc(" in this kernel; elsewhere ")
                     + h.mono("%oci provenance --export FILE") + h.esc(", then ")
                     + h.mono("ipy-oci rerun FILE")))
        rows.append(("record", h.json_tree(_shown(r), open_depth=0)))
        body = h.fields(rows)
        opened = " open" if self.expanded else ""
        return (f'<details{opened}><summary style="cursor:pointer;'
                f'color:var(--jp-ui-font-color2, #616161)">'
                f"{h.esc(self.summary())} {copy_button(self.shell_command())}</summary>"
                f"{body}</details>")

    def shell_command(self) -> str:
        """The same run from a shell: ``reproduce``, or (a long body) ``ipy-oci rerun``
        of an export."""
        return str(self.record.get("reproduce") or "ipy-oci rerun provenance.json")


# Copies its data-cmd with navigator.clipboard (a secure context: https or localhost);
# elsewhere a prompt shows the command selected, to copy by hand. Inline, so it works
# in a stored notebook too once trusted (an untrusted one drops the onclick).
_COPY_JS = ("event.preventDefault();event.stopPropagation();"
            "var b=this,t=b.getAttribute('data-cmd');"
            "function ask(){window.prompt('Copy the command (Ctrl+C):',t);}"
            "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t)"
            ".then(function(){b.textContent='copied';"
            "setTimeout(function(){b.textContent='Copy reproduce command';},1500);},ask);}"
            "else{ask();}")


def copy_button(command: str) -> str:
    return (f'<button type="button" data-cmd="{h.esc(command)}" onclick="{h.esc(_COPY_JS)}" '
            'title="copy the equivalent ipy-oci command (needs a trusted notebook; the '
            'command is also in the record)" style="font-size:85%;margin-left:6px;'
            'cursor:pointer">Copy reproduce command</button>')


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    """The record for the HTML tree: the kept output (up to a MiB a stream, in the
    metadata for diffs) as its size only, so the page does not carry it twice."""
    kept = record.get("captured")
    if not isinstance(kept, dict):
        return record
    brief = {k: (f"{len(v.get('text', ''))} characters kept for diffs"
                 + (" (truncated)" if v.get("truncated") else "")
                 if isinstance(v, dict) else v) for k, v in kept.items()}
    return {**record, "captured": brief}


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def find(records: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """``-1``/``0``: by index; otherwise a session, container id prefix or name."""
    from ..errors import NotFoundError

    if not records:
        raise NotFoundError("no provenance recorded in this kernel yet: run a '%%oci run' "
                            "cell first")
    if not ref:
        return records[-1]
    try:
        return records[int(ref)]
    except ValueError:
        pass
    except IndexError:
        raise NotFoundError(f"no provenance record #{ref}: this kernel has "
                            f"{len(records)}") from None
    for rec in reversed(records):
        if rec["exec_session"].startswith(ref) or rec["container"]["id"].startswith(ref) \
                or rec["container"]["name"] == ref:
            return rec
    raise NotFoundError(f"no provenance record matches {ref!r}: give an index (-1 is the "
                        "last), an exec session or container id, or a container name")

