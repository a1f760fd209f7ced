"""The image commands' grammar: pull, images, rmi, tag, untag, import, save, load,
login, logout, and the ``image`` group (podman's flag names)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..errors import UsageError

AddFn = Callable[..., argparse.ArgumentParser]

# The top-level commands add_image_commands registers (main.py can dispatch on
# these without importing the handlers up front).
IMAGE_COMMANDS = ("pull", "images", "rmi", "tag", "untag", "import", "save", "load", "login",
                  "logout", "image")


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
    p.add_argument("--format", default=None, help="json")
    p.add_argument("--no-trunc", action="store_true", help="full image IDs")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.add_argument("-n", "--noheading", action="store_true", help="no header line")
    p.add_argument("-f", "--filter", action="append", default=[],
                   metavar="dangling=BOOL|reference=NAME")


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
    p.add_argument("--format", default="json", choices=["json"])
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
    _images_flags(add("images", "list images"))
    _rmi_flags(add("rmi", "remove images"))
    _tag_flags(add("tag", "add names to an image"))
    _untag_flags(add("untag", "remove names from an image"))
    _import_flags(add("import", "make an image of a root filesystem tarball"))
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
    ):
        flags(isub.add_parser(names[0], aliases=list(names[1:]), help=hlp))
