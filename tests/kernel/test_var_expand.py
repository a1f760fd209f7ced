"""``%oci`` expands ``{expr}`` and ``$name`` as IPython does, but never ``{{…}}``.

IPython would turn a Go template's ``{{.Names}}`` into ``{.Names}``; the magic opts
out of IPython's expansion and does its own around the template actions.
"""

from __future__ import annotations

from typing import Any

from helpers import running_container
from kernel_helpers import Kernel


def test_templates_reach_the_parser_untouched(oci: Any, kernel: Kernel) -> None:
    with running_container(oci, "vx", "sleep", "1000") as cid:
        kernel.ok("want = 'vx'; flags = '--no-trunc'")
        cell = kernel.ok("%oci ps {flags} --format '{{.ID}} {{.Names}}'")
        assert cell.text() == f"{cid} vx\n"
        # An expression next to a template, and a template with a variable of its own.
        cell = kernel.ok("%oci inspect {want} --format '{{range $k, $v := .Config.Labels}}"
                         "{{$k}}{{end}}[{{.Name}}]'")
        assert cell.text() == "[vx]\n"
        # Inside a function: its locals expand too (needs_local_scope).
        kernel.ok("def names(w):\n    return get_ipython().run_line_magic("
                  "'oci', 'ps --filter name={w} --format {{.Names}}')\n")
        assert kernel.ok("names('vx')").text() == "vx\n"
        # Text that does not expand stays as typed, as in IPython.
        cell = kernel.ok("%oci ps --format '{nosuchname}{{.Names}}'")
        assert cell.text() == "{nosuchname}vx\n"


def test_noout_hides_stdout_in_both_front_ends(oci: Any, kernel: Kernel) -> None:
    res = oci.cli("--noout", "run", "--rm", "--network", "none", "busybox", "sh", "-c",
                  "echo out; echo err >&2")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "err\n")
    created = oci.cli("--noout", "create", "--name", "quiet", "busybox", "true")
    assert created.returncode == 0 and created.stdout == ""
    cell = kernel.ok("%oci --noout rm quiet")
    assert cell.text() == "" and not any(m["msg_type"] == "execute_result"
                                         for m in cell.messages)
    assert oci.cli("ps", "-a", "-q").stdout == ""
