"""The teaching notebooks in notebooks/, executed headlessly against real containers.

Each notebook runs top to bottom with nbclient in a real IPython kernel. The kernel's
working directory is notebooks/, and its environment points ipy-oci at the ``oci``
fixture's throwaway root, so the fixture's leak check covers every container, exec
session, mount and process the notebook made. The checks then read the outputs that
carry each lesson (exec output, session states and exit codes, namespace inodes,
cgroup limits, provenance fields ...), found by nbformat 4.5 cell ids.

The notebooks are stored WITHOUT outputs: ``test_stored_notebooks_are_clean`` fails
if one was saved with outputs, execution counts or widget state. Clear them with
``.venv/bin/python notebooks/tools/clear_outputs.py``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from leaks import leaked_mounts, leaked_processes  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Executed:
    """A notebook after execution, with its outputs looked up by cell id."""

    def __init__(self, nb: nbformat.NotebookNode) -> None:
        self.nb = nb
        self.cells = {c["id"]: c for c in nb.cells}

    def outputs(self, cid: str) -> list[Any]:
        return list(self.cells[cid].get("outputs", []))

    def stream(self, cid: str, name: str = "stdout") -> str:
        return "".join(o["text"] for o in self.outputs(cid)
                       if o["output_type"] == "stream" and o["name"] == name)

    def stdout(self, cid: str) -> str:
        return self.stream(cid, "stdout")

    def widget_texts(self, cid: str) -> list[str]:
        """The text values of the widgets a cell shows, as the executed notebook stores
        them (its widget state), children included."""
        state = (self.nb.metadata.get("widgets", {})
                 .get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))
        todo = [o["data"][WIDGET_VIEW]["model_id"] for o in self.outputs(cid)
                if WIDGET_VIEW in o.get("data", {})]
        out: list[str] = []
        while todo:
            model = state.get(todo.pop(0), {}).get("state", {})
            if isinstance(model.get("value"), str):
                out.append(model["value"])
            todo += [c.removeprefix("IPY_MODEL_") for c in model.get("children", [])]
        return out

    def stderr(self, cid: str) -> str:
        return self.stream(cid, "stderr")

    def result(self, cid: str, mime: str = "text/plain") -> Any:
        found = [o["data"][mime] for o in self.outputs(cid)
                 if o["output_type"] == "execute_result" and mime in o["data"]]
        assert found, f"cell {cid!r} has no {mime} result: {self.outputs(cid)}"
        return found[-1]

    def value(self, cid: str) -> Any:
        """The cell's result, when its text/plain is the repr of plain Python data."""
        return ast.literal_eval(self.result(cid))

    def provenance(self, cid: str) -> dict[str, Any]:
        found = [o["metadata"]["ipy_oci"]["provenance"] for o in self.outputs(cid)
                 if "ipy_oci" in o.get("metadata", {})]
        assert len(found) == 1, f"cell {cid!r}: {len(found)} provenance records"
        record: dict[str, Any] = found[0]
        return record


def lines(text: str) -> list[str]:
    return text.splitlines()


def search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    m = re.search(pattern, text, flags)
    assert m, f"{pattern!r} not found in {text!r}"
    return m


def execute(name: str, oci: Any, tmp_path: Path) -> Executed:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    env = dict(oci.env, IPYTHONDIR=str(tmp_path / "ipython"),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)  # a failing cell raises CellExecutionError with its traceback
    return Executed(nb)


