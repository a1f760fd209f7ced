"""A registry behind htpasswd: login, logout, auth files and clear refusals."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import regimages as ri
from conftest import Registry, TokenRegistry
from helpers import reg

from ipy_oci.engine import images as eng
from ipy_oci.images.builtin import host_platform
from ipy_oci.images.errors import RegistryAuthError
from ipy_oci.images.pull import PullOptions


def test_pull_without_credentials_is_refused_clearly(oci: Any, auth_registry: Registry,
                                                     private_ref: str) -> None:
    with pytest.raises(RegistryAuthError, match=rf"refused access .*'ipy-oci login "
                       rf"{auth_registry.host}'"):
        eng.pull_image(oci.runtime(), private_ref)
    res = oci.cli_bytes("pull", "-q", private_ref)
    assert res.returncode == 125
    assert b"refused access" in res.stderr and b"ipy-oci login" in res.stderr


def test_login_pull_logout(oci: Any, auth_registry: Registry, private_ref: str) -> None:
    host = auth_registry.host
    bad = oci.cli_bytes("login", "-u", auth_registry.user, "--password-stdin", host,
                        input=b"wrong\n")
    assert bad.returncode == 125
    assert b"invalid username/password" in bad.stderr
    assert not (oci.root / "auth.json").exists()

    ok = oci.cli_bytes("login", "-u", auth_registry.user, "--password-stdin", host,
                       input=auth_registry.password.encode() + b"\n")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"Login Succeeded!\n"
    auth = json.loads((oci.root / "auth.json").read_text())  # the default auth file
    assert host in auth["auths"]
    assert (oci.root / "auth.json").stat().st_mode & 0o077 == 0
    who = oci.cli_bytes("login", "--get-login", host)
    assert who.stdout == f"{auth_registry.user}\n".encode()

    img = eng.pull_image(oci.runtime(), private_ref)
    res = oci.cli("run", "--rm", img.id, "/bin/cat", "/secret")
    assert res.returncode == 0 and res.stdout == "private", res.stderr

    out = oci.cli_bytes("logout", host)
    assert out.returncode == 0, out.stderr
    assert host not in json.loads((oci.root / "auth.json").read_text())["auths"]
    again = oci.cli_bytes("logout", host)
    assert again.returncode == 125 and b"not logged in" in again.stderr
    with pytest.raises(RegistryAuthError):
        eng.pull_image(oci.runtime(), private_ref, PullOptions())


def test_creds_flag_and_custom_authfile(oci: Any, auth_registry: Registry, private_ref: str,
                                        tmp_path: Any) -> None:
    rt = oci.runtime()
    with pytest.raises(RegistryAuthError):
        eng.pull_image(rt, private_ref, PullOptions(creds=f"{auth_registry.user}:nope"))
    img = eng.pull_image(rt, private_ref, PullOptions(creds=auth_registry.creds))
    assert img.names == (private_ref,)
    authfile = tmp_path / "elsewhere.json"
    res = oci.cli_bytes("login", "--authfile", str(authfile), "-u", auth_registry.user,
                        "-p", auth_registry.password, auth_registry.host)
    assert res.returncode == 0, res.stderr
    assert not (oci.root / "auth.json").exists()
    res = oci.cli_bytes("pull", "-q", "--authfile", str(authfile), private_ref)
    assert res.returncode == 0, res.stderr
    # Credentials passed with --creds never reach a file that outlives the pull.
    assert not list((oci.root / "images" / "tmp").iterdir())


def test_anonymous_token_auth(oci: Any, token_registry: TokenRegistry, tmp_path: Path) -> None:
    """The registry answers 401 with a Bearer challenge; an anonymous token opens it."""
    host = token_registry.registry.host
    ref = f"{host}/public/img:1"
    layout = ri.write_layout(tmp_path / "l", "t", ri.image(
        [ri.layer([reg("token", b"anonymous")])], arch=host_platform()[0]))
    ri.push(layout, "t", ref)  # anonymous push tokens from the test's token server
    with pytest.raises(urllib.error.HTTPError) as challenge:  # really closed without a token
        urllib.request.urlopen(f"http://{host}/v2/public/img/manifests/1")
    assert challenge.value.code == 401
    assert challenge.value.headers["Www-Authenticate"].startswith("Bearer ")
    before = len(token_registry.tokens.issued)
    img = eng.pull_image(oci.runtime(), ref)
    assert (img.layer_dirs[0] / "token").read_bytes() == b"anonymous"
    assert len(token_registry.tokens.issued) > before
    assert any("public/img:pull" in s for s in token_registry.tokens.issued[before:])
