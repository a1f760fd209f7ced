"""Many ipy-oci processes on one root at once: SQLite (WAL, busy timeout) and the
per-container locks must serialize them without "database is locked" or lost work.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from helpers import OciEnv

N = 20


def _spawn(oci: OciEnv, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ipy_oci", *args], env=oci.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        out.append((p.returncode, stdout, stderr))
    return out


def test_concurrent_run_rm(oci: OciEnv) -> None:
    procs = [_spawn(oci, "run", "--rm", "busybox", "sh", "-c", f"echo run-{i}")
             for i in range(N)]
    results = _finish(procs)
    for i, (rc, out, err) in enumerate(results):
        assert "database is locked" not in err, err
        assert rc == 0, f"run {i} exited {rc}: {err}"
        assert out == f"run-{i}\n"
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_concurrent_create_generates_unique_names(oci: OciEnv) -> None:
    procs = [_spawn(oci, "create", "busybox", "true") for _ in range(N)]
    try:
        results = _finish(procs)
        for rc, _out, err in results:
            assert "database is locked" not in err, err
            assert rc == 0, err
        ids = [out.strip() for _rc, out, _err in results]
        assert len(set(ids)) == N
        ps = json.loads(oci.cli("ps", "-a", "--format", "json", check=True).stdout)
        names = [n for c in ps for n in c["Names"]]
        assert len(names) == N and len(set(names)) == N
        assert all(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", n) for n in names)
        assert sorted(c["Id"] for c in ps) == sorted(ids)
    finally:
        oci.cli("rm", "-a", "-f", "-t", "0")
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_concurrent_rm_of_one_container(oci: OciEnv) -> None:
    """Racing ``rm -f``s of the same container: one removes it, the others see it gone."""
    try:
        cid = oci.cli("run", "-d", "--name", "contested", "busybox", "sleep", "1000",
                      check=True).stdout.strip()
        results = _finish([_spawn(oci, "rm", "-f", "-t", "0", cid) for _ in range(6)])
        for rc, _out, err in results:
            assert "Traceback" not in err and "database is locked" not in err, err
            assert rc == 0 or (rc == 125 and "no container" in err), (rc, err)
        assert sum(1 for rc, _o, _e in results if rc == 0) >= 1
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        oci.cli("rm", "-f", "-t", "0", "contested")


def test_concurrent_readers_while_containers_change(oci: OciEnv) -> None:
    """ps/inspect from many processes while containers start and exit: no errors."""
    try:
        for i in range(4):
            oci.cli("run", "-d", "--name", f"churn{i}", "busybox", "sh", "-c",
                    f"sleep 0.{i + 2}; exit {i}", check=True)
        procs = [_spawn(oci, "ps", "-a", "--format", "json") for _ in range(8)]
        procs += [_spawn(oci, "inspect", f"churn{i % 4}") for i in range(8)]
        procs += [_spawn(oci, "wait", f"churn{i}") for i in range(4)]
        results = _finish(procs)
        for rc, _out, err in results:
            assert "database is locked" not in err, err
            assert rc == 0, err
        for _rc, out, _err in results[:8]:
            assert {n for c in json.loads(out) for n in c["Names"]} == {
                f"churn{i}" for i in range(4)}
        assert [out for _rc, out, _err in results[-4:]] == [f"{i}\n" for i in range(4)]
    finally:
        oci.cli("rm", "-f", "-t", "0", *[f"churn{i}" for i in range(4)])


def test_rm_force_while_attached_run_rm(oci: OciEnv) -> None:
    """``rm -f X`` while ``run --rm --name X`` is attached elsewhere: the rm succeeds, the
    run reports the container's exit (137), nothing is left. The race is tried a few times.
    """
    locks = oci.runroot / "locks"
    for _attempt in range(15):
        run = _spawn(oci, "run", "--rm", "--name", "att", "busybox", "sh", "-c",
                     "echo ready; exec sleep 1000")
        try:
            assert run.stdout is not None
            assert run.stdout.readline() == "ready\n"
            cid = json.loads(oci.cli("inspect", "att", check=True).stdout)[0]["Id"]
            rm = oci.cli("rm", "-f", "-t", "0", "att")
            _out, run_err = run.communicate(timeout=60)
            assert rm.returncode == 0, f"rm -f: {rm.stderr}"
            assert run.returncode == 137, f"run: {run_err}"
            assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
            assert not (locks / f"{cid}.lock").exists(), "lock file of a removed container"
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
            oci.cli("rm", "-f", "-t", "0", "att")
