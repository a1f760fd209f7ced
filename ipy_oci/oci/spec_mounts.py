"""Mounts: ``-v`` bind mounts, the standard filesystems, and /etc/{hosts,resolv.conf,hostname}."""

from __future__ import annotations

import ipaddress
import os
import posixpath
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

_PROPAGATION = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
_FLAGS = frozenset({"nosuid", "suid", "nodev", "dev", "noexec", "exec"})
# SELinux relabel and volume-copy flags mean nothing without SELinux and named volumes.
_IGNORED = frozenset({"z", "Z", "copy", "nocopy", "bind", "rbind"})
_VOLUME_FORM = "HOST-DIR:CONTAINER-DIR[:OPTIONS] with absolute paths (OPTIONS: ro, rw, z, Z, ...)"


@dataclass
class BindMount:
    source: str
    destination: str
    readonly: bool = False
    # Extra mount options kept from -v (propagation, nosuid, noexec, nodev, ...).
    options: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> BindMount:
        """Parse ``-v HOST:CTR[:OPTS]``; the host path must be absolute and exist."""
        parts = text.split(":")
        if len(parts) == 1 or not parts[0]:
            raise UsageError(
                f"invalid volume {text!r}: anonymous volumes are not supported; "
                f"expected {_VOLUME_FORM}"
            )
        if len(parts) > 3 or any(not p for p in parts):
            raise UsageError(f"invalid volume {text!r}: expected {_VOLUME_FORM}")
        src, dst = parts[0], parts[1]
        if not src.startswith("/"):
            raise UsageError(
                f"invalid volume {text!r}: {src!r} looks like a named volume, which ipy-oci "
                "does not support; give an absolute host path instead"
            )
        if not os.path.exists(src):
            raise UsageError(
                f"invalid volume {text!r}: host path {src!r} does not exist; create it first"
            )
        if not dst.startswith("/"):
            raise UsageError(f"invalid volume {text!r}: container path {dst!r} must be absolute")
        dst = posixpath.normpath(dst)
        if dst == "/":
            raise UsageError(f"invalid volume {text!r}: cannot mount over the container's /")
        readonly: bool | None = None
        extra: list[str] = []
        for opt in parts[2].split(",") if len(parts) == 3 else []:
            if opt in ("ro", "rw"):
                if readonly is not None and readonly != (opt == "ro"):
                    raise UsageError(f"invalid volume {text!r}: both ro and rw were given")
                readonly = opt == "ro"
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
                    "nosuid, nodev, noexec or a propagation mode (rprivate, rshared, rslave)"
                )
        return cls(os.path.normpath(src), dst, bool(readonly), extra)

    def to_spec(self) -> dict[str, Any]:
        """The OCI mount entry (recursive bind, private unless told otherwise)."""
        opts = ["rbind"]
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


def default_mounts(shm_size: int, privileged: bool = False) -> list[dict[str, Any]]:
    """/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup."""
    ro = [] if privileged else ["ro"]
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
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
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