# -- 01 · first containers --------------------------------------------------------------------
def check_first_containers(nb: Executed, oci: Any) -> None:
    assert f"root: {oci.root}\n" in nb.stdout("info")  # the kernel used the test's root
    assert re.fullmatch(r"hello from [0-9a-f]{12}, where I am PID 1\n", nb.stdout("run-hello"))
    busybox = oci.runtime().images.lookup("busybox")
    [image] = nb.value("images")
    assert image["RepoTags"] == ["localhost/busybox:latest"]
    assert image["Digest"] == busybox.digest

    m = re.fullmatch(r"<Container nb01-counter ([0-9a-f]{12}) running>", nb.result("run-detached"))
    assert m, nb.result("run-detached")
    short_id = m.group(1)
    assert nb.stdout("handle").startswith(f"nb01-counter {short_id} running ['sh', '-c', ")
    assert re.search(rf"^{short_id}  nb01-counter .* Up ", nb.result("ps"), re.M)
    assert [row[:2] for row in nb.value("ps-json")] == [("nb01-counter", "running")]

    ps = lines(nb.stdout("exec-once"))
    assert re.fullmatch(r"\s*1 root\s+sh -c i=0; while true; .*", ps[1]), ps
    assert ps[-1].endswith(" ps")
    logs = lines(nb.stdout("logs"))
    assert logs and logs[0] == "line 1" and all(re.fullmatch(r"line \d+", x) for x in logs)

    # %%oci exec: every line of the loop arrives, in order, stderr apart.
    ticks = lines(nb.stdout("exec-stream"))
    assert [t.split(" at ")[0] for t in ticks] == [f"tick {i}" for i in range(1, 6)]
    assert nb.stderr("exec-stream") == "this line goes to stderr\n"
    assert nb.stdout("exec-fail") == "checking something...\n"
    assert nb.stderr("exec-fail") == "it is not there\n"
    assert "in nb01-counter: exited with code 3 after" in nb.result("last")

    # The widgets. Their background polls may or may not reach a headless run, so the
    # checks use what the main thread did: refresh() before each display.
    for cid in ("widget-ps", "widget-table", "widget-refresh"):
        assert WIDGET_VIEW in nb.outputs(cid)[-1]["data"]
    assert "<b>ipy-oci containers</b>: 1 (1 running)" in nb.result("widget-table")
    assert "<b>ipy-oci containers</b>: 1 (0 running)" in nb.result("widget-refresh")

    assert nb.result("pause").endswith(" paused>")
    assert nb.result("unpause").endswith(" running>")
    assert nb.stdout("stop") == "exited 137\n"  # PID 1 ignored SIGTERM: killed after -t
    assert re.search(r"nb01-counter .* Exited \(137\)", nb.result("ps-all"))
    assert nb.stdout("rm") == "nb01-counter\n"
    assert nb.result("ps-after") == "(no containers)"


# -- 02 · exec sessions and reaping -----------------------------------------------------------
ROW = re.compile(r"(created|running|stopped)\s+exit_code=(\S+) pid=(\d+) owner_pid=(\d+) "
                 r"\((attached|detached)\)")


def row_of(text: str) -> tuple[str, str, int, int, str]:
    m = ROW.search(text)
    assert m, text
    return m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), m.group(5)


