"""The suite's own ground: the users, their environment, and installing the project as them."""

from __future__ import annotations

import shutil
from pathlib import Path

import install as inst
from users import SUBID_COUNT, User, Users


def _lines(path: str, name: str) -> list[str]:
    return [ln for ln in Path(path).read_text().splitlines() if ln.startswith(f"{name}:")]


def test_users_have_exactly_the_ranges_chosen(users: Users) -> None:
    for user in (users.rl1, users.rl2):
        assert user.subid is not None
        want = [f"{user.name}:{user.subid}:{SUBID_COUNT}"]
        assert _lines("/etc/subuid", user.name) == want
        assert _lines("/etc/subgid", user.name) == want
    assert users.rl1.subid != users.rl2.subid
    assert _lines("/etc/subuid", users.nosub.name) == []
    assert _lines("/etc/subgid", users.nosub.name) == []


def test_user_runs_ipy_oci_from_the_shared_venv_in_a_clean_environment(
        rl1: User, install: inst.Install) -> None:
    res = rl1.run("sh", "-c", "id -u; command -v ipy-oci; env")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == str(rl1.uid)
    assert lines[1] == f"{install.venv}/bin/ipy-oci"
    env = dict(ln.split("=", 1) for ln in lines[2:] if "=" in ln)
    assert env["HOME"] == str(rl1.home)
    assert "XDG_RUNTIME_DIR" not in env and not any(k.startswith(("PIP_", "IPY_OCI_"))
                                                    for k in env)
    res = rl1.oci("--help")
    assert res.returncode == 0, res.stderr
    assert "COMMAND" in res.stdout


def test_user_pip_installs_the_project_into_their_own_venv(
        rl1: User, install: inst.Install) -> None:
    """As the user: a venv in their home, and pip installs the project's wheel into it.

    Kept fast: the venv is made without its own pip (pip runs from the shared venv
    with ``--python``) and takes the dependencies from the shared venv through a
    .pth file, so only the project itself is installed, offline (``--no-index``).
    """
    venv = rl1.home / "own-venv"
    try:
        res = rl1.run(inst.SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv))
        assert res.returncode == 0, res.stderr
        res = rl1.run(str(install.venv / "bin/pip"), "--python", str(venv / "bin/python"),
                      "install", "-q", "--disable-pip-version-check", "--no-index",
                      "--no-deps", str(install.project_wheel), timeout=300)
        assert res.returncode == 0, res.stderr
        # After the install (else pip finds the shared copy installed); the venv's own
        # site-packages still comes first on sys.path.
        own = inst.site_packages(venv)
        deps = inst.site_packages(install.venv)
        res = rl1.run("sh", "-c", f"echo {deps} > {own}/shared-deps.pth")
        assert res.returncode == 0, res.stderr
        res = rl1.run(str(venv / "bin/python"), "-c", "import ipy_oci; print(ipy_oci.__file__)")
        assert res.stdout.strip() == f"{own}/ipy_oci/__init__.py", res.stderr
        installed = venv / "bin/ipy-oci"
        assert installed.stat().st_uid == rl1.uid
        assert any(p.stat().st_uid == rl1.uid for p in own.glob("ipy_oci-*.dist-info"))
        res = rl1.run(str(installed), "run", "--rm", "--network", "none", "busybox", "id", "-u",
                      env={"PATH": f"{venv}/bin:/usr/bin:/bin"})
        assert res.returncode == 0, res.stderr
        assert res.stdout == "0\n"
    finally:
        shutil.rmtree(venv, ignore_errors=True)
