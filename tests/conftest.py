"""Shared fixtures: a private storage root per test, and the leak check.

This directory goes on ``sys.path`` here, so test modules import the shared helpers
(helpers.py) and the leak check (leaks.py) by name.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import OciEnv  # noqa: E402
from leaks import force_clean, veths, wait_for_no_leaks  # noqa: E402


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
    before = veths()
    yield env
    leaks = wait_for_no_leaks(env.root, env.runroot, veths_before=before)
    if leaks:
        force_clean(env.root, env.runroot)
    shutil.rmtree(base, ignore_errors=True)
    if leaks:
        pytest.fail(f"test leaked: {leaks}")
