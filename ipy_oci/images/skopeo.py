"""The registry transport: a thin wrapper around the ``skopeo`` binary.

skopeo does the network part (token and basic auth, TLS, registries.conf mirrors,
retries, digest checks while downloading); we choose what to fetch and import
the result ourselves. See docs/DEPENDENCIES.md, "Image transport".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import selectors
import shutil
import struct
import subprocess
import termios
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ipy_oci.config import find_binary
from ipy_oci.errors import ImageError, OciError, RuntimeMissing, StorageFull
from ipy_oci.images.errors import (
    DigestMismatch,
    ManifestUnknown,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
)

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
# What skopeo prints per blob, with or without a terminal.
_SIZE = r"([0-9.]+)\s?([KMGT]?i?B|b)"
_BAR = re.compile(rf"Copying blob ([0-9a-f]{{12}}).*?{_SIZE} / {_SIZE}")
_DONE = re.compile(r"Copying blob ([0-9a-f]{12}) done")
_SKIPPED = re.compile(r"Copying blob ([0-9a-f]{12}) skipped")
_STARTED = re.compile(r"Copying blob (?:sha256:)?([0-9a-f]{12})")
_UNITS = {"b": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_FATAL_MSG = re.compile(r'level=fatal msg="((?:[^"\\]|\\.)*)"')

BlobCallback = Callable[[str, str, int], None]  # (12-hex prefix, status, bytes so far)


def find_skopeo() -> str:
    path = find_binary("skopeo", ("/usr/bin/skopeo",))
    if path is None:
        raise RuntimeMissing(
            "pulling images needs skopeo, which is not installed: apt-get install skopeo"
        )
    return path


@dataclass(frozen=True)
class Access:
    """How to reach one registry: TLS verification and the auth file to read."""

    tls_verify: bool = True
    authfile: Path | None = None

    def src_args(self) -> list[str]:
        args = [f"--src-tls-verify={'true' if self.tls_verify else 'false'}"]
        if self.authfile is not None:
            args.append(f"--src-authfile={self.authfile}")
        return args

    def dest_args(self) -> list[str]:
        args = [f"--dest-tls-verify={'true' if self.tls_verify else 'false'}"]
        if self.authfile is not None:
            args.append(f"--dest-authfile={self.authfile}")
        return args

    def plain_args(self) -> list[str]:
        args = [f"--tls-verify={'true' if self.tls_verify else 'false'}"]
        if self.authfile is not None:
            args.append(f"--authfile={self.authfile}")
        return args


def _message(stderr: str) -> str:
    """skopeo's own error text, without logrus framing."""
    msgs = [m.encode().decode("unicode_escape") for m in _FATAL_MSG.findall(stderr)]
    text = "; ".join(msgs) if msgs else stderr.strip().splitlines()[-1] if stderr.strip() else ""
    text = text.removeprefix("Error: ").strip()
    # skopeo wraps reference errors in a prefix that only repeats what we asked for.
    return re.sub(r'^Error parsing image name "[^"]*": ', "", text)


# How an unreachable registry is worded; a pull adds that the built-in image works offline.
CANNOT_REACH = "cannot reach registry"


def classify(stderr: str, what: str, registry: str) -> OciError:
    """Turn skopeo's failure into one of our errors, with what to do next."""
    msg = _message(stderr) or "skopeo failed without a message"
    low = msg.lower()
    if "no space left on device" in low or "disk quota exceeded" in low:
        return StorageFull(
            f"{what}: the storage root's filesystem ran out of space while downloading "
            f"({msg}): free some space (remove unused containers with 'ipy-oci rm', unused "
            "images with 'ipy-oci image prune -a'), or put the storage root (--root) on a "
            "larger filesystem"
        )
    if "server gave http response to https client" in low:
        return RegistryUnreachable(
            f"{what}: registry {registry} speaks plain HTTP: pass --tls-verify=false "
            f"if you trust it ({msg})"
        )
    if "x509:" in low or "tls:" in low:
        return RegistryUnreachable(
            f"{what}: TLS with registry {registry} failed: pass --tls-verify=false if you "
            f"trust it ({msg})"
        )
    if any(s in low for s in ("connection refused", "no such host", "i/o timeout",
                              "network is unreachable", "name resolution", "no route to host",
                              "connection reset", "server misbehaving")):
        # Only the cause (``no such host``): Go's chain of wrappings would fill three lines.
        cause = msg.rsplit(": ", 1)[-1].strip() or msg
        return RegistryUnreachable(f"{what}: {CANNOT_REACH} {registry} ({cause})")
    if any(s in low for s in ("unauthorized", "authentication required", "denied:",
                              "access to the resource is denied",
                              "invalid username/password", "incorrect username or password")):
        return RegistryAuthError(
            f"{what}: registry {registry} refused access ({msg}): log in with "
            f"'ipy-oci login {registry}' or pass --creds USER:PASSWORD"
        )
    if any(s in low for s in ("manifest unknown", "name unknown", "not found", "404")):
        return ManifestUnknown(f"{what}: not found in registry {registry} ({msg})")
    if "digest did not match" in low or "digest mismatch" in low:
        return DigestMismatch(f"{what}: a blob does not match its digest ({msg}); "
                              "the registry is corrupt or the image was tampered with")
    return RegistryError(f"{what}: {msg}")


