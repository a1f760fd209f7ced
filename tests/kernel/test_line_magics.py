"""``%oci SUBCOMMAND``: the CLI grammar, Python objects back, one-line errors."""

from __future__ import annotations

from typing import Any

from helpers import running_container
from kernel_helpers import Kernel, one_line_error


def test_load_ext_registers_and_unregisters(oci: Any, bare_kernel: Kernel) -> None:
    missing = bare_kernel.run("%oci ps")
    assert missing.status == "error" and "not found" in missing.text("stderr")
    bare_kernel.ok("%load_ext ipy_oci")
    cell = bare_kernel.ok("%oci ps")
    assert cell.result["text/plain"] == "(no containers)"
    bare_kernel.ok("%unload_ext ipy_oci")
    assert "not found" in bare_kernel.run("%oci ps").text("stderr")


def test_config_autoloads_and_configures(oci: Any, kernel: Kernel) -> None:
    grace = kernel.value("get_ipython().magics_manager.registry['OciMagics'].interrupt_grace")
    assert grace == 1.5  # from ipython_kernel_config.py
    assert kernel.value("'oci' in get_ipython().magics_manager.magics['cell']") is True


def test_subcommands_return_objects(oci: Any, kernel: Kernel) -> None:
    with running_container(oci, "c", "sh", "-c", "echo hello-log; sleep 1000") as cid:
        ps = kernel.ok("%oci ps").result
        assert cid[:12] in ps["text/plain"] and "<table" in ps["text/html"]
        assert kernel.value("[c.name for c in get_ipython().run_line_magic('oci', 'ps')]") \
            == ["c"]
        assert kernel.value("get_ipython().run_line_magic('oci', 'ps -q')") == [cid[:12]]
        data = kernel.value("(lambda d: [type(d).__name__, d['Name'], d['State']['Status']])"
                            "(get_ipython().run_line_magic('oci', 'inspect c'))")
        assert data == ["InspectData", "c", "running"]
        assert "<details" in kernel.ok("%oci inspect c").result["text/html"]

        paused = kernel.ok("%oci pause c").result
        assert "paused" in paused["text/plain"] and "paused" in paused["text/html"]
        assert "running" in kernel.ok("%oci unpause c").result["text/plain"]
        assert kernel.ok("%oci logs c").text() == "hello-log\n"

        images = kernel.ok("%oci images").result["text/html"]
        assert "localhost/busybox" in images
        assert kernel.value("get_ipython().run_line_magic('oci', 'images -q')") == \
            [oci.runtime().images.lookup("busybox").id[:12]]

        stopped = kernel.ok("%oci stop -t 0 c").result["text/plain"]
        assert "exited" in stopped
        assert kernel.ok("%oci rm c").text() == "c\n"
        assert kernel.ok("%oci ps -a").result["text/plain"] == "(no containers)"


MISTAKES = [
    ("%oci bogus", "UsageError", "invalid choice"),
    ("%oci stop nosuch", "NoSuchContainer", "nosuch"),
    ("%oci run --bogus busybox", "UsageError", "unrecognized arguments: --bogus"),
    ("%oci exec nosuch ls", "NoSuchContainer", "nosuch"),
    ("%%oci exec nosuch\nls", "NoSuchContainer", "nosuch"),
    ("%oci stop --widget x", "UsageError", "--widget is not a flag"),
    ("%oci exec c 'unbalanced", "UsageError", "quotes"),
    # missing image: NoSuchImage, or a pull error once pulls exist; either way one line
    ("%oci run nosuchimage true", "", "nosuchimage"),
    ("%%oci ps\nbody", "UsageError", "cell magic"),
    ("%%oci exec c extra\nbody", "UsageError", "cell body"),
    ("%oci exec --timeout nan5 c ls", "UsageError", "seconds"),
]


def test_mistakes_are_one_line(oci: Any, kernel: Kernel) -> None:
    for line, ename, words in MISTAKES:
        err = one_line_error(kernel.run(line))
        assert not ename or err["ename"] == ename, (line, err)
        assert words in err["traceback"][0], (line, err)


def test_help_is_quiet(oci: Any, kernel: Kernel) -> None:
    cell = kernel.ok("%oci --help")
    assert "usage: %oci" in cell.text() and "%%oci run" in cell.text()
    assert "usage: %oci exec" in kernel.ok("%oci exec --help").text()


def test_image_and_maintenance_commands_run_in_the_kernel(oci: Any, kernel: Kernel,
                                                         tmp_path: Any) -> None:
    """What the CLI's image commands do, without the CLI: same grammar, engine calls."""
    image_id = kernel.value("get_ipython().run_line_magic('oci', 'image inspect busybox')['Id']")
    assert image_id == oci.runtime().images.lookup("busybox").id
    kernel.ok("%oci tag busybox localhost/extra:1")
    assert kernel.value("get_ipython().run_line_magic('oci', 'image exists extra:1')") is True
    assert kernel.ok("%oci rmi localhost/extra:1").text() == "Untagged: localhost/extra:1\n"
    assert kernel.value("get_ipython().run_line_magic('oci', 'image exists extra:1')") is False
    archive = tmp_path / "busybox.tar"
    kernel.ok(f"%oci save --format oci-archive -o {archive} busybox")
    assert archive.stat().st_size > 0
    assert "a cell has no stdin" in one_line_error(kernel.run("%oci load"))["traceback"][0]
    assert kernel.ok("%oci system reap").text().startswith("synced ")


def test_ps_templates_and_selection_match_the_cli(oci: Any, kernel: Kernel) -> None:
    """``%oci ps --format`` prints what ``ipy-oci ps --format`` prints; the lifecycle
    verbs take the same selection flags and the ``container X`` aliases."""
    try:
        for name, label in (("k-a", "x"), ("k-b", "y")):
            oci.cli("run", "-d", "--network", "none", "--name", name, "-l", f"t={label}",
                    "busybox", "sleep", "1000", check=True)
        for fmt in ("{{.Names}}", "table {{.Names}} {{.Labels}}", "{{.ID}} {{.Status}}"):
            argv = ["-a", "--sort", "names", "--format", fmt]
            cli = oci.cli("ps", *argv, check=True).stdout
            line = " ".join(["ps", *argv[:-1], f"'{fmt}'"])
            assert kernel.ok(f"%oci {line}").text() == cli, fmt
        filtered = kernel.value("get_ipython().run_line_magic('oci', 'ps -q -f label=t=y')")
        assert filtered == [oci.cli("ps", "-q", "-f", "label=t=y", check=True).stdout.strip()]
        stopped = kernel.value("[h.name for h in get_ipython().run_line_magic("
                               "'oci', 'stop -t 0 --filter label=t=x')]")
        assert stopped == ["k-a"]
        assert kernel.value("get_ipython().run_line_magic('oci', 'container exists k-a')") \
            is True
        assert kernel.value("get_ipython().run_line_magic('oci', 'container exists nope')") \
            is False
        assert kernel.value("get_ipython().run_line_magic('oci', 'wait k-a')") == 137
        ids = oci.cli("ps", "-aq", "--no-trunc", check=True).stdout.split()
        assert kernel.ok("%oci container rm -f --filter label=t").text().split() == ids
        assert oci.cli("ps", "-aq", check=True).stdout == ""
    finally:
        oci.cli("rm", "-f", "-t", "0", "k-a", "k-b")
