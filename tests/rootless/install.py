"""The project, installed where test users can run it (docs/ROOTLESS.md §9).

Test users cannot use the project's .venv (root's, tied to the checkout) nor
root's pip configuration (root's home is private). So, as root: copy the tree,
build a wheel of it and install it, with the kernel packages, into a shared,
world-readable venv using root's pip settings. A user installs the same wheel
into a venv of their own with ``--no-index`` (offline, none of root's settings).

The venv uses the system interpreter (/usr/bin/python3), which every user can
run; the project's .venv may be another Python, so the new venv's own pip picks
the dependencies, to match its version.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The tree to install: this checkout, or another one (e.g. an older commit's
# ``git archive``, to see which tests a tree without rootless mode fails).
PROJECT = Path(os.environ.get("IPY_OCI_ROOTLESS_TREE") or Path(__file__).resolve().parents[2])
SYSTEM_PYTHON = "/usr/bin/python3"
KERNEL_PACKAGES = ("ipykernel", "jupyter_client")
# What a checkout holds that a wheel does not need (and a user could not read).
EXCLUDES = (".venv", ".git", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
            ".ruff_cache")


@dataclass
class Install:
    base: Path  # 0755, under /var/tmp
    venv: Path  # the shared venv every test user runs ipy-oci from
    wheels: Path  # the project's wheel, for ``pip --no-index``

    @property
    def project_wheel(self) -> Path:
        return next(self.wheels.glob("ipy_oci-*.whl"))


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 300) -> None:
    # umask 022: whatever root makes here must be readable by the test users.
    res = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *argv], cwd=cwd,
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{res.stdout}\n"
                           f"{res.stderr}")


def copy_tree(dest: Path) -> None:
    """The checkout without venvs, VCS data, node_modules and caches."""
    dest.mkdir(parents=True)
    excl = [f"--exclude={e}" for e in EXCLUDES]
    tar = subprocess.Popen(["tar", "-C", str(PROJECT), *excl, "-cf", "-", "."],
                           stdout=subprocess.PIPE)
    res = subprocess.run(["tar", "-C", str(dest), "-xf", "-"], stdin=tar.stdout,
                         capture_output=True, timeout=120)
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait(timeout=120) != 0 or res.returncode != 0:
        raise RuntimeError(f"copying {PROJECT} failed: {res.stderr.decode()}")


def build(base: Path) -> Install:
    """Build the project's wheel and the shared venv under ``base`` (made 0755)."""
    os.chmod(base, 0o755)
    venv, wheels, src = base / "venv", base / "wheels", base / "src"
    copy_tree(src)
    _run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
    pip = [str(venv / "bin/pip"), "-q", "--disable-pip-version-check"]
    # Root's own pip settings (its index, find-links) fetch the build backend and the
    # dependencies; the venv's pip picks versions for the system interpreter.
    _run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(src)])
    wheel = next(wheels.glob("ipy_oci-*.whl"))
    _run([*pip, "install", str(wheel), *KERNEL_PACKAGES])
    _run(["rm", "-rf", str(src)])
    return Install(base, venv, wheels)


def site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python3*/site-packages"))


def tools_missing() -> list[str]:
    """The host tools the rootless suite needs and this machine lacks."""
    import shutil

    need = ["newuidmap", "newgidmap", "slirp4netns", "catatonit", "runuser", "useradd",
            "usermod", "userdel", "unshare", "nsenter", "runc", "conmon"]
    missing = [t for t in need if not shutil.which(t, path=os.environ.get("PATH", "") +
                                                   ":/usr/sbin:/sbin:/usr/libexec/podman")]
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        missing.append(SYSTEM_PYTHON)
    return missing


if __name__ == "__main__":  # manual use: python install.py BASE
    print(build(Path(sys.argv[1])))
