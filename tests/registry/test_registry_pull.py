"""Pulling from a real registry on 127.0.0.1 and running what was pulled."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Pushed

from ipy_oci.engine import images as eng
from ipy_oci.errors import ImageError, NoSuchImage
from ipy_oci.images.errors import (
    DigestMismatch,
    ManifestUnknown,
    NoMatchingPlatform,
    RegistryUnreachable,
)
from ipy_oci.images.progress import PullEvent, PullTracker
from ipy_oci.images.pull import PullOptions


def _layer_state(root: Path) -> dict[str, int]:
    """Each extracted layer dir and its inode: a re-extraction would change it."""
    layers = root / "layers"
    return {p.name: p.stat().st_ino for p in layers.iterdir()} if layers.is_dir() else {}


def _run(oci: Any, image: str, script: str) -> str:
    res = oci.cli("run", "--rm", image, "/bin/sh", "-c", script)
    assert res.returncode == 0, res.stderr
    return str(res.stdout)


def test_pull_and_run_applies_whiteouts(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    events: list[PullEvent] = []
    img = eng.pull_image(rt, pushed.refs["layered"], progress=events.append)
    assert img.names == (pushed.refs["layered"],)
    assert img.digest == pushed.digests["layered"]
    assert img.id == pushed.images["layered"].config_digest.partition(":")[2]
    assert len(img.layer_dirs) == 3
    # The progress API saw the plan, every layer arrive and get extracted, and the end.
    tracker = PullTracker()
    for ev in events:
        tracker.update(ev)
    assert tracker.image_id == "sha256:" + img.id
    assert len(tracker.layers) == 3
    assert {s.status for s in tracker.layers.values()} == {"extracted"}
    out = _run(oci, pushed.refs["layered"],
               "cat /etc/keep /etc/new; echo; test -e /etc/gone || echo NOGONE; ls -a /opq")
    assert out.startswith("keepnew\nNOGONE\n")
    # old1, sub/ and mid are hidden by the opaque directory; only the top layer's file stays.
    assert sorted(out.split("\n", 2)[2].split()) == [".", "..", "fresh"]


def test_second_container_and_image_extract_nothing_new(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    eng.pull_image(rt, pushed.refs["layered"])
    before = _layer_state(oci.root)
    assert len(before) == 3
    for _ in range(2):
        _run(oci, pushed.refs["layered"], "test -e /etc/keep")
    assert _layer_state(oci.root) == before  # same dirs, same inodes: nothing re-extracted
    events: list[PullEvent] = []
    img = eng.pull_image(rt, pushed.refs["sharing"], progress=events.append)
    after = _layer_state(oci.root)
    assert {k: after[k] for k in before} == before
    assert len(after) == 4  # only the one new layer
    statuses = {e.digest: e.status for e in events if e.kind == "layer"}
    shared = [str(d) for d in img.layer_dirs[:2]]
    assert all(Path(p).name in before for p in shared)
    # The two shared blobs were not downloaded again.
    assert sorted(statuses.values()).count("exists") == 2
    assert _run(oci, pushed.refs["sharing"], "cat /own /etc/keep") == "ownkeep"


def test_pull_by_digest_and_repo_digests(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    name = pushed.refs["layered"].rsplit(":", 1)[0]
    by_digest = f"{name}@{pushed.digests['layered']}"
    img = eng.pull_image(rt, by_digest)
    assert img.names == ()
    assert by_digest in img.repo_digests
    assert rt.images.lookup(by_digest).id == img.id
    assert eng.ensure_image(rt, by_digest, "never").id == img.id
    out = oci.cli_bytes("images", "--format", "json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [i["Id"] for i in listed] == [img.id] and listed[0]["RepoDigests"] == [by_digest]
    bad = f"{name}@sha256:{'0' * 64}"
    with pytest.raises(ManifestUnknown):
        eng.pull_image(rt, bad)


def test_docker_schema2_keeps_its_digest(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    img = eng.pull_image(rt, pushed.refs["docker"])
    assert img.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    # The registry's digest, not the digest of a converted manifest.
    assert f"{pushed.refs['docker'].rsplit(':', 1)[0]}@{img.digest}" in img.repo_digests
    assert img.id == pushed.images["docker"].config_digest.partition(":")[2]
    assert _run(oci, img.id, "cat /hello") == "docker schema2"


def test_zstd_layers(oci: Any, pushed: Pushed) -> None:
    pytest.importorskip("zstandard")
    img = eng.pull_image(oci.runtime(), pushed.refs["zstd"])
    assert _run(oci, img.id, "cat /hello") == "zstd"


def test_manifest_list_platforms(oci: Any, pushed: Pushed) -> None:
    from ipy_oci.images.builtin import host_platform

    rt = oci.runtime()
    host_arch = host_platform()[0]
    native = eng.pull_image(rt, pushed.refs["multi"])
    assert native.config["architecture"] == host_arch
    assert f"{pushed.refs['multi'].rsplit(':', 1)[0]}@{pushed.digests['multi']}" in \
        native.repo_digests  # the list digest is known too
    other = "arm64" if host_arch == "amd64" else "amd64"
    foreign = eng.pull_image(rt, pushed.refs["multi"], PullOptions(platform=f"linux/{other}"))
    assert foreign.config["architecture"] == other
    assert (foreign.layer_dirs[-1] / "platform").read_text() == other
    # The name moved to the image pulled last, as with podman.
    assert rt.images.lookup(pushed.refs["multi"]).id == foreign.id
    if host_arch == "amd64":
        assert _run(oci, native.id, "cat /platform") == "amd64"
    with pytest.raises(NoMatchingPlatform, match=r"no image for linux/s390x.*linux/amd64, "
                       r"linux/arm64/v8"):
        eng.pull_image(rt, pushed.refs["multi"], PullOptions(platform="linux/s390x"))
    res = oci.cli_bytes("pull", "-q", "--platform", "linux/s390x", pushed.refs["multi"])
    assert res.returncode == 125 and b"no image for linux/s390x" in res.stderr


def test_pull_policies(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    ref = pushed.refs["layered"]
    with pytest.raises(NoSuchImage):
        eng.ensure_image(rt, ref, "never")
    img = eng.ensure_image(rt, ref, "missing")
    events: list[PullEvent] = []
    assert eng.ensure_image(rt, ref, "missing", progress=events.append).id == img.id
    assert events == []  # present: no registry traffic at all
    assert eng.ensure_image(rt, ref, "always", progress=events.append).id == img.id
    assert [e.kind for e in events][0] == "trying"
    assert eng.ensure_image(rt, "busybox", "missing").names == ("localhost/busybox:latest",)


def test_short_names_use_search_registries(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    rt.config.unqualified_registries = ["127.0.0.1:1", pushed.host]
    events: list[PullEvent] = []
    img = eng.pull_image(rt, "test/layered:1", progress=events.append)
    assert img.names == (pushed.refs["layered"],)
    tried = [e.ref for e in events if e.kind == "trying"]
    assert tried == ["127.0.0.1:1/test/layered:1", pushed.refs["layered"]]
    assert any(e.kind == "warning" and "cannot reach" in e.text for e in events)
    assert rt.images.lookup("test/layered:1").id == img.id
    rt.config.unqualified_registries = [pushed.host]
    with pytest.raises(ManifestUnknown, match="not found"):
        eng.pull_image(rt, "test/nosuch")


@pytest.mark.parametrize("key,match", [
    ("bad-diffid", "uncompresses to .* but the image config says"),
    ("bad-tar", "corrupt layer tarball"),
])
def test_corrupt_layers_fail_cleanly(oci: Any, pushed: Pushed, key: str, match: str) -> None:
    rt = oci.runtime()
    with pytest.raises(ImageError, match=match):
        eng.pull_image(rt, pushed.refs[key])
    assert rt.images.list() == []
    assert _layer_state(oci.root) == {}
    assert list((oci.root / "images" / "tmp").iterdir()) == []


def test_tampered_blob_is_a_digest_mismatch(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    with pytest.raises(DigestMismatch, match="does not match its digest"):
        eng.pull_image(rt, pushed.refs["tampered"])
    assert rt.images.list() == []
    res = oci.cli_bytes("pull", pushed.refs["tampered"])
    assert res.returncode == 125 and b"digest" in res.stderr


def test_bad_input_errors_exit_125(oci: Any, pushed: Pushed) -> None:
    cases = {
        (f"{pushed.host}/test/layered:nosuchtag",): b"not found in registry",
        (f"{pushed.host}/test/nosuchrepo:1",): b"not found in registry",
        ("127.0.0.1:1/test/x:1",): b"cannot reach registry 127.0.0.1:1",
        ("--tls-verify=true", pushed.refs["layered"]): b"speaks plain HTTP",
        ("--platform", "linux/", pushed.refs["layered"]): b"invalid platform",
        ("0" * 64,): b"is an image ID",
    }
    for args, message in cases.items():
        res = oci.cli_bytes("pull", "-q", *args)
        assert res.returncode == 125, (args, res.stderr)
        assert message in res.stderr, (args, res.stderr)
        assert b"Traceback" not in res.stderr
    with pytest.raises(RegistryUnreachable):
        eng.pull_image(oci.runtime(), "127.0.0.1:1/test/x:1")


def test_cli_pull_prints_progress_lines_and_the_id(oci: Any, pushed: Pushed) -> None:
    res = oci.cli_bytes("pull", pushed.refs["layered"])
    assert res.returncode == 0, res.stderr
    img_id = res.stdout.decode().strip()
    assert len(img_id) == 64
    err = res.stderr.decode()
    assert f"Trying to pull {pushed.refs['layered']}..." in err
    assert err.count("Copying blob") >= 3 and "Extracting layer" in err
    assert "\x1b[" not in err  # no terminal: plain lines
    res = oci.cli_bytes("images", "--digests")
    assert res.returncode == 0
    line = next(x for x in res.stdout.decode().splitlines() if "test/layered" in x)
    assert pushed.digests["layered"] in line and img_id[:12] in line
    assert os.listdir(oci.root / "images" / "tmp") == []


def test_concurrent_pulls_of_one_image(oci: Any, pushed: Pushed) -> None:
    import subprocess
    import sys


    procs = [subprocess.Popen([sys.executable, "-m", "ipy_oci", "pull", "-q",
                               pushed.refs["layered"]], env=oci.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(3)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    assert all(rc == 0 for rc, _out, _err in results), results
    ids = {out.strip() for _rc, out, _err in results}
    assert len(ids) == 1
    assert [i.id.encode() for i in oci.runtime().images.list()] == list(ids)
    assert len(_layer_state(oci.root)) == 3
    assert os.listdir(oci.root / "images" / "tmp") == []
    assert not [p for p in (oci.root / "layers").iterdir() if p.name.startswith(".")]
