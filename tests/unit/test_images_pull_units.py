"""Pieces of pulling that need no registry: platforms, references, skopeo's output
and errors, progress rendering."""

from __future__ import annotations

import io

import pytest

from ipy_oci.cli.pull_progress import TerminalProgress, cli_progress
from ipy_oci.engine.views import LinePrinter
from ipy_oci.errors import ImageError, UsageError
from ipy_oci.images import refs
from ipy_oci.images.errors import (
    DigestMismatch,
    ManifestUnknown,
    NoMatchingPlatform,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
)
from ipy_oci.images.platforms import Platform, matches, parse_platform, select_manifest
from ipy_oci.images.progress import LayerInfo, PullEvent, PullTracker
from ipy_oci.images.skopeo import _parse_line, classify

INDEX = {"manifests": [
    {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:arm7", "platform": {"os": "linux", "architecture": "arm",
                                            "variant": "v7"}},
    {"digest": "sha256:arm64", "platform": {"os": "linux", "architecture": "arm64"}},
    {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
]}


@pytest.mark.parametrize("text,expected", [
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
    ("arm64", Platform("linux", "arm64")),
])
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("bad", ["", "linux/", "/amd64", "a/b/c/d"])
def test_bad_platforms(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid platform"):
        parse_platform(bad)


def test_select_manifest() -> None:
    assert select_manifest(INDEX, Platform("linux", "amd64"), "x")["digest"] == "sha256:amd"
    # No variant in the list means arm64's default, v8; aarch64 is an alias.
    assert select_manifest(INDEX, Platform("linux", "aarch64", "v8"), "x")["digest"] == \
        "sha256:arm64"
    assert select_manifest(INDEX, Platform("linux", "arm"), "x")["digest"] == "sha256:arm7"
    with pytest.raises(NoMatchingPlatform, match=r"x has no image for linux/arm/v6: it offers "
                       r"linux/amd64, linux/arm/v7, linux/arm64$|choose one"):
        select_manifest(INDEX, Platform("linux", "arm", "v6"), "x")
    assert matches(Platform("linux", "amd64", "v3"), Platform("linux", "amd64"))
    assert not matches(Platform("windows", "amd64"), Platform("linux", "amd64"))


def test_pull_candidates() -> None:
    regs = ["docker.io", "quay.io"]
    assert [str(r) for r in refs.pull_candidates("alpine", regs)] == [
        "docker.io/library/alpine:latest", "quay.io/alpine:latest"]
    assert [str(r) for r in refs.pull_candidates("127.0.0.1:5000/a/b:1", regs)] == [
        "127.0.0.1:5000/a/b:1"]
    with pytest.raises(ImageError, match="image ID"):
        refs.pull_candidates("a" * 64, regs)
    with pytest.raises(ImageError, match="no unqualified-search registries"):
        refs.pull_candidates("alpine", [])


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1:5000", True), ("localhost", True), ("localhost:80", True), ("[::1]:5000", True),
    ("127.1.2.3", True), ("docker.io", False), ("127.example.com", False),
    ("10.0.0.1:5000", False),
])
def test_loopback_registries(host: str, loopback: bool) -> None:
    assert refs.is_loopback_registry(host) is loopback


@pytest.mark.parametrize("stderr,cls,words", [
    ('time="x" level=fatal msg="reading manifest 1 in r/x: manifest unknown: manifest unknown"',
     ManifestUnknown, "not found in registry"),
    ('level=fatal msg="pinging container registry h: Get \\"https://h/v2/\\": http: server gave '
     'HTTP response to HTTPS client"', RegistryUnreachable, "--tls-verify=false"),
    ('level=fatal msg="pinging container registry h: dial tcp 1.2.3.4:1: connect: connection '
     'refused"', RegistryUnreachable, "cannot reach registry"),
    ('level=fatal msg="reading manifest 1 in h/x: unauthorized: authentication required"',
     RegistryAuthError, "ipy-oci login h"),
    ('level=fatal msg="writing blob: Digest did not match, expected sha256:a, got sha256:b"',
     DigestMismatch, "tampered"),
    ("Error: something else entirely\n", RegistryError, "something else entirely"),
])
def test_classify_skopeo_errors(stderr: str, cls: type, words: str) -> None:
    err = classify(stderr, "pulling h/x:1", "h")
    assert type(err) is cls
    assert words in str(err) and str(err).startswith("pulling h/x:1")


