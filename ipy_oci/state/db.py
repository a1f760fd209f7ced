"""The SQLite state database: one per storage root, shared by many processes.

CLIs, kernels, the server extension and conmon exit commands all open the same
file at once, so: WAL journaling, ``BEGIN IMMEDIATE`` for every write (taking
the write lock up front avoids deadlocking upgrades from read to write), and a
generous busy timeout instead of "database is locked" errors.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StateDBError, StateDiskFull

SCHEMA_VERSION = 1
# Seconds a writer waits for another process's write lock before "database is locked".
BUSY_TIMEOUT = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    image_id      TEXT NOT NULL,
    image_name    TEXT NOT NULL,
    created_at    REAL NOT NULL,
    state         TEXT NOT NULL,
    config        TEXT NOT NULL,
    pid           INTEGER NOT NULL DEFAULT 0,
    pid_start     INTEGER NOT NULL DEFAULT 0,
    conmon_pid    INTEGER NOT NULL DEFAULT 0,
    conmon_start  INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    started_at    REAL NOT NULL DEFAULT 0,
    finished_at   REAL NOT NULL DEFAULT 0,
    oom_killed    INTEGER NOT NULL DEFAULT 0,
    rootfs        TEXT NOT NULL DEFAULT '',
    owner_kernel  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS exec_sessions (
    id            TEXT PRIMARY KEY,
    container_id  TEXT NOT NULL REFERENCES containers(id),
    state         TEXT NOT NULL,
    config        TEXT NOT NULL,
    pid           INTEGER NOT NULL DEFAULT 0,
    pid_start     INTEGER NOT NULL DEFAULT 0,
    conmon_pid    INTEGER NOT NULL DEFAULT 0,
    conmon_start  INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    created_at    REAL NOT NULL,
    started_at    REAL NOT NULL DEFAULT 0,
    finished_at   REAL NOT NULL DEFAULT 0,
    attached      INTEGER NOT NULL DEFAULT 0,
    owner_pid     INTEGER NOT NULL DEFAULT 0,
    owner_start   INTEGER NOT NULL DEFAULT 0,
    owner_kernel  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS exec_by_container ON exec_sessions(container_id);
CREATE INDEX IF NOT EXISTS exec_by_state ON exec_sessions(state);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _error(exc: sqlite3.Error, path: Path) -> StateDBError:
    code = getattr(exc, "sqlite_errorname", "") or ""
    full = code.startswith("SQLITE_FULL") or "disk is full" in str(exc).lower()
    return (StateDiskFull if full else StateDBError)(_advice(exc, path))


def _advice(exc: sqlite3.Error, path: Path) -> str:
    """What went wrong with the database at ``path`` and what to do, from SQLite's
    error code (its message alone names no file)."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    msg = str(exc)
    low = msg.lower()
    if code.startswith("SQLITE_READONLY") or "readonly database" in low:
        return (f"the state database {path} is read-only ({msg}): make it and "
                f"{path.parent} writable for this user, check that the filesystem is "
                "mounted read-write, or use another storage root (--root)")
    if code.startswith("SQLITE_FULL") or "disk is full" in low:
        return (f"the state database {path} cannot grow: the disk is full ({msg}): free "
                "some space on its filesystem (remove unused images with 'ipy-oci image "
                "prune -a'), then retry")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in low:
        return (f"the state database {path} stayed locked by another process for more "
                f"than {BUSY_TIMEOUT:g} s ({msg}): see which process holds it with "
                f"'fuser -v {path}', let it finish or stop it, then retry")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in low \
            or "malformed" in low:
        return (f"{path} is not a usable ipy-oci state database ({msg}): move it aside "
                f"(mv {path} {path}.bad; ipy-oci then starts an empty one and forgets the "
                "containers it listed), or use another storage root (--root)")
    if code.startswith("SQLITE_CANTOPEN") or "unable to open" in low:
        return (f"cannot open the state database {path} ({msg}): check that {path.parent} "
                "exists and is writable for this user, or use another storage root (--root)")
    if code.startswith("SQLITE_IOERR") or "i/o error" in low:
        return (f"disk I/O error on the state database {path} ({msg}): its filesystem may be "
                "full or failing; check free space (df) and the kernel log, then retry")
    return f"the state database {path} failed: {msg}"


