"""Shared fixtures: a private storage root per test, and the leak check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from leaks import force_clean, wait_for_no_leaks  # noqa: E402


@dataclass
class OciEnv:
    """One test's ipy-oci world: its roots, an engine Runtime and a CLI runner."""

    root: Path
    runroot: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["IPY_OCI_ROOT"] = str(self.root)
        env["IPY_OCI_RUNROOT"] = str(self.runroot)
        env["IPY_OCI_RUNTIME"] = "runc"
        env["IPY_OCI_CONFIG"] = str(self.root.parent / "ipy-oci.toml")
        return env

    def runtime(self):  # type: ignore[no-untyped-def]
        from ipy_oci.config import Config
        from ipy_oci.engine.runtime import Runtime

        return Runtime(Config.load(str(self.root), str(self.runroot), "runc"))

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``ipy-oci ARGS`` as a separate process, as a user would."""
        res = subprocess.run([sys.executable, "-m", "ipy_oci", *args], env=self.env,
                             input=input.decode() if input is not None else None,
                             capture_output=True, text=True, timeout=timeout,
                             stdin=None if input is not None else subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise AssertionError(f"ipy-oci {' '.join(args)} exited {res.returncode}: "
                                 f"{res.stderr}")
        return res

    def cli_bytes(self, *args: str, input: bytes = b"", timeout: float = 120
                  ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "ipy_oci", *args], env=self.env,
                              input=input, capture_output=True, timeout=timeout)


@pytest.fixture
def oci(monkeypatch: pytest.MonkeyPatch) -> Iterator[OciEnv]:
    """A fresh root and runroot (short paths under /tmp), checked for leaks afterwards."""
    base = Path(tempfile.mkdtemp(prefix="ioci-", dir="/tmp"))
    env = OciEnv(root=base / "root", runroot=base / "run")
    env.root.mkdir()
    env.runroot.mkdir()
    # Short names that are not local must never leave this machine in tests: the
    # only search registry is a closed loopback port, so such pulls fail at once.
    (base / "ipy-oci.toml").write_text('unqualified_search_registries = ["127.0.0.1:9"]\n')
    for k, v in env.env.items():
        if k.startswith("IPY_OCI_"):
            monkeypatch.setenv(k, v)
    yield env
    leaks = wait_for_no_leaks(env.root, env.runroot)
    if leaks:
        force_clean(env.root, env.runroot)
    shutil.rmtree(base, ignore_errors=True)
    if leaks:
        pytest.fail(f"test leaked: {leaks}")
