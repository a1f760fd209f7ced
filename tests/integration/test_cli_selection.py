"""Which containers a command acts on, with real containers: ``ps`` filters, sort, -n,
-l, -s, and the lifecycle verbs' --all, --latest, --cidfile, --filter and --ignore,
podman's exit codes and words, the ``container X`` aliases and ``container exists``.

Each test makes its containers once and asks many questions of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import OciEnv, inspect, rm_force, wait_until

NONE = ("--network", "none")


def _run(oci: OciEnv, name: str, *argv: str) -> str:
    return oci.cli("run", "-d", *NONE, "--name", name, *argv, check=True).stdout.strip()


def _names(oci: OciEnv, *argv: str) -> list[str]:
    return oci.cli("ps", *argv, "--format", "{{.Names}}", check=True).stdout.split()


def _status(oci: OciEnv, name: str) -> str:
    return str(inspect(oci, name)["State"]["Status"])


def test_ps_filters_sort_last_and_size(oci: OciEnv, tmp_path: Path) -> None:
    names = ["s-run", "s-ok", "s-bad", "s-new", "s-pause", "s-bridge"]
    try:
        _run(oci, "s-run", "-l", "tier=web", "-l", "solo", "-v", f"{tmp_path}:/data",
             "busybox", "sleep", "1000")
        oci.cli("run", *NONE, "--name", "s-ok", "busybox", "true", check=True)
        bad = oci.cli("run", *NONE, "--name", "s-bad", "-l", "tier=db", "busybox", "sh",
                      "-c", "exit 3")
        assert bad.returncode == 3
        oci.cli("create", *NONE, "--name", "s-new", "busybox", "echo", "hi", check=True)
        _run(oci, "s-pause", "busybox", "sleep", "1000")
        oci.cli("pause", "s-pause", check=True)
        oci.cli("create", "--name", "s-bridge", "busybox", "true", check=True)
        ids = {n: inspect(oci, n)["Id"] for n in names}

        # Without -a only running containers (podman: not even paused ones), oldest first.
        assert _names(oci) == ["s-run"]
        assert _names(oci, "-a") == names
        # The filters, one key at a time.
        assert _names(oci, "-a", "-f", f"id={ids['s-bad'][:6]}") == ["s-bad"]
        assert _names(oci, "-a", "-f", "name=^s-(ok|new)$") == ["s-ok", "s-new"]
        assert _names(oci, "-a", "-f", "label=tier") == ["s-run", "s-bad"]
        assert _names(oci, "-a", "-f", "label=tier=db") == ["s-bad"]
        assert _names(oci, "-a", "-f", "label=tier", "-f", "label=solo") == ["s-run"]
        assert _names(oci, "-a", "-f", "label!=tier") == ["s-ok", "s-new", "s-pause",
                                                          "s-bridge"]
        # status given: every state is considered, -a or not; stopped means exited.
        assert _names(oci, "-f", "status=exited") == ["s-ok", "s-bad"]
        assert _names(oci, "-f", "status=stopped") == ["s-ok", "s-bad"]
        assert _names(oci, "-f", "status=created", "-f", "status=paused") == [
            "s-new", "s-pause", "s-bridge"]
        assert _names(oci, "-f", "status=running") == ["s-run"]
        assert _names(oci, "-a", "-f", "exited=3") == ["s-bad"]
        assert _names(oci, "-a", "-f", "exited=0") == ["s-ok"]
        assert _names(oci, "-a", "-f", "status=exited", "-f", "exited=0") == ["s-ok"]
        image_id = inspect(oci, "s-ok")["Image"]
        for ancestor in ("busybox", "localhost/busybox", "localhost/busybox:latest",
                         image_id, image_id[:12]):
            assert _names(oci, "-a", "-f", f"ancestor={ancestor}") == names
        assert _names(oci, "-a", "-f", "ancestor=other-image") == []
        assert _names(oci, "-a", "-f", "before=s-bad") == ["s-run", "s-ok"]
        assert _names(oci, "-a", "-f", "since=s-pause") == ["s-bridge"]
        assert _names(oci, "-a", "-f", f"volume={tmp_path}") == ["s-run"]
        assert _names(oci, "-a", "-f", "volume=/data") == ["s-run"]
        assert _names(oci, "-a", "-f", "network=ipy-oci") == ["s-bridge"]
        assert _names(oci, "-a", "-f", "network=no-such-net") == []
        assert _names(oci, "-a", "-f", "until=1h") == []
        quiet = oci.cli("ps", "-q", "-a", "-f", "label=tier=web", check=True).stdout
        assert quiet == ids["s-run"][:12] + "\n"

        # --sort, -n, -l
        assert _names(oci, "-a", "--sort", "names") == sorted(names)
        assert _names(oci, "-a", "--sort", "created") == names
        by_status = _names(oci, "-a", "--sort", "status")
        assert by_status.index("s-new") < by_status.index("s-ok") < by_status.index("s-run")
        assert _names(oci, "-n", "2") == ["s-pause", "s-bridge"]
        assert _names(oci, "-l") == ["s-bridge"]
        assert _names(oci, "-l", "-f", "status=paused") == ["s-pause"]  # filter, then -l

        # The default table, podman's columns; --noheading drops the header.
        table = oci.cli("ps", "-a", check=True).stdout.splitlines()
        assert re.split(r"\s{2,}", table[0]) == ["CONTAINER ID", "IMAGE", "COMMAND",
                                                 "CREATED", "STATUS", "PORTS", "NAMES"]
        rows = {r.split()[-1]: r for r in table[1:]}
        assert " Paused " in rows["s-pause"] and " Created " in rows["s-new"]
        assert re.search(r" Exited \(3\) .* ago ", rows["s-bad"])
        assert re.search(r" Up .* ago ", rows["s-run"])
        assert rows["s-run"].startswith(ids["s-run"][:12] + "  localhost/busybox:latest  "
                                        "sleep 1000")
        plain = oci.cli("ps", "--noheading", check=True).stdout.splitlines()
        assert len(plain) == 1 and plain[0].startswith(ids["s-run"][:12] + "  ")

        # -s: the writable layer and the virtual size, as podman prints them.
        oci.cli("exec", "s-run", "sh", "-c", "head -c 5000 /dev/zero > /big", check=True)
        sized = oci.cli("ps", "-s", check=True).stdout.splitlines()
        assert sized[0].rstrip().endswith("NAMES       SIZE")
        assert re.search(r"  5(\.\d+)?kB \(virtual \d(\.\d+)?MB\)$", sized[1]), sized[1]
        sizes = oci.cli("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}",
                        check=True).stdout
        assert re.search(r"^s-new 0B \(virtual \d(\.\d+)?MB\)$", sizes, re.M), sizes
        rows_json = json.loads(oci.cli("ps", "-s", "--format", "json", check=True).stdout)
        assert rows_json[0]["Size"]["rwSize"] >= 5000
        assert rows_json[0]["Size"]["rootFsSize"] > rows_json[0]["Size"]["rwSize"]
        assert json.loads(oci.cli("ps", "--format", "json", check=True).stdout)[0][
            "Size"] is None
        big_first = _names(oci, "-a", "--sort", "size")
        assert big_first[-1] == "s-run"

        # Bad input: exit 125 and a message naming the filter.
        for argv, words in (
                (["-f", "status=sleeping"], "unknown container state 'sleeping'"),
                (["-f", "colour=red"], "valid filters are"),
                (["-f", "nokey"], 'invalid filter "nokey"'),
                (["-f", "exited=x"], "exited=x"),
                (["-f", "before=ghost"], 'no container with name or ID "ghost"'),
                (["--sort", "colour"], "invalid choice: 'colour'"),
                (["-n", "1", "-l"], "last and latest are mutually exclusive"),
                (["-q", "-s"], "quiet conflicts with size")):
            res = oci.cli("ps", *argv)
            assert res.returncode == 125 and words in res.stderr, (argv, res.stderr)
    finally:
        rm_force(oci, *names)


def test_lifecycle_selection_flags(oci: OciEnv, tmp_path: Path) -> None:
    names = ["l-a", "l-b", "l-c", "l-new"]
    try:
        for n, tier in (("l-a", "x"), ("l-b", "x"), ("l-c", "y")):
            _run(oci, n, "-l", f"tier={tier}", "busybox", "sleep", "1000")
        oci.cli("create", *NONE, "--name", "l-new", "busybox", "sleep", "1000", check=True)
        ids = {n: inspect(oci, n)["Id"] for n in names}

        # --filter: by label, full IDs printed; names from a --cidfile, the name typed.
        res = oci.cli("stop", "-t", "0", "--filter", "label=tier=x", check=True)
        assert sorted(res.stdout.split()) == sorted([ids["l-a"], ids["l-b"]])
        assert [_status(oci, n) for n in names] == ["exited", "exited", "running", "created"]
        cid = tmp_path / "cid"
        cid.write_text(ids["l-c"] + "\n")
        assert oci.cli("kill", "--cidfile", str(cid), check=True).stdout == ids["l-c"] + "\n"
        assert oci.cli("wait", "--cidfile", str(cid), check=True).stdout == "137\n"
        missing = oci.cli("stop", "--cidfile", str(tmp_path / "nope"))
        assert missing.returncode == 125 and "reading CIDFile" in missing.stderr
        assert oci.cli("stop", "--ignore", "--cidfile", str(tmp_path / "nope"),
                       check=True).stdout == ""

        # start --all starts what is not running, and prints full IDs.
        started = oci.cli("start", "--all", check=True).stdout.split()
        assert sorted(started) == sorted(ids.values())
        assert oci.cli("start", "--all", check=True).stdout == ""  # all running now
        # --latest: the container created last.
        assert oci.cli("pause", "--latest", check=True).stdout == ids["l-new"] + "\n"
        assert _status(oci, "l-new") == "paused"
        assert oci.cli("wait", "--condition", "paused", "l-new", check=True).stdout == "-1\n"
        # --all: pause only what runs, unpause only what is paused (podman).
        paused = oci.cli("pause", "--all", check=True).stdout.split()
        assert sorted(paused) == sorted(ids[n] for n in ("l-a", "l-b", "l-c"))
        assert oci.cli("unpause", "--all", check=True).stdout.split() == list(ids.values())
        state_err = oci.cli("unpause", "l-a")  # named: the wrong state is an error
        assert state_err.returncode == 125 and "not paused" in state_err.stderr
        # restart: by name (printed as typed), --running.
        assert oci.cli("restart", "-t", "0", "l-a", check=True).stdout == "l-a\n"
        assert sorted(oci.cli("restart", "--running", "-t", "0",
                              check=True).stdout.split()) == sorted(ids.values())
        # kill --all and wait on several.
        assert sorted(oci.cli("kill", "--all", check=True).stdout.split()) == \
            sorted(ids.values())
        assert oci.cli("wait", *names, check=True).stdout == "137\n" * 4

        # Unknown containers: podman's words; nothing done when one name is unknown.
        oci.cli("start", "l-a", check=True)
        for verb, code in (("stop", 125), ("kill", 125), ("pause", 125), ("start", 125),
                           ("restart", 125), ("wait", 125), ("rm", 1)):
            res = oci.cli(verb, "l-a", "ghost")
            assert res.returncode == code, (verb, res.returncode, res.stderr)
            assert res.stderr == ('Error: no container with name or ID "ghost" found: '
                                  "no such container\n"), (verb, res.stderr)
            assert res.stdout == ""
        assert _status(oci, "l-a") == "running"
        assert oci.cli("stop", "-t", "0", "-i", "ghost", "l-a", check=True).stdout == "l-a\n"
        # rm: 2 for a running container, 0 with -i or -f for unknown ones, --filter.
        oci.cli("start", "l-a", check=True)
        running = oci.cli("rm", "l-a")
        # podman names the container by its full ID here
        assert running.returncode == 2 and inspect(oci, "l-a")["Id"] in running.stderr
        for argv in (["-i", "ghost"], ["-f", "ghost"]):
            quiet = oci.cli("rm", *argv)
            assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
        gone = oci.cli("rm", "--filter", "status=exited", check=True).stdout.split()
        assert sorted(gone) == sorted(ids[n] for n in ("l-b", "l-c", "l-new"))
        assert _names(oci, "-a") == ["l-a"]
        assert oci.cli("rm", "-f", "-t", "0", "--latest", check=True).stdout == \
            ids["l-a"] + "\n"
        assert oci.cli("ps", "-aq", check=True).stdout == ""
    finally:
        rm_force(oci, *names)


def test_selection_flag_conflicts(oci: OciEnv) -> None:
    cases = [
        (["stop"], "you must provide at least one name or id"),
        (["stop", "-a", "x"], "no arguments are needed with --all"),
        (["kill", "-a", "-l"], "--all and --latest cannot be used together"),
        (["pause", "--latest", "x"], "--latest and containers cannot be used together"),
        (["rm", "--cidfile", "f", "-a"], "--all, --latest, and --cidfile cannot be used"),
        (["unpause", "--cidfile", "f", "x"], "no arguments are needed with --latest or "),
        (["restart", "-f", "name=x", "x"], "--filter takes no arguments"),
        (["start", "--all", "x"], "either start all containers or the container(s)"),
        (["wait"], 'requires a name, id, or the "--latest" flag'),
        (["rm", "-t", "1", "x"], "--force option must be specified to use the --time"),
        (["stop", "-f", "bogus=1"], "valid filters are"),
        (["wait", "--condition", "sleepy", "x"], "invalid --condition 'sleepy'"),
        (["stop", "--latest"], "--latest found no containers"),
        (["start", "-a", "--detach-keys", "bogus!!", "x"], "invalid detach key"),
    ]
    for argv, words in cases:
        res = oci.cli(*argv)
        assert res.returncode == 125 and words in res.stderr, (argv, res.stderr)
        assert res.stderr.startswith("Error: ") and "Traceback" not in res.stderr
    assert oci.cli("rm", "--latest").returncode == 1  # no such container: rm's code


def test_ps_external_is_accepted(oci: OciEnv) -> None:
    """podman's ``ps --external`` adds containers of other tools (buildah) sharing its
    storage; ipy-oci's storage has none, so it lists what ``ps`` lists."""
    try:
        _run(oci, "ext", "busybox", "sleep", "1000")
        assert _names(oci, "--external") == ["ext"]
        assert _names(oci, "-a", "--external") == ["ext"]
    finally:
        rm_force(oci, "ext")