def test_parse_skopeo_progress_lines() -> None:
    seen: list[tuple[str, str, int]] = []

    def on(prefix: str, status: str, done: int) -> None:
        seen.append((prefix, status, done))

    for line in ("Copying blob 4527f73c47c8 [=======>------] 29.7MiB / 30.0MiB",
                 "Copying blob 4527f73c47c8 done  ",
                 "Copying blob 5d2261c4689e skipped: already exists  ",
                 "Copying blob sha256:aaaaaaaaaaaa1111",
                 "Copying config 1165aa248a [====] 233.0b / 233.0b",
                 "Writing manifest to image destination"):
        _parse_line(line, on)
    assert seen == [("4527f73c47c8", "downloading", int(29.7 * (1 << 20))),
                    ("4527f73c47c8", "downloaded", 0),
                    ("5d2261c4689e", "exists", 0),
                    ("aaaaaaaaaaaa", "downloading", 0)]


def _events() -> list[PullEvent]:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    return [
        PullEvent("trying", "r/x:1", text="Trying to pull r/x:1..."),
        PullEvent("resolved", "r/x:1", digest="sha256:" + "c" * 64,
                  layers=(LayerInfo(a, 2000, "t"), LayerInfo(b, 10, "t"))),
        PullEvent("layer", "r/x:1", digest=b, status="exists", current=10, total=10),
        PullEvent("layer", "r/x:1", digest=a, status="downloading", current=500, total=2000),
        PullEvent("layer", "r/x:1", digest=a, status="downloading", current=900, total=2000),
        PullEvent("layer", "r/x:1", digest=a, status="downloaded", current=2000, total=2000),
        PullEvent("writing", "r/x:1"),
        PullEvent("layer", "r/x:1", digest=a, status="extracting", current=2000, total=2000),
        PullEvent("layer", "r/x:1", digest=a, status="extracted", current=2000, total=2000),
        PullEvent("done", "r/x:1", digest="sha256:" + "d" * 64),
    ]


def test_tracker_and_plain_lines() -> None:
    out = io.StringIO()
    printer = LinePrinter(out)
    tracker = PullTracker()
    for ev in _events():
        printer(ev)
        tracker.update(ev)
    assert out.getvalue().splitlines() == [
        "Trying to pull r/x:1...",
        f"Resolved r/x:1 to sha256:{'c' * 64}",
        "Copying blob bbbbbbbbbbbb skipped: already exists",
        "Copying blob aaaaaaaaaaaa (2 kB)",  # once, not per byte count
        "Copying blob aaaaaaaaaaaa done",
        "Writing manifest to image destination",
        "Extracting layer aaaaaaaaaaaa",
        "Extracting layer aaaaaaaaaaaa done",
    ]
    assert tracker.image_id == "sha256:" + "d" * 64
    assert tracker.done_bytes == tracker.total_bytes == 2010


def test_terminal_bars() -> None:
    out = io.StringIO()
    bars = TerminalProgress(out)
    for ev in _events():
        bars(ev)
    text = out.getvalue()
    assert "\x1b[2A" in text  # the two layer lines are redrawn in place
    last = text.rsplit("\x1b[J", 1)[1]
    assert "aaaaaaaaaaaa Extracted" in last and "2 kB / 2 kB" in last
    assert "bbbbbbbbbbbb Already exists" in last


def test_cli_progress_choice() -> None:
    assert cli_progress(io.StringIO(), quiet=True) is None
    assert isinstance(cli_progress(io.StringIO()), LinePrinter)


def test_image_commands_parse_and_have_handlers() -> None:
    import argparse

    from ipy_oci.cli.commands_images import HANDLERS
    from ipy_oci.grammar.parser_images import IMAGE_COMMANDS, add_image_commands
    from ipy_oci.kernel.commands_images import IMAGE_HANDLERS

    root = argparse.ArgumentParser()
    sub = root.add_subparsers(dest="cmd")
    add_image_commands(sub, lambda name, help, add_help=True: sub.add_parser(name, help=help))
    assert set(sub.choices) == set(IMAGE_COMMANDS) == set(HANDLERS) == set(IMAGE_HANDLERS)
    args = root.parse_args(["pull", "--tls-verify=false", "--platform", "linux/arm64", "r/x"])
    assert (args.tls_verify, args.platform, args.image) == (False, "linux/arm64", "r/x")
    args = root.parse_args(["image", "ls", "--digests"])
    assert (args.icmd, args.digests) == ("ls", True)
    assert root.parse_args(["save", "x"]).format == "docker-archive"
    assert root.parse_args(["rmi", "-f", "a", "b"]).images == ["a", "b"]
