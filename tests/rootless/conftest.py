"""Rootless mode (issue 14, docs/ROOTLESS.md): ipy-oci run by ordinary users.

Session fixtures, made once because users and venvs are slow to make:
- ``install``: a wheel of the checkout and a shared, world-readable venv (install.py);
- ``users``: three throwaway users: ``rl1`` and ``rl2`` with their own subordinate
  ranges, ``nosub`` with none (the single-uid fallback). Each gets a per-user
  config that keeps short names off the network. Removed at the end.
- ``registry`` and ``uid1234_ref``: a loopback registry (tests/registry's) holding a
  runnable image whose files belong to uid 1234.

After every test ``leak_check`` runs as each user who has ipy-oci state: ``ps -aq``
is empty; no container, exec, exit, lock, netns or slirp4netns file and no DB row
is left (as tests/leaks.py checks for root); the namespace holder has no mount
under the storage root or runroot; and after ``system migrate`` (which stops the
deliberate keep-alive holder, like podman's pause process) no process of the user
or of its subordinate range is left. A leak fails the test, and the user's state is
wiped so the next test starts clean.

The whole directory needs root (to make users), newuidmap, slirp4netns and
catatonit; it is skipped with the reason when any is missing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import install as inst  # noqa: E402
import rlimages  # noqa: E402
import users as us  # noqa: E402
from leaks import leaked_files  # noqa: E402
from users import Users  # noqa: E402

# Short names that are not local never leave the machine: the only search
# registry is a closed loopback port. Written as each user's own config file,
# so it also proves the per-user config path is read.
USER_CONFIG = 'unqualified_search_registries = ["127.0.0.1:9"]\n'


def _why_skip() -> str:
    if os.geteuid() != 0:
        return "the rootless suite makes users: run it as root"
    missing = inst.tools_missing()
    if missing:
        return ("rootless mode needs: " + ", ".join(missing)
                + " (apt-get install uidmap slirp4netns catatonit)")
    return ""


SKIP_REASON = _why_skip()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rootless: runs ipy-oci as unprivileged test users")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.rootless)
            if SKIP_REASON:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


# -- the project, installed for users --------------------------------------------------------


@pytest.fixture(scope="session")
def suite_lock() -> Iterator[None]:
    """One rootless session per host at a time: both would make (and remove) the same
    users. A second session waits here for the first to finish. The lock is on this
    directory, so no lock file is left behind."""
    fd = os.open(HERE, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@pytest.fixture(scope="session")
def install(suite_lock: None) -> Iterator[inst.Install]:
    base = Path(tempfile.mkdtemp(prefix="ipyoci-rootless-", dir="/var/tmp"))
    try:
        yield inst.build(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- users -----------------------------------------------------------------------------------


def _write_config(user: us.User) -> None:
    """~/.config/ipy-oci/ipy-oci.toml, owned by the user as if they had written it."""
    user.run("mkdir", "-p", str(user.config.parent))
    res = user.run("sh", "-c", f"cat > {user.config}", input=USER_CONFIG)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="session")
def users(install: inst.Install) -> Iterator[Users]:
    for name in us.stale_users():
        us.remove_user(name)
    first, second = us.free_subid_starts(2)
    made: list[us.User] = []
    try:
        for name, subid in ((f"{us.PREFIX}1", first), (f"{us.PREFIX}2", second),
                            (f"{us.PREFIX}3", None)):
            made.append(us.create_user(name, subid, install.venv))
        for user in made:
            _write_config(user)
        yield Users(*made)
    finally:
        for user in made:
            if user.storage.exists() or user.runroot.exists():
                user.oci("system", "migrate", timeout=60)
        for user in made:
            us.remove_user(user.name)
        left = [u.name for u in made if u.name in us.stale_users()]
        left += [f"{pid}: {cmd}" for u in made for pid, _uid, cmd in us.processes(u.host_uids())]
        if left:
            raise RuntimeError(f"rootless test users not fully removed: {left}")


@pytest.fixture
def rl1(users: Users) -> us.User:
    return users.rl1


@pytest.fixture
def rl2(users: Users) -> us.User:
    return users.rl2


@pytest.fixture
def nosub(users: Users) -> us.User:
    return users.nosub


# -- leaks -----------------------------------------------------------------------------------


def _host_mounts_under(*dirs: Path) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh.read().splitlines()]
    return [p for p in points if any(p == str(d) or p.startswith(f"{d}/") for d in dirs)]


def _wait_no_processes(user: us.User, timeout: float = 15) -> list[tuple[int, int, str]]:
    """Processes of the user still there after ``timeout`` (bounded poll: exits are async)."""
    deadline = time.monotonic() + timeout
    while True:
        left = us.processes(user.host_uids())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _migrate(user: us.User, timeout: float = 15) -> Any:
    """``system migrate``, retried while it reports the namespace in use: a container's
    conmon may still be running its exit command just after ``rm`` or ``run --rm``."""
    deadline = time.monotonic() + timeout
    while True:
        res = user.oci("system", "migrate", timeout=60)
        if res.returncode == 0 or time.monotonic() > deadline:
            return res
        time.sleep(0.2)


def _leaked_files(user: us.User) -> list[str]:
    """As for root (tests/leaks.py), plus what rootless networking keeps in the runroot."""
    found = leaked_files(user.storage, user.runroot)
    for sub in ("netns", "networks/containers", "slirp"):
        d = user.runroot / sub
        if d.is_dir():
            found += [str(d / e) for e in os.listdir(d)]
    return found


# Read by the user: root opening the state DB could leave WAL files the user cannot open.
_ROWS = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
for sql in ("SELECT 'container ' || id || ' ' || state FROM containers",
            "SELECT 'exec session ' || id || ' ' || state FROM exec_sessions"):
    for (row,) in c.execute(sql):
        print(row)
"""


