"""Hostile layers served by a registry: the pull fails clearly, nothing lands outside."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Pushed

from ipy_oci.engine import images as eng
from ipy_oci.errors import ImageError


def _everything(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        out.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return out


@pytest.mark.parametrize("key,match", [
    ("hostile-dotdot", r"refusing layer entry '(\.\./)+tmp/.*': path has a '\.\.' component"),
    ("hostile-symlink", r"refusing layer entry 'evil/pwned': parent component 'evil' is a "
                        r"symlink"),
    ("hostile-hardlink", r"refusing layer entry 'link': hardlink target '/etc/passwd' is not "
                         r"in the layer"),
    ("hostile-hardlink-up", r"refusing layer entry 'link': path has a '\.\.' component"),
    ("hostile-whiteout", r"refusing layer entry 'a/\.wh\.\.\.': whiteout of '\.\.'"),
])
def test_hostile_layer_is_refused(oci: Any, pushed: Pushed, key: str, match: str) -> None:
    rt = oci.runtime()
    base = oci.root.parent
    before = _everything(base) | {str(base)}
    passwd = Path("/etc/passwd").read_bytes()
    with pytest.raises(ImageError, match=match) as info:
        eng.pull_image(rt, pushed.refs[key])
    assert pushed.refs[key] in str(info.value)  # the message names what was pulled
    # Nothing escaped: no new file anywhere up the tree, the victim dir is empty,
    # the host's /etc/passwd is untouched, and no escape file exists.
    assert not Path("/tmp", pushed.escape_name).exists()
    assert not Path("/", pushed.escape_name).exists()
    assert list(pushed.victim.iterdir()) == []
    assert Path("/etc/passwd").read_bytes() == passwd
    # Nothing of it stays in the store either: no image, no layer, no scratch dir;
    # only the blobs dir and friends that any pull creates.
    assert rt.images.list() == []
    assert not any((oci.root / "layers").iterdir())
    assert not any((oci.root / "images" / "tmp").iterdir())
    blobs = oci.root / "images" / "blobs" / "sha256"
    assert not blobs.exists() or not any(blobs.iterdir())  # not even the compressed blob
    after = _everything(base)
    new = {p for p in after - before if not p.startswith(str(oci.root / "images"))}
    assert new <= {str(oci.root / "layers")}, new
    assert not any(Path(p).name == pushed.escape_name for p in after)
    # Through the CLI the same refusal is one line and exit 125.
    res = oci.cli_bytes("pull", "-q", pushed.refs[key])
    assert res.returncode == 125
    assert res.stderr.startswith(b"Error: ") and b"refusing layer entry" in res.stderr
    assert b"Traceback" not in res.stderr
