"""Rows of the state database as typed records, and the configs they carry.

One base (``Record``) maps a dataclass to its table's columns: JSON fields are
encoded through their config class, booleans are stored as integers. The
engine works with these records only; ``state.store`` turns them into SQL.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

_C = TypeVar("_C", bound="JsonConfig")
_R = TypeVar("_R", bound="Record")


class State:
    """Container states. STOPPED = exited but not yet cleaned up (mounts, runtime state).

    INITIALIZING and STARTING are intents, written before acting (conmon + ``runc
    create``; ``runc start``) by a process that holds the container's lock
    throughout: whoever later finds one under the lock knows its actor died
    half-way, and rolls it back or forward from the runtime's truth.
    """

    CONFIGURED = "configured"
    INITIALIZING = "initializing"
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"

    LIVE = (RUNNING, PAUSED, STOPPING)
    ACTIVE = (CREATED, RUNNING, PAUSED, STOPPING)
    INTENTS = (INITIALIZING, STARTING)

    @staticmethod
    def display(state: str) -> str:
        """Podman's words: made by ``create`` is "created", made in the runtime by
        ``init`` is "initialized", exited but not yet cleaned up is still "exited"."""
        return _DISPLAY.get(state, state)


_DISPLAY = {State.CONFIGURED: "created", State.INITIALIZING: "created",
            State.CREATED: "initialized", State.STARTING: "initialized",
            State.STOPPED: "exited"}


class ExecState:
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


class JsonConfig:
    """A dataclass stored as one JSON column; unknown keys (older or newer rows) are
    ignored so a schema change never breaks reading."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[_C], text: str) -> _C:
        data = json.loads(text)
        known = _FIELD_NAMES.get(cls)
        if known is None:
            known = _FIELD_NAMES[cls] = frozenset(
                f.name for f in fields(cls))  # type: ignore[arg-type]
        if len(data) == len(known) and known.issuperset(data):
            # Written by this version: every field is there, so ``__init__`` (and its
            # defaults) has nothing to add. ``ps`` decodes one config per row.
            obj: _C = object.__new__(cls)
            obj.__dict__.update(data)
            return obj
        return cls(**{k: v for k, v in data.items() if k in known})


# Field names per config class, computed once (``ps`` decodes a config per row).
_FIELD_NAMES: dict[type, frozenset[str]] = {}


