"""Re-running a ``%%oci run`` cell from its provenance record, and the comparison.

Shared by ``%oci rerun`` (the kernel) and ``ipy-oci rerun FILE`` (the CLI): the
record -> ContainerConfig rebuild (the image pinned by digest), the run in a fresh
container (PID 1 idles, the body runs as a one-shot exec session, the container is
removed in every case), and the comparison of exit codes, output digests and the
unified diffs of the output kept in the record.

Records are ``ipy-oci/provenance/v1``. Fields added later are optional, so records
made before them still load: ``run_config`` (the ContainerConfig as asked, before
create resolved it), ``body``, ``exec_env`` and ``captured`` (the first
``CAPTURE_LIMIT`` bytes of stdout and stderr). Without them the config is rebuilt
from ``container.config`` and ``env_args``, and only digests can be compared.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NoSuchContainer, NoSuchImage, OciError, UsageError
from .attached import ProcessResult
from .records import ContainerConfig, ExecConfig

if TYPE_CHECKING:
    from .container import Container
    from .exec_session import ExecSession
    from .runtime import Runtime

PROVENANCE_SCHEMA = "ipy-oci/provenance/v1"
EXPORT_SCHEMA = "ipy-oci/provenance-export/v1"
CAPTURE_LIMIT = 1 << 20  # bytes of each stream a record keeps for diffing
DIFF_LIMIT = 256 * 1024  # characters of one diff shown
_STDOUT, _STDERR = 2, 3  # conmon's stream numbers (what on_output receives)
# container.config keys of records without run_config that can be asked again as
# they are (resolved ports and volume sources cannot).
_LEGACY_KEYS = ("user", "workdir", "hostname", "network", "read_only", "privileged",
                "cap_add", "cap_drop", "ulimits", "memory", "pids_limit", "cpus",
                "shm_size", "init", "labels", "annotations", "security_opt")


class BadRecord(UsageError):
    """A record (or an export file) that cannot be re-run as it is."""


# -- bounded capture -------------------------------------------------------------------------
class OutputCapture:
    """An ``on_output(stream, data)`` callback: digests of every byte, the first
    ``limit`` bytes of each stream kept for diffing."""

    def __init__(self, limit: int = CAPTURE_LIMIT,
                 tee: Callable[[int, bytes], None] | None = None) -> None:
        self.limit = limit
        self._tee = tee
        self._hashes = {s: hashlib.sha256() for s in (_STDOUT, _STDERR)}
        self._kept = {_STDOUT: bytearray(), _STDERR: bytearray()}
        self.nbytes = {_STDOUT: 0, _STDERR: 0}

    def __call__(self, stream: int, data: bytes) -> None:
        s = _STDERR if stream == _STDERR else _STDOUT
        self._hashes[s].update(data)
        self.nbytes[s] += len(data)
        room = self.limit - len(self._kept[s])
        if room > 0:
            self._kept[s] += data[:room]
        if self._tee is not None:
            self._tee(stream, data)

    def digests(self) -> dict[str, dict[str, object]]:
        """The record's ``output`` (the shape kernel/streams.CellOutput gives)."""
        return {name: {"sha256": self._hashes[s].hexdigest(), "bytes": self.nbytes[s]}
                for name, s in (("stdout", _STDOUT), ("stderr", _STDERR))}

    def captured(self) -> dict[str, Any]:
        """The record's ``captured``: text (UTF-8, invalid bytes replaced: ``lossy``)
        and whether the stream was longer than the limit (``truncated``)."""
        out: dict[str, Any] = {"limit": self.limit}
        for name, s in (("stdout", _STDOUT), ("stderr", _STDERR)):
            kept = bytes(self._kept[s])
            text = kept.decode("utf-8", "replace")
            out[name] = {"text": text, "truncated": self.nbytes[s] > len(kept),
                         "lossy": text.encode("utf-8") != kept}
        return out


# -- the record -> what to run ----------------------------------------------------------------
@dataclass
class RerunPlan:
    label: str  # how messages name the record ("record #2", "the last record")
    config: ContainerConfig
    exec_config: ExecConfig
    stdin: bytes | None
    image_digest: str
    pinned: str


def _need(record: Any, label: str, *path: str) -> Any:
    value = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise BadRecord(f"{label} has no {'.'.join(path)}: it is not a complete "
                            f"{PROVENANCE_SCHEMA} record (make it again with a '%%oci run' "
                            "cell and export it with '%oci provenance --export FILE')")
        value = value[key]
    return value


