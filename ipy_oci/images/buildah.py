"""The build driver: buildah on a storage of its own, and the Containerfile's FROM lines.

buildah keeps its images under ``<root>/buildah/storage`` (vfs: no overlay on
overlay) and its run state under ``<runroot>/buildah``. It never talks to a
registry: the engine puts every base image there from the ipy-oci store first
(``seed``), and builds run with ``--pull=never``. RUN steps use chroot isolation
(no runc, no cgroups); ``--network none`` puts the whole buildah process in a
new network namespace, since chroot isolation only shares the caller's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import resource
import selectors
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ipy_oci.config import find_binary
from ipy_oci.errors import ImageError, RuntimeMissing, UsageError

OutputFn = Callable[[int, bytes], None]  # (1 stdout / 2 stderr, bytes)

_HEX_LINE = re.compile(rb"[0-9a-f]{64}\n")
_ERROR = b"Error: "


class BuildFailed(ImageError):
    """A step failed or buildah refused the build; the message is buildah's."""


def find_buildah() -> str:
    path = find_binary("buildah", ("/usr/bin/buildah",))
    if path is None:
        raise RuntimeMissing("building images needs buildah, which is not installed: "
                             "apt-get install buildah")
    return path


def _clamped_ulimits() -> list[str]:
    """nofile and nproc within our own hard limits: going above them fails the RUN step
    ("error setting rlimit") where the host does not grant CAP_SYS_RESOURCE."""
    out = []
    for name, res, default in (("nofile", resource.RLIMIT_NOFILE, 1048576),
                               ("nproc", resource.RLIMIT_NPROC, 32768)):
        hard = resource.getrlimit(res)[1]
        value = default if hard == resource.RLIM_INFINITY else min(default, hard)
        out += ["--ulimit", f"{name}={value}:{value}"]
    return out


