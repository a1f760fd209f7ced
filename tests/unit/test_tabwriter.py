"""The tabwriter's one-pass path for tables whose lines all have the same cells gives
exactly what Go's general algorithm gives."""

from __future__ import annotations

import random

from ipy_oci.grammar.tabwriter import _general, _uniform, tabwrite


def _lines(text: str) -> list[list[str]]:
    lines = [ln.split("\t") for ln in text.split("\n")]
    if lines[-1] == [""]:
        lines[-1] = []
    elif lines[-1][-1] == "":
        lines[-1].pop()  # as tabwrite reads a last line that ends in a tab
    return lines


def test_uniform_tables_match_the_general_algorithm() -> None:
    rnd = random.Random(7)
    for _ in range(300):
        ncells = rnd.randint(1, 6)
        rows = [[("x" * rnd.randint(0, 20)) for _ in range(ncells)]
                for _ in range(rnd.randint(1, 8))]
        text = "".join("\t".join(r) + "\n" for r in rows)
        if rnd.random() < 0.3:
            text = text[:-1]  # no final newline
        lines = _lines(text)
        assert tabwrite(text) == _general(lines, 12, 2), text
        if text.endswith("\n"):
            assert _uniform(lines, 12, 2) == _general(lines, 12, 2), text


def test_ragged_tables_take_the_general_path() -> None:
    text = "a\tbb\tc\nlonger cell\td\n\nx\n"
    assert tabwrite(text) == _general(_lines(text), 12, 2)
    # "a" and "longer cell" are one column: 11 + 2 wide, over the minimum of 12.
    assert tabwrite(text).splitlines()[:2] == ["a" + " " * 12 + "bb          c",
                                               "longer cell  d"]