def check_record(record: Any, label: str) -> None:
    if not isinstance(record, dict):
        raise BadRecord(f"{label} is a JSON {type(record).__name__}, not a provenance "
                        "record (an object)")
    schema = record.get("schema")
    if schema != PROVENANCE_SCHEMA:
        raise BadRecord(f"{label} has schema {schema!r}: this ipy-oci re-runs "
                        f"{PROVENANCE_SCHEMA!r} records only")


def plan(record: dict[str, Any], label: str = "the record") -> RerunPlan:
    """What to run again: the config as asked, the image by digest, the same body."""
    check_record(record, label)
    digest = _need(record, label, "image", "digest")
    command = _need(record, label, "command")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise BadRecord(f"{label}: image.digest {digest!r} is not a sha256 digest")
    if not isinstance(command, list) or not command or \
            not all(isinstance(a, str) for a in command):
        raise BadRecord(f"{label}: command must be a non-empty list of strings")
    pinned = record["image"].get("pinned") or digest
    cell_sha = _need(record, label, "cell", "sha256")
    body = record.get("body")
    stdin: bytes | None = None
    if record.get("script_on_stdin"):
        if not isinstance(body, str):
            raise BadRecord(f"{label}: its cell body went in on stdin and the record keeps "
                            "only its sha256 (made by an older ipy-oci): run the cell again "
                            "to get a record that can be re-run")
        stdin = body.encode()
    if isinstance(body, str) and _sha(body) != cell_sha:
        raise BadRecord(f"{label}: its body does not match cell.sha256 {cell_sha}: the "
                        "record was changed after it was made")
    raw = record.get("run_config")
    if isinstance(raw, dict):
        known = {f.name for f in fields(ContainerConfig)}
        try:
            cfg = ContainerConfig(**{k: v for k, v in raw.items() if k in known})
        except TypeError as exc:
            raise BadRecord(f"{label}: run_config is not a container config ({exc})") from None
    else:
        cfg = _legacy_config(record, label)
    cfg.image = pinned
    # PID 1 idles while the body runs as an exec session, as in the cell; a fresh
    # container each time, removed at the end; files named by the first run are not
    # written again (they would collide with the first run's).
    cfg.entrypoint, cfg.cmd, cfg.idle, cfg.auto_remove = None, None, True, True
    cfg.command, cfg.tty, cfg.stdin = [], False, False
    cfg.cidfile, cfg.conmon_pidfile = "", ""
    exec_env = record.get("exec_env")
    if not isinstance(exec_env, list):  # older records: what body_program adds for python
        env = record.get("env") or []
        exec_env = ["PYTHONUNBUFFERED=1"] if "PYTHONUNBUFFERED=1" in env \
            and "PYTHONUNBUFFERED=1" not in (record.get("env_args") or []) else []
    ecfg = ExecConfig(command=list(command), env=[str(e) for e in exec_env],
                      attach_stdin=stdin is not None)
    return RerunPlan(label, cfg, ecfg, stdin, digest, pinned)


def _legacy_config(record: dict[str, Any], label: str) -> ContainerConfig:
    old = (record.get("container") or {}).get("config") or {}
    env_args = record.get("env_args") or []
    if not isinstance(old, dict) or not isinstance(env_args, list):
        raise BadRecord(f"{label}: container.config and env_args are malformed")
    cfg = ContainerConfig(image="", command=[], env=[str(e) for e in env_args])
    for key in _LEGACY_KEYS:
        if key in old:
            setattr(cfg, key, old[key])
    # Bind mounts only: volume sources were resolved to this machine's paths.
    cfg.mounts = [m for m in old.get("mounts") or []
                  if isinstance(m, dict) and m.get("type", "bind") == "bind"
                  and not m.get("volume") and not m.get("anonymous")]
    return cfg


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# -- running it ---------------------------------------------------------------------------------
def run_plan(rt: Runtime, p: RerunPlan, *, owner_kernel: str = "",
             should_stop: Callable[[], bool] | None = None,
             on_started: Callable[[ExecSession], None] | None = None,
             on_output: Callable[[int, bytes], None] | None = None,
             interrupt_grace: float = 2.0) -> tuple[ProcessResult, OutputCapture]:
    """Run ``p`` in a fresh container and remove it, in every case."""
    capture = OutputCapture(tee=on_output)
    _use_local_digest(rt, p)
    ctr = rt.create_container(p.config, None, owner_kernel=owner_kernel, pull="missing")
    result = ProcessResult(kind="run", container_id=ctr.id, container_name=ctr.name,
                           command=list(p.exec_config.command), started_at=time.time())
    try:
        image = rt.images.lookup(ctr.record.image_id)
        if image.digest != p.image_digest:
            raise BadRecord(f"{p.label}: {p.pinned} gave image {image.digest}, not the "
                            f"recorded {p.image_digest}")
        ctr.start()
        with tempfile.TemporaryFile() as stdin:
            if p.stdin is not None:  # a file as stdin: the process reads it to its end
                stdin.write(p.stdin)
                stdin.flush()
                stdin.seek(0)
            sess = rt.exec_create(ctr, p.exec_config, owner_kernel=owner_kernel)
            result.session_id = sess.id
            result.started_at = time.time()
            res = sess.start_and_attach(capture, stdin_fd=stdin.fileno()
                                        if p.stdin is not None else None,
                                        should_stop=should_stop,
                                        interrupt_grace=interrupt_grace,
                                        on_started=on_started, remove=True)
        result.exit_code, result.interrupted = res.exit_code, res.interrupted
        result.finished_at = time.time()
    finally:
        _remove(ctr)
    result.output = capture.digests()
    return result, capture


