"""The build driver's pure parts: the Containerfile's stages and base images, the
grammar of ``build`` and ``image build``, and buildah's command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipy_oci.errors import UsageError
from ipy_oci.grammar.parser import parse
from ipy_oci.images.buildah import BuildahBuild, BuildahStorage, base_images, parse_stages


def bases(text: str, args: dict[str, str] | None = None, target: str | None = None
          ) -> list[str]:
    return base_images(parse_stages(text, args or {}), target)


def test_stages_and_base_images() -> None:
    text = """\
# escape=\\
ARG REG=127.0.0.1:5000
ARG TAG
FROM --platform=linux/amd64 ${REG}/base:${TAG:-1} AS build
COPY --from=tools:2 /x /x
RUN echo \\
    FROM notanimage
from build as second
COPY --from=build /a /a
COPY --from=0 /b /b
FROM scratch
FROM $UNSET_ARG
"""
    assert bases(text) == ["127.0.0.1:5000/base:1", "tools:2"]
    assert bases(text, {"TAG": "7", "REG": "r.example"}) == ["r.example/base:7", "tools:2"]
    assert bases(text, target="build") == ["127.0.0.1:5000/base:1", "tools:2"]
    assert [s.name for s in parse_stages(text, {})] == ["build", "second", None, None]


def test_stage_errors() -> None:
    with pytest.raises(UsageError, match="no FROM instruction"):
        parse_stages("RUN true\n", {})
    with pytest.raises(UsageError, match="FROM without an image"):
        parse_stages("FROM\n", {})
    with pytest.raises(UsageError, match=r"no stage of that name \(named stages: a\)"):
        bases("FROM busybox AS a\nFROM a\n", target="b")


def test_grammar() -> None:
    args = parse(["build", "-t", "a", "-t", "b:1", "--build-arg", "K=V", "--layers=false",
                  "--pull", "--network", "none", "-q", "ctx"])
    assert (args.cmd, args.tag, args.build_arg, args.layers, args.pull, args.network,
            args.quiet, args.context) == ("build", ["a", "b:1"], ["K=V"], False, "always",
                                          "none", True, "ctx")
    assert parse(["image", "build", "--pull=never", "."]).pull == "never"
    assert parse(["build", "."]).pull == "missing" and parse(["build", "."]).layers is True
    with pytest.raises(UsageError, match="ipy-oci image build: unrecognized arguments"):
        parse(["image", "build", "--bogus", "."])
    with pytest.raises(UsageError, match="invalid --pull 'newer'"):
        parse(["build", "--pull=newer", "."])


def test_buildah_argv(tmp_path: Path) -> None:
    storage = BuildahStorage(tmp_path / "b", tmp_path / "r", binary="/usr/bin/buildah")
    job = BuildahBuild(containerfile=tmp_path / "Containerfile", context=tmp_path,
                       build_args={"K": "V"}, target="t", no_cache=True, layers=False,
                       network="none")
    argv = job.argv(storage)
    assert argv[1] == "--net" and argv[2] == "/usr/bin/buildah"  # unshare --net buildah
    assert argv[3:9] == ["--root", str(tmp_path / "b" / "storage"), "--runroot",
                         str(tmp_path / "r"), "--storage-driver", "vfs"]
    for flags in (["--isolation", "chroot"], ["--pull=never"], ["--layers=false"],
                  ["--rm", "--force-rm"], ["--no-cache"], ["--target", "t"],
                  ["--build-arg", "K=V"]):
        i = argv.index(flags[0])
        assert argv[i:i + len(flags)] == flags
    assert argv[-1] == str(tmp_path)
    host = BuildahBuild(containerfile=tmp_path / "C", context=tmp_path).argv(storage)
    assert host[0] == "/usr/bin/buildah" and "--rm" in host  # --layers is the default
