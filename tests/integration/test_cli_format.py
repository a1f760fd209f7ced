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
