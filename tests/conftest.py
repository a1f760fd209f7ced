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
from typing import Any

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


# The Slurm tests' throwaway cluster (tests/slurm_cluster.py): one per session, shared
# by tests/slurm, the kernel's and the server's Slurm tests.
@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Any]:
    from slurm_cluster import SlurmCluster, missing_binaries  # noqa: I001

    missing = missing_binaries()
    if missing:
        pytest.skip(f"needs apt-get install slurm-wlm munge (missing: {', '.join(missing)})")
    base = Path(tempfile.mkdtemp(prefix="islurm-", dir="/tmp"))
    try:
        cluster = SlurmCluster.start(base)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    with pytest.MonkeyPatch.context() as mp:
        for k, v in cluster.env.items():
            mp.setenv(k, v)
        try:
            yield cluster
        finally:
            problems = cluster.stop()
            shutil.rmtree(base, ignore_errors=True)
    if problems:
        pytest.fail(f"slurm cluster stop: {problems}")