@dataclass
class ContainerConfig(JsonConfig):
    """What the user asked for; persisted as JSON in the containers row."""

    image: str
    command: list[str]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    tty: bool = False
    stdin: bool = False
    hostname: str = ""
    network: str = "none"
    mounts: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    stop_signal: int = 15
    stop_timeout: int = 10
    init: bool = False
    auto_remove: bool = False
    privileged: bool = False
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    ulimits: list[str] = field(default_factory=list)
    memory: int | None = None
    pids_limit: int | None = None
    cpus: float | None = None
    shm_size: int | None = None
    # The OCI runtime (runc, crun or a path) the container was created with; every
    # later operation uses the same one. "" means the configured default.
    runtime: str = ""
    # Where the container runs: "" here, "slurm" as a Slurm job (engine/slurm.py),
    # submitted with ``slurm_opts`` (sbatch's options, as the user gave them).
    backend: str = ""
    slurm_opts: list[str] = field(default_factory=list)
    # PID 1 is catatonit in pause mode and only idles; work runs as exec sessions
    # (what ``%%oci run`` uses, so any image works, with or without a sleep binary).
    idle: bool = False
    # --security-opt values, normalized by the grammar (seccomp=unconfined|/abs/path,
    # no-new-privileges, mask=..., unmask=..., label=..., apparmor=...); see
    # oci/spec_seccomp.py. [] means podman's defaults (the default seccomp profile).
    security_opt: list[str] = field(default_factory=list)
    # Networking (engine/networks.py). ``network`` is "bridge" (connected to
    # ``networks``, the default network when empty), "none", "host",
    # "container:<full id>" or "ns:<path>".
    networks: list[str] = field(default_factory=list)
    network_aliases: list[str] = field(default_factory=list)
    static_ip: str = ""
    static_mac: str = ""
    # Resolved port mappings (PortMapping.to_json(): host ports already picked).
    ports: list[dict[str, Any]] = field(default_factory=list)
    # Exposed ports as "80/tcp" (--expose and the image's ExposedPorts).
    expose: list[str] = field(default_factory=list)
    dns_servers: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)
    no_hosts: bool = False
    publish_all: bool = False
    # -- more of podman's run/create flags (grammar/options.py checks them) --
    # --device: {"path_on_host", "path_in_container", "permissions"} (major/minor are
    # read from the host node when the spec is built).
    devices: list[dict[str, str]] = field(default_factory=list)
    device_cgroup_rules: list[str] = field(default_factory=list)  # as given, checked
    group_add: list[str] = field(default_factory=list)  # names or gids, as given
    sysctls: dict[str, str] = field(default_factory=dict)
    cpuset_cpus: str = ""
    cpu_shares: int | None = None
    memory_swap: int | None = None  # bytes of memory+swap; -1 unlimited
    timezone: str = ""  # --tz: a zone under /usr/share/zoneinfo, or "local"
    timeout: int = 0  # --timeout: conmon kills the container after this many seconds
    # --restart: "" (none given), "no", "on-failure", "always", "unless-stopped";
    # the restarts themselves are counted in engine/restart.py.
    restart_policy: str = ""
    restart_retries: int = 0  # on-failure:N; 0 = no limit
    # --log-driver / --log-opt: k8s-file (or its alias json-file, kept as given),
    # none or passthrough; log_path "" is <bundle>/ctr.log; log_size_max 0 = unlimited.
    log_driver: str = "k8s-file"
    log_path: str = ""
    log_size_max: int = 0
    log_tag: str = ""
    cidfile: str = ""  # --cidfile, shown as HostConfig.ContainerIDFile
    conmon_pidfile: str = ""  # --conmon-pidfile: conmon's pid is also written here


@dataclass
class ExecConfig(JsonConfig):
    command: list[str]
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = DEFAULT_DETACH_KEYS
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    privileged: bool = False
    preserve_fds: int = 0
    # Run conmon's exit command (``container cleanup --exec``) when the process ends.
    exit_command: bool = True