def test_rm_depend(oci: OciEnv) -> None:
    try:
        base = oci.cli("create", *NONE, "--name", "d-base", "busybox", "true",
                       check=True).stdout.strip()
        user = oci.cli("create", "--network", "container:d-base", "--name", "d-user",
                       "busybox", "true", check=True).stdout.strip()
        res = oci.cli("rm", "d-base")
        assert res.returncode == 125 and "has dependent containers" in res.stderr
        assert "d-user" in res.stderr and "--depend" in res.stderr
        out = oci.cli("rm", "--depend", "d-base", check=True).stdout.split()
        assert out == [user, "d-base"] and base
        assert oci.cli("ps", "-aq", check=True).stdout == ""
    finally:
        rm_force(oci, "d-user", "d-base")


def test_container_aliases_and_exists(oci: OciEnv) -> None:
    try:
        cid = oci.cli("container", "run", "-d", *NONE, "--name", "al", "busybox", "sleep",
                      "1000", check=True).stdout.strip()
        assert oci.cli("container", "exists", "al").returncode == 0
        assert oci.cli("container", "exists", cid[:8]).returncode == 0
        gone = oci.cli("container", "exists", "ghost")
        assert (gone.returncode, gone.stdout, gone.stderr) == (1, "", "")
        for alias in ("ps", "ls", "list"):
            assert oci.cli("container", alias, "--format", "{{.Names}}",
                           check=True).stdout == "al\n"
        assert oci.cli("container", "inspect", "--format", "{{.Name}}", "al",
                       check=True).stdout == "al\n"
        assert oci.cli("container", "exec", "al", "echo", "hi", check=True).stdout == "hi\n"
        assert oci.cli("container", "pause", "al", check=True).stdout == "al\n"
        assert oci.cli("container", "unpause", "al", check=True).stdout == "al\n"
        assert oci.cli("container", "stop", "-t", "0", "al", check=True).stdout == "al\n"
        assert oci.cli("container", "wait", "al", check=True).stdout == "137\n"
        bad = oci.cli("container", "stop", "--bogus", "al")
        assert bad.returncode == 125 and "ipy-oci container stop: unrecognized" in bad.stderr
        helped = oci.cli("container", "stop", "--help", check=True).stdout
        assert "ipy-oci container stop" in helped
        for flag in ("--all", "--cidfile", "--filter", "--ignore", "--latest", "--time"):
            assert flag in helped
        listing = oci.cli("container", "--help", check=True).stdout
        assert "exists" in listing and "cleanup" in listing and "list" in listing
        unknown = oci.cli("container", "frobnicate")
        assert unknown.returncode == 125 and "frobnicate" in unknown.stderr
        rm1 = oci.cli("container", "rm", "ghost")
        assert rm1.returncode == 1 and "no such container" in rm1.stderr
        assert oci.cli("container", "rm", "al", check=True).stdout == "al\n"
        wait_until(lambda: oci.cli("container", "exists", "al").returncode == 1,
                   "the container to be gone")
    finally:
        rm_force(oci, "al")


