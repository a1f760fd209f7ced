"""``--user`` resolution against the image's own /etc/passwd and /etc/group.

The rootfs belongs to an image, so it is untrusted: files are read with every path
component resolved as if the rootfs were ``/`` (symlinks and ``..`` cannot leave it).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from ipy_oci.errors import UsageError
from ipy_oci.userns.enter import in_userns

MAX_ID = 2**32 - 2  # (uid_t)-1 means "no change" to the kernel
_MAX_FILE = 4 << 20  # a passwd file bigger than this is hostile, not real
_MAX_LINKS = 40  # same budget as the kernel's path walk


class UnknownUser(UsageError):
    """``--user`` names a user or group the image does not define."""


def read_in_root(rootfs: str, path: str, limit: int = _MAX_FILE) -> str | None:
    """Text of regular file ``path`` inside ``rootfs``; None when it does not exist.

    Walks the path one component at a time with O_PATH|O_NOFOLLOW descriptors and
    resolves symlinks ourselves, clamping ``..`` and absolute targets at the rootfs.
    """
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    stack = [root_fd]  # fds of the directories walked so far; stack[0] is the root
    try:
        todo = [c for c in path.split("/") if c][::-1]
        links = 0
        while todo:
            comp = todo.pop()
            if comp == ".":
                continue
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = os.open(comp, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            except FileNotFoundError:
                return None
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                os.close(fd)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many symlinks", path)
                target = os.readlink(comp, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo.extend([c for c in target.split("/") if c][::-1])
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                return None
            stack.append(fd)
        if len(stack) == 1 or not stat.S_ISREG(os.fstat(stack[-1]).st_mode):
            return None
        # Reopening the O_PATH fd through procfs cannot be redirected by a racing rename.
        with open(f"/proc/self/fd/{stack[-1]}", "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"file is larger than {limit} bytes", path)
        return data.decode("utf-8", "replace")
    finally:
        for fd in stack:
            os.close(fd)


@dataclass
class _Passwd:
    name: str
    uid: int
    gid: int
    home: str


@dataclass
class _Group:
    name: str
    gid: int
    members: list[str]


def _parse_id(text: str) -> int | None:
    text = text.strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def parse_passwd(text: str) -> list[_Passwd]:
    """Entries of a passwd file; malformed lines are skipped, as libc does."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) < 4:
            continue
        uid, gid = _parse_id(f[2]), _parse_id(f[3])
        if uid is None or gid is None:
            continue
        out.append(_Passwd(f[0], uid, gid, f[5] if len(f) > 5 and f[5] else "/"))
    return out


def parse_group(text: str) -> list[_Group]:
    """Entries of a group file; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) < 3:
            continue
        gid = _parse_id(f[2])
        if gid is None:
            continue
        members = [m.strip() for m in f[3].split(",") if m.strip()] if len(f) > 3 else []
        out.append(_Group(f[0], gid, members))
    return out


@in_userns
def resolve_user(rootfs: str, user: str, image: str = "") -> tuple[int, int, list[int], str]:
    """``--user`` -> (uid, gid, supplementary gids, home) as seen inside the image.

    Forms: "" (root), "name", "uid", "name:group", "uid:gid" (and mixes). A numeric uid
    absent from passwd is allowed (gid 0, home "/"), like runc; a name must exist.
    Supplementary groups come from /etc/group only when no group was given.
    """
    where = f" in image {image}" if image else ""
    user = user.strip()
    user_part, sep, group_part = user.partition(":")
    if sep and not group_part:
        raise UsageError(f"invalid user {user!r}: expected USER[:GROUP], e.g. 1000:1000")
    if not user_part:
        if sep:
            raise UsageError(f"invalid user {user!r}: the user part is empty")
        user_part = "0"

    passwd = parse_passwd(read_in_root(rootfs, "/etc/passwd") or "")
    num = _parse_id(user_part)
    if user_part.isdigit() and num is None:
        raise UsageError(f"invalid user {user!r}: uid {user_part} is out of range")
    match = next((p for p in passwd if p.name == user_part or p.uid == num), None)
    if match is None and num is None:
        raise UnknownUser(
            f"unable to find user {user_part}: no matching entries in passwd file{where}"
        )
    if match is not None:
        uid, gid, home = match.uid, match.gid, match.home
    else:
        uid, gid, home = num or 0, 0, "/"

    sgids: list[int] = []
    groups = parse_group(read_in_root(rootfs, "/etc/group") or "")
    if group_part:
        gnum = _parse_id(group_part)
        if group_part.isdigit() and gnum is None:
            raise UsageError(f"invalid user {user!r}: gid {group_part} is out of range")
        gmatch = next((g for g in groups if g.name == group_part or g.gid == gnum), None)
        if gmatch is None and gnum is None:
            raise UnknownUser(
                f"unable to find group {group_part}: no matching entries in group file{where}"
            )
        gid = gmatch.gid if gmatch is not None else (gnum or 0)
    elif match is not None:
        for g in groups:
            if match.name in g.members and g.gid != gid and g.gid not in sgids:
                sgids.append(g.gid)
    return uid, gid, sgids, home


@in_userns
def resolve_groups(rootfs: str, groups: list[str], image: str = "") -> list[int]:
    """``--group-add`` values (names or gids) -> gids, names looked up in the image's
    /etc/group (a gid need not exist there, as in podman)."""
    if not groups:
        return []
    where = f" in image {image}" if image else ""
    entries = parse_group(read_in_root(rootfs, "/etc/group") or "")
    out: list[int] = []
    for g in groups:
        num = _parse_id(g)
        if g.isdigit() and num is None:
            raise UsageError(f"invalid --group-add {g!r}: gid {g} is out of range")
        if num is None:
            match = next((e for e in entries if e.name == g), None)
            if match is None:
                raise UnknownUser(f"unable to find group {g}: no matching entries in group "
                                  f"file{where} (--group-add takes a group name the image "
                                  "defines, or a numeric gid)")
            num = match.gid
        if num not in out:
            out.append(num)
    return out
