"""The SQLite state database: one per storage root, shared by many processes.

CLIs, kernels, the server extension and conmon exit commands all open the same
file at once, so: WAL journaling, ``BEGIN IMMEDIATE`` for every write (taking
the write lock up front avoids deadlocking upgrades from read to write), and a
generous busy timeout instead of "database is locked" errors.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

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


class StateDB:
    """A connection to ``<root>/state.db``; cheap to open, one per process/thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fresh = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        self.conn = sqlite3.connect(
            str(path), timeout=60.0, isolation_level=None, check_same_thread=False
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 60000")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if fresh or not self._has_schema():
            self._init_schema()

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
        cur = self.conn.cursor()
        if self.conn.in_transaction:
            try:
                yield cur
            finally:
                cur.close()
            return
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, args).fetchall()

    def query_one(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Row | None:
        # Close the cursor at once rather than when it is collected: an unfinished
        # statement keeps a read transaction (and its WAL snapshot) open.
        cur = self.conn.execute(sql, args)
        try:
            row: sqlite3.Row | None = cur.fetchone()
        finally:
            cur.close()
        return row

    def close(self) -> None:
        self.conn.close()
