"""CLI handlers of the image commands (grammar in grammar/parser_images.py).

Progress goes to stderr and results to stdout, as podman does, so
``ID=$(ipy-oci pull …)`` works.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, BinaryIO, cast

from ..engine import images as eng
from ..engine.views import image_inspect
from ..errors import NoSuchImage, OciError, UsageError
from ..grammar.image_text import history_text, images_text, inspect_text
from ..grammar.options import pull_options
from .pull_progress import cli_progress

if TYPE_CHECKING:
    from ..engine.runtime import Runtime


def cmd_pull(rt: Runtime, args: argparse.Namespace) -> int:
    img = eng.pull_image(rt, args.image, pull_options(args), cli_progress(sys.stderr, args.quiet))
    print(img.id)
    return 0


# ----- images ------------------------------------------------------------------------


def _summaries(rt: Runtime, args: argparse.Namespace) -> list[eng.ImageSummary]:
    filters = list(args.filter)
    if getattr(args, "image", None):
        if filters:
            raise UsageError("cannot specify an image and a filter(s)")
        filters = [f"reference={args.image}"]
    return eng.filter_images(eng.list_images(rt), filters, eng.image_store(rt))


def cmd_images(rt: Runtime, args: argparse.Namespace) -> int:
    sys.stdout.write(images_text(
        _summaries(rt, args), args.format, quiet=args.quiet, no_trunc=args.no_trunc,
        digests=args.digests, history=args.history, noheading=args.noheading,
        sort=args.sort))
    return 0


def cmd_history(rt: Runtime, args: argparse.Namespace) -> int:
    sys.stdout.write(history_text(eng.image_history(rt, args.image), args.format,
                                  human=args.human, no_trunc=args.no_trunc,
                                  quiet=args.quiet))
    return 0


def cmd_push(rt: Runtime, args: argparse.Namespace) -> int:
    out = eng.push_image(rt, args.image, args.destination, tls_verify=args.tls_verify,
                         authfile=args.authfile, creds=args.creds, fmt=args.format,
                         digestfile=args.digestfile, compression=args.compression_format)
    if not args.quiet:
        sys.stderr.write(out)  # skopeo's progress, where podman prints its own
    return 0


# ----- rmi, tag, prune ----------------------------------------------------------------


def cmd_rmi(rt: Runtime, args: argparse.Namespace) -> int:
    refs = list(args.images)
    if args.all and refs:
        raise UsageError("rmi: give images or --all, not both")
    if args.ignore:
        store = eng.image_store(rt)
        known = []
        for r in refs:
            try:
                store.lookup(r)
                known.append(r)
            except NoSuchImage:
                pass
        refs = known
        if not refs and not args.all:
            return 0
    rep = eng.remove_images(rt, refs, force=args.force, all=args.all)
    for name in rep.untagged:
        print(f"Untagged: {name}")
    for image_id in rep.deleted:
        print(f"Deleted: {image_id}")
    return 0


def cmd_tag(rt: Runtime, args: argparse.Namespace) -> int:
    eng.tag_image(rt, args.image, args.names)
    return 0


def cmd_untag(rt: Runtime, args: argparse.Namespace) -> int:
    eng.untag_image(rt, args.image, args.names or None)
    return 0


def cmd_prune(rt: Runtime, args: argparse.Namespace) -> int:
    rep = eng.prune_images(rt, all=args.all)
    for image_id in rep.deleted:
        print(image_id)
    return 0


def cmd_image_inspect(rt: Runtime, args: argparse.Namespace) -> int:
    store = eng.image_store(rt)
    out = []
    rc = 0
    for ref in args.images:
        try:
            out.append(image_inspect(rt, store.lookup(ref)))
        except NoSuchImage as exc:
            sys.stderr.write(f"Error: {exc}\n")
            rc = exc.exit_code
    sys.stdout.write(inspect_text(out, args.format))
    return rc


def cmd_exists(rt: Runtime, args: argparse.Namespace) -> int:
    try:
        eng.image_store(rt).lookup(args.image)
    except NoSuchImage:
        return 1
    return 0


# ----- import, save, load ------------------------------------------------------------


def cmd_import(rt: Runtime, args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        if args.source == "-":
            src = sys.stdin.buffer
        else:
            try:
                src = stack.enter_context(open(args.source, "rb"))
            except OSError as exc:
                raise OciError(f"cannot read {args.source}: {exc.strerror}") from None
        img = eng.import_image(rt, src, args.reference, args.change, args.message,
                               source=args.source)
    print(img.id)
    return 0


def cmd_commit(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.commit import commit_container
    from ..grammar.parser_images import commit_options

    res = commit_container(rt, args.container, args.image, commit_options(args))
    for note in res.notes:
        sys.stderr.write(f"Note: {note}\n")
    print(res.image.id)
    return 0


def cmd_save(rt: Runtime, args: argparse.Namespace) -> int:
    if args.output:
        eng.save_images_to(rt, args.images, args.output, args.format)
        return 0
    if sys.stdout.isatty():
        raise UsageError("refusing to write an archive to a terminal: use -o FILE or redirect")
    eng.save_images(rt, args.images, cast(BinaryIO, sys.stdout.buffer), args.format)
    sys.stdout.flush()
    return 0


def cmd_load(rt: Runtime, args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        if args.input:
            try:
                src: BinaryIO = stack.enter_context(open(args.input, "rb"))
            except OSError as exc:
                raise OciError(f"cannot read {args.input}: {exc.strerror}") from None
        else:
            if sys.stdin.isatty():
                raise UsageError("load reads an archive from stdin: use -i FILE or redirect")
            src = sys.stdin.buffer
        images = eng.load_images(rt, src)
    for img in images:
        for name in img.names or (f"sha256:{img.id}",):
            print(f"Loaded image: {name}")
    return 0


# ----- login, logout -------------------------------------------------------------------


def cmd_login(rt: Runtime, args: argparse.Namespace) -> int:
    if args.get_login:
        user = eng.stored_login(rt, args.registry, args.authfile)
        if user is None:
            raise OciError(f"not logged in to {eng.registry_host(args.registry)}")
        print(user)
        return 0
    username = args.username
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("login needs -u USER when stdin is not a terminal")
        username = input("Username: ")
    if args.password_stdin:
        if args.password is not None:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    elif args.password is not None:
        password = args.password
    else:
        if not sys.stdin.isatty():
            raise UsageError("login needs -p PASSWORD or --password-stdin when stdin is "
                             "not a terminal")
        import getpass

        password = getpass.getpass("Password: ")
    eng.login(rt, args.registry, username, password, args.authfile, args.tls_verify)
    print("Login Succeeded!")
    return 0


def cmd_logout(rt: Runtime, args: argparse.Namespace) -> int:
    if bool(args.all) == bool(args.registry):
        raise UsageError("logout needs a REGISTRY or --all (not both)")
    eng.logout(rt, None if args.all else args.registry, args.authfile)
    print(f"Removed login credentials for {'all registries' if args.all else args.registry}")
    return 0


# ----- the image group ---------------------------------------------------------------

_IMAGE_SUB: dict[str, Callable[[Runtime, argparse.Namespace], int]] = {
    "ls": cmd_images, "list": cmd_images, "pull": cmd_pull, "push": cmd_push,
    "history": cmd_history, "rm": cmd_rmi, "inspect": cmd_image_inspect, "tag": cmd_tag,
    "untag": cmd_untag, "prune": cmd_prune,
    "import": cmd_import, "save": cmd_save, "load": cmd_load, "exists": cmd_exists,
}


def cmd_image(rt: Runtime, args: argparse.Namespace) -> int:
    sub = getattr(args, "icmd", None)
    if sub not in _IMAGE_SUB:
        raise UsageError("missing subcommand: try 'ipy-oci image --help'")
    return _IMAGE_SUB[sub](rt, args)


HANDLERS: dict[str, Callable[[Runtime, argparse.Namespace], int]] = {
    "pull": cmd_pull, "push": cmd_push, "images": cmd_images, "history": cmd_history,
    "rmi": cmd_rmi, "tag": cmd_tag,
    "untag": cmd_untag, "import": cmd_import, "save": cmd_save, "load": cmd_load,
    "login": cmd_login, "logout": cmd_logout, "image": cmd_image, "commit": cmd_commit,
}
