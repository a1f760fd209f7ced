"""Issue 15's rough edges that need no container: usage messages of the shared
grammar (CLI and magics), the built-in image's creation time, offline pulls."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.errors import UsageError
from ipy_oci.grammar.parser import parse
from ipy_oci.grammar.suggest import did_you_mean
from ipy_oci.images import builtin
from ipy_oci.images.errors import RegistryUnreachable
from ipy_oci.images.pull import pull
from ipy_oci.images.skopeo import classify
from ipy_oci.images.store import ImageStore
from ipy_oci.kernel.failures import ExecInterrupted, concise, for_notebook
from ipy_oci.kernel.grammar import parse_line, tokenize


def _usage(argv: list[str], prog: str = "ipy-oci") -> str:
    with pytest.raises(UsageError) as err:
        parse(argv, prog=prog)
    return str(err.value)


def _magic_usage(line: str, prog: str = "%oci") -> str:
    with pytest.raises(UsageError) as err:
        parse_line(tokenize(line, prog), prog)
    return str(err.value)


@pytest.mark.parametrize("argv, missing", [
    (["run"], "IMAGE"), (["run", "-it"], "IMAGE"), (["create"], "IMAGE"),
    (["exec"], "CONTAINER"), (["exec", "-u", "root"], "CONTAINER"),
])
def test_only_what_is_missing_is_named(argv: list[str], missing: str) -> None:
    msg = _usage(argv)
    assert msg.startswith(f"ipy-oci {argv[0]}: the following arguments are required: "
                          f"{missing} (see 'ipy-oci {argv[0]} --help')"), msg
    assert "COMMAND" not in msg


def test_an_empty_command_is_still_valid_where_it_was() -> None:
    assert parse(["run", "busybox"]).command == []
    assert parse(["unshare"]).command == []
    assert parse(["exec", "c1"]).command == []  # exec_config names the missing command


@pytest.mark.parametrize("argv, hint", [
    (["run", "--nmae", "x", "busybox"], "did you mean --name?"),
    (["exec", "--privilegd", "c1", "ls"], "did you mean --privileged?"),
    (["ps", "--al"], "flags are never abbreviated: did you mean --all?"),
    (["exce", "c1", "ls"], "did you mean 'exec'?"),
    (["psx"], "did you mean 'ps'?"),
    (["volume", "lss"], "did you mean 'ls'?"),
    (["container", "prnue"], "did you mean 'prune'?"),
    (["ps", "--sort", "nmaes"], "did you mean 'names'?"),
])
def test_typos_get_a_did_you_mean(argv: list[str], hint: str) -> None:
    msg = _usage(argv)
    assert hint in msg, msg
    assert msg.endswith("--help')") and "\n" not in msg


def test_no_suggestion_for_words_far_from_everything() -> None:
    assert "did you mean" not in _usage(["run", "--zzzzqq", "busybox"])
    assert "did you mean" not in _usage(["qqqqxx"])
    assert "invalid choice: 'qqqqxx'" in _usage(["qqqqxx"])
    assert did_you_mean("", ["--name"]) == ""
    assert did_you_mean("--nmae", ["--name", "--nmae"]) == "did you mean --name?"


def test_magic_messages_name_the_magic_and_the_subcommand_help() -> None:
    msg = _magic_usage("exec", "%%oci")
    assert msg.startswith("%%oci exec: the following arguments are required: CONTAINER "
                          "(see '%%oci exec --help')"), msg
    msg = _magic_usage("run", "%%oci")
    assert "required: IMAGE (see '%%oci run --help')" in msg and "COMMAND" not in msg
    msg = _magic_usage("exec --timeout nan5 c1 ls")
    assert msg.startswith("%oci exec: argument --timeout") and "(see '%oci exec --help')" in msg
    msg = _magic_usage("exec --keep c1 ls")
    assert msg.startswith("%oci exec: --keep is not a flag of '%oci exec'"), msg
    # The magic-only flags are known to the "did you mean" as well.
    assert "did you mean --timeout?" in _magic_usage("exec --timout 3 c1 ls")
    assert "did you mean 'exec'?" in _magic_usage("exce c1 ls")
    assert _magic_usage("exec c1 'open", "%%oci").startswith("%%oci: cannot split")


def test_engine_hints_name_the_magic_in_a_notebook() -> None:
    commands = {"ps", "images", "rm", "image"}
    text = ("no container to act on: --latest found no containers (see 'ipy-oci ps -a'); "
            "run 'ipy-oci unshare' in a terminal; 'ipy-oci image prune -a'")
    assert for_notebook(text, commands) == (
        "no container to act on: --latest found no containers (see '%oci ps -a'); "
        "run 'ipy-oci unshare' in a terminal; '%oci image prune -a'")
    line = concise(UsageError("x (see 'ipy-oci ps -a')"), commands)._render_traceback_()  # type: ignore[attr-defined]
    assert line[0].endswith("UsageError\x1b[0m: x (see '%oci ps -a')")
    # The class names what happened; the message does not say it again.
    exc = concise(ExecInterrupted("the cell (sh) in container c was stopped", 130))
    assert exc._render_traceback_()[0].count("nterrupted") == 1  # type: ignore[attr-defined]


def test_builtin_image_is_created_when_its_busybox_was(tmp_path: Path) -> None:
    if not builtin.BUSYBOX_PATH.is_file():
        pytest.skip("no busybox-static on this host")
    mtime = int(os.stat(builtin.BUSYBOX_PATH).st_mtime)
    expected = datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config: dict[str, Any] = json.loads(builtin.build_blobs().config)
    assert config["created"] == expected and config["history"][0]["created"] == expected
    image = ImageStore(tmp_path / "store").ensure_builtin()
    assert image.created == expected and not expected.startswith("1970")


def test_unreachable_registry_is_one_line_naming_it() -> None:
    stderr = ('time="x" level=fatal msg="pinging container registry registry-1.docker.io: '
              'Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup '
              'registry-1.docker.io on 10.0.0.53:53: no such host"')
    err = classify(stderr, "reading the manifest of docker.io/library/alpine:latest",
                   "docker.io")
    assert isinstance(err, RegistryUnreachable)
    assert str(err) == ("reading the manifest of docker.io/library/alpine:latest: cannot "
                        "reach registry docker.io (no such host)")


def test_offline_pull_says_busybox_works(tmp_path: Path) -> None:
    """A real skopeo against a closed loopback port: the pull fails at once."""
    store = ImageStore(tmp_path / "store")
    with pytest.raises(RegistryUnreachable) as err:
        pull(store, "127.0.0.1:9/x:1")
    msg = str(err.value)
    assert "cannot reach registry 127.0.0.1:9 (" in msg and "\n" not in msg
    assert msg.endswith("; the built-in image 'busybox' works offline")