def check_exec_sessions(nb: Executed, oci: Any) -> None:
    m = re.fullmatch(r"<Container nb02-box ([0-9a-f]{12}) running>", nb.result("box"))
    assert m
    short_id = m.group(1)

    # An attached session: running with this kernel as owner, then removed by it.
    live = nb.value("attached-inspect")
    assert live["State"] == "running" and live["Attached"] is True
    assert live["Owner"]["Kernel"] and live["Owner"]["Pid"] > 0
    assert live["ProcessConfig"]["arguments"][0] == "-c"
    out = nb.stdout("attached-end")
    assert "state: stopped, exit code: 0\n" in out
    assert "output: ['working...', 'done']\n" in out
    assert "no longer exists: its client removed it" in out

    # created -> running -> stopped, through the engine API.
    assert nb.stdout("states") == "after exec_create: created\nafter start:       running\n"
    out = nb.stdout("states-end")
    assert "the view says:     stopped with exit code 5" in out
    assert row_of(out)[:2] == ("stopped", "5")

    # conmon's exit command names this session and container, in this root.
    command = shlex.split(lines(nb.stdout("exit-command"))[-1])
    assert command[1:3] == ["-m", "ipy_oci"]
    assert command[command.index("--root") + 1] == str(oci.root)
    tail = command[command.index("container"):]
    assert tail[:3] == ["container", "cleanup", "--exec"] and len(tail) == 5
    assert re.fullmatch(r"[0-9a-f]{64}", tail[3]) and tail[4].startswith(short_id)
    now, later = lines(nb.stdout("exit-command-watch"))
    assert row_of(now)[:2] == ("running", "None") and row_of(now)[4] == "detached"
    assert row_of(later)[:2] == ("stopped", "7")

    # --timeout: SIGTERM to the group, trapped; then the session is reaped.
    out = lines(nb.stdout("timeout"))
    assert out[0] == "working: step 1" and out[-1] == "got SIGTERM: cleaning up"
    out = nb.stdout("timeout-last")
    assert out.startswith("timed out with code 143 (SIGTERM) after ")
    assert "timed out: True | exit code: 143\n" in out
    assert "its row:   no row\n" in out
    ps = lines(out.split("processes left in the container:\n")[1])[1:]
    left = [x.split(None, 1)[1] for x in ps]
    assert left == ["/run/ipy-oci-init -- sleep 100000", "sleep 100000", "ps -o pid,args"]

    # A SIGKILLed client: its session stays "running" until the reaper runs.
    state, _code, pid, owner, kind = row_of(nb.stdout("orphan-start"))
    assert (state, kind) == ("running", "attached")
    out = nb.stdout("orphan-kill")
    assert "client exit status: -9" in out
    assert row_of(out)[:4] == ("running", "None", pid, owner)
    assert f"owner {owner} alive: False; 'sleep 100' (host pid {pid}) alive: True" in out
    assert "reaped 1 orphaned" in nb.stdout("orphan-reap")
    assert nb.stdout("orphan-after") == (f"the row: no row\n'sleep 100' (host pid {pid}) "
                                         "alive: False\n")

    # A container stop records every session's end.
    before = lines(nb.stdout("stop-sessions"))
    assert [row_of(x)[0] for x in before] == ["running", "running"]
    after = lines(nb.stdout("stop-after"))
    assert [row_of(x)[:2] for x in after] == [("stopped", "137"), ("stopped", "137")]
    assert nb.stdout("cleanup") == "sessions before rm: 4\nnb02-box\nsessions after rm:  0\n"


# -- 03 · container internals -----------------------------------------------------------------
def sections(text: str) -> dict[str, Any]:
    """The ``── title`` blocks of the config cell, each parsed as JSON when it is JSON."""
    out: dict[str, Any] = {}
    for block in text.split("── ")[1:]:
        title, _, body = block.partition("\n")
        try:
            out[title] = json.loads(body)
        except json.JSONDecodeError:
            out[title] = body.strip()
    return out


PODMAN_DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETFCAP"}
SPEC_NS = {"mnt": "mount", "net": "network"}