def _pdeathsig_prefix() -> list[str]:
    # skopeo must die with us: a SIGKILLed pull would otherwise leave it running
    # and writing into the store's scratch space. setpriv sets PR_SET_PDEATHSIG
    # before exec, without a preexec_fn (unsafe in threaded kernels).
    setpriv = shutil.which("setpriv", path=os.environ.get("PATH", "") + ":/usr/bin:/bin")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


class Skopeo:
    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or find_skopeo()

    def _run(self, args: Sequence[str], what: str, registry: str,
             stdin: bytes | None = None) -> bytes:
        try:
            proc = subprocess.run([*_pdeathsig_prefix(), self.binary, *args],
                                  input=stdin, capture_output=True, check=False,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except OSError as exc:
            raise ImageError(f"{what}: cannot run {self.binary}: {exc}") from exc
        if proc.returncode != 0:
            raise classify(proc.stderr.decode(errors="replace"), what, registry)
        return proc.stdout

    def inspect_raw(self, ref: str, access: Access, registry: str, *,
                    config: bool = False) -> bytes:
        """The manifest (or with ``config`` the config blob) of ``docker://ref``, as served."""
        args = ["inspect", "--raw", *access.plain_args()]
        if config:
            args.append("--config")
        what = f"reading the {'config' if config else 'manifest'} of {ref}"
        return self._run([*args, f"docker://{ref}"], what, registry)

    def copy_to_layout(self, ref: str, layout: Path, blob_dir: Path, access: Access,
                       registry: str, on_blob: BlobCallback | None = None) -> None:
        """Copy the image ``ref`` (one manifest, by digest) into an OCI layout whose
        blobs go to ``blob_dir``; blobs already there are not downloaded again.

        Layers keep their compression and digests (uncompressed ones stay so).
        """
        args = ["copy", *access.src_args(), "--dest-shared-blob-dir", str(blob_dir),
                "--dest-oci-accept-uncompressed-layers", "--remove-signatures",
                f"docker://{ref}", f"oci:{layout}:pull"]
        what = f"copying {ref}"
        argv = [*_pdeathsig_prefix(), self.binary, *args]
        try:
            stderr = _run_with_progress(argv, on_blob)
        except OSError as exc:
            raise ImageError(f"{what}: cannot run {self.binary}: {exc}") from exc
        if stderr is not None:
            raise classify(stderr, what, registry)

    def push(self, layout: Path, ref_name: str, dest: str, access: Access | None,
             registry: str, extra: Sequence[str] = ()) -> str:
        """Copy the image ``ref_name`` of the OCI layout ``layout`` to ``dest`` (a
        transport:reference skopeo takes, e.g. ``docker://host/repo:tag``); returns
        skopeo's progress lines (podman prints them)."""
        dest_args = access.dest_args() if access is not None else []  # docker:// only
        args = ["copy", *dest_args, *extra, f"oci:{layout}:{ref_name}", dest]
        out = self._run(args, f"pushing to {dest.removeprefix('docker://')}", registry)
        return out.decode(errors="replace")

    def login(self, registry: str, username: str, password: str, access: Access) -> None:
        self._run(["login", *access.plain_args(), "--username", username, "--password-stdin",
                   registry], f"logging in to {registry}", registry, stdin=password.encode())

    def logout(self, registry: str | None, authfile: Path) -> None:
        target = ["--all"] if registry is None else [registry]
        self._run(["logout", f"--authfile={authfile}", *target],
                  f"logging out of {registry or 'all registries'}", registry or "")


def _open_pty() -> tuple[int, int] | None:
    try:
        master, slave = os.openpty()
    except OSError:
        return None
    # Wide enough that skopeo never shortens its per-blob lines.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    return master, slave


def _parse_line(line: str, on_blob: BlobCallback) -> None:
    if m := _DONE.search(line):
        on_blob(m.group(1), "downloaded", 0)
    elif m := _SKIPPED.search(line):
        on_blob(m.group(1), "exists", 0)
    elif m := _BAR.search(line):
        done = float(m.group(2)) * _UNITS.get(m.group(3), 1)
        on_blob(m.group(1), "downloading", int(done))
    elif m := _STARTED.search(line):
        on_blob(m.group(1), "downloading", 0)


def _run_with_progress(argv: list[str], on_blob: BlobCallback | None) -> str | None:
    """Run skopeo with stdout on a pty (so it reports bytes per blob) and parse
    that; returns None on success, or stderr on failure."""
    pty = _open_pty() if on_blob is not None else None
    out_fd = pty[1] if pty else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_fd,
                            stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    err = bytearray()
    pending = b""
    try:
        if pty:
            os.close(pty[1])
            sel.register(pty[0], selectors.EVENT_READ, "out")
        assert proc.stderr is not None
        sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "err")
        while sel.get_map():
            for key, _ in sel.select():
                try:
                    data = os.read(key.fd, 65536)
                except OSError:  # EIO: the pty's last writer is gone
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    continue
                if key.data == "err":
                    err += data
                    continue
                pending += data
                *lines, pending = re.split(rb"[\r\n]", pending)
                for raw in lines:
                    if on_blob is not None:
                        _parse_line(_ANSI.sub(b"", raw).decode(errors="replace"), on_blob)
        rc = proc.wait()
    except BaseException:
        # Interrupted (Ctrl-C in a notebook, say): take skopeo down with us.
        proc.kill()
        proc.wait()
        raise
    finally:
        sel.close()
        if pty:
            with contextlib.suppress(OSError):
                os.close(pty[0])
        if proc.stderr is not None:
            proc.stderr.close()
    return None if rc == 0 else err.decode(errors="replace")