class Record:
    """A row: dataclass fields are the table's columns, in order."""

    TABLE: ClassVar[str]
    # field name -> the config class its JSON column decodes to
    JSON_FIELDS: ClassVar[dict[str, type[JsonConfig]]] = {}
    BOOL_FIELDS: ClassVar[tuple[str, ...]] = ()

    id: str

    @classmethod
    def from_row(cls: type[_R], row: sqlite3.Row) -> _R:
        d = dict(row)
        for name, kind in cls.JSON_FIELDS.items():
            d[name] = kind.from_json(d[name])
        for name in cls.BOOL_FIELDS:
            d[name] = bool(d[name])
        return cls(**d)

    def column(self, name: str) -> Any:
        """The value of one field as stored in its column."""
        value = getattr(self, name)
        if name in self.JSON_FIELDS:
            return value.to_json()
        if name in self.BOOL_FIELDS:
            return int(value)
        return value

    def columns(self) -> dict[str, Any]:
        return {f.name: self.column(f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass
class ContainerRecord(Record):
    TABLE: ClassVar[str] = "containers"
    JSON_FIELDS: ClassVar[dict[str, type[JsonConfig]]] = {"config": ContainerConfig}
    BOOL_FIELDS: ClassVar[tuple[str, ...]] = ("oom_killed",)

    id: str
    name: str
    image_id: str
    image_name: str
    created_at: float
    state: str
    config: ContainerConfig
    pid: int = 0
    pid_start: int = 0
    conmon_pid: int = 0
    conmon_start: int = 0
    exit_code: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    oom_killed: bool = False
    rootfs: str = ""
    owner_kernel: str = ""


@dataclass
class ExecRecord(Record):
    TABLE: ClassVar[str] = "exec_sessions"
    JSON_FIELDS: ClassVar[dict[str, type[JsonConfig]]] = {"config": ExecConfig}
    BOOL_FIELDS: ClassVar[tuple[str, ...]] = ("attached",)

    id: str
    container_id: str
    state: str
    config: ExecConfig
    created_at: float
    pid: int = 0
    pid_start: int = 0
    conmon_pid: int = 0
    conmon_start: int = 0
    exit_code: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    attached: bool = False
    owner_pid: int = 0
    owner_start: int = 0
    owner_kernel: str = ""


@dataclass
class SlurmJobRecord(Record):
    """A container run as a Slurm job (``id`` is the container's id)."""

    TABLE: ClassVar[str] = "slurm_jobs"

    id: str
    job_id: str = ""
    node: str = ""
    partition: str = ""
    node_runroot: str = ""
    job_state: str = ""
    reason: str = ""
    submitted_at: float = 0.0


# -- networks (tables in db.NETWORK_SCHEMA) ---------------------------------------------
@dataclass
class NetworkConfig(JsonConfig):
    """A network's settings, stored as JSON in its row (podman's network JSON fields)."""

    # [{"subnet": "10.89.240.0/24", "gateway": "10.89.240.1"}]; gateway may be absent
    # (an internal network without DNS has none).
    subnets: list[dict[str, str]] = field(default_factory=list)
    ipv6_enabled: bool = False
    internal: bool = False
    dns_enabled: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] = field(default_factory=dict)


@dataclass
class NetworkRecord(Record):
    TABLE: ClassVar[str] = "networks"
    JSON_FIELDS: ClassVar[dict[str, type[JsonConfig]]] = {"config": NetworkConfig}

    id: str
    name: str
    driver: str
    interface: str
    created_at: float
    config: NetworkConfig
    ipam_last: str = ""


@dataclass
class AttachmentRecord:
    """A container connected to a network; ``ip`` is set while the network is set up."""

    container_id: str
    network_id: str
    interface: str
    created_at: float
    aliases: list[str] = field(default_factory=list)
    static_ip: str = ""
    static_mac: str = ""
    ip: str | None = None
    mac: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AttachmentRecord:
        d = dict(row)
        d["aliases"] = json.loads(d["aliases"])
        return cls(**d)

    def columns(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["aliases"] = json.dumps(self.aliases)
        return out


# -- volumes (table in db.VOLUME_SCHEMA) -------------------------------------------------
@dataclass
class VolumeConfig(JsonConfig):
    """A volume's settings, stored as JSON in its row."""

    labels: dict[str, str] = field(default_factory=dict)
    # The -o options as given (podman's Options): type, device, o, copy/nocopy.
    options: dict[str, str] = field(default_factory=dict)
    # Made for one container by ``-v /path`` (podman's Anonymous); removed with it
    # by ``rm -v`` and ``--rm``.
    anonymous: bool = False
    # A bind volume (-o type=bind -o device=PATH): the host directory it stands for.
    device: str = ""
    # o=uid=N,gid=N: the owner given to the volume's directory (-1: unchanged).
    uid: int = -1
    gid: int = -1


@dataclass
class VolumeRecord:
    """A volume row (its name is its key: podman's volumes have no ID)."""

    TABLE: ClassVar[str] = "volumes"

    name: str
    driver: str
    created_at: float
    config: VolumeConfig
    needs_copy_up: bool = True

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> VolumeRecord:
        d = dict(row)
        d["config"] = VolumeConfig.from_json(d["config"])
        d["needs_copy_up"] = bool(d["needs_copy_up"])
        return cls(**d)

    def columns(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["config"] = self.config.to_json()
        out["needs_copy_up"] = int(self.needs_copy_up)
        return out
