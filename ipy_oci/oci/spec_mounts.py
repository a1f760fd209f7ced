"""Mounts: ``-v`` bind mounts, the standard filesystems, and /etc/{hosts,resolv.conf,hostname}."""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipy_oci.errors import UsageError

INIT_PATH = "/run/ipy-oci-init"

# podman's lists: kernel interfaces a container must not read (masked) or write (read-only).
MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
)
READONLY_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_PROPAGATION = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave",
                          "unbindable", "runbindable"})
_FLAGS = frozenset({"nosuid", "suid", "nodev", "dev", "noexec", "exec"})
# SELinux relabel flags mean nothing without SELinux; bind/rbind are what a bind is.
_IGNORED = frozenset({"z", "Z", "bind", "rbind"})
_VOLUME_FORM = ("HOST-DIR:CONTAINER-DIR[:OPTIONS], VOLUME-NAME:CONTAINER-DIR[:OPTIONS] or "
                "CONTAINER-DIR (an anonymous volume); OPTIONS: ro, rw, z, Z, nocopy, ...")
# podman's volume names (and container names).
VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


@dataclass
class BindMount:
    source: str
    destination: str
    readonly: bool = False
    # Extra mount options kept from -v (propagation, nosuid, noexec, nodev, ...).
    options: list[str] = field(default_factory=list)
    # A named volume (``-v NAME:/path``, ``--mount type=volume``): the engine creates it
    # if missing and sets ``source`` to its directory when the container is created.
    volume: str = ""
    # ``-v /path``: a volume made for this container (named when it is created).
    anonymous: bool = False
    # ``nocopy``: the image's files at the destination are not copied into a new volume.
    nocopy: bool = False
    # "bind" (also volumes), or "tmpfs" (--tmpfs, --mount type=tmpfs: source "tmpfs",
    # ``options`` as given; see spec_mountflags.tmpfs_spec_options).
    type: str = "bind"

    @classmethod
    def parse(cls, text: str) -> BindMount:
        """Parse ``-v HOST:CTR[:OPTS]``, ``-v NAME:CTR[:OPTS]`` or ``-v CTR``; a host
        path must be absolute and exist."""
        parts = text.split(":")
        if len(parts) == 1 and parts[0].startswith("/"):
            return cls._checked("", parts[0], "", text, anonymous=True)
        if len(parts) not in (2, 3) or any(not p for p in parts):
            raise UsageError(f"invalid volume {text!r}: expected {_VOLUME_FORM}")
        src, dst = parts[0], parts[1]
        opts = parts[2] if len(parts) == 3 else ""
        if src.startswith("/"):
            if not os.path.exists(src):
                raise UsageError(
                    f"invalid volume {text!r}: host path {src!r} does not exist; create it "
                    "first")
            return cls._checked(os.path.normpath(src), dst, opts, text)
        if src.startswith(".") or not VOLUME_NAME_RE.fullmatch(src):
            raise UsageError(
                f"invalid volume {text!r}: {src!r} is neither an absolute host path nor a "
                "volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
        return cls._checked("", dst, opts, text, volume=src)

    @classmethod
    def _checked(cls, src: str, dst: str, opts: str, text: str, *, volume: str = "",
                 anonymous: bool = False) -> BindMount:
        if not dst.startswith("/"):
            raise UsageError(f"invalid volume {text!r}: container path {dst!r} must be absolute")
        dst = posixpath.normpath(dst)
        if dst == "/":
            raise UsageError(f"invalid volume {text!r}: cannot mount over the container's /")
        readonly: bool | None = None
        nocopy: bool | None = None
        extra: list[str] = []
        for opt in opts.split(",") if opts else []:
            if opt in ("ro", "rw"):
                if readonly is not None and readonly != (opt == "ro"):
                    raise UsageError(f"invalid volume {text!r}: both ro and rw were given")
                readonly = opt == "ro"
            elif opt in ("copy", "nocopy"):
                if not (volume or anonymous):
                    raise UsageError(f"invalid volume {text!r}: {opt} applies to named "
                                     "volumes only, not to a host directory")
                if nocopy is not None and nocopy != (opt == "nocopy"):
                    raise UsageError(f"invalid volume {text!r}: both copy and nocopy given")
                nocopy = opt == "nocopy"
            elif opt in _PROPAGATION:
                if any(o in _PROPAGATION for o in extra):
                    raise UsageError(f"invalid volume {text!r}: more than one propagation option")
                extra.append(opt)
            elif opt in _FLAGS:
                extra.append(opt)
            elif opt in _IGNORED:
                continue
            else:
                raise UsageError(
                    f"invalid volume {text!r}: unknown option {opt!r}; use ro, rw, z, Z, "
                    "nosuid, nodev, noexec, [no]copy or a propagation mode (rprivate, "
                    "rshared, rslave)"
                )
        return cls(src, dst, bool(readonly), extra, volume=volume, anonymous=anonymous,
                   nocopy=bool(nocopy))

    def to_spec(self) -> dict[str, Any]:
        """The OCI mount entry (recursive bind, private unless told otherwise)."""
        if self.type == "tmpfs":
            from ipy_oci.oci.spec_mountflags import tmpfs_spec_options

            return {"destination": self.destination, "type": "tmpfs", "source": "tmpfs",
                    "options": tmpfs_spec_options(self)}
        if not self.source:
            raise UsageError(f"the volume for {self.destination} was not resolved to a "
                             "directory: create the container through the engine")
        # "bind" among the options (--mount bind-nonrecursive) replaces "rbind".
        opts = [] if "bind" in self.options else ["rbind"]
        if not any(o in _PROPAGATION for o in self.options):
            opts.append("rprivate")
        opts += self.options
        opts.append("ro" if self.readonly else "rw")
        return {
            "destination": self.destination,
            "type": "bind",
            "source": self.source,
            "options": opts,
        }


def default_mounts(shm_size: int, privileged: bool = False, *, rootless: str = "",
                   host_network: bool = False) -> list[dict[str, Any]]:
    """/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup.

    ``rootless`` ("subids"/"single"): a single-id namespace has no tty group for
    devpts; in the host's netns a user namespace may not mount a fresh sysfs (it
    belongs to the host's), so /sys is bound read-only and there is no cgroup mount.
    """
    ro = [] if privileged else ["ro"]
    pts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if rootless != "single":
        pts.append("gid=5")
    if rootless and host_network:
        sys_mounts = [{"destination": "/sys", "type": "bind", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}]
    else:
        sys_mounts = _sys_mounts(ro)
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            # podman's options: nothing on /dev can be executed (noexec).
            "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": pts,
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"],
        },
    ] + sys_mounts