def check_container_internals(nb: Executed, oci: Any) -> None:
    m = re.fullmatch(r"<Container nb03-lab ([0-9a-f]{12}) running>", nb.result("lab"))
    assert m
    short_id = m.group(1)
    pid = int(search(r"host process (\d+)", nb.stdout("inspect")).group(1))
    assert f"'NSpid:\\t{pid}\\t1'" in nb.stdout("inspect")

    # Namespaces: the kernel's are the host's (this process's); exec joins the container's.
    table = {}
    for row in lines(nb.stdout("ns-outside"))[1:]:
        ns, host, ctr, verdict = row.split()
        table[ns] = (host, ctr, verdict)
        assert host == os.readlink(f"/proc/self/ns/{ns}")
        assert verdict == ("shared" if host == ctr else "NEW")
    pure_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    new = {ns for ns, (_h, _c, v) in table.items() if v == "NEW"}
    assert new == {"ipc", "mnt", "net", "pid", "uts"} | ({"cgroup"} if pure_v2 else set())
    inside = dict(x.split() for x in lines(nb.stdout("ns-inside")))
    assert inside == {ns: ctr for ns, (_h, ctr, _v) in table.items()}
    views = nb.stdout("ns-views")
    assert f"hostname: {short_id}\n" in views
    assert re.search(r"^\s+1 ipy-oci-init$", views, re.M)
    assert views.endswith("network interfaces:\n    lo\n")

    # cgroups: the limits are in the controllers' files, outside and inside.
    out = nb.stdout("cgroup-outside")
    assert "  = 67108864 bytes = 64 MiB\n" in out and out.endswith("  = 32\n")
    assert out.count(short_id) == 2
    assert nb.stdout("cgroup-inside") == "memory limit: 67108864\npids limit: 32\n"
    out = nb.stdout("oom-after")
    swap = int(search(r"SwapTotal:\s+(\d+) kB", out).group(1))
    if swap == 0:  # with swap, dd may be swapped out instead of OOM-killed
        assert out.startswith("dd: exited with code 137 (SIGKILL) after ")
        assert int(search(r"oom_kill (\d+)", out).group(1)) >= 1
    out = nb.stdout("pids")
    assert out.startswith("pids.max = 32\n")
    started = search(r"started (\d+) sleeps, then: .*Resource temporarily unavailable", out)
    assert 0 < int(started.group(1)) < 32, out
    current = int(search(r"pids.current = (\d+)", out).group(1))
    assert int(started.group(1)) < current <= 32

    # Overlay: the image layer below, the container's upper layer, one mount seen twice.
    dirs = dict(x.split() for x in lines(nb.stdout("overlay-dirs"))[1:5])
    lower, upper = dirs["LowerDir"], dirs["UpperDir"]
    assert Path(lower).parent == oci.root / "layers"
    assert upper.startswith(f"{oci.root}/containers/{short_id}") and upper.endswith("/upper")
    outside = [x.strip() for x in lines(nb.stdout("mountinfo-outside"))]
    assert outside[0] == "outside: overlay"
    assert f"lowerdir={lower}" in outside and f"upperdir={upper}" in outside
    root_line = nb.stdout("mountinfo-inside")
    assert " / / " in root_line and " - overlay overlay " in root_line
    assert f"lowerdir={lower}," in root_line and f"upperdir={upper}," in root_line
    assert nb.stdout("cow-outside") == (
        "upper/notes.txt: regular file: 'written inside the container'\n"
        "upper/etc/group: character device 0:0 (a whiteout)\n"
        "lower/etc/group still exists: True\n")

    # config.json: what was asked for.
    spec = sections(nb.stdout("config"))
    assert {n["type"] for n in spec["linux.namespaces"]} == {SPEC_NS.get(n, n) for n in new}
    # -m 64m also limits memory+swap to twice that where the host can (podman's rule).
    memory = {"limit": 67108864}
    if "swap" in spec["linux.resources (without the device rules)"]["memory"]:
        memory["swap"] = 2 * 67108864
    assert spec["linux.resources (without the device rules)"] == {
        "memory": memory, "pids": {"limit": 32}}
    assert spec["process.args"][-2:] == ["sleep", "100000"] and len(spec["process.args"]) > 2
    nofile = next(r for r in spec["process.rlimits"] if r["type"] == "RLIMIT_NOFILE")
    assert nb.stdout("rlimit-inside") == f"open files (ulimit -n): {nofile['soft']}\n"

    # Capabilities.
    assert re.search(r"^CapEff:\s+00000000800405fb$", nb.stdout("caps-raw"), re.M)
    out = lines(nb.stdout("caps-decode"))
    assert out[0] == "default (00000000800405fb): 11 capabilities"
    assert {x.strip() for x in out[1:]} == PODMAN_DEFAULT_CAPS
    out = nb.stdout("caps-compare")
    assert "   added:   ['CAP_NET_ADMIN']\n   dropped: ['CAP_KILL']\n" in out
    assert "capabilities, equal to the host's bounding set" in out

    # Masked and read-only paths.
    present = lines(nb.stdout("masked-list"))[-1].split(": ", 1)[1].split()
    assert present == [p for p in masked_paths(nb) if os.path.exists(p)]
    listing = {x.split()[-1]: x for x in lines(nb.stdout("masked-inside"))}
    assert set(listing) == set(present)
    for path, entry in listing.items():
        if os.path.isdir(path):
            assert entry.startswith("d"), entry  # an empty tmpfs
        else:
            assert entry.startswith("c") and " 1,   3 " in entry, entry  # /dev/null
    if os.path.exists("/proc/keys"):
        assert "/proc/keys" in listing
        assert nb.stdout("masked-privileged").startswith("-r--r--r--")
    assert "/proc/sys/vm/drop_caches: Read-only file system" in nb.stderr("readonly")
    assert nb.stdout("cleanup") == ("nb03-lab\ncgroup directory still there: False\n"
                                    "overlay upper layer still there: False\n")


