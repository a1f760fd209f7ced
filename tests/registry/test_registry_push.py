"""``push`` (through skopeo) to the loopback registries, and pulling the image back
into a fresh store: formats, digest files, credentials, TLS and local transports."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from conftest import Registry


def ok(oci: Any, *args: str) -> str:
    res = oci.cli(*args)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return res.stdout


def _busybox(oci: Any) -> str:
    return ok(oci, "image", "inspect", "--format", "{{.Id}}", "busybox").strip()


def test_push_then_pull_back_and_run(oci: Any, registry: Registry, tmp_path: Path) -> None:
    image_id = _busybox(oci)
    ref = f"{registry.host}/push/bb-{uuid.uuid4().hex[:8]}:1"
    digest_file = tmp_path / "digest"
    res = oci.cli("push", "--digestfile", str(digest_file), "busybox", ref)
    assert res.returncode == 0, res.stderr
    assert "Writing manifest to image destination" in res.stderr  # progress on stderr
    assert res.stdout == ""
    digest = digest_file.read_text().strip()
    local_digest = ok(oci, "image", "inspect", "--format", "{{.Digest}}", "busybox").strip()
    assert digest == local_digest  # pushed as stored: the same manifest
    # Gone locally, pulled back: the same image, and it runs.
    ok(oci, "rmi", "busybox")
    assert ok(oci, "pull", "-q", ref).strip() == image_id
    assert ok(oci, "run", "--rm", "--network", "none", ref, "echo", "pulled back") == \
        "pulled back\n"
    # --format oci converts the manifest; -q prints nothing.
    oci_ref = ref.replace(":1", ":oci")
    res = oci.cli("image", "push", "-q", "--format", "oci", ref, f"docker://{oci_ref}")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    ok(oci, "rmi", ref)
    ok(oci, "pull", "-q", oci_ref)
    assert ok(oci, "image", "inspect", "--format", "{{.ManifestType}}", oci_ref) == \
        "application/vnd.oci.image.manifest.v1+json\n"
    # Without a destination the image's own name is used.
    ok(oci, "push", "-q", oci_ref)
    ok(oci, "rmi", oci_ref)
    assert not list((oci.root / "images" / "tmp").glob("work-*"))


def test_push_to_a_local_transport_and_load(oci: Any, tmp_path: Path) -> None:
    image_id = _busybox(oci)
    archive = tmp_path / "bb.tar"
    ok(oci, "push", "-q", "busybox", f"oci-archive:{archive}")
    ok(oci, "rmi", "busybox")
    out = ok(oci, "load", "-i", str(archive))
    assert out.startswith("Loaded image")
    loaded = json.loads(ok(oci, "images", "--format", "json"))
    assert [i["Id"] for i in loaded] == [image_id]


def test_push_with_credentials(oci: Any, auth_registry: Registry) -> None:
    _busybox(oci)
    ref = f"{auth_registry.host}/push/private-{uuid.uuid4().hex[:8]}:1"
    res = oci.cli("push", "busybox", ref)
    assert res.returncode == 125
    assert "refused access" in res.stderr and "--creds" in res.stderr
    res = oci.cli("push", "-q", "--creds", "nobody:wrong", "busybox", ref)
    assert res.returncode == 125 and "refused access" in res.stderr
    ok(oci, "push", "-q", "--creds", auth_registry.creds, "busybox", ref)
    assert not (oci.root / "auth.json").exists()  # --creds is for this push only
    ok(oci, "pull", "-q", "--creds", auth_registry.creds, ref)
    ok(oci, "rmi", ref)


def test_push_uses_the_stored_login(oci: Any, auth_registry: Registry) -> None:
    """``login`` writes the default auth file; a later ``push`` without --creds uses it."""
    _busybox(oci)
    ref = f"{auth_registry.host}/push/login-{uuid.uuid4().hex[:8]}:1"
    res = oci.cli_bytes("login", "-u", auth_registry.user, "--password-stdin",
                        auth_registry.host, input=auth_registry.password.encode() + b"\n")
    assert res.returncode == 0, res.stderr
    ok(oci, "push", "-q", "busybox", ref)
    ok(oci, "logout", auth_registry.host)
    res = oci.cli("push", "-q", "busybox", ref)
    assert res.returncode == 125 and "refused access" in res.stderr


def test_push_tls_verify_to_a_plain_http_registry(oci: Any, registry: Registry) -> None:
    _busybox(oci)
    res = oci.cli("push", "--tls-verify=true", "busybox", f"{registry.host}/push/tls:1")
    assert res.returncode == 125
    assert "plain HTTP" in res.stderr and "--tls-verify=false" in res.stderr
    assert not list((oci.root / "images" / "tmp").glob("work-*"))