def _sys_mounts(ro: list[str]) -> list[dict[str, Any]]:
    return [
        # runc (as real root) can mount a fresh sysfs even in the host's netns, so
        # --network host needs no /sys bind mount (podman binds it only when rootless).
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", *ro],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", *ro],
        },
    ]


def read_only_tmpfs_mounts() -> list[dict[str, Any]]:
    """Writable scratch space for --read-only containers, like podman's --read-only-tmpfs."""
    return [
        {
            "destination": d,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["rw", "rprivate", "nosuid", "nodev"],
        }
        for d in ("/run", "/tmp", "/var/tmp")
    ]


def etc_file_mount(destination: str, source: str) -> dict[str, Any]:
    """A writable bind of an engine-managed file such as /etc/hosts (podman keeps them rw)."""
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["bind", "rprivate", "rw"],
    }


def init_mount(init_path: str) -> dict[str, Any]:
    return {
        "destination": INIT_PATH,
        "type": "bind",
        "source": init_path,
        "options": ["bind", "rprivate", "ro", "nosuid", "nodev"],
    }


# --- /etc files ----------------------------------------------------------------------

_FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # docker's fallback when the host only has a stub


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def resolv_conf_text(network: str, host_file: str = "/etc/resolv.conf") -> str:
    """The container's resolv.conf: the host's, minus resolvers it cannot reach.

    With its own netns a container cannot reach a host-local stub (127.0.0.53 from
    systemd-resolved), so those nameservers are dropped, systemd-resolved's upstream
    file is preferred, and public resolvers fill in when nothing is left.
    """
    text = _read(host_file) or ""
    if network == "host":
        return text if text.strip() else "".join(f"nameserver {a}\n" for a in _FALLBACK_DNS)
    if any(
        _is_loopback(ln.split()[1])
        for ln in text.splitlines()
        if len(ln.split()) > 1 and ln.split()[0] == "nameserver"
    ):
        text = _read("/run/systemd/resolve/resolv.conf") or text
    lines, servers = [], 0
    for ln in text.splitlines():
        words = ln.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            if _is_loopback(words[1]):
                continue
            servers += 1
        lines.append(ln)
    if not servers:
        lines += [f"nameserver {a}" for a in _FALLBACK_DNS]
    return "\n".join(lines) + "\n"


def hosts_text(hostname: str, network: str, host_file: str = "/etc/hosts") -> str:
    """/etc/hosts: localhost entries, the host's entries for --network host, the hostname."""
    base = (
        "127.0.0.1\tlocalhost localhost.localdomain\n"
        "::1\tlocalhost localhost.localdomain ip6-localhost ip6-loopback\n"
    )
    if network == "host":
        host = _read(host_file)
        if host:
            base = host if host.endswith("\n") else host + "\n"
    return base + f"127.0.0.1\t{hostname}\n"


def write_etc_files(userdata: Path, hostname: str, network: str) -> dict[str, str]:
    """Write hosts, resolv.conf and hostname under ``userdata``; container path -> host file."""
    userdata.mkdir(parents=True, exist_ok=True)
    files = {
        "/etc/hosts": ("hosts", hosts_text(hostname, network)),
        "/etc/resolv.conf": ("resolv.conf", resolv_conf_text(network)),
        "/etc/hostname": ("hostname", hostname + "\n"),
    }
    out: dict[str, str] = {}
    for dest, (name, text) in files.items():
        path = userdata / name
        tmp = path.with_name(name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)  # never leave a half-written file for a starting container
        out[dest] = str(path)
    return out
