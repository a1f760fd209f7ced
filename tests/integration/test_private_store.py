"""A private store: another local user (``nobody``, via setpriv) can reach nothing
under the storage root or runroot: no state, no spec or log with ``-e`` values,
and no setuid binary inside a container's root (the class of CVE-2021-41091)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from helpers import OciEnv, inspect, rm_force


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    # Through a shell: setpriv itself resolves the program's path while it still
    # holds root's capabilities (they go at the execve), which would hide the check.
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "--", "/bin/sh", "-c", 'exec "$@"', "sh", *argv],
                          capture_output=True, text=True, timeout=30)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_is_private(oci: OciEnv) -> None:
    # The test's own temp dir is 0700; open it so only ipy-oci's modes stand guard.
    os.chmod(oci.root.parent, 0o755)
    oci.cli("run", "-d", "--name", "box", "-e", "SECRET=s3cret", "busybox", "sleep", "1000",
            check=True)
    try:
        # A setuid-root binary made inside the container.
        oci.cli("exec", "box", "sh", "-c", "cp /bin/busybox /suid && chmod 4755 /suid",
                check=True)
        data = inspect(oci, "box")
        merged = Path(data["GraphDriver"]["Data"]["MergedDir"])
        ctr_dir = Path(data["OCIConfigPath"]).parent
        assert _mode(oci.root) == 0o700 and _mode(oci.runroot) == 0o700
        for private in (oci.root / "state.db", ctr_dir / "config.json", Path(data["LogPath"])):
            assert _mode(private) & 0o077 == 0, private
        assert (merged / "suid").stat().st_mode & stat.S_ISUID
        for argv in (["ls", str(oci.root)], ["ls", str(oci.runroot)],
                     ["cat", str(oci.root / "state.db")],
                     ["cat", str(ctr_dir / "config.json")],
                     [str(merged / "suid"), "id"], ["ls", str(oci.root / "layers")]):
            res = _as_nobody(*argv)
            assert res.returncode != 0, argv
            assert "s3cret" not in res.stdout
            assert "Permission denied" in res.stderr, (argv, res.stderr)
    finally:
        rm_force(oci, "box")


def test_existing_roots_are_made_private(oci: OciEnv) -> None:
    os.chmod(oci.root, 0o755)
    os.chmod(oci.runroot, 0o755)
    oci.cli("ps", check=True)
    assert _mode(oci.root) == 0o700 and _mode(oci.runroot) == 0o700
