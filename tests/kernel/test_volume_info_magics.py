"""``%oci volume …``, ``%oci info/version --format``, ``%oci images --format`` and
``%oci network ls --format`` in a real kernel: objects back, and with --format the
text ``ipy-oci`` prints."""

from __future__ import annotations

from typing import Any

from kernel_helpers import Kernel


def test_volume_magics(oci: Any, kernel: Kernel) -> None:
    try:
        assert kernel.ok("%oci volume create --label k=v kv").text() == ""
        kernel.ok("vs = %oci volume ls")
        assert kernel.ok("print([v['Name'] for v in vs], vs[0]['Labels'])").text() == \
            "['kv'] {'k': 'v'}\n"
        cli = oci.cli("volume", "ls", "--format", "{{.Name}} {{.Labels.k}}").stdout
        assert kernel.ok("%oci volume ls --format '{{.Name}} {{.Labels.k}}'").text() == cli
        kernel.ok("%oci run --rm --network none -v kv:/d busybox sh -c 'echo hi > /d/f'")
        kernel.ok("v = %oci volume inspect kv")
        assert kernel.ok("print(open(v['Mountpoint'] + '/f').read(), end='')").text() == \
            "hi\n"
        kernel.ok("e = %oci volume exists kv")
        assert kernel.value("e") is True
        err = kernel.run("%oci volume prune").error
        assert err is not None and "cannot confirm; add -f" in err["evalue"]
        assert "kv" in err["evalue"]
        kernel.ok("gone = %oci volume rm kv")
        assert kernel.value("gone") == ["kv"]
        err = kernel.run("%oci volume rm kv").error
        assert err is not None and "no such volume" in err["evalue"]
    finally:
        oci.cli("volume", "rm", "-f", "kv")


def test_info_version_images_network_formats(oci: Any, kernel: Kernel) -> None:
    for line in ("info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphRoot}}'",
                 "version --format '{{.Client.Version}}'",
                 "version",
                 "images --format '{{.Repository}}:{{.Tag}} {{.ID}}'",
                 "image history --format '{{.ID}} {{.Size}}' busybox",
                 "network ls --format '{{.Name}} {{.Driver}}'"):
        cli = oci.cli(*__import__("shlex").split(line), check=True).stdout
        assert kernel.ok(f"%oci {line}").text() == cli, line
    kernel.ok("i = %oci info")
    assert kernel.ok("print(i['store']['graphRoot'])").text() == f"{oci.root}\n"
