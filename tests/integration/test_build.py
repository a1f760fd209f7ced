"""``ipy-oci build`` through buildah: offline from the built-in busybox, stages, tags,
build args, targets, failures that name the step, bad input, and nothing left in
buildah's storage afterwards (real buildah, skopeo and runc; nothing mocked)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from helpers import OciEnv, wait_until
from leaks import leaked_processes

TWO_STAGES = """\
# a comment, and a continued line below
ARG BASE=busybox
FROM $BASE AS b
ARG MSG=default
RUN echo "made with $MSG" > /made && \\
    cat /made
FROM ${BASE}
COPY --from=b /made /made
CMD ["cat", "/made"]
"""


def buildah_containers(oci: OciEnv) -> list[str]:
    """Working containers in the build storage: a build must leave none."""
    res = subprocess.run(["buildah", "--root", str(oci.root / "buildah" / "storage"),
                          "--runroot", str(oci.runroot / "buildah"), "--storage-driver",
                          "vfs", "containers", "-q"], capture_output=True, text=True,
                         check=True)
    return res.stdout.split()


def context(tmp_path: Path, text: str, name: str = "Containerfile") -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / name).write_text(text)
    return ctx


def image_ids(oci: OciEnv) -> list[str]:
    """Every image's ID, the built-in busybox made first (it appears on first use)."""
    oci.cli("image", "exists", "busybox", check=True)
    out = oci.cli("images", "-q", "--no-trunc", check=True).stdout
    return [i.removeprefix("sha256:") for i in out.split()]


def test_two_stage_build_with_tags_and_args_runs(oci: OciEnv, tmp_path: Path) -> None:
    ctx = context(tmp_path, TWO_STAGES)
    res = oci.cli("build", "--network", "none", "-t", "made", "-t", "made:v2",
                  "--build-arg", "MSG=an arg", str(ctx), check=True)
    lines = res.stdout.splitlines()
    assert "[1/2] STEP 1/3: FROM busybox AS b" in lines
    assert "made with an arg" in lines  # the RUN step's own output, passed through
    assert "Successfully tagged localhost/made:latest" in lines
    image_id = lines[-1]
    assert len(image_id) == 64
    inspect = oci.cli("image", "inspect", "--format", "{{.Id}} {{.RepoTags}}", "made",
                      check=True).stdout
    assert inspect.split()[0] == image_id
    assert "localhost/made:latest" in inspect and "localhost/made:v2" in inspect
    run = oci.cli("run", "--rm", "--network", "none", "made:v2", check=True)
    assert run.stdout == "made with an arg\n"  # the image's CMD
    assert buildah_containers(oci) == []
    assert not list((oci.root / "images" / "tmp").glob("work-*"))

    # Again, cached (--layers is the default): the same image; -q prints only its ID.
    again = oci.cli("image", "build", "-q", "--network", "none", "-t", "made",
                    "--build-arg", "MSG=an arg", str(ctx), check=True)
    assert again.stdout == image_id + "\n"


def test_target_stage_untagged_and_dockerfile(oci: OciEnv, tmp_path: Path) -> None:
    ctx = context(tmp_path, TWO_STAGES, name="Dockerfile")  # the fallback name
    before = image_ids(oci)
    res = oci.cli("build", "-q", "--network", "none", "--target", "b", "--layers=false",
                  str(ctx), check=True)
    image_id = res.stdout.strip()
    assert image_id in image_ids(oci) and image_id not in before
    names = oci.cli("image", "inspect", "--format", "{{.RepoTags}}", image_id,
                    check=True).stdout
    assert names.strip() == "[]"  # no -t: no name, as podman
    run = oci.cli("run", "--rm", "--network", "none", image_id, "cat", "/made", check=True)
    assert run.stdout == "made with default\n"
    assert buildah_containers(oci) == []


def test_containerfile_flag_and_network(oci: OciEnv, tmp_path: Path) -> None:
    """-f names the file; RUN steps share the host's network unless --network none."""
    ctx = context(tmp_path, "FROM busybox\n")
    other = tmp_path / "Other.containerfile"
    other.write_text("FROM busybox\nRUN wc -l < /proc/net/dev > /ifaces\n")
    for net, ifaces in (("none", "3"), ("host", None)):  # header (2 lines) + lo
        oci.cli("build", "-q", "--no-cache", "--network", net, "-f", str(other), "-t",
                f"net-{net}", str(ctx), check=True)
        out = oci.cli("run", "--rm", "--network", "none", f"net-{net}", "cat", "/ifaces",
                      check=True).stdout.strip()
        if ifaces is None:
            assert int(out) > 3, out  # the host's interfaces besides lo
        else:
            assert out == ifaces


def test_failing_step_exits_125_and_names_it(oci: OciEnv, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo before\nRUN false\n")
    before = image_ids(oci)
    res = oci.cli("build", "--network", "none", "-t", "broken", str(ctx))
    assert res.returncode == 125
    assert "before" in res.stdout
    assert 'Error: building at STEP "RUN false"' in res.stderr
    assert res.stderr.count("Error:") == 1
    assert image_ids(oci) == before
    assert buildah_containers(oci) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--pull", "sometimes"], "invalid --pull 'sometimes'"),
    (["--layers=maybe"], "invalid boolean 'maybe'"),
    (["--network", "bridge"], "invalid --network 'bridge' for a build"),
    (["--build-arg", "=x"], "invalid --build-arg '=x'"),
    (["-t", "Bad:Name:x"], "invalid -t/--tag"),
    (["--target", "nope"], "no stage of that name (named stages: b)"),
    (["-f", "/nonexistent/Containerfile"], "cannot read the Containerfile"),
])
def test_bad_flags(oci: OciEnv, tmp_path: Path, args: list[str], message: str) -> None:
    ctx = context(tmp_path, TWO_STAGES)
    res = oci.cli("build", *args, str(ctx))
    assert res.returncode == 125, res.stderr
    assert message in res.stderr
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1


def test_bad_contexts_and_images(oci: OciEnv, tmp_path: Path) -> None:
    def fails(*args: str) -> str:
        res = oci.cli("build", "--network", "none", *args)
        assert res.returncode == 125, res
        return res.stderr

    assert "build needs a CONTEXT directory" in fails()
    assert "does not exist" in fails(str(tmp_path / "nothere"))
    (tmp_path / "file").write_text("")
    assert "is not a directory" in fails(str(tmp_path / "file"))
    (tmp_path / "empty").mkdir()
    assert "no Containerfile or Dockerfile in" in fails(str(tmp_path / "empty"))
    ctx = context(tmp_path, "FROM localhost/nothere:1\nRUN true\n")
    err = fails("--pull", "never", str(ctx))
    assert "'localhost/nothere:1' not known" in err
    ctx = context(tmp_path, "RUN true\n")
    assert "no FROM instruction" in fails(str(ctx))
    assert buildah_containers(oci) == []


def test_interrupt_kills_buildah_and_cleans_up(oci: OciEnv, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo started; sleep 60\n")
    proc = oci.spawn("build", "--network", "none", str(ctx))
    assert proc.stdout is not None
    seen = b""
    while b"started" not in seen:
        chunk = proc.stdout.readline()
        assert chunk, "the build ended before its RUN step started"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    # buildah's command line names the root, the RUN step's root directory is in it
    wait_until(lambda: not leaked_processes(oci.root, oci.runroot),
               "buildah and its RUN step to be gone")
    assert buildah_containers(oci) == []