class StateDB:
    """A connection to ``<root>/state.db``; cheap to open, one per process/thread.

    Every SQLite failure but a constraint violation (which the store turns into
    its own errors) leaves as a :class:`StateDBError` naming the file and what to
    do: SQLite's own messages ("readonly database", "database or disk is full")
    name none.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fresh = not path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateDBError(f"cannot create {path.parent} for the state database: "
                               f"{exc.strerror}: check the storage root (--root)") from None
        conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            self.conn = conn
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            if fresh or not self._has_schema():
                self._init_schema()
        except sqlite3.Error as exc:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            raise _error(exc, path) from None

    def _has_schema(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        return row is not None

    def _init_schema(self) -> None:
        # journal_mode is persistent in the file. Switching it needs the database to
        # itself and fails at once (no busy wait) while another process is creating
        # the same fresh database, so retry for a while.
        deadline = time.monotonic() + 60
        while True:
            try:
                row = self.conn.execute("PRAGMA journal_mode").fetchone()
                if row is None or str(row[0]).lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        with self.write() as cur:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            cur.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Cursor]:
        """One short write transaction; the lock is taken at BEGIN, not mid-way.

        Nested calls join the open transaction, so several domain calls of
        ``StateStore`` can be made atomic by one outer ``transaction()``.
        """
        try:
            cur = self.conn.cursor()
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from None
        if self.conn.in_transaction:
            try:
                yield cur
            finally:
                cur.close()
            return
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does that).
                if self.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        cur.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError:
            raise  # a constraint: the store says what it means (a name in use ...)
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from None
        finally:
            cur.close()

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from None

    def query_one(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Row | None:
        # Close the cursor at once rather than when it is collected: an unfinished
        # statement keeps a read transaction (and its WAL snapshot) open.
        try:
            cur = self.conn.execute(sql, args)
            try:
                row: sqlite3.Row | None = cur.fetchone()
            finally:
                cur.close()
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from None
        return row

    def close(self) -> None:
        self.conn.close()


# -- networks (ipy_oci/network/) -------------------------------------------------------
# Appended to the schema: fresh databases get these tables with the others, and
# ``StateStore`` creates them on first use in databases made before they existed
# (``ensure_network_schema``). Only tables are added; SCHEMA_VERSION is unchanged.
#
# networks: one row per network (the default network included, made on first use).
#   config is the NetworkConfig JSON (state/store.py); ipam_last is the address
#   handed out last, so allocation goes round the subnet instead of reusing an
#   address the moment it is released.
# network_attachments: which containers use which network (podman's "connect"), with
#   the interface name in the container, aliases and the static IP/MAC asked for;
#   ip is the lease, set while the network is set up for the container (NULL
#   otherwise). UNIQUE(network_id, ip) makes a double allocation impossible even
#   if two processes raced (SQLite lets several rows hold NULL).
NETWORK_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    driver        TEXT NOT NULL,
    interface     TEXT NOT NULL UNIQUE,
    created_at    REAL NOT NULL,
    config        TEXT NOT NULL,
    ipam_last     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS network_attachments (
    container_id  TEXT NOT NULL,
    network_id    TEXT NOT NULL REFERENCES networks(id),
    interface     TEXT NOT NULL,
    aliases       TEXT NOT NULL DEFAULT '[]',
    static_ip     TEXT NOT NULL DEFAULT '',
    static_mac    TEXT NOT NULL DEFAULT '',
    ip            TEXT,
    mac           TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL,
    PRIMARY KEY (container_id, network_id),
    UNIQUE (network_id, ip)
);
CREATE INDEX IF NOT EXISTS attachments_by_network ON network_attachments(network_id);
"""
_SCHEMA += NETWORK_SCHEMA


# -- volumes (engine/volumes.py) --------------------------------------------------------
# Added like the network tables: fresh databases get it with the schema, older ones on
# first use (``StateStore.ensure_volume_schema``); SCHEMA_VERSION is unchanged.
#
# volumes: one row per named or anonymous volume; its data lives under
#   <root>/volumes/<name>/_data (or, for a bind volume, at the device its config
#   names). config is the VolumeConfig JSON; needs_copy_up is podman's NeedsCopyUp:
#   the first container that mounts the volume copies the image's content there.
#   Which containers use a volume is read from their configs (mounts[].volume).
VOLUME_SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name          TEXT PRIMARY KEY,
    driver        TEXT NOT NULL,
    created_at    REAL NOT NULL,
    config        TEXT NOT NULL,
    needs_copy_up INTEGER NOT NULL DEFAULT 1
);
"""
_SCHEMA += VOLUME_SCHEMA


# -- Slurm jobs (engine/slurm.py) -------------------------------------------------------
# One row per container that runs as a Slurm job: the job, where it runs and the
# node's runroot. Created by ``run --slurm``; the node's holder fills in the node;
# deleted with its container (``delete_container``).
SLURM_SCHEMA = """
CREATE TABLE IF NOT EXISTS slurm_jobs (
    id            TEXT PRIMARY KEY REFERENCES containers(id),
    job_id        TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',
    partition     TEXT NOT NULL DEFAULT '',
    node_runroot  TEXT NOT NULL DEFAULT '',
    job_state     TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    submitted_at  REAL NOT NULL DEFAULT 0
);
"""
_SCHEMA += SLURM_SCHEMA
