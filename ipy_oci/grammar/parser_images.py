"""The image commands' grammar: pull, images, rmi, tag, untag, import, commit, save,
load, login, logout, and the ``image`` group (podman's flag names)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..engine.commit import CommitOptions

AddFn = Callable[..., argparse.ArgumentParser]

# The top-level commands add_image_commands registers (main.py can dispatch on
# these without importing the handlers up front).
IMAGE_COMMANDS = ("pull", "push", "images", "history", "rmi", "tag", "untag", "import", "save",
                  "load", "login", "logout", "image", "commit")


def parse_bool(text: str) -> bool:
    """``--tls-verify=false`` and friends."""
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise UsageError(f"invalid boolean {text!r}: use true or false")


def _tls_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-verify", nargs="?", const=True, default=None, type=parse_bool,
                   metavar="BOOL", help="require HTTPS and verified certificates (default: "
                   "true, except for registries on localhost/127.0.0.1); write "
                   "--tls-verify=false")


def _auth_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--authfile", default=None,
                   help="auth file (default: $REGISTRY_AUTH_FILE, else ROOT/auth.json)")
    _tls_flag(p)


def add_pull_flags(p: argparse.ArgumentParser, *, with_image: bool = True) -> None:
    """Flags of ``pull``; run/create can share them (without the positional)."""
    p.add_argument("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
                   help="pull the image for this platform from a manifest list")
    p.add_argument("--arch", default=None, help="override the architecture (like --platform)")
    p.add_argument("--os", default=None, help="override the OS (like --platform)")
    p.add_argument("--variant", default=None, help="override the CPU variant")
    p.add_argument("--creds", default=None, metavar="USER[:PASSWORD]",
                   help="credentials for this pull only")
    _auth_flags(p)
    if with_image:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.add_argument("image", metavar="IMAGE")


def _images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="show image IDs only")
    p.add_argument("-a", "--all", action="store_true", help="all images (there are no "
                   "intermediate images; kept for podman compatibility)")
    p.add_argument("--format", default=None,
                   help="json, or a Go template ('{{.Repository}}:{{.Tag}}', "
                   "'table {{.ID}} {{.Size}}')")
    p.add_argument("--no-trunc", action="store_true", help="full image IDs")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.add_argument("--history", action="store_true", help="show the names each image had")
    p.add_argument("-n", "--noheading", action="store_true", help="no header line")
    p.add_argument("--sort", default="created",
                   choices=["created", "id", "repository", "size", "tag"],
                   help="order of the rows (created: newest first)")
    p.add_argument("-f", "--filter", action="append", default=[],
                   metavar="KEY=VALUE", help="reference, dangling, label, label!, before, "
                   "since, id, until, readonly")
    p.add_argument("image", nargs="?", default=None, metavar="REPOSITORY[:TAG]",
                   help="only images with this name (a reference filter)")


def _history_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-H", "--human", nargs="?", const=True, default=True, type=parse_bool,
                   metavar="BOOL", help="sizes and times for humans (default true; "
                   "--human=false prints RFC 3339 times)")
    p.add_argument("--no-trunc", action="store_true", help="full IDs and CREATED BY")
    p.add_argument("-q", "--quiet", action="store_true", help="IDs only")
    p.add_argument("--format", default=None,
                   help="json, or a Go template ('{{.ID}} {{.CreatedBy}} {{.Size}}')")
    p.add_argument("image", metavar="IMAGE")


def _push_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--creds", default=None, metavar="USER[:PASSWORD]",
                   help="credentials for this push only")
    _auth_flags(p)
    p.add_argument("-f", "--format", default=None, choices=["oci", "v2s2", "v2s1"],
                   help="manifest type to push (default: the image's own)")
    p.add_argument("--compression-format", default=None, choices=["gzip", "zstd"],
                   help="recompress the layers")
    p.add_argument("--digestfile", default=None, metavar="FILE",
                   help="write the pushed manifest's digest to FILE")
    p.add_argument("--remove-signatures", action="store_true",
                   help="(no signatures are stored: always the case)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("destination", nargs="?", default=None,
                   metavar="[docker://]REGISTRY/NAME[:TAG]",
                   help="default: the image's name; also oci:DIR, oci-archive:FILE, "
                   "docker-archive:FILE, dir:DIR")


def _rmi_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="also remove containers using the image, and multi-named images")
    p.add_argument("-a", "--all", action="store_true", help="remove every image")
    p.add_argument("-i", "--ignore", action="store_true", help="ignore unknown images")
    p.add_argument("images", nargs="*", metavar="IMAGE")


def _tag_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("names", nargs="+", metavar="NAME")


def _untag_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every name")


def _import_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--change", action="append", default=[],
                   metavar="INSTRUCTION", help='e.g. CMD ["/bin/sh"], ENV A=b, WORKDIR /x')
    p.add_argument("-m", "--message", default="", help="commit message for the history")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("source", metavar="FILE|-", help="a rootfs tarball (plain or compressed)")
    p.add_argument("reference", nargs="?", default=None, metavar="NAME")


def _commit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--author", default="", help="the image's author")
    p.add_argument("-c", "--change", action="append", default=[], metavar="INSTRUCTION",
                   help="CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or "
                   'WORKDIR, e.g. CMD ["/bin/sh"], ENV A=b')
    p.add_argument("-m", "--message", default="", help="commit message for the history")
    from .parser_files import _bool_flag  # podman's --flag=false, as cp's flags

    _bool_flag(p, "-p", "--pause", "pause", False, "pause a running container while its "
               "files are read (where pausing needs a cgroup this host lacks: a note, no "
               "pause)")
    p.add_argument("-f", "--format", default="oci", help="image format: oci (docker is "
                   "refused: commit, then 'push --format v2s2')")
    p.add_argument("-s", "--squash", action="store_true",
                   help="(not supported: refused)")
    p.add_argument("-q", "--quiet", action="store_true", help="print the image ID only "
                   "(always the case)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("image", nargs="?", default=None, metavar="IMAGE",
                   help="name for the image (a short name becomes localhost/NAME:latest)")


def commit_options(args: argparse.Namespace) -> CommitOptions:
    """``commit``'s flags as the engine's options."""
    from ..engine.commit import CommitOptions

    return CommitOptions(message=args.message, author=args.author, changes=list(args.change),
                         pause=args.pause, format=args.format, squash=args.squash)


def _save_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default=None, help="write to FILE (default: stdout)")
    p.add_argument("--format", default="docker-archive",
                   choices=["oci-archive", "docker-archive"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def _load_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", default=None, help="read FILE (default: stdin)")
    p.add_argument("-q", "--quiet", action="store_true")


def _inspect_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", default=None,
                   help="json, or a Go template per image ('{{.Id}} {{.Size}}')")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def _prune_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true",
                   help="remove every image no container uses, not just unnamed ones")
    p.add_argument("-f", "--force", action="store_true", help="do not ask (never asks)")


def add_image_commands(sub: argparse._SubParsersAction, add: AddFn) -> None:
    """Register the image commands on the top-level subparsers ``sub``.

    ``add(name, help)`` is build_parser's helper (``sub`` is passed for symmetry
    with other modules and to reach the parser class for the ``image`` group).
    """
    del sub  # everything goes through add()
    add_pull_flags(add("pull", "pull an image from a registry"))
    _push_flags(add("push", "push an image to a registry (through skopeo)"))
    _images_flags(add("images", "list images"))
    _history_flags(add("history", "show an image's history"))
    _rmi_flags(add("rmi", "remove images"))
    _tag_flags(add("tag", "add names to an image"))
    _untag_flags(add("untag", "remove names from an image"))
    _import_flags(add("import", "make an image of a root filesystem tarball"))
    _commit_flags(add("commit", "make an image of a container's changes"))
    _save_flags(add("save", "write images to an oci-archive or docker-archive"))
    _load_flags(add("load", "read images from an oci-archive or docker-archive"))

    p = add("login", "log in to a registry (credentials go to the auth file)")
    p.add_argument("-u", "--username", default=None)
    p.add_argument("-p", "--password", default=None)
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--get-login", action="store_true", help="print the stored user name")
    _auth_flags(p)
    p.add_argument("registry", metavar="REGISTRY")

    p = add("logout", "remove the credentials for a registry")
    p.add_argument("--authfile", default=None)
    p.add_argument("-a", "--all", action="store_true", help="every registry")
    p.add_argument("registry", nargs="?", default=None, metavar="REGISTRY")

    p = add("image", "manage images")
    isub = p.add_subparsers(dest="icmd", metavar="SUBCOMMAND", parser_class=type(p))
    for names, hlp, flags in (
        (("ls", "list"), "list images", _images_flags),
        (("pull",), "pull an image", add_pull_flags),
        (("push",), "push an image to a registry", _push_flags),
        (("history",), "show an image's history", _history_flags),
        (("rm",), "remove images", _rmi_flags),
        (("inspect",), "show images as JSON", _inspect_flags),
        (("tag",), "add names to an image", _tag_flags),
        (("untag",), "remove names from an image", _untag_flags),
        (("prune",), "remove unused images and free their layers", _prune_flags),
        (("import",), "make an image of a rootfs tarball", _import_flags),
        (("save",), "write images to an archive", _save_flags),
        (("load",), "read images from an archive", _load_flags),
        (("exists",), "exit 0 if the image exists locally, else 1",
         lambda q: q.add_argument("image", metavar="IMAGE")),
        # Listed for help only: "image build ..." is parsed as "build ..." (parser.py).
        (("build",), "build an image from a Containerfile (ipy-oci build --help)",
         lambda q: None),
    ):
        flags(isub.add_parser(names[0], aliases=list(names[1:]), help=hlp))