def masked_paths(nb: Executed) -> list[str]:
    first = lines(nb.stdout("masked-list"))[0]
    masked: list[str] = ast.literal_eval(first.split(":", 1)[1].strip())
    return masked


# -- 04 · reproducible experiment cells -------------------------------------------------------
def monte_carlo_pi(seed: int, n: int) -> str:
    """What the notebook's awk program prints, computed here independently."""
    x, inside, m = seed, 0, 2147483647
    for _ in range(n):
        x = 16807 * x % m
        u = x / m
        x = 16807 * x % m
        v = x / m
        inside += u * u + v * v <= 1
    return f"seed={seed} n={n} inside={inside} pi~{4 * inside / n:.4f}\n"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_experiment_cells(nb: Executed, oci: Any) -> None:
    expected = monte_carlo_pi(42, 20000)
    assert nb.stdout("experiment") == expected
    rec = nb.provenance("experiment")
    image = oci.runtime().images.lookup("busybox")
    assert rec["image"]["digest"] == image.digest
    assert rec["image"]["pinned"] == f"localhost/busybox@{image.digest}"
    assert rec["cell"]["magic"] == "%%oci run -e SEED=42 -e N=20000 busybox"
    assert rec["env_args"] == ["SEED=42", "N=20000"]
    assert rec["exit_code"] == 0 and rec["container"]["removed"] is True
    assert rec["output"]["stdout"] == {"sha256": sha256(expected), "bytes": len(expected)}
    assert rec["reproduce"].startswith(
        f"ipy-oci run --rm -e SEED=42 -e N=20000 localhost/busybox@{image.digest} sh -c ")

    # Read back: the display, the JSON and the Python object all hold the same record.
    assert nb.provenance("provenance") == rec
    assert json.loads(nb.stdout("provenance-json")) == rec
    assert f" reproduce: {rec['reproduce'].splitlines()[0]}\n" in nb.stdout("record")

    # Re-run from the command line and from the record: same fingerprint.
    out = nb.stdout("rerun-cli")
    assert out.startswith(expected) and out.endswith("CLI re-run: same\n")
    assert nb.stdout("rerun-cell") == expected
    again = nb.provenance("rerun-cell")
    assert again["output"]["stdout"] == rec["output"]["stdout"]
    assert again["image"]["ref"] == rec["image"]["pinned"]
    assert again["cell"]["sha256"] == rec["cell"]["sha256"]
    assert again["container"]["id"] != rec["container"]["id"]
    table = {x[:17].strip(): x[17:].split()[0] for x in lines(nb.stdout("compare-again"))}
    assert table == {"image digest": "same", "cell body sha256": "same", "inputs (-e)": "same",
                     "exit code": "same", "stdout sha256": "same", "container": "differ"}

    # Another input, another fingerprint.
    assert nb.stdout("rerun-seed") == monte_carlo_pi(7, 20000)
    seed7 = nb.provenance("rerun-seed")
    assert seed7["env_args"] == ["SEED=7", "N=20000"]
    assert seed7["output"]["stdout"]["sha256"] == sha256(monte_carlo_pi(7, 20000))
    table = {x[:17].strip(): x[17:].split()[0] for x in lines(nb.stdout("compare-seed"))}
    assert table["inputs (-e)"] == "differ" and table["stdout sha256"] == "differ"

    # A cell that is not reproducible is caught by its fingerprint.
    first, second = nb.stdout("nondet"), nb.stdout("nondet-rerun")
    assert first.startswith("run id: ") and second.startswith("run id: ") and first != second
    assert nb.provenance("nondet-rerun")["output"]["stdout"]["sha256"] == sha256(second)
    table = {x[:17].strip(): x[17:].split()[0] for x in lines(nb.stdout("nondet-compare"))}
    assert table["cell body sha256"] == "same" and table["stdout sha256"] == "differ"

    # The image by digest from a registry, into an empty root, gives the same result.
    m = search(r"^registry up at (127\.0\.0\.1:\d+) \(pid (\d+), config (/\S+)/registry.yml\)$",
               nb.stdout("registry-start"))
    host, workdir = m.group(1), Path(m.group(3))
    assert nb.stdout("registry-push") == f"published {host}/lab/busybox:1\n"
    assert nb.result("other-root") == "[]"  # the other root starts empty
    # The pull's progress widget ends as one summary line: every layer was fetched.
    summary = [t for t in nb.widget_texts("registry-pull") if t.startswith("pulled ")]
    assert len(summary) == 1 and nb.stderr("registry-pull") == "", summary
    n = len(image.layer_dirs)
    assert f" {n} layer" in summary[0] and f"({n} fetched)" in summary[0], summary
    assert nb.stdout("registry-pull").endswith(f"pulled digest:   {image.digest} (same)\n")
    out = nb.stdout("registry-run")
    assert f" {host}/lab/busybox@{image.digest[:20]}" in out
    assert out.endswith(expected + "on another machine: same\n")
    assert nb.stdout("cleanup").endswith(f"removed {workdir}\n")
    assert not workdir.exists()
    # The registry, and the exit commands that ran in the other root, are all gone.
    assert leaked_processes(workdir) == [] and leaked_mounts(workdir) == []


