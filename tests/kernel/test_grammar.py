"""The magic line grammar and cell-body programs (no kernel needed)."""

from __future__ import annotations

import pytest

from ipy_oci.errors import UsageError
from ipy_oci.kernel.context import kernel_id_from_connection_file
from ipy_oci.kernel.execs import ARG_LIMIT, body_program
from ipy_oci.kernel.grammar import MagicLine, parse_line, tokenize


def _parse(line: str) -> MagicLine:
    return parse_line(tokenize(line))


def test_magic_flags_anywhere_before_the_command() -> None:
    ml = _parse("exec --timeout 5 -e A=1 --no-raise -u root c1")
    assert ml.cmd == "exec" and ml.args.container == "c1"
    assert ml.opts.timeout == 5.0 and ml.opts.no_raise is True
    assert ml.args.env == ["A=1"] and ml.args.user == "root"
    assert ml.args.command == []
    ml = _parse("--timeout=2.5 exec c1")
    assert ml.opts.timeout == 2.5


def test_magic_flags_inside_a_command_belong_to_it() -> None:
    ml = _parse("exec --grace 1 c1 python3 --timeout 3 x.py --keep")
    assert ml.opts.grace == 1.0 and ml.opts.timeout is None and ml.opts.keep is False
    assert ml.args.command == ["python3", "--timeout", "3", "x.py", "--keep"]
    ml = _parse("run --rm busybox sh -c 'echo --widget'")
    assert ml.opts.widget is False
    assert ml.args.command == ["sh", "-c", "echo --widget"] and ml.args.rm is True


def test_shared_grammar_and_its_errors() -> None:
    ml = _parse("ps -a --widget")
    assert ml.args.all is True and ml.opts.widget is True
    with pytest.raises(UsageError, match="--keep is not a flag of '%oci exec'"):
        _parse("exec --keep c1")
    with pytest.raises(UsageError, match="unrecognized arguments"):
        _parse("ps --nope")
    with pytest.raises(UsageError, match="seconds must not be negative"):
        _parse("exec --timeout -1 c1")
    with pytest.raises(UsageError, match="quotes"):
        tokenize("exec c1 'open")


def test_body_programs() -> None:
    sh = body_program("echo hi\n")
    assert sh.command == ["sh", "-c", "echo hi\n"] and sh.stdin is None and sh.env == []
    bash = body_program("echo hi", shell="/bin/bash")
    assert bash.command == ["/bin/bash", "-c", "echo hi"]
    py = body_program("print(1)", interpreter="python3")
    assert py.command == ["python3", "-c", "print(1)"] and py.env == ["PYTHONUNBUFFERED=1"]
    perl = body_program("print 1;", interpreter="perl")  # perl -c only checks syntax
    assert perl.command == ["perl"] and perl.stdin == b"print 1;"
    big = body_program("x" * (ARG_LIMIT + 1))
    assert big.command == ["sh"] and big.stdin is not None and len(big.stdin) == ARG_LIMIT + 1
    with pytest.raises(UsageError):
        body_program("x", shell="sh", interpreter="python3")


def test_kernel_id_from_connection_file() -> None:
    assert kernel_id_from_connection_file(
        "/run/user/0/jupyter/kernel-1b2c3d-4e.json") == "1b2c3d-4e"
    assert kernel_id_from_connection_file("/tmp/other.json") == "other"
