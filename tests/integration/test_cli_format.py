"""``--format`` takes Go templates as podman's does (ps rows, inspect objects)."""

from __future__ import annotations

from helpers import OciEnv, inspect, rm_force


def test_ps_and_inspect_templates(oci: OciEnv) -> None:
    oci.cli("run", "-d", "--name", "fmt", "-l", "team=a", "--network", "none", "busybox",
            "sleep", "1000", check=True)
    try:
        cid = inspect(oci, "fmt")["Id"]
        assert oci.cli("ps", "--format", "{{.Names}}", check=True).stdout == "fmt\n"
        out = oci.cli("ps", "--format", "{{.ID}} {{.State}} {{index .Labels \"team\"}}",
                      check=True).stdout
        assert out == f"{cid[:12]} running a\n"
        table = oci.cli("ps", "--format", "table {{.ID}} {{.Names}}", check=True).stdout
        header, row = table.splitlines()
        assert header.split() == ["CONTAINER", "ID", "NAMES"] and row.split() == [cid[:12],
                                                                                  "fmt"]
        quiet = oci.cli("ps", "--noheading", "--format", "table {{.Names}}", check=True)
        assert quiet.stdout == "fmt\n"
        assert oci.cli("inspect", "--format", "{{.State.Status}}", "fmt",
                       check=True).stdout == "running\n"
        assert oci.cli("inspect", "-f", "{{.Name}}:{{json .Config.Labels}}", "fmt",
                       check=True).stdout == 'fmt:{"team":"a"}\n'
        bad = oci.cli("inspect", "--format", "{{.Nope}}", "fmt")
        assert bad.returncode == 125 and "can't evaluate field Nope" in bad.stderr
        unclosed = oci.cli("ps", "--format", "{{.Names")
        assert unclosed.returncode == 125 and unclosed.stderr.startswith("Error: template:")
    finally:
        rm_force(oci, "fmt")


def test_inspect_id_field_latest_and_image_name(oci: OciEnv) -> None:
    """podman's Go field is ID (json key Id; podman reads {{.Id}} as {{.ID}}): both work
    on containers and images. ``inspect -l`` is the latest container, and a
    container's ImageName is the full name the image was asked for (030-run.bats)."""
    oci.cli("tag", "busybox", "aa/bb", check=True)
    try:
        cid = oci.cli("create", "--name", "idf", "--network", "none", "aa/bb", "true",
                      check=True).stdout.strip()
        iid = inspect(oci, "busybox")["Id"]
        assert oci.cli("inspect", "--format", "{{.ID}} {{.Id}}", "idf",
                       check=True).stdout == f"{cid} {cid}\n"
        for argv in (["inspect"], ["image", "inspect"]):
            out = oci.cli(*argv, "--format", "{{.ID}} {{.Id}}", "busybox", check=True).stdout
            assert out == f"{iid} {iid}\n"
        # JSON output is podman's: Id only.
        assert "ID" not in inspect(oci, "idf") and "ID" not in inspect(oci, "busybox")
        assert oci.cli("inspect", "-l", "--format", "{{.Name}} {{.ImageName}}",
                       check=True).stdout == "idf localhost/aa/bb:latest\n"
        assert inspect(oci, "idf")["ImageDigest"] == inspect(oci, "busybox")["Digest"]
        both = oci.cli("inspect", "-l", "idf")
        assert both.returncode == 125
        assert both.stderr == "Error: --latest and arguments cannot be used together\n"
        none = oci.cli("inspect")
        assert none.returncode == 125 and none.stderr == "Error: no names or ids specified\n"
    finally:
        rm_force(oci, "idf")
        oci.cli("untag", "busybox", "localhost/aa/bb:latest")
