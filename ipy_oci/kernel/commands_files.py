"""``%oci cp|top|stats|diff|export|rename`` (and the handlers of ``container prune`` and
``system df``): they print what the CLI prints; ``cp CONTAINER:PATH -`` returns the
tar archive as bytes (a cell has no stdout stream to redirect)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from .commands import Call


def cmd_cp(c: Call) -> Any:
    from ..engine.copy import copy

    a = c.args
    if a.src == "-":
        raise UsageError("%oci cp: a cell has no stdin to read a tar archive from; copy "
                         "from a file instead")
    out = io.BytesIO() if a.dest == "-" else None
    copy(c.rt, a.src, a.dest, archive=a.archive, overwrite=a.overwrite, stdout=out)
    return out.getvalue() if out is not None else None


def cmd_top(c: Call) -> None:
    from ..engine.selection import latest_container
    from ..engine.top import top
    from ..grammar.files_text import top_text

    a = c.args
    words = list(a.descriptors)
    if a.latest:
        if a.container:
            words.insert(0, a.container)
        ctr = latest_container(c.rt)
    elif not a.container:
        raise UsageError("you must provide the name or ID of a running container "
                         "(or use --latest)")
    else:
        ctr = c.rt.lookup_container(a.container)
    print(top_text(*top(ctr, words)), end="")


def cmd_stats(c: Call) -> None:
    from ..engine.stats import reports
    from ..grammar.files_text import stats_text

    a = c.args
    stream = not a.no_stream
    try:
        for rows in reports(c.rt, a.containers, all=a.all, latest=a.latest,
                            interval=a.interval, stream=stream, no_trunc=a.no_trunc):
            if stream and not a.no_reset:
                from IPython.display import clear_output

                clear_output(wait=True)  # the cell's way of redrawing
            print(stats_text(rows, a.format), end="", flush=True)
    except KeyboardInterrupt:
        pass  # interrupting the cell ends the stream


def cmd_diff(c: Call) -> None:
    from ..engine.changes import check_format, diff, diff_refs
    from ..grammar.files_text import diff_text

    check_format(c.args.format)
    refs = diff_refs(c.rt, c.args.refs, c.args.latest)
    print(diff_text(diff(c.rt, refs[0], refs[1] if len(refs) == 2 else None),
                    c.args.format), end="")


def cmd_export(c: Call) -> None:
    import os

    from ..engine.export import export

    a = c.args
    if a.output is None:
        raise UsageError("%oci export: give -o FILE (a cell has no stdout to redirect)")
    c.rt.lookup_container(a.container)
    try:
        with open(a.output, "wb") as fh:
            export(c.rt, a.container, fh)
    except OSError as exc:
        raise UsageError(f'creating file "{a.output}": '
                         f'{(exc.strerror or str(exc)).lower()}') from None
    except BaseException:
        try:
            os.unlink(a.output)
        except OSError:
            pass
        raise


def cmd_rename(c: Call) -> None:
    from ..engine.rename import rename

    rename(c.rt, c.args.container, c.args.new_name)


def container_prune(c: Call) -> list[str]:
    """``%oci container prune -f``: the removed IDs (a cell cannot answer a prompt)."""
    from ..engine.prune import prune_containers
    from ..errors import OciError

    if not c.args.force:
        raise UsageError("%oci container prune: a cell cannot answer the confirmation "
                         "prompt; add -f")
    result = prune_containers(c.rt, c.args.filter)
    if result.errors:
        if len(result.errors) == 1:
            raise result.errors[0]
        raise OciError("; ".join(str(e) for e in result.errors))
    return result.removed


def system_df(c: Call) -> None:
    from ..engine.disk_usage import disk_usage
    from ..grammar.files_text import df_text

    print(df_text(disk_usage(c.rt), c.args.verbose, c.args.format), end="")


FILE_HANDLERS = {"cp": cmd_cp, "top": cmd_top, "stats": cmd_stats, "diff": cmd_diff,
                 "export": cmd_export, "rename": cmd_rename}
