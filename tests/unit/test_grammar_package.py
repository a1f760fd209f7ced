"""The shared grammar (ipy_oci/grammar): parsers built once per process, and parses
that cannot change each other."""

from __future__ import annotations

from ipy_oci.engine.options import DEFAULT_DETACH_KEYS
from ipy_oci.grammar import options, parser


def test_parsers_are_built_once_and_parses_share_nothing() -> None:
    first = parser.parse(["run", "-e", "A=1", "busybox", "true"])
    first.env.append("B=2")
    first.cap_add.append("NET_ADMIN")
    hits = parser._built.cache_info().hits
    second = parser.parse(["run", "busybox", "true"])
    assert parser._built.cache_info().hits == hits + 1
    assert second.env == [] and second.cap_add == []
    assert parser.parse(["run", "-e", "C=3", "busybox"]).env == ["C=3"]
    # The CLI's prog and the magics' are different parsers (errors name them).
    assert parser._built("%oci", "run") is not parser._built("ipy-oci", "run")


def test_detach_keys_default_comes_from_the_engine() -> None:
    assert options.detach_keys(parser.parse(["exec", "c", "true"])) == DEFAULT_DETACH_KEYS
    assert options.detach_keys(parser.parse(["exec", "--detach-keys", "", "c", "sh"])) == ""
    assert options.exec_config(parser.parse(["exec", "c", "true"])).detach_keys == \
        DEFAULT_DETACH_KEYS


def test_family_tables_name_every_command_their_modules_add() -> None:
    """parser._FAMILIES lets ``exec`` skip importing the other families: its command
    lists must be exactly what each family module adds."""
    full = parser.build_parser()
    for only in ("exec", "ps", "logs", "cp", "images", "network", "volume"):
        assert sorted(parser.build_parser(only=only).command_names) == \
            sorted(full.command_names), only
    assert len(set(full.command_names)) == len(full.command_names)


def test_exec_does_not_import_the_other_families() -> None:
    import subprocess
    import sys

    code = ("import sys; from ipy_oci.grammar.parser import parse; "
            "parse(['exec', 'c', 'true']); "
            "print(sorted(m for m in sys.modules if m.startswith('ipy_oci.grammar.parser_')"
            " or m == 'ipy_oci.engine.selection'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['ipy_oci.grammar.parser_create', 'ipy_oci.grammar.parser_images', " \
        "'ipy_oci.grammar.parser_networks']"