def _use_local_digest(rt: Runtime, p: RerunPlan) -> None:
    """These exact bytes, if this machine has them under any name; else the pinned
    reference (``repo@digest``), which pulls by digest when missing."""
    try:
        rt.images.lookup(p.pinned)
    except (NoSuchImage, OciError):
        try:
            rt.images.lookup(p.image_digest)
        except NoSuchImage:
            return
        p.config.image = p.image_digest


def _remove(ctr: Container) -> None:
    try:
        ctr.remove(force=True, timeout=0)
    except NoSuchContainer:
        pass  # conmon's exit command (auto_remove) got there first


# -- the comparison -----------------------------------------------------------------------------
@dataclass
class StreamComparison:
    name: str  # "stdout" or "stderr"
    original_sha256: str
    rerun_sha256: str
    original_bytes: int
    rerun_bytes: int
    diff: str = ""  # unified diff of the kept text; "" when equal or not kept
    note: str = ""  # why a diff is missing or partial

    @property
    def same(self) -> bool:
        return self.original_sha256 == self.rerun_sha256


@dataclass
class Comparison:
    """An original run next to its re-run: ``identical`` when the exit codes and the
    sha256 of stdout and of stderr are all equal."""

    label: str
    image: str  # the pinned reference
    command: list[str]
    original_exit: int | None
    rerun_exit: int | None
    streams: list[StreamComparison] = field(default_factory=list)
    container: str = ""  # the re-run's (removed) container
    duration_s: float = 0.0
    interrupted: bool = False

    @property
    def identical(self) -> bool:
        return (not self.interrupted and self.original_exit == self.rerun_exit
                and all(s.same for s in self.streams))

    def stream(self, name: str) -> StreamComparison:
        return next(s for s in self.streams if s.name == name)

    def text(self) -> str:
        """The CLI's report of one record: the verdict, the digests, the diffs."""
        verdict = "identical" if self.identical else \
            "interrupted" if self.interrupted else "different"
        lines = [f"{self.label}: {verdict} ({self.image})",
                 f"  exit code: {_code(self.original_exit)} -> {_code(self.rerun_exit)}"
                 + ("" if self.original_exit == self.rerun_exit else "  (differs)")]
        for s in self.streams:
            lines.append(f"  {s.name}: {_short(s.original_sha256)} ({s.original_bytes} "
                         f"bytes) -> {_short(s.rerun_sha256)} ({s.rerun_bytes} bytes)"
                         + ("" if s.same else "  (differs)"))
            if s.note:
                lines.append(f"  {s.name}: {s.note}")
        text = "\n".join(lines) + "\n"
        for s in self.streams:
            if s.diff:
                text += s.diff if s.diff.endswith("\n") else s.diff + "\n"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "identical": self.identical, "image": self.image,
                "command": self.command, "exit_code": {"original": self.original_exit,
                                                       "rerun": self.rerun_exit},
                "streams": [{"name": s.name, "same": s.same,
                             "sha256": {"original": s.original_sha256,
                                        "rerun": s.rerun_sha256},
                             "bytes": {"original": s.original_bytes,
                                       "rerun": s.rerun_bytes},
                             "diff": s.diff, "note": s.note} for s in self.streams],
                "container": self.container, "interrupted": self.interrupted}


def _code(code: int | None) -> str:
    return "none" if code is None else str(code)


def _short(digest: str) -> str:
    return digest[:16] + "…" if len(digest) > 16 else digest or "?"