def test_help_lists_every_flag_with_text(oci: OciEnv) -> None:
    flags = {
        "ps": ["--all", "--filter", "--format", "--last", "--latest", "--no-trunc",
               "--noheading", "--quiet", "--size", "--sort", "--sync"],
        "start": ["--attach", "--interactive", "--all", "--filter", "--latest"],
        "stop": ["--all", "--ignore", "--cidfile", "--time", "--filter", "--latest"],
        "restart": ["--all", "--running", "--cidfile", "--filter", "--time", "--latest"],
        "kill": ["--all", "--signal", "--cidfile", "--latest"],
        "pause": ["--all", "--cidfile", "--filter", "--latest"],
        "unpause": ["--all", "--cidfile", "--filter", "--latest"],
        "rm": ["--all", "--ignore", "--force", "--depend", "--time", "--volumes",
               "--cidfile", "--filter", "--latest"],
        "wait": ["--condition", "--interval", "--latest", "--ignore"],
    }
    for cmd, wanted in flags.items():
        text = oci.cli(cmd, "--help", check=True).stdout
        for flag in wanted:
            assert re.search(rf"(^|[ ,]){re.escape(flag)}([ ,=]|$)", text, re.M), (cmd, flag)
        # every option has a help text: after the flags, or on the next, deeper line
        opts = text.split("options:", 1)[1].splitlines()[1:]
        for i, ln in enumerate(opts):
            if not ln.startswith("  -"):
                continue
            same_line = re.search(r"\S {2,}\S", ln.strip()) is not None
            next_line = i + 1 < len(opts) and re.match(r" {8,}\S", opts[i + 1]) is not None
            assert same_line or next_line, (cmd, ln)


def test_start_filter_with_names(oci: OciEnv) -> None:
    """podman's start: names and --filter together select the names that match."""
    try:
        cid = oci.cli("run", "-d", *NONE, "--name", "sf", "busybox", "true",
                      check=True).stdout.strip()
        assert oci.cli("wait", "sf", check=True).stdout == "0\n"
        assert oci.cli("start", "--filter", "restart-policy=always", cid,
                       check=True).stdout == ""
        assert oci.cli("start", "--filter", "restart-policy=none", cid,
                       check=True).stdout == cid + "\n"
        bad = oci.cli("start", "--filter", "restart-policy=fakepolicy", cid)
        # podman's exact words (its 045-start.bats compares them)
        assert bad.returncode == 125
        assert bad.stderr == "Error: fakepolicy invalid restart policy\n"
        oci.cli("wait", "sf", check=True)
        assert oci.cli("start", "--all", "--filter", "exited=0", check=True).stdout == \
            cid + "\n"
    finally:
        rm_force(oci, "sf")
