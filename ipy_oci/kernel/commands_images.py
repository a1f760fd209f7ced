"""``%oci pull``, ``images``, ``rmi``, ``image …`` and the other image commands.

The same grammar and engine calls as the CLI's image commands; results come back
as Python objects (image data as podman's JSON, from engine/views.py), messages
and pull progress go to the cell.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from ..engine import images as eng
from ..engine.views import image_inspect, image_summary
from ..errors import NoSuchImage, OciError, UsageError
from ..grammar.options import pull_options
from .handles import ImageList, InspectData

if TYPE_CHECKING:
    from collections.abc import Callable

    from .commands import Call


def cmd_pull(c: Call) -> InspectData:
    """A progress bar per layer (collapsing into a summary line), then an image handle:
    the image's inspect data with a one-line repr."""
    from .pull_view import ImageHandle, PullProgress

    if c.args.quiet:
        img = eng.pull_image(c.rt, c.args.image, pull_options(c.args), None)
        return ImageHandle(image_inspect(c.rt, img), c.args.image)
    from IPython.display import display

    view = PullProgress(c.args.image)
    display(view)
    try:
        img = eng.pull_image(c.rt, c.args.image, pull_options(c.args), view)
    except BaseException as exc:
        view.finish(None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    handle = ImageHandle(image_inspect(c.rt, img), c.args.image)
    view.finish(handle)
    return handle


def cmd_images(c: Call) -> Any:
    a = c.args
    filters = list(getattr(a, "filter", []))
    if getattr(a, "image", None):
        if filters:
            raise UsageError("cannot specify an image and a filter(s)")
        filters = [f"reference={a.image}"]
    summaries = eng.filter_images(eng.list_images(c.rt), filters, eng.image_store(c.rt))
    if a.format or a.quiet or a.sort != "created":
        from ..grammar.gotemplate import is_json
        from ..grammar.image_text import image_rows, images_text

        if a.quiet:
            return list(dict.fromkeys(r["ID"] for r in image_rows(summaries, a.no_trunc)))
        if a.format and is_json(a.format):  # data, as `%oci ps --format json`
            return [image_summary(s.image, s.containers) for s in summaries]
        if a.format:  # what the CLI prints
            print(images_text(summaries, a.format, no_trunc=a.no_trunc, digests=a.digests,
                              history=a.history, noheading=a.noheading, sort=a.sort), end="")
            return None
        order = {r["Id"]: i for i, r in enumerate(image_rows(summaries, sort=a.sort))}
        summaries = sorted(summaries, key=lambda s: order.get(s.image.id, 0))
    return ImageList(InspectData(image_summary(s.image, s.containers)) for s in summaries)


def cmd_history(c: Call) -> Any:
    from ..grammar.image_text import history_json, history_text

    a = c.args
    layers = eng.image_history(c.rt, a.image)
    if a.format or a.quiet:
        print(history_text(layers, a.format, human=a.human, no_trunc=a.no_trunc,
                           quiet=a.quiet), end="")
        return None
    return [InspectData(h) for h in history_json(layers)]


def cmd_push(c: Call) -> None:
    a = c.args
    out = eng.push_image(c.rt, a.image, a.destination, tls_verify=a.tls_verify,
                         authfile=a.authfile, creds=a.creds, fmt=a.format,
                         digestfile=a.digestfile, compression=a.compression_format)
    if not a.quiet:
        sys.stderr.write(out)


def cmd_image_inspect(c: Call) -> Any:
    store = eng.image_store(c.rt)
    found = [InspectData(image_inspect(c.rt, store.lookup(ref))) for ref in c.args.images]
    if c.args.format:
        from ..grammar.image_text import inspect_text

        print(inspect_text(found, c.args.format), end="")
        return None
    return found[0] if len(found) == 1 else found


def _exists(c: Call, ref: str) -> bool:
    try:
        eng.image_store(c.rt).lookup(ref)
    except NoSuchImage:
        return False
    return True


def cmd_exists(c: Call) -> bool:
    return _exists(c, c.args.image)


def cmd_rmi(c: Call) -> None:
    args = c.args
    refs = list(args.images)
    if args.all and refs:
        raise UsageError("rmi: give images or --all, not both")
    if args.ignore:
        refs = [r for r in refs if _exists(c, r)]
        if not refs and not args.all:
            return None
    rep = eng.remove_images(c.rt, refs, force=args.force, all=args.all)
    for name in rep.untagged:
        print(f"Untagged: {name}")
    for image_id in rep.deleted:
        print(f"Deleted: {image_id}")
    return None


def cmd_tag(c: Call) -> None:
    eng.tag_image(c.rt, c.args.image, c.args.names)


def cmd_untag(c: Call) -> None:
    eng.untag_image(c.rt, c.args.image, c.args.names or None)


def cmd_prune(c: Call) -> None:
    for image_id in eng.prune_images(c.rt, all=c.args.all).deleted:
        print(image_id)


def cmd_import(c: Call) -> InspectData:
    if c.args.source == "-":
        raise UsageError("%oci import: a cell has no stdin; give the tarball's path")
    with _opened(c.args.source) as src:
        img = eng.import_image(c.rt, src, c.args.reference, c.args.change, c.args.message,
                               source=c.args.source)
    return InspectData(image_inspect(c.rt, img))


def cmd_commit(c: Call) -> InspectData:
    """The new image's data (as ``%oci pull``); notes go to the cell."""
    from ..engine.commit import commit_container
    from ..grammar.parser_images import commit_options

    res = commit_container(c.rt, c.args.container, c.args.image, commit_options(c.args))
    for note in res.notes:
        sys.stderr.write(f"Note: {note}\n")
    return InspectData(image_inspect(c.rt, res.image))


@contextmanager
def _opened(path: str) -> Iterator[BinaryIO]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OciError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        yield fh


def cmd_save(c: Call) -> None:
    if not c.args.output:
        raise UsageError("%oci save: a cell cannot take an archive as output; use -o FILE")
    eng.save_images_to(c.rt, c.args.images, c.args.output, c.args.format)


def cmd_load(c: Call) -> None:
    if not c.args.input:
        raise UsageError("%oci load: a cell has no stdin; use -i FILE")
    with _opened(c.args.input) as src:
        images = eng.load_images(c.rt, src)
    for img in images:
        for name in img.names or (f"sha256:{img.id}",):
            print(f"Loaded image: {name}")


def cmd_login(c: Call) -> None:
    args = c.args
    if args.get_login:
        user = eng.stored_login(c.rt, args.registry, args.authfile)
        if user is None:
            raise OciError(f"not logged in to {eng.registry_host(args.registry)}")
        print(user)
        return
    if args.password_stdin:
        raise UsageError("%oci login: a cell has no stdin; use -p PASSWORD, or leave it "
                         "out to be asked for it")
    username = args.username or input("Username: ")
    if args.password is not None:
        password = args.password
    else:
        import getpass

        password = getpass.getpass("Password: ")
    eng.login(c.rt, args.registry, username, password, args.authfile, args.tls_verify)
    print("Login Succeeded!")


def cmd_logout(c: Call) -> None:
    args = c.args
    if bool(args.all) == bool(args.registry):
        raise UsageError("logout needs a REGISTRY or --all (not both)")
    eng.logout(c.rt, None if args.all else args.registry, args.authfile)
    print(f"Removed login credentials for {'all registries' if args.all else args.registry}")


_IMAGE_SUB: dict[str, Callable[[Call], Any]] = {
    "ls": cmd_images, "list": cmd_images, "pull": cmd_pull, "push": cmd_push,
    "history": cmd_history, "rm": cmd_rmi, "inspect": cmd_image_inspect, "tag": cmd_tag,
    "untag": cmd_untag, "prune": cmd_prune,
    "import": cmd_import, "save": cmd_save, "load": cmd_load, "exists": cmd_exists,
}


def cmd_image(c: Call) -> Any:
    sub = getattr(c.args, "icmd", None)
    if sub not in _IMAGE_SUB:
        raise UsageError("missing subcommand: try '%oci image --help'")
    return _IMAGE_SUB[sub](c)


IMAGE_HANDLERS: dict[str, Callable[[Call], Any]] = {
    "pull": cmd_pull, "push": cmd_push, "images": cmd_images, "history": cmd_history,
    "rmi": cmd_rmi, "tag": cmd_tag,
    "untag": cmd_untag, "import": cmd_import, "save": cmd_save, "load": cmd_load,
    "login": cmd_login, "logout": cmd_logout, "image": cmd_image, "commit": cmd_commit,
}