def compare(record: dict[str, Any], result: ProcessResult, capture: OutputCapture,
            label: str = "the record") -> Comparison:
    now = capture.captured()
    kept = record.get("captured") if isinstance(record.get("captured"), dict) else None
    output = record.get("output") or {}
    streams = []
    for name in ("stdout", "stderr"):
        orig = output.get(name) or {}
        new = result.output.get(name) or {}
        s = StreamComparison(name, str(orig.get("sha256", "")), str(new.get("sha256", "")),
                             int(orig.get("bytes", 0) or 0), int(str(new.get("bytes", 0))))
        if not s.same:
            old_text = (kept or {}).get(name) if kept else None
            if not isinstance(old_text, dict) or not isinstance(old_text.get("text"), str):
                s.note = ("no diff: the record keeps only the digest of its output "
                          "(made by an older ipy-oci)")
            else:
                s.diff, s.note = _diff(name, old_text, now[name])
        streams.append(s)
    return Comparison(label=label, image=str(record.get("image", {}).get("pinned", "")),
                      command=list(record.get("command") or []),
                      original_exit=record.get("exit_code"), rerun_exit=result.exit_code,
                      streams=streams, container=result.container_name,
                      duration_s=round(result.duration, 6),
                      interrupted=result.interrupted or result.timed_out)


def _diff(name: str, old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str]:
    notes = []
    if old.get("truncated") or new.get("truncated"):
        notes.append(f"the diff covers the first {CAPTURE_LIMIT // 1024} KiB of each run "
                     "(the output was longer)")
    if old.get("lossy") or new.get("lossy"):
        notes.append("bytes that are not UTF-8 show as U+FFFD")
    a, b = str(old["text"]), str(new["text"])
    if a == b:
        notes.append("the kept text is the same: the difference is past the kept part "
                     "or in bytes that are not UTF-8")
        return "", "; ".join(notes)
    diff = "".join(_lines(difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True),
        fromfile=f"original/{name}", tofile=f"rerun/{name}")))
    if len(diff) > DIFF_LIMIT:
        diff = diff[:DIFF_LIMIT] + "\n"
        notes.append(f"the diff is cut at {DIFF_LIMIT // 1024} KiB")
    return diff, "; ".join(notes)


def _lines(diff: Any) -> Any:
    """Diff lines, each ending in a newline (as diff(1) marks a last line without one)."""
    for line in diff:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def rerun(rt: Runtime, record: dict[str, Any], label: str = "the record",
          **kwargs: Any) -> Comparison:
    """Plan, run and compare one record (``kwargs``: run_plan's)."""
    p = plan(record, label)
    result, capture = run_plan(rt, p, **kwargs)
    return compare(record, result, capture, label)


# -- export files -------------------------------------------------------------------------------
def export_document(records: list[dict[str, Any]], kernel_id: str = "") -> dict[str, Any]:
    return {"schema": EXPORT_SCHEMA, "record_schema": PROVENANCE_SCHEMA,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "kernel_id": kernel_id, "records": records}


def write_export(path: str | os.PathLike[str], records: list[dict[str, Any]],
                 kernel_id: str = "") -> Path:
    if not records:
        raise UsageError("no provenance recorded in this kernel yet: run a '%%oci run' "
                         "cell first, then export")
    out = Path(path).expanduser()
    if out.is_dir():
        raise UsageError(f"cannot export to {out}: it is a directory (give a file name, "
                         "e.g. provenance.json)")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(export_document(records, kernel_id), indent=1) + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def load_export(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of an export file (also a bare list of records, or one record as
    ``%oci provenance --json`` prints it); every one is checked before any runs."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise BadRecord(f"no such file: {p} (make one with '%oci provenance --export "
                        f"{p.name}' in the notebook)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRecord(f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRecord(f"{p} is not valid JSON: {exc.msg} at line {exc.lineno} column "
                        f"{exc.colno}") from None
    if isinstance(doc, dict) and "records" in doc:
        if doc.get("schema") != EXPORT_SCHEMA:
            raise BadRecord(f"{p} has schema {doc.get('schema')!r}: expected "
                            f"{EXPORT_SCHEMA!r} (written by '%oci provenance --export')")
        records = doc["records"]
    elif isinstance(doc, dict):
        records = [doc]
    else:
        records = doc
    if not isinstance(records, list) or not records:
        raise BadRecord(f"{p} holds no provenance records")
    for i, rec in enumerate(records):
        check_record(rec, f"record {i} of {p}")
    return records