# -- 05 · container networking ----------------------------------------------------------------
def check_container_networking(nb: Executed, oci: Any) -> None:
    assert f"runroot: {oci.runroot}\n" in nb.stdout("setup")
    port = int(search(r"host port: (\d+)", nb.stdout("setup")).group(1))
    m = re.fullmatch(r"<Container nb05-web ([0-9a-f]{12}) running>", nb.result("web"))
    assert m
    short_id = m.group(1)
    link = f'href="http://127.0.0.1:{port}/"'
    assert f"127.0.0.1:{port}-&gt;80/tcp" in nb.result("web", "text/html")
    assert link in nb.result("web", "text/html")

    # The netns: a file in RUNROOT/netns whose inode is the container's net namespace.
    out = nb.stdout("netns")
    key = search(r"SandboxKey: +(\S+)", out).group(1)
    assert Path(key).parent == oci.runroot / "netns" and Path(key).name.startswith(short_id)
    assert f"files in RUNROOT/netns: ['{Path(key).name}']" in out
    inode = search(r"inode of that file: +(\d+)", out).group(1)
    assert f"container's PID 1:       net:[{inode}]\n" in out
    assert f"this kernel:             {os.readlink('/proc/self/ns/net')}\n" in out
    m = search(r"address (\S+)/(\d+), gateway (\S+), MAC ", out)
    ip, gateway = m.group(1), m.group(3)

    # The veth pair: eth0 inside, its peer on the host, plugged into the bridge.
    inside = nb.stdout("veth-inside")
    peer = search(r"eth0's peer is interface (\d+) of the host", inside).group(1)
    assert re.search(rf"^2: eth0@if{peer}: ", inside, re.M)
    assert f"inet {ip}/" in inside
    assert [x.split(":")[1].strip() for x in lines(inside) if re.match(r"\d+: \S+:", x)] \
        == ["lo", f"eth0@if{peer}"]
    host = nb.stdout("veth-host")
    veth = search(rf"^{peer}: (veth\d+)@if2: ", host, re.M).group(1)
    bridge_out = nb.stdout("bridge")
    bridge = search(r"network ipy-oci: bridge (\S+) subnets", bridge_out).group(1)
    assert f" master {bridge} " in host
    assert re.search(rf"^\d+: {bridge}\s+inet {re.escape(gateway)}/", bridge_out, re.M)
    assert f"'{veth}'" in search(r"ports of the bridge: (.*)", bridge_out).group(1)
    assert nb.stdout("route").startswith(f"default via {gateway} dev eth0 ")

    # NAT: the DNAT rule of the published port, to the container's address.
    nat = nb.stdout("nat")
    assert re.search(rf"-d 127\.0\.0\.1/32 -p tcp -m tcp --dport {port} -j DNAT "
                     rf"--to-destination {re.escape(ip)}:80$", nat, re.M), nat
    assert all(f"--dport {port} " in x or f" {ip}" in x for x in lines(nat))

    # The published port answers from the notebook; port and ps show it.
    assert nb.stdout("publish") == (f"GET /hostname -> {short_id}\n"
                                    f"container id:   {short_id}\n")
    assert nb.value("port") == [f"80/tcp -> 127.0.0.1:{port}"]
    assert link in nb.result("ps", "text/html") and "PORTS" in nb.result("ps", "text/html")

    # DNS on a user network: aardvark-dns on its gateway answers the other's name.
    assert nb.result("net-create") == "'nb05-net'"
    db_ip = search(r"nb05-db has address (\S+)", nb.stdout("db")).group(1)
    dns = nb.stdout("dns")
    dns_server = search(r"^nameserver (\S+)$", dns, re.M).group(1)
    assert db_ip.rsplit(".", 1)[0] == dns_server.rsplit(".", 1)[0]  # the network's gateway
    assert dns_server != gateway  # another network, another subnet
    assert re.search(rf"^Name:\s+nb05-db(\.dns\.podman)?\nAddress: {re.escape(db_ip)}$",
                     dns, re.M), dns

    # host.containers.internal is the gateway, and the kernel's server answers there.
    assert f"listening on {gateway}:" in nb.stdout("host")
    assert nb.stdout("host-inside") == (f"{gateway}\thost.containers.internal\n"
                                        "hello from the host\n")
    assert nb.stdout("none") == "lo\n"  # only loopback, and no route at all

    assert nb.stdout("cleanup") == ("nb05-web\nnb05-db\nremoved networks: ['nb05-net']\n"
                                    "files in RUNROOT/netns: []\n"
                                    "veth peer still there: False\n"
                                    "DNAT rule still there: False\n")


