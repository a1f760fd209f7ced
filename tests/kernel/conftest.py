"""A real IPython kernel, driven through jupyter_client, against the test's own root.

The kernel gets the ``oci`` fixture's environment (its IPY_OCI_ROOT/RUNROOT), a
private IPYTHONDIR whose config auto-loads the extension, and a connection file
named ``kernel-<id>.json`` so the test knows the kernel id the sessions record.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import KernelManager

sys.path.insert(0, str(Path(__file__).parent))
from kernel_helpers import Kernel  # noqa: E402

CONFIG = """\
c.InteractiveShellApp.extensions = ["ipy_oci"]
c.OciMagics.interrupt_grace = 1.5
"""


def _start(oci: Any, tmp_path: Path, autoload: bool) -> Kernel:
    ipdir = tmp_path / "ipython"
    profile = ipdir / "profile_default"
    profile.mkdir(parents=True)
    if autoload:
        (profile / "ipython_kernel_config.py").write_text(CONFIG)
    env = dict(oci.env, IPYTHONDIR=str(ipdir), PYDEVD_DISABLE_FILE_VALIDATION="1")
    kernel_id = str(uuid.uuid4())
    km = KernelManager(connection_file=str(tmp_path / f"kernel-{kernel_id}.json"))
    km.start_kernel(env=env)
    return Kernel(km, kernel_id)


@pytest.fixture
def kernel(oci: Any, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel with the extension auto-loaded from its IPython config."""
    k = _start(oci, tmp_path, autoload=True)
    try:
        yield k
    finally:
        k.shutdown()


@pytest.fixture
def bare_kernel(oci: Any, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel without the extension."""
    k = _start(oci, tmp_path, autoload=False)
    try:
        yield k
    finally:
        k.shutdown()