def _leaked_rows(user: us.User) -> list[str]:
    db = user.storage / "state.db"
    if not db.exists():
        return []
    res = user.run("python3", "-c", _ROWS, str(db), timeout=60)
    if res.returncode != 0:
        return [f"reading {db} failed: {res.stderr.strip()}"]
    return res.stdout.splitlines()


def user_leaks(user: us.User) -> list[str]:
    """What this user's ipy-oci left behind, after ``system migrate``."""
    leaks: list[str] = []
    if user.storage.exists() or user.runroot.exists():
        res = user.oci("ps", "-aq", timeout=60)
        if res.returncode != 0:
            leaks.append(f"ps -aq exited {res.returncode}: {res.stderr.strip()}")
        elif res.stdout.strip():
            leaks.append(f"containers: {res.stdout.split()}")
        leaks += [f"file: {f}" for f in _leaked_files(user)]
        leaks += [f"row: {r}" for r in _leaked_rows(user)]
        holder = us.holder_pid(user)
        if holder is not None:
            leaks += [f"mount in holder {holder}: {m}" for m in us.holder_mounts(user, holder)]
        leaks += [f"host mount: {m}" for m in _host_mounts_under(user.storage, user.runroot)]
        res = _migrate(user)
        if res.returncode != 0:
            leaks.append(f"system migrate exited {res.returncode}: {res.stderr.strip()}")
    leaks += [f"process {pid} (uid {uid}): {cmd[:160]}"
              for pid, uid, cmd in _wait_no_processes(user)]
    return [f"[{user.name}] {leak}" for leak in leaks]


def force_clean(user: us.User) -> None:
    """After a leak: remove containers if ipy-oci can, kill what is left, drop all state."""
    if user.storage.exists() or user.runroot.exists():
        try:
            user.oci("rm", "-f", "-a", "-t", "0", timeout=60)
        except Exception:
            pass
    us.kill_pids([pid for pid, _uid, _cmd in us.processes(user.host_uids())])
    shutil.rmtree(user.storage, ignore_errors=True)
    shutil.rmtree(user.runroot, ignore_errors=True)


@pytest.fixture(autouse=True)
def leak_check(users: Users) -> Iterator[None]:
    yield
    found: list[str] = []
    for user in users.all():
        leaks = user_leaks(user)
        if leaks:
            force_clean(user)
            found += leaks
    if found:
        pytest.fail("rootless test leaked:\n  " + "\n  ".join(found), pytrace=False)


# -- a loopback registry with an image whose files belong to uid 1234 ------------------------


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    regconf = rlimages.registry_conftest()
    if not os.access(regconf.REGISTRY_BIN, os.X_OK) or not shutil.which("skopeo"):
        pytest.skip("needs: apt-get install docker-registry skopeo")
    reg = regconf._start_registry(tmp_path_factory.mktemp("rootless-registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def uid1234_ref(registry: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    return rlimages.push_uid1234(registry.host, tmp_path_factory.mktemp("uid1234"))
