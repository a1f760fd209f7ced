"""Real registries on 127.0.0.1 for the image tests (Debian's docker-registry).

Session-scoped: one anonymous registry, one behind htpasswd basic auth, each with
a throwaway config and storage dir, stopped at the end. The test images are built
and pushed once per session. Nothing goes beyond loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import regimages as ri  # noqa: E402
from helpers import Entry, dir_, hard, reg, sym  # noqa: E402

REGISTRY_BIN = "/usr/bin/docker-registry"
HERE = Path(__file__).parent

_READY = all(b and os.access(b, os.X_OK) for b in (
    REGISTRY_BIN, shutil.which("skopeo"), shutil.which("htpasswd"), str(ri.BUSYBOX)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _READY:
        return
    mark = pytest.mark.skip(
        reason="needs: apt-get install docker-registry skopeo apache2-utils busybox-static")
    for item in items:
        if item.path.parent == HERE:
            item.add_marker(mark)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT"
    storage: Path
    proc: subprocess.Popen[bytes]
    user: str = ""
    password: str = ""

    @property
    def creds(self) -> str:
        return f"{self.user}:{self.password}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _start_registry(base: Path, htpasswd: Path | None = None,
                    token: dict[str, str] | None = None) -> Registry:
    for _attempt in range(5):
        port = _free_port()
        storage = base / f"storage-{port}"
        storage.mkdir(parents=True)
        auth = (f"auth:\n  htpasswd:\n    realm: ipy-oci-test\n    path: {htpasswd}\n"
                if htpasswd else "")
        if token:
            auth = "auth:\n  token:\n" + "".join(f"    {k}: {v}\n" for k, v in token.items())
        cfg = base / f"config-{port}.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n"
            f"    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}"
        )
        log = open(base / f"registry-{port}.log", "wb")  # noqa: SIM115 - lives with the proc
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
        log.close()
        reg = Registry(f"127.0.0.1:{port}", storage, proc)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{reg.host}/v2/", timeout=2)
                return reg
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and wants credentials
                    return reg
            except OSError:
                pass
            time.sleep(0.1)
        reg.stop()  # the port was taken meanwhile, or it did not come up: try another
    raise RuntimeError(f"docker-registry did not start; see the logs in {base}")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = _start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    base = tmp_path_factory.mktemp("auth-registry")
    user, password = "alice", "s3cret-" + uuid.uuid4().hex[:8]
    htpasswd = base / "htpasswd"
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                         capture_output=True).stdout
    htpasswd.write_bytes(out)
    reg = _start_registry(base, htpasswd)
    reg.user, reg.password = user, password
    yield reg
    reg.stop()


# ----- a registry that wants bearer tokens, with an anonymous token server ------------


class TokenServer:
    """Hands an RS256-signed bearer token to anyone who asks (as Docker Hub does for
    public images): the registry checks it against the self-signed certificate."""

    def __init__(self, base: Path) -> None:
        import http.server

        self.key, self.cert = base / "token.key", base / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(self.key), "-out", str(self.cert), "-days", "2",
                        "-subj", "/CN=ipy-oci-test-token-issuer"], check=True,
                       capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = __import__("base64").b64encode(der).decode()
        self.issued: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                import urllib.parse

                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                body = json.dumps({"token": server.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, scopes: list[str]) -> str:
        import base64

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            if kind == "repository":
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        claims = {"iss": "ipy-oci-test", "sub": "", "aud": "ipy-oci-registry",
                  "exp": now + 600, "nbf": now - 60, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing_input.encode(), check=True,
                             capture_output=True).stdout
        self.issued.append(scopes[0] if scopes else "")
        return f"{signing_input}.{b64(sig)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class TokenRegistry:
    registry: Registry
    tokens: TokenServer


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to sign test tokens")
    base = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(base)
    auth = {"realm": tokens.url, "service": "ipy-oci-registry", "issuer": "ipy-oci-test",
            "rootcertbundle": str(tokens.cert)}
    reg = _start_registry(base, token=auth)
    yield TokenRegistry(reg, tokens)
    reg.stop()
    tokens.close()


# ----- a proxy that stalls mid-download (for the interrupted-pull test) ---------------


class StallProxy:
    """Forwards TCP to ``upstream`` but stops relaying a connection's responses after
    ``limit`` bytes: a pull through it hangs in the middle of a big blob, forever."""

    def __init__(self, upstream: str, limit: int) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.limit = limit
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            self.conns += [client, up]
            closed = threading.Event()
            threading.Thread(target=self._pump, args=(client, up, None, closed),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client, self.limit, closed),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None,
              closed: threading.Event) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: limit - sent])
                    closed.wait()  # hold the connection open, relaying nothing more
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            closed.set()
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture(scope="session")
def stall_proxy(registry: Registry) -> Iterator[StallProxy]:
    proxy = StallProxy(registry.host, limit=512 * 1024)
    yield proxy
    proxy.close()


# ----- the test images -----------------------------------------------------------------


@dataclass
class Pushed:
    """Names of the images pushed to the registries, and what tests expect of them."""

    host: str
    refs: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # top-level manifest digests
    images: dict[str, ri.Image] = field(default_factory=dict)
    victim: Path = Path()  # a directory hostile layers try to write into
    escape_name: str = ""  # a file name hostile layers try to create outside


def _runnable(extra: list[Entry], label: str, compression: str = "gzip",
              arch: str = "amd64") -> ri.Image:
    return ri.image([ri.layer(ri.busybox_entries(), compression), ri.layer(extra)],
                    arch=arch, label=label)


@pytest.fixture(scope="session")
def pushed(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    from ipy_oci.images.builtin import host_platform

    base = tmp_path_factory.mktemp("layouts")
    arch = host_platform()[0]
    out = Pushed(host=registry.host, victim=tmp_path_factory.mktemp("victim"),
                 escape_name=f"ipy-oci-escape-{uuid.uuid4().hex[:10]}")

    def put(key: str, img: ri.Image, fmt: str | None = None) -> None:
        layout = ri.write_layout(base / key, "t", img)
        ref = f"{registry.host}/test/{key}:1"
        ri.push(layout, "t", ref, fmt=fmt)
        out.refs[key], out.digests[key], out.images[key] = ref, img.digest, img

    # Three layers: the third deletes a file and makes a directory opaque.
    bottom = ri.layer([*ri.busybox_entries(), dir_("etc"), reg("etc/keep", b"keep"),
                       reg("etc/gone", b"gone"), dir_("opq"), reg("opq/old1", b"1"),
                       dir_("opq/sub"), reg("opq/sub/old2", b"2")])
    middle = ri.layer([reg("etc/new", b"new"), reg("opq/mid", b"mid")])
    top = ri.layer([reg("etc/.wh.gone", b""), reg("opq/.wh..wh..opq", b""),
                    reg("opq/fresh", b"fresh")])
    put("layered", ri.image([bottom, middle, top], arch=arch, label="layered"))
    # Shares its first two layers with "layered".
    put("sharing", ri.image([bottom, middle, ri.layer([reg("own", b"own")])], arch=arch,
                            label="sharing"))
    put("docker", _runnable([reg("hello", b"docker schema2")], "docker", arch=arch),
        fmt="v2s2")
    try:
        import zstandard  # noqa: F401

        put("zstd", _runnable([reg("hello", b"zstd")], "zstd", "zstd", arch=arch))
    except ImportError:
        pass

    # A two-platform index; only the host's flavour need run.
    amd = _runnable([reg("platform", b"amd64")], "amd64", arch="amd64")
    arm = ri.image([ri.layer([reg("platform", b"arm64")])], arch="arm64", variant="v8",
                   label="arm64")
    layout = base / "multi"
    index = ri.write_index_layout(layout, "t", [
        (amd, {"os": "linux", "architecture": "amd64"}),
        (arm, {"os": "linux", "architecture": "arm64", "variant": "v8"})])
    out.refs["multi"] = f"{registry.host}/test/multi:1"
    out.digests["multi"] = ri.sha(index)
    out.images["multi-amd64"], out.images["multi-arm64"] = amd, arm
    ri.push(layout, "t", out.refs["multi"], all_images=True)

    # Hostile layers: each must be refused with nothing written outside the store.
    ups = "../" * 16
    hostile = {
        "hostile-dotdot": [reg(f"{ups}tmp/{out.escape_name}", b"pwned")],
        "hostile-symlink": [sym("evil", str(out.victim)), reg("evil/pwned", b"pwned")],
        "hostile-hardlink": [hard("link", "/etc/passwd")],
        "hostile-hardlink-up": [hard("link", f"{ups}{str(out.victim)[1:]}/x")],
        "hostile-whiteout": [dir_("a"), reg("a/.wh...", b"")],
    }
    for key, entries in hostile.items():
        put(key, ri.image([ri.layer(entries)], arch=arch, label=key))

    # Corrupt in different ways, each with consistent digests where it matters.
    good = ri.layer([reg("f", b"x")])
    put("bad-diffid", ri.image([good], arch=arch, diff_ids=[ri.sha(b"not the tar")]))
    garbage = ri.Layer(b"", blob_override=b"\x1f\x8b\x08\x00garbage, not a gzip stream")
    put("bad-tar", ri.image([garbage], arch=arch, diff_ids=[ri.sha(b"x")]))
    tampered = ri.layer([reg("t", b"tamper me" * 100)])
    put("tampered", ri.image([tampered], arch=arch))
    blob_hex = ri.sha(tampered.blob).partition(":")[2]
    data = next(registry.storage.rglob(f"blobs/sha256/{blob_hex[:2]}/{blob_hex}/data"))
    raw = bytearray(data.read_bytes())
    raw[-10] ^= 0xFF  # same size, different bytes: only the digest check can tell
    data.write_bytes(bytes(raw))

    # Big enough that a stalled download is caught in the middle.
    put("big", ri.image([ri.layer([reg("big", os.urandom(8 << 20))], "none")], arch=arch))
    return out


@pytest.fixture(scope="session")
def private_ref(auth_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    from ipy_oci.images.builtin import host_platform

    layout = ri.write_layout(tmp_path_factory.mktemp("private"), "t", _runnable(
        [reg("secret", b"private")], "private", arch=host_platform()[0]))
    ref = f"{auth_registry.host}/private/img:1"
    ri.push(layout, "t", ref, creds=auth_registry.creds)
    return ref
