"""Pulling as a user: file owners survive through the subordinate range (§3)."""

from __future__ import annotations

import os
from pathlib import Path

from rlimages import UID1234_DIR, UID1234_FILE
from users import User


def _find(root: Path, name: str) -> list[Path]:
    """Every copy of ``name`` below ``root`` (layer dirs of the store), read as root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if name in filenames or name in dirnames:
            found.append(Path(dirpath) / name)
    return found


def test_pulled_files_of_uid_1234_show_uid_1234_inside(rl1: User, uid1234_ref: str) -> None:
    assert rl1.subid is not None
    rl1.oci_ok("pull", uid1234_ref)
    out = rl1.oci_ok("run", "--rm", "--network", "none", uid1234_ref, "stat", "-c", "%u:%g",
                     f"/{UID1234_FILE}", f"/{UID1234_DIR}", f"/{UID1234_DIR}/inner")
    assert out.split() == ["1234:1234"] * 3
    assert rl1.oci_ok("run", "--rm", "--network", "none", uid1234_ref, "cat",
                      f"/{UID1234_FILE}") == "mine"
    # on the host the layer's copy belongs to SUB + 1234 - 1
    copies = _find(rl1.storage, UID1234_FILE)
    assert copies, f"no {UID1234_FILE} under {rl1.storage}"
    for path in copies:
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (rl1.subid + 1233, rl1.subid + 1233), path
    rl1.oci_ok("rmi", uid1234_ref)
