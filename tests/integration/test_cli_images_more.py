"""``images`` filters, sorting and templates, ``image history``, ``image inspect
--format`` and the ``image X`` aliases, on the built-in image and imported ones
(push to a registry: tests/registry/test_registry_push.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import OciEnv, files_tar

from ipy_oci.images import builtin


def ok(oci: OciEnv, *args: str) -> str:
    res = oci.cli(*args)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return res.stdout


@pytest.fixture
def two_images(oci: OciEnv, tmp_path: Path) -> str:
    """busybox (built in, created at the epoch) and a labelled import (created now);
    returns the import's ID."""
    ok(oci, "image", "inspect", "busybox")  # the built-in image exists from its first use
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(files_tar({"hello": b"hi"}))
    return ok(oci, "import", "-c", "LABEL tier=web", "-c", "LABEL ver=2",
              "-m", "imported for a test", str(tar), "localhost/imp:v1").strip()


def test_images_filters(oci: OciEnv, two_images: str) -> None:
    def names(*args: str) -> list[str]:
        return ok(oci, "images", *args, "--format", "{{.Repository}}:{{.Tag}}").split()

    assert names() == ["localhost/imp:v1", "localhost/busybox:latest"]  # newest first
    assert names("--filter", "reference=busybox") == ["localhost/busybox:latest"]
    assert names("--filter", "reference=localhost/im*") == ["localhost/imp:v1"]
    assert names("busybox") == ["localhost/busybox:latest"]  # the positional form
    assert names("--filter", "label=tier") == ["localhost/imp:v1"]
    assert names("--filter", "label=tier=web", "--filter", "label=ver=2") == [
        "localhost/imp:v1"]
    assert names("--filter", "label=tier=db") == []
    assert names("--filter", "label!=tier") == ["localhost/busybox:latest"]
    assert names("--filter", "before=localhost/imp:v1") == ["localhost/busybox:latest"]
    assert names("--filter", "since=busybox") == ["localhost/imp:v1"]
    assert names("--filter", "after=busybox") == ["localhost/imp:v1"]
    assert names("--filter", f"id={two_images[:8]}") == ["localhost/imp:v1"]
    assert names("--filter", "dangling=false") == names()
    assert names("--filter", "dangling=true") == []
    ok(oci, "untag", "localhost/imp:v1")
    assert names("--filter", "dangling=true") == ["<none>:<none>"]


def test_images_templates_sort_and_flags(oci: OciEnv, two_images: str) -> None:
    long_tag = "longtag-0123456"  # wider than the minimum column (12), as podman's test
    ok(oci, "tag", "busybox", "a.b/c:d", f"zzzzzzzzzz.yyyy/xxxx:{long_tag}")
    out = ok(oci, "images", "--sort", "repository", "--format",
             "table {{.Repository}} {{.Tag}} {{.ID}}")
    lines = out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID"]
    busy = ok(oci, "inspect", "--format", "{{.Id}}", "busybox").strip()[:12]
    # podman's alignment: columns padded to the widest cell plus two spaces.
    width = len("zzzzzzzzzz.yyyy/xxxx")
    tw = len(long_tag)
    assert lines[1:] == [
        f"{'a.b/c':<{width}}  {'d':<{tw}}  {busy}",
        f"{'localhost/busybox':<{width}}  {'latest':<{tw}}  {busy}",
        f"{'localhost/imp':<{width}}  {'v1':<{tw}}  {two_images[:12]}",
        f"{'zzzzzzzzzz.yyyy/xxxx':<{width}}  {long_tag:<{tw}}  {busy}"]
    assert ok(oci, "images", "--sort", "tag", "--format", "{{.Tag}}").split() == [
        "d", "latest", long_tag, "v1"]
    sizes = ok(oci, "images", "--sort", "size", "--format", "{{.VirtualSize}}").split()
    assert [int(s) for s in sizes] == sorted(int(s) for s in sizes)
    ids = ok(oci, "images", "--sort", "id", "--format", "{{.ID}}").split()
    assert ids == sorted(ids)
    # The fields podman documents, with its words.
    row = ok(oci, "images", "--filter", "reference=localhost/imp", "--format",
             "{{.ID}}|{{.ID|upper}}|{{.Repository}}|{{.Tag}}|{{.Size}}|{{.CreatedSince}}|"
             "{{.CreatedAt}}|{{.Containers}}|{{.ReadOnly}}|{{.Labels.tier}}|{{.Names}}|"
             "{{.Dangling}}|{{.History}}|{{.Digest}}").strip().split("|")
    assert row[0] == two_images[:12] and row[1] == two_images[:12].upper()
    assert row[2:4] == ["localhost/imp", "v1"]
    assert re.fullmatch(r"[0-9.]+ [kMG]?B", row[4]), row[4]
    assert row[5].endswith(" ago")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", row[6])
    assert row[7:13] == ["0", "false", "web", "[localhost/imp:v1]", "false",
                         "localhost/imp:v1"]
    assert row[13].startswith("sha256:")
    assert ok(oci, "images", "--no-trunc", "--format", "{{.ID}}",
              "localhost/imp").strip() == f"sha256:{two_images}"
    # -q: one line per image, not per name; --no-trunc as podman's.
    assert len(ok(oci, "images", "-q").split()) == 2
    assert f"sha256:{two_images}" in ok(oci, "images", "-q", "--no-trunc").split()
    # Defaults, --digests, --noheading, --history, json.
    header = ok(oci, "images", "--digests").splitlines()[0].split()
    assert header == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert len(ok(oci, "images", "-n").splitlines()) == 4
    assert ok(oci, "images", "--history").splitlines()[0].split()[-1] == "HISTORY"
    js = json.loads(ok(oci, "images", "--format", "json"))
    imp = next(i for i in js if i["Id"] == two_images)
    assert imp["Labels"] == {"tier": "web", "ver": "2"} and isinstance(imp["Size"], int)
    # The aliases podman has.
    assert ok(oci, "image", "ls", "-q") == ok(oci, "image", "list", "-q") == \
        ok(oci, "images", "-q")
    assert oci.cli("image", "exists", "localhost/imp:v1").returncode == 0
    assert oci.cli("image", "exists", "localhost/nosuch").returncode == 1
    assert ok(oci, "image", "inspect", "--format", "{{.Id}} {{.Labels.ver}}",
              "localhost/imp:v1") == f"{two_images} 2\n"
    ok(oci, "image", "rm", "a.b/c:d", f"zzzzzzzzzz.yyyy/xxxx:{long_tag}")


