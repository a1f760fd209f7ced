"""``%oci volume …``: the CLI's volume commands, returning Python objects (names,
podman's volume JSON as InspectData); with ``--format`` they print what the CLI
prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine import volumes as vols
from ..errors import NoSuchVolume, OciError, UsageError
from ..grammar.gotemplate import is_json
from ..grammar.options import parse_kv
from ..grammar.volume_text import volume_inspect_text, volume_ls_text
from .handles import InspectData

if TYPE_CHECKING:
    from .commands import Call



def cmd_volume(c: Call) -> Any:
    a, rt = c.args, c.rt
    sub = {"list": "ls", "remove": "rm"}.get(a.vcmd or "", a.vcmd)
    if sub == "create":
        return vols.create_volume(rt, a.name, driver=a.driver,
                                  labels=parse_kv(a.label, "label"),
                                  options=parse_kv(a.opt, "volume option")).name
    if sub == "ls":
        found = vols.list_volumes(rt, vols.parse_filters(a.filter))
        if a.quiet:
            return [v.name for v in found]
        if a.format and not is_json(a.format):  # a template: what the CLI prints
            print(volume_ls_text(rt, found, a.format, a.noheading), end="")
            return None
        return [InspectData(vols.volume_inspect(rt, v)) for v in found]
    if sub == "inspect":
        if a.all == bool(a.names):
            raise UsageError("volume inspect: give volume names or --all (not both)")
        found = [vols.get_volume(rt, n) for n in a.names or vols.volume_names(rt)]
        if a.format and not is_json(a.format):  # a template: what the CLI prints
            print(volume_inspect_text(rt, found, a.format), end="")
            return None
        data = [InspectData(vols.volume_inspect(rt, v)) for v in found]
        return data[0] if len(data) == 1 and not a.all else data
    if sub == "rm":
        return _rm(c)
    if sub == "prune":
        # A cell cannot answer podman's question: prune needs -f, as the CLI without a tty.
        if not a.force:
            raise UsageError("%oci volume prune: a cell cannot confirm; add -f (it would "
                             "remove: " + (", ".join(vols.unused_volumes(
                                 rt, vols.parse_filters(a.filter, vols.PRUNE_FILTERS)))
                                 or "nothing") + ")")
        return vols.prune_volumes(rt, vols.parse_filters(a.filter, vols.PRUNE_FILTERS))
    if sub == "exists":
        try:
            vols.get_volume(rt, a.name)
        except NoSuchVolume:
            return False
        return True
    raise UsageError("missing subcommand: try '%oci volume --help'")


def _rm(c: Call) -> list[str]:
    a, rt = c.args, c.rt
    if a.all == bool(a.names):
        raise UsageError("volume rm: choose either one or more volumes or --all")
    done: list[str] = []
    errors: list[OciError] = []
    for name in a.names or vols.volume_names(rt):
        try:
            done.append(vols.remove_volume(rt, name, force=a.force, timeout=a.time))
        except NoSuchVolume as exc:
            if not a.force:
                errors.append(exc)
        except OciError as exc:
            errors.append(exc)
    if errors:
        if done:
            print("removed: " + ", ".join(done))
        if len(errors) == 1:
            raise errors[0]
        raise OciError("; ".join(str(e) for e in errors))
    return done


VOLUME_HANDLERS = {"volume": cmd_volume}