CHECKS: dict[str, Callable[[Executed, Any], None]] = {
    "01-first-containers": check_first_containers,
    "02-exec-sessions-and-reaping": check_exec_sessions,
    "03-container-internals": check_container_internals,
    "04-reproducible-experiment-cells": check_experiment_cells,
    "05-container-networking": check_container_networking,
}
_NEEDS = {"04-reproducible-experiment-cells": ("docker-registry", "skopeo"),
          "05-container-networking": ("iptables-save", "/usr/lib/podman/netavark")}


def test_every_notebook_is_checked() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_stored_notebooks_are_clean(name: str) -> None:
    """Stored without outputs, with nbformat 4.5 cell ids (the checks find cells by id)."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    ids = [c.get("id") for c in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    hint = "clear them: .venv/bin/python notebooks/tools/clear_outputs.py"
    assert "widgets" not in nb.metadata, f"saved widget state; {hint}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {cell.id} has outputs; {hint}"
            assert cell.execution_count is None, f"{name}: cell {cell.id} ran; {hint}"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook(name: str, oci: Any, tmp_path: Path) -> None:
    missing = [b for b in _NEEDS.get(name, ()) if not shutil.which(b)
               and not os.access(f"/usr/bin/{b}", os.X_OK)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install docker-registry skopeo)")
    nb = execute(name, oci, tmp_path)
    CHECKS[name](nb, oci)
    check_widgets_kept(nb)


def check_widgets_kept(nb: Executed) -> None:
    """After Run All, every widget a cell shows still has its model in the notebook's
    widget state: nothing a reader is told to click was closed, and the executed
    notebook renders its widgets when opened again."""
    state = (nb.nb.metadata.get("widgets", {})
             .get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))
    for cid, cell in nb.cells.items():
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is not None:
                assert view["model_id"] in state, f"cell {cid}: its widget was closed"