def test_history(oci: OciEnv, two_images: str) -> None:
    out = ok(oci, "image", "history", "localhost/imp:v1")
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert len(rows) == 1 and rows[0].startswith(two_images[:12])
    assert "imported for a test" in rows[0]
    js = json.loads(ok(oci, "history", "--format", "json", "localhost/imp:v1"))
    assert js[0]["id"] == two_images and js[0]["comment"] == "imported for a test"
    assert js[0]["tags"] == ["localhost/imp:v1"] and js[0]["size"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", js[0]["created"])
    assert ok(oci, "history", "-q", "--no-trunc", "localhost/imp:v1") == f"{two_images}\n"
    when = ok(oci, "history", "--human=false", "--format", "{{.Created}}", "busybox")
    assert when == builtin.created_at() + "\n"  # the busybox binary's mtime
    by = ok(oci, "history", "--format", "{{.CreatedBy}}", "busybox").strip()
    full = ok(oci, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "busybox").strip()
    assert len(by) <= 45 and (by == full or (by.endswith("...") and full.startswith(by[:-3])))
    assert ok(oci, "history", "--format", "{{.ID}} {{.Size}}", "busybox").split()[0] == \
        ok(oci, "images", "--format", "{{.ID}}", "busybox").strip()


@pytest.mark.parametrize(("args", "words"), [
    (["images", "--filter", "bogus=1"], "invalid image filter"),
    (["images", "--filter", "dangling=maybe"], "true or false"),
    (["images", "--filter", "before=nosuch"], "not known"),
    (["images", "--filter", "until=yesterday"], "invalid time"),
    (["images", "--sort", "bogus"], "invalid choice"),
    (["images", "busybox", "--filter", "dangling=true"], "cannot specify an image and a"),
    (["images", "--format", "{{.Nope}}"], "can't evaluate field Nope"),
    (["history", "nosuch"], "not known"),
    (["history", "--format", "{{.Nope}}", "busybox"], "can't evaluate field Nope"),
    (["history", "--human=maybe", "busybox"], "invalid boolean"),
    (["image", "inspect", "--format", "{{.Nope}}", "busybox"], "can't evaluate field Nope"),
    (["push", "busybox"], "name the registry to push to"),
    (["push", "busybox", "plainname"], "name the registry to push to"),
    (["push", "busybox", "127.0.0.1:9/x:1", "--format", "v3"], "invalid choice"),
    (["push", "nosuch", "127.0.0.1:9/x:1"], "not known"),
    (["push", "busybox", "127.0.0.1:9/x:1"], "cannot reach registry 127.0.0.1:9"),
    (["image"], "missing subcommand"),
])
def test_bad_input(oci: OciEnv, args: list[str], words: str) -> None:
    ok(oci, "image", "exists", "busybox")  # so there is an image to list
    res = oci.cli(*args)
    assert res.returncode == 125, (args, res.stdout, res.stderr)
    assert words in res.stderr, res.stderr
    assert not list((oci.root / "images" / "tmp").glob("work-*"))  # no scratch left
