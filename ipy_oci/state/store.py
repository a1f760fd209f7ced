"""StateStore: every read and write of the state database, as domain calls.

No SQL lives outside ``ipy_oci/state/``: the engine saves and loads records,
asks for the sessions of a container in given states, and groups calls in one
``transaction()`` where they must be atomic. Lookups by ID prefix escape
LIKE's wildcards, so ``%`` or ``_`` in a reference never match anything.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import (
    AmbiguousRef,
    InvalidState,
    NameInUse,
    NoSuchContainer,
    NoSuchExecSession,
    StateDiskFull,
)
from .db import NETWORK_SCHEMA, VOLUME_SCHEMA, StateDB
from .records import (
    AttachmentRecord,
    ContainerRecord,
    ExecRecord,
    ExecState,
    NetworkRecord,
    Record,
    SlurmJobRecord,
    State,
    VolumeRecord,
)

_R = TypeVar("_R", bound=Record)
_T = TypeVar("_T")

RESERVE_BYTES = 1 << 20


def _like_prefix(ref: str) -> str:
    """``ref`` as a LIKE pattern matching it as a literal prefix (ESCAPE '\\')."""
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(filters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """``col = ?`` for scalars, ``col IN (...)`` for sequences; None is no filter."""
    parts: list[str] = []
    args: list[Any] = []
    for col, val in filters.items():
        if val is None:
            continue
        if isinstance(val, list | tuple | set | frozenset):
            vals = list(val)
            parts.append(f"{col} IN ({', '.join('?' * len(vals))})" if vals else "0")
            args += vals
        else:
            parts.append(f"{col} = ?")
            args.append(val)
    return (" WHERE " + " AND ".join(parts)) if parts else "", tuple(args)


class StateStore:
    """One storage root's state; cheap to open, one per process and thread."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            # It holds every container's config (``-e`` values included): owner only.
            # SQLite gives its -wal and -shm files the database file's mode.
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        self._db = StateDB(path)

    @property
    def path(self) -> Path:
        return self._db.path

    # -- a reserve for a full disk -----------------------------------------------------
    # SQLite needs room to write anything, deletes included. A small file kept beside
    # the database is given up when a write finds the disk full, so cleanup (a failed
    # start rolled back, a record removed) still lands; it is made again later.
    @property
    def _reserve(self) -> Path:
        return self._db.path.parent / ".state-reserve"

    def keep_reserve(self) -> None:
        """Make the reserve if it is missing and the space is there (cheap if present)."""
        if self._reserve.exists():
            return
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError:
            os.close(fd)
            self._reserve.unlink(missing_ok=True)  # no room for it now: next time
            return
        os.close(fd)

    def _writing(self, fn: Callable[[], _T]) -> _T:
        """``fn()``; if the disk is full, once more after giving up the reserve."""
        try:
            return fn()
        except StateDiskFull:
            if not self._reserve.exists():
                raise
            self._reserve.unlink(missing_ok=True)
        return fn()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[StateStore]:
        """Make the calls inside one write transaction (all or nothing)."""
        with self._db.write():
            yield self

    # -- generic record plumbing ----------------------------------------------------
    def _insert(self, cur: sqlite3.Cursor, rec: Record) -> None:
        cols = rec.columns()
        cur.execute(f"INSERT INTO {rec.TABLE} ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})", tuple(cols.values()))

    def _select(self, kind: type[_R], filters: dict[str, Any],
                order: str = "created_at") -> list[_R]:
        where, args = _where(filters)
        rows = self._db.query(f"SELECT * FROM {kind.TABLE}{where} ORDER BY {order}", args)
        return [kind.from_row(r) for r in rows]

    def _one(self, kind: type[_R], rec_id: str) -> _R | None:
        row = self._db.query_one(f"SELECT * FROM {kind.TABLE} WHERE id = ?", (rec_id,))
        return kind.from_row(row) if row is not None else None

    def update(self, rec: Record, **changes: Any) -> None:
        """Set ``changes`` on ``rec`` and write just those columns."""
        for key, value in changes.items():
            setattr(rec, key, value)
        if not changes:
            return
        sets = ", ".join(f"{k} = ?" for k in changes)
        values = (*(rec.column(k) for k in changes), rec.id)

        def write() -> None:
            with self._db.write() as cur:
                cur.execute(f"UPDATE {rec.TABLE} SET {sets} WHERE id = ?", values)

        self._writing(write)

    # -- containers -----------------------------------------------------------------
    def add_container(self, rec: ContainerRecord) -> None:
        """Insert a new container; NameInUse if its name is taken."""
        try:
            with self._db.write() as cur:
                self._insert(cur, rec)
        except sqlite3.IntegrityError:
            owner = self._db.query_one("SELECT id FROM containers WHERE name = ?", (rec.name,))
            raise NameInUse(rec.name, str(owner["id"]) if owner else "?") from None

    def container(self, ctr_id: str) -> ContainerRecord | None:
        return self._one(ContainerRecord, ctr_id)

    def find_container(self, ref: str) -> ContainerRecord:
        """By full ID, name, or unique ID prefix (as podman)."""
        row = self._db.query_one("SELECT * FROM containers WHERE id = ? OR name = ?",
                                 (ref, ref))
        if row is None and ref and all(c in "0123456789abcdef" for c in ref):
            pattern = _like_prefix(ref)
            rows = self._db.query("SELECT * FROM containers WHERE id LIKE ? ESCAPE '\\' "
                                  "LIMIT 2", (pattern,))
            if len(rows) > 1:
                n = self._db.query_one("SELECT COUNT(*) AS n FROM containers "
                                       "WHERE id LIKE ? ESCAPE '\\'", (pattern,))
                raise AmbiguousRef("container", ref, int(n["n"]) if n else 2)
            row = rows[0] if rows else None
        if row is None:
            raise NoSuchContainer(ref)
        return ContainerRecord.from_row(row)

    def containers(self, owner_kernel: str | None = None, image_id: str | None = None,
                   states: Sequence[str] | None = None) -> list[ContainerRecord]:
        """Containers (oldest first), optionally filtered."""
        return self._select(ContainerRecord, {"owner_kernel": owner_kernel,
                                              "image_id": image_id, "state": states})

    def count_containers(self) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM containers")
        return int(row["n"]) if row else 0

    def image_use_counts(self) -> dict[str, int]:
        """How many containers use each image id."""
        rows = self._db.query("SELECT image_id, COUNT(*) AS n FROM containers "
                              "GROUP BY image_id")
        return {str(r["image_id"]): int(r["n"]) for r in rows}

    def delete_container(self, ctr_id: str) -> bool:
        """Delete a container that has no exec sessions left; False if it still has
        some (one was added meanwhile: reap it, then try again)."""
        def write() -> bool:
            with self._db.write() as cur:
                if cur.execute("SELECT 1 FROM exec_sessions WHERE container_id = ? LIMIT 1",
                               (ctr_id,)).fetchone() is not None:
                    return False
                cur.execute("DELETE FROM slurm_jobs WHERE id = ?", (ctr_id,))
                cur.execute("DELETE FROM containers WHERE id = ?", (ctr_id,))
            return True

        return self._writing(write)

    # -- Slurm jobs -------------------------------------------------------------------
    def add_slurm_job(self, rec: SlurmJobRecord) -> None:
        with self._db.write() as cur:
            self._insert(cur, rec)

    def slurm_job(self, ctr_id: str) -> SlurmJobRecord | None:
        return self._one(SlurmJobRecord, ctr_id)

    def slurm_jobs(self) -> list[SlurmJobRecord]:
        return self._select(SlurmJobRecord, {}, order="submitted_at")

    def rename_container(self, ctr_id: str, new_name: str) -> None:
        """Give a container a new name; NameInUse if another container has it."""
        try:
            with self._db.write() as cur:
                cur.execute("UPDATE containers SET name = ? WHERE id = ?", (new_name, ctr_id))
        except sqlite3.IntegrityError:
            owner = self._db.query_one("SELECT id FROM containers WHERE name = ?", (new_name,))
            raise NameInUse(new_name, str(owner["id"]) if owner else "?") from None

    # -- exec sessions --------------------------------------------------------------
    def add_exec_session(self, rec: ExecRecord) -> None:
        """Insert a session, checking in the same transaction that its container runs
        (no container lock is needed, so execs on one container never queue)."""
        with self._db.write() as cur:
            row = cur.execute("SELECT state, name FROM containers WHERE id = ?",
                              (rec.container_id,)).fetchone()
            if row is None:
                raise NoSuchContainer(rec.container_id)
            if row["state"] != State.RUNNING:
                hint = ("unpause it first" if row["state"] == State.PAUSED
                        else "start it first")
                raise InvalidState(
                    f"can only create exec sessions on running containers: container "
                    f"{row['name']} is {State.display(row['state'])} ({hint})"
                )
            self._insert(cur, rec)

    def exec_session(self, sess_id: str) -> ExecRecord | None:
        return self._one(ExecRecord, sess_id)

    def find_exec_session(self, ref: str) -> ExecRecord:
        """By full ID or unique ID prefix."""
        rows = self._db.query("SELECT * FROM exec_sessions WHERE id LIKE ? ESCAPE '\\' "
                              "LIMIT 2", (_like_prefix(ref),)) if ref else []
        if len(rows) > 1:
            raise AmbiguousRef("exec session", ref, len(rows))
        if not rows:
            raise NoSuchExecSession(ref)
        return ExecRecord.from_row(rows[0])

    def exec_sessions(self, container_id: str | None = None,
                      states: Iterable[str] | None = None,
                      owner_kernel: str | None = None,
                      owner_pid: int | None = None) -> list[ExecRecord]:
        """Exec sessions (oldest first), optionally filtered."""
        return self._select(ExecRecord, {
            "container_id": container_id,
            "state": tuple(states) if states is not None else None,
            "owner_kernel": owner_kernel, "owner_pid": owner_pid})

    def exec_counts(self) -> dict[str, int]:
        """Exec sessions per container id."""
        rows = self._db.query("SELECT container_id, COUNT(*) AS n FROM exec_sessions "
                              "GROUP BY container_id")
        return {str(r["container_id"]): int(r["n"]) for r in rows}

    def mark_exec_stopped(self, sess_id: str, exit_code: int, finished_at: float) -> bool:
        """Running -> stopped with its exit code, unless someone else got there first."""
        with self._db.write() as cur:
            cur.execute("UPDATE exec_sessions SET state = ?, exit_code = ?, finished_at = ? "
                        "WHERE id = ? AND state = ?",
                        (ExecState.STOPPED, exit_code, finished_at, sess_id, ExecState.RUNNING))
            return cur.rowcount > 0

    def delete_exec_session(self, sess_id: str) -> None:
        def write() -> None:
            with self._db.write() as cur:
                cur.execute("DELETE FROM exec_sessions WHERE id = ?", (sess_id,))

        self._writing(write)

    # -- networks (ipy_oci/network/; records at the end of this module) -------------------
    def ensure_network_schema(self) -> None:
        """Create the network tables in a database made before they existed (once per
        store; fresh databases get them with the rest of the schema)."""
        if getattr(self, "_network_schema_ok", False):
            return
        row = self._db.query_one("SELECT 1 FROM sqlite_master WHERE type='table' "
                                 "AND name='network_attachments'")
        if row is None:
            with self._db.write() as cur:
                for stmt in NETWORK_SCHEMA.split(";"):
                    if stmt.strip():
                        cur.execute(stmt)
        self._network_schema_ok = True

    def add_network(self, rec: NetworkRecord) -> bool:
        """Insert a network; False if its name or its bridge interface is taken."""
        self.ensure_network_schema()
        try:
            with self._db.write() as cur:
                self._insert(cur, rec)
        except sqlite3.IntegrityError:
            return False
        return True

    def network(self, ref: str) -> NetworkRecord | None:
        """By name, full ID or unique ID prefix (as podman); AmbiguousRef if several match."""
        self.ensure_network_schema()
        row = self._db.query_one("SELECT * FROM networks WHERE name = ? OR id = ? "
                                 "ORDER BY name = ? DESC LIMIT 1", (ref, ref, ref))
        if row is None and ref and all(c in "0123456789abcdef" for c in ref):
            rows = self._db.query("SELECT * FROM networks WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                                  (_like_prefix(ref),))
            if len(rows) > 1:
                raise AmbiguousRef("network", ref, len(rows))
            row = rows[0] if rows else None
        return NetworkRecord.from_row(row) if row is not None else None

    def networks(self) -> list[NetworkRecord]:
        """Every network, oldest first."""
        self.ensure_network_schema()
        return self._select(NetworkRecord, {})

    def delete_network(self, net_id: str) -> list[str]:
        """Delete a network and its attachments; the IDs of the containers that had one."""
        self.ensure_network_schema()
        with self._db.write() as cur:
            ids = [str(r["container_id"]) for r in cur.execute(
                "SELECT container_id FROM network_attachments WHERE network_id = ? "
                "ORDER BY created_at", (net_id,)).fetchall()]
            cur.execute("DELETE FROM network_attachments WHERE network_id = ?", (net_id,))
            cur.execute("DELETE FROM networks WHERE id = ?", (net_id,))
        return ids

    def set_network_ipam_last(self, net_id: str, ip: str) -> None:
        with self._db.write() as cur:
            cur.execute("UPDATE networks SET ipam_last = ? WHERE id = ?", (ip, net_id))

    def add_attachment(self, att: AttachmentRecord) -> bool:
        """Connect a container to a network; False if it is already connected to it."""
        self.ensure_network_schema()
        cols = att.columns()
        try:
            with self._db.write() as cur:
                cur.execute(f"INSERT INTO network_attachments ({', '.join(cols)}) "
                            f"VALUES ({', '.join('?' * len(cols))})", tuple(cols.values()))
        except sqlite3.IntegrityError:
            return False
        return True

    def attachments(self, container_id: str | None = None,
                    network_id: str | None = None) -> list[AttachmentRecord]:
        """Attachments (a container's in the order they were made), optionally filtered."""
        self.ensure_network_schema()
        where, args = _where({"container_id": container_id, "network_id": network_id})
        rows = self._db.query(f"SELECT * FROM network_attachments{where} "
                              "ORDER BY created_at, rowid", args)
        return [AttachmentRecord.from_row(r) for r in rows]

    def delete_attachments(self, container_id: str, network_id: str | None = None) -> int:
        """Disconnect a container from one network, or from all; how many rows went."""
        self.ensure_network_schema()
        where, args = _where({"container_id": container_id, "network_id": network_id})
        with self._db.write() as cur:
            cur.execute(f"DELETE FROM network_attachments{where}", args)
            return cur.rowcount

    def set_lease(self, container_id: str, network_id: str, ip: str | None,
                  mac: str = "") -> bool:
        """Record (or clear, with None) the address a container holds on a network;
        False if another container holds ``ip`` there (or the attachment is gone)."""
        try:
            with self._db.write() as cur:
                cur.execute("UPDATE network_attachments SET ip = ?, mac = ? "
                            "WHERE container_id = ? AND network_id = ?",
                            (ip, mac, container_id, network_id))
                return cur.rowcount > 0
        except sqlite3.IntegrityError:
            return False

    def leases(self, network_id: str) -> dict[str, str]:
        """Address -> container ID of every address held on a network."""
        self.ensure_network_schema()
        rows = self._db.query("SELECT ip, container_id FROM network_attachments "
                              "WHERE network_id = ? AND ip IS NOT NULL", (network_id,))
        return {str(r["ip"]): str(r["container_id"]) for r in rows}

    def release_leases(self, container_id: str) -> int:
        """Give back every address a container holds; how many there were."""
        self.ensure_network_schema()
        with self._db.write() as cur:
            cur.execute("UPDATE network_attachments SET ip = NULL, mac = '' "
                        "WHERE container_id = ? AND ip IS NOT NULL", (container_id,))
            return cur.rowcount

    def network_use_counts(self) -> dict[str, int]:
        """How many containers are connected to each network id."""
        self.ensure_network_schema()
        rows = self._db.query("SELECT network_id, COUNT(*) AS n FROM network_attachments "
                              "GROUP BY network_id")
        return {str(r["network_id"]): int(r["n"]) for r in rows}

    # -- volumes (engine/volumes.py; VolumeRecord in records.py) ------------------------
    def ensure_volume_schema(self) -> None:
        """Create the volumes table in a database made before it existed (once per store)."""
        if getattr(self, "_volume_schema_ok", False):
            return
        row = self._db.query_one("SELECT 1 FROM sqlite_master WHERE type='table' "
                                 "AND name='volumes'")
        if row is None:
            with self._db.write() as cur:
                for stmt in VOLUME_SCHEMA.split(";"):
                    if stmt.strip():
                        cur.execute(stmt)
        self._volume_schema_ok = True

    def add_volume(self, rec: VolumeRecord) -> bool:
        """Insert a volume; False if its name is taken."""
        self.ensure_volume_schema()
        cols = rec.columns()
        try:
            with self._db.write() as cur:
                cur.execute(f"INSERT INTO volumes ({', '.join(cols)}) "
                            f"VALUES ({', '.join('?' * len(cols))})", tuple(cols.values()))
        except sqlite3.IntegrityError:
            return False
        return True

    def volume(self, name: str) -> VolumeRecord | None:
        self.ensure_volume_schema()
        row = self._db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        return VolumeRecord.from_row(row) if row is not None else None

    def volumes(self) -> list[VolumeRecord]:
        """Every volume, by name (as podman lists them)."""
        self.ensure_volume_schema()
        rows = self._db.query("SELECT * FROM volumes ORDER BY name")
        return [VolumeRecord.from_row(r) for r in rows]

    def set_volume_copied_up(self, name: str) -> None:
        with self._db.write() as cur:
            cur.execute("UPDATE volumes SET needs_copy_up = 0 WHERE name = ?", (name,))

    @staticmethod
    def _volume_users(cur: sqlite3.Cursor | StateDB) -> dict[str, list[tuple[str, str]]]:
        rows = (cur.execute("SELECT id, name, config FROM containers ORDER BY created_at")
                .fetchall() if isinstance(cur, sqlite3.Cursor)
                else cur.query("SELECT id, name, config FROM containers ORDER BY created_at"))
        users: dict[str, list[tuple[str, str]]] = {}
        for r in rows:
            try:
                mounts = json.loads(r["config"]).get("mounts") or []
            except (ValueError, AttributeError):
                continue
            for vol in dict.fromkeys(str(m.get("volume") or "") for m in mounts
                                     if isinstance(m, dict)):
                if vol:
                    users.setdefault(vol, []).append((str(r["id"]), str(r["name"])))
        return users

    def volume_users(self) -> dict[str, list[tuple[str, str]]]:
        """Volume name -> (id, name) of the containers whose mounts use it."""
        return self._volume_users(self._db)

    def delete_volume(self, name: str) -> list[tuple[str, str]]:
        """Delete a volume no container uses, in one transaction with the check (a
        container created meanwhile either sees the row or is seen here); returns the
        users instead if there are any (nothing is deleted then)."""
        self.ensure_volume_schema()

        def write() -> list[tuple[str, str]]:
            with self._db.write() as cur:
                users = self._volume_users(cur).get(name, [])
                if not users:
                    cur.execute("DELETE FROM volumes WHERE name = ?", (name,))
            return users

        return self._writing(write)

