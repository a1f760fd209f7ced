"""Build a stand-in for quay.io/libpod/testimage:20220615 as a rootfs tarball.

Content: ipy-oci's built-in busybox layer (host busybox-static), an alpine-style
/etc/passwd and /etc/group (the real testimage is alpine 3.16), and the two files
podman's build-testimage script adds: /home/podman/testimage-id (YMD, mtime
1600000000) and /home/podman/pause.  WORKDIR/CMD/LABELs are set at import time.
"""
from __future__ import annotations

import io
import sys
import tarfile
from typing import IO

from ipy_oci.images.builtin import build_layer

PASSWD = """root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/mail:/sbin/nologin
news:x:9:13:news:/usr/lib/news:/sbin/nologin
uucp:x:10:14:uucp:/var/spool/uucppublic:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
man:x:13:15:man:/usr/man:/sbin/nologin
postmaster:x:14:12:postmaster:/var/mail:/sbin/nologin
cron:x:16:16:cron:/var/spool/cron:/sbin/nologin
ftp:x:21:21::/var/lib/ftp:/sbin/nologin
sshd:x:22:22:sshd:/dev/null:/sbin/nologin
at:x:25:25:at:/var/spool/cron/atjobs:/sbin/nologin
squid:x:31:31:Squid:/var/cache/squid:/sbin/nologin
xfs:x:33:33:X Font Server:/etc/X11/fs:/sbin/nologin
games:x:35:35:games:/usr/games:/sbin/nologin
cyrus:x:85:12::/usr/cyrus:/sbin/nologin
vpopmail:x:89:89::/var/vpopmail:/sbin/nologin
ntp:x:123:123:NTP:/var/empty:/sbin/nologin
smmsp:x:209:209:smmsp:/var/spool/mqueue:/sbin/nologin
guest:x:405:100:guest:/dev/null:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
"""
GROUP = """root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
sys:x:3:root,bin,adm
adm:x:4:root,adm,daemon
tty:x:5:
disk:x:6:root,adm
lp:x:7:lp
mem:x:8:
kmem:x:9:
wheel:x:10:root
floppy:x:11:root
mail:x:12:mail
news:x:13:news
uucp:x:14:uucp
man:x:15:man
cron:x:16:cron
console:x:17:
audio:x:18:
cdrom:x:19:
dialout:x:20:root
ftp:x:21:
sshd:x:22:
input:x:23:
at:x:25:at
tape:x:26:root
video:x:27:root
netdev:x:28:
readproc:x:30:
squid:x:31:squid
xfs:x:33:xfs
kvm:x:34:kvm
games:x:35:
shadow:x:42:
cdrw:x:80:
www-data:x:82:
usb:x:85:
vpopmail:x:89:
users:x:100:games
ntp:x:123:
nofiles:x:200:
smmsp:x:209:smmsp
locate:x:245:
abuild:x:300:
utmp:x:406:
ping:x:999:
nogroup:x:65533:
nobody:x:65534:
"""
# Debian's busybox-static has no printenv applet; alpine's busybox (the real
# testimage) has one.  A small script with the same output.
PRINTENV = """#!/bin/sh
[ $# -eq 0 ] && exec /bin/env
rc=0
for name in "$@"; do
    if /bin/env | /bin/grep -q "^$name="; then /bin/env | /bin/sed -n "s/^$name=//p"; else rc=1; fi
done
exit $rc
"""
PAUSE = """#!/bin/sh
#
# Trivial little pause script, used in one of the pod tests
#
echo Confirmed: testimage pause invoked as $0
while :; do
    sleep 0.1
done
"""


def entry(name: str, data: bytes | None = None, mode: int = 0o644, mtime: int = 0,
          kind: bytes = tarfile.REGTYPE) -> tuple[tarfile.TarInfo, IO[bytes] | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    if data is not None:
        info.size = len(data)
    return info, (io.BytesIO(data) if data is not None else None)


def main(out: str) -> None:
    mtab = entry("etc/mtab", mode=0o777, kind=tarfile.SYMTYPE)
    mtab[0].linkname = "../proc/mounts"  # as in alpine
    penv = entry("usr/bin/printenv", mode=0o777, kind=tarfile.SYMTYPE)
    penv[0].linkname = "../../bin/printenv"
    with tarfile.open(fileobj=io.BytesIO(build_layer())) as base, \
            tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for member in base.getmembers():
            if member.name in ("etc/passwd", "etc/group", "home/user"):
                continue
            tf.addfile(member, base.extractfile(member) if member.isfile() else None)
        for info, data in (
            entry("etc/passwd", PASSWD.encode()),
            entry("etc/group", GROUP.encode()),
            entry("bin/printenv", PRINTENV.encode(), mode=0o755),
            penv,
            mtab,
            entry("home/podman", mode=0o755, kind=tarfile.DIRTYPE),
            entry("home/podman/testimage-id", b"20220615\n", mtime=1600000000),
            entry("home/podman/pause", PAUSE.encode(), mode=0o755),
        ):
            tf.addfile(info, data)


main(sys.argv[1])