@dataclass(frozen=True)
class BuildahStorage:
    """buildah's storage under an ipy-oci root; it is a cache only (base images and,
    with --layers, one image per step), never a source of truth."""

    root: Path  # <root>/buildah
    runroot: Path  # <runroot>/buildah
    binary: str = field(default_factory=find_buildah)

    @property
    def graphroot(self) -> Path:
        return self.root / "storage"

    def prepare(self) -> None:
        for d in (self.graphroot, self.runroot):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Our own config files, so the host's (other roots, additional stores, short
        # name prompts) never apply: only local images are ever looked up.
        storage = (f'[storage]\ndriver = "vfs"\ngraphroot = "{self.graphroot}"\n'
                   f'runroot = "{self.runroot}"\n')
        registries = 'unqualified-search-registries = []\nshort-name-mode = "permissive"\n'
        for name, text in (("storage.conf", storage), ("registries.conf", registries)):
            path = self.root / name
            if not path.exists() or path.read_text() != text:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text)
                os.replace(tmp, path)

    def global_args(self) -> list[str]:
        return [self.binary, "--root", str(self.graphroot), "--runroot", str(self.runroot),
                "--storage-driver", "vfs"]

    def env(self, tmpdir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(CONTAINERS_STORAGE_CONF=str(self.root / "storage.conf"),
                   CONTAINERS_REGISTRIES_CONF=str(self.root / "registries.conf"),
                   TMPDIR=str(tmpdir), BUILDAH_ISOLATION="chroot")
        env.pop("BUILDAH_LAYERS", None)
        return env

    def transport(self, name: str) -> str:
        """skopeo's name for image ``name`` in this storage."""
        return f"containers-storage:[vfs@{self.graphroot}+{self.runroot}]{name}"

    @contextlib.contextmanager
    def locked(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """One build at a time per storage: cleanup after a build (``rm --all``) may
        then remove every working container, a killed build's included."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.root / "build.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- one-shot commands ---------------------------------------------------------------
    def _quiet(self, args: Sequence[str], what: str, tmpdir: Path) -> str:
        proc = subprocess.run([*self.global_args(), *args], capture_output=True,
                              stdin=subprocess.DEVNULL, env=self.env(tmpdir), check=False)
        if proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace").strip().splitlines()
            raise BuildFailed(f"{what}: {(msg or ['buildah failed'])[-1].removeprefix('Error: ')}")
        return proc.stdout.decode(errors="replace")

    def seed(self, source: Path, name: str, what: str, tmpdir: Path) -> None:
        """Copy the image in ``source`` (skopeo's ``dir:`` format) into this storage as
        ``name``; layers it already has are not copied again."""
        from ipy_oci.images.skopeo import find_skopeo

        proc = subprocess.run([find_skopeo(), "copy", "-q", f"dir:{source}",
                               self.transport(name)], capture_output=True,
                              stdin=subprocess.DEVNULL, env=self.env(tmpdir), check=False)
        if proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace").strip().splitlines()
            raise BuildFailed(f"{what}: copying it into the build storage failed: "
                              f"{(msg or ['skopeo failed'])[-1]}")

    def push_layout(self, image_id: str, layout: Path, ref_name: str, tmpdir: Path) -> None:
        """The built image as an OCI layout (layers as buildah has them: no recompression)."""
        self._quiet(["push", "-q", "-D", image_id, f"oci:{layout}:{ref_name}"],
                    "exporting the built image", tmpdir)

    def remove_containers(self, tmpdir: Path) -> None:
        """Every working container (ours, or a killed build's): the lock is held."""
        with contextlib.suppress(BuildFailed):
            self._quiet(["rm", "--all"], "removing build containers", tmpdir)

    def remove_image(self, image_id: str, tmpdir: Path) -> None:
        with contextlib.suppress(BuildFailed):
            self._quiet(["rmi", "-f", image_id], "removing the built image", tmpdir)


# -- the build itself ---------------------------------------------------------------------


@dataclass
class BuildahBuild:
    containerfile: Path
    context: Path
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    layers: bool = True
    network: str = "host"  # host or none

    def argv(self, storage: BuildahStorage) -> list[str]:
        argv = [*storage.global_args(), "build", "--isolation", "chroot", "--network", "host",
                "--pull=never", f"--layers={'true' if self.layers else 'false'}",
                "-f", str(self.containerfile),
                *_clamped_ulimits()]
        if self.layers or self.no_cache:  # buildah takes --rm/--force-rm only then
            argv += ["--rm", "--force-rm"]
        if self.no_cache:
            argv.append("--no-cache")
        if self.target:
            argv += ["--target", self.target]
        for key, value in self.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        argv.append(str(self.context))
        if self.network == "none":
            # chroot isolation shares buildah's network: give buildah an empty one.
            argv = [find_binary("unshare", ("/usr/bin/unshare",)) or "unshare", "--net", *argv]
        return argv


def run_build(argv: list[str], env: Mapping[str, str], on_output: OutputFn | None) -> str:
    """Run buildah in its own process group, its output passed on as it comes.

    ``Error:`` lines on stderr become the BuildFailed message instead (buildah names
    the step: ``building at STEP "RUN false": exit status 1``); the image ID buildah
    prints last is returned, not passed on (the caller prints the imported image's).
    Interrupted (Ctrl-C, any exception): the whole group is killed before this returns.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(env), start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    pending = {1: b"", 2: b""}
    errors: list[str] = []
    ids: list[str] = []

    def emit(stream: int, data: bytes) -> None:
        if data and on_output is not None:
            on_output(stream, data)

    def take_lines(stream: int, final: bool) -> None:
        buf = pending[stream]
        while buf:
            nl = buf.find(b"\n")
            if nl < 0:
                # A partial line goes out at once, unless it may become a held line.
                holdable = (_ERROR.startswith(buf[:7]) if stream == 2
                            else len(buf) <= 64 and re.fullmatch(rb"[0-9a-f]*", buf))
                if final or not holdable:
                    if stream == 2 and buf.startswith(_ERROR):
                        errors.append(buf[len(_ERROR):].decode(errors="replace").strip())
                    else:
                        emit(stream, buf)
                    buf = b""
                break
            line, buf = buf[:nl + 1], buf[nl + 1:]
            if stream == 2 and line.startswith(_ERROR):
                errors.append(line[len(_ERROR):].decode(errors="replace").strip())
            elif stream == 1 and _HEX_LINE.fullmatch(line):
                ids.append(line.decode().strip())
            else:
                emit(stream, line)
        pending[stream] = buf

    try:
        sel.register(proc.stdout, selectors.EVENT_READ, 1)
        sel.register(proc.stderr, selectors.EVENT_READ, 2)
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                pending[key.data] += data
                take_lines(key.data, final=False)
        for stream in (1, 2):
            take_lines(stream, final=True)
        rc = proc.wait()
    except BaseException:
        kill_group(proc)
        raise
    finally:
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
    if rc != 0:
        raise BuildFailed("; ".join(errors) or f"buildah exited with status {rc}")
    if not ids:
        raise BuildFailed("buildah did not say which image it built")
    return ids[-1]


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to buildah's group (its RUN step included), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything left of the group


# -- the Containerfile's base images ------------------------------------------------------

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _substitute(text: str, args: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        value = args.get(name, "")
        if m.group(2) == "-":
            return value or m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        return value

    return _VAR.sub(one, text)


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, rest) with continuation lines joined and comments skipped."""
    escape = "\\"
    m = re.match(r"\s*#\s*escape\s*=\s*(\S)", text)
    if m:
        escape = m.group(1)
    joined = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not joined and (not line or line.startswith("#")):
            continue
        if joined and line.startswith("#"):
            continue
        if line.endswith(escape):
            joined += line[:-1] + " "
            continue
        joined += line
        word, _, rest = joined.strip().partition(" ")
        joined = ""
        if word:
            yield word.upper(), rest.strip()


@dataclass
class Stage:
    base: str  # the FROM image (or an earlier stage's name)
    name: str | None
    copy_from: list[str] = field(default_factory=list)  # COPY/ADD --from=X values


def parse_stages(text: str, build_args: Mapping[str, str]) -> list[Stage]:
    """The stages of a Containerfile: each FROM (global ARGs substituted) and the
    ``--from`` of its COPY lines."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for word, rest in _instructions(text):
        if word == "ARG" and not stages:
            for item in rest.split():
                key, eq, default = item.partition("=")
                value = build_args.get(key, default.strip("\"'") if eq else "")
                global_args[key] = _substitute(value, global_args)
        elif word == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                raise UsageError("the Containerfile has a FROM without an image")
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(_substitute(words[0], global_args), name))
        elif word in ("COPY", "ADD") and stages:
            for w in rest.split():
                if w.startswith("--from="):
                    stages[-1].copy_from.append(w.removeprefix("--from="))
    if not stages:
        raise UsageError("the Containerfile has no FROM instruction")
    return stages


def base_images(stages: Sequence[Stage], target: str | None) -> list[str]:
    """The images (not stages, not ``scratch``) the stages up to ``target`` need."""
    if target is not None:
        names = [s.name for s in stages]
        if target not in names:
            known = ", ".join(n for n in names if n) or "none"
            raise UsageError(f"--target {target!r}: the Containerfile has no stage of that "
                             f"name (named stages: {known})")
        stages = stages[:names.index(target) + 1]
    seen: list[str] = []
    named: set[str] = set()
    for i, stage in enumerate(stages):
        for ref in (stage.base, *stage.copy_from):
            if ref in named or ref.lower() == "scratch" or "$" in ref or not ref \
                    or (ref.isdigit() and int(ref) < i):
                continue
            if ref not in seen:
                seen.append(ref)
        if stage.name:
            named.add(stage.name)
    return seen
