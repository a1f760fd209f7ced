"""Issue 15 in a real kernel: what a new notebook user reads when a line is wrong,
what a cell keeps of its stdout and stderr, and the offline pull message."""

from __future__ import annotations

from typing import Any

from helpers import rm_force
from kernel_helpers import Cell, Kernel, one_line_error

# (cell, words its one error line must contain, words it must not)
USAGE = [
    ("%oci run", "%oci run: the following arguments are required: IMAGE "
                 "(see '%oci run --help')", "COMMAND"),
    ("%%oci exec\necho hi", "%%oci exec: the following arguments are required: CONTAINER "
                            "(see '%%oci exec --help')", "COMMAND"),
    ("%%oci run\necho hi", "%%oci run: the following arguments are required: IMAGE "
                           "(see '%%oci run --help')", "COMMAND"),
    ("%oci run --nmae x busybox", "unrecognized arguments: --nmae; did you mean --name?",
     "%oci --help"),
    ("%oci exce c1 ls", "invalid choice: 'exce'; did you mean 'exec'?", "%%oci"),
    ("%%oci exce c1\nls", "did you mean 'exec'?", "invalid choice"),
    ("%oci exec --timout 3 c1 ls", "did you mean --timeout?", "%%oci"),
    ("%%oci exec --timeout nan5 c1\nls", "(see '%%oci exec --help')", "'%oci"),
    ("%%oci exec c1 --shell sh --interpreter python3\nls", "%%oci: give --shell or", "'%oci"),
]


def _error_line(cell: Cell) -> str:
    return str(one_line_error(cell)["traceback"][0])


def test_usage_messages_name_what_is_missing_and_the_right_help(oci: Any,
                                                                kernel: Kernel) -> None:
    for code, words, absent in USAGE:
        line = _error_line(kernel.run(code))
        assert words in line and absent not in line, (code, line)


def test_help_of_a_subcommand_lists_its_magic_flags(oci: Any, kernel: Kernel) -> None:
    text = kernel.ok("%%oci exec --help\nls").text()
    assert "usage: %%oci exec" in text and "--interpreter PROG" in text
    text = kernel.ok("%oci ps --help").text()
    assert "--widget" in text and "--interpreter" not in text


def test_engine_hints_name_the_magic(oci: Any, kernel: Kernel) -> None:
    line = _error_line(kernel.run("%oci exec -l ls"))  # no container at all
    assert "(see '%oci ps -a')" in line and "ipy-oci" not in line


def test_offline_pull_is_one_line_naming_the_registry(oci: Any, kernel: Kernel) -> None:
    """The oci fixture's only search registry is a closed loopback port."""
    cell = kernel.run("%oci run --network none alpine true")
    err = one_line_error(cell)
    assert err["ename"] == "RegistryUnreachable"
    line = err["traceback"][0]
    assert "cannot reach registry 127.0.0.1:9 (" in line
    assert line.endswith("the built-in image 'busybox' works offline")


QUICK_BODY = "echo before; ls /nonexistent; echo after\n"


def _check_quick_body(kernel: Kernel, magic: str) -> None:
    """What notebook 01 promises for writes milliseconds apart: each stream whole and
    in order (which stream shows first is the order read), and with ``2>&1`` the
    exact interleaving."""
    cell = kernel.ok(f"{magic}\n{QUICK_BODY}")
    assert cell.text("stdout") == "before\nafter\n"
    assert cell.text("stderr") == "ls: /nonexistent: No such file or directory\n"
    cell = kernel.ok(f"{magic}\nexec 2>&1\n{QUICK_BODY}")
    assert cell.streams == [
        ("stdout", "before\nls: /nonexistent: No such file or directory\nafter\n")]


def test_run_cell_streams_as_notebook_01_says(oci: Any, kernel: Kernel) -> None:
    _check_quick_body(kernel, "%%oci run --network none --no-raise busybox")


def test_exec_cell_streams_as_notebook_01_says(oci: Any, kernel: Kernel) -> None:
    res = oci.cli("run", "-d", "--network", "none", "--name", "c", "busybox", "sleep", "1000")
    try:
        assert res.returncode == 0, res.stderr
        _check_quick_body(kernel, "%%oci exec --no-raise c")
    finally:
        rm_force(oci, "c")
