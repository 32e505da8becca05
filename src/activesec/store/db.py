"""The private event store: one SQLite file, WAL mode, owner-only permissions.

Events are kept as compressed columnar chunks (:mod:`activesec.store.codec`), grouped in capture
sessions that carry the only wall-clock anchor: an event's wall time is
``started_wall_ns + (t_ns - started_mono_ns)``, so a wall-clock jump during capture never bends
an interval. Per-kind counts live beside each chunk, so status queries never decode events.

Safety rules kept here:

* A file is checked *before anything writes to it*: a non-SQLite file, another program's SQLite
  database (``PRAGMA application_id``) or a damaged one raises :class:`StoreError` and stays
  byte-for-byte as it was (validation runs on a read-only connection).
* ``secure_delete`` is on and :meth:`Store.wipe` truncates the WAL and vacuums, so wiped events
  do not linger in free pages or old WAL frames.
* The database, its ``-wal`` and ``-shm`` are 0600 in a 0700 directory (SQLite gives the side
  files the database file's mode).
* The file is never opened outside SQLite while this process holds a connection to it: closing
  *any* descriptor of a file drops every POSIX lock the process holds on it (fcntl semantics),
  SQLite's shared lock included. Another process's last close then checkpointed and deleted
  the WAL under the running agent (whose housekeeping re-opened the store with a header read),
  which from then on read a stale world (``resume`` never arrived) and wrote into a deleted
  file. :data:`_OPEN_HERE` counts this process's connections per file; the raw header check
  runs only when there are none.
* Every SQLite failure surfaces as a one-line :class:`StoreError` naming the path and what to do.
  A store that is not ActiveSec's, damaged, newer or unreadable by its permissions is
  ``permanent`` (:mod:`activesec.core.errors`): the agent exits 78 on it and the log-in
  service stops restarting it.

A :class:`Store` is one connection: use it from one thread at a time (the batch writer owns its
own). :meth:`Store.append` leaves the transaction open so a batch of appends costs one commit.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from activesec.core.errors import StoreError
from activesec.core.events import EVENT_DTYPE, Kind, injected_counts
from activesec.core.paths import (
    FREE_SPACE_WARN_BYTES,
    PRIVATE_FILE_MODE,
    RESERVE_BYTES,
    Paths,
    free_bytes,
    make_private_dir,
    release_reserve,
    size_text,
)
from activesec.store import codec
from activesec.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

__all__ = ["KIND_NAMES", "SessionInfo", "Store", "StoredDevice", "check_file"]

SQLITE_MAGIC = b"SQLite format 3\x00"
#: this process's open connections per store file, by (st_dev, st_ino) (module docstring)
_OPEN_HERE: collections.Counter[tuple[int, int]] = collections.Counter()
_OPEN_LOCK = threading.Lock()
#: Largest number of events per chunk row (bigger appends are split).
CHUNK_MAX_EVENTS = 65_536
#: Longest time a chunk spans: the granularity of retention.
CHUNK_MAX_SPAN_NS = 3600 * 10**9
#: Chunks below this many events are merged by :meth:`Store.compact`.
COMPACT_BELOW_EVENTS = 4096
NS_PER_DAY = 86_400 * 10**9

#: Column suffix per kind, in :class:`Kind` order; ``counts()`` uses these names.
KIND_NAMES: dict[Kind, str] = {
    Kind.MOVE: "move",
    Kind.BUTTON_DOWN: "button_down",
    Kind.BUTTON_UP: "button_up",
    Kind.SCROLL: "scroll",
    Kind.KEY_DOWN: "key_down",
    Kind.KEY_UP: "key_up",
}
_KIND_COLS = [f"n_{name}" for name in KIND_NAMES.values()]
_POINTER = ("move", "button_down", "button_up", "scroll")
_KEYS = ("key_down", "key_up")

_RESTORE_HINT = "move the file aside (or restore a backup) and run `activesec init`"


@dataclass(frozen=True)
class StoredDevice:
    index: int
    name: str
    type: int


@dataclass(frozen=True)
class SessionInfo:
    id: int
    label: str
    backend: str
    started_wall_ns: int
    started_mono_ns: int
    ended_wall_ns: int | None
    screen: tuple[int, int] | None
    source: str | None
    counts: dict[str, int] = field(default_factory=dict)  # events per kind name (KIND_NAMES)
    n_injected: int = 0
    n_injected_keys: int = 0  # of n_injected, key events

    @property
    def n_events(self) -> int:
        return sum(self.counts.values())

    @property
    def n_pointer(self) -> int:
        return sum(self.counts.get(k, 0) for k in _POINTER)

    @property
    def n_keys(self) -> int:
        return sum(self.counts.get(k, 0) for k in _KEYS)


class _DeviceLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> int: ...


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(action: str) -> Callable[[F], F]:
    """Translate SQLite failures in a Store method into one-line StoreErrors."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, action) from None

        return wrapper  # type: ignore[return-value]

    return deco


def _translate(exc: sqlite3.Error, path: Path, action: str) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return StoreError(
            f"disk full while {action} {path}",
            "free disk space or lower store.keep_days, then retry",
        )
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
        return StoreError(
            f"cannot write the event store {path} ({exc})",
            f"make {path.parent} writable by you or set ACTIVESEC_HOME to a writable directory",
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreError(f"the event store {path} is damaged ({exc})", _RESTORE_HINT,
                          permanent=True)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(
            f"the event store {path} is locked by another process",
            "retry in a moment; check for a stuck `activesec` process",
        )
    if code == sqlite3.SQLITE_IOERR:
        free = free_bytes(path.parent)
        if free is not None and free < FREE_SPACE_WARN_BYTES:
            # SQLite says "disk I/O error", not "full", when the WAL or its index cannot grow
            return StoreError(
                f"error while {action} {path}: {exc} (only {size_text(free)} free on its "
                "filesystem: a full disk is the likely cause)",
                "free disk space, then retry; `activesec doctor` checks the rest",
            )
    return StoreError(f"error while {action} {path}: {exc}", "run `activesec doctor`")


@functools.cache
def _expected_schema() -> tuple[tuple[str, str], ...]:
    """(type, name) of every table and index the migrations create, in creation order."""
    conn = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS:
            for stmt in _statements(migration.sql):
                conn.execute(stmt)
        return tuple(
            (str(kind), str(name)) for kind, name in conn.execute(
                "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
        )
    finally:
        conn.close()


def _check_header(path: Path) -> bool:
    """Validate an existing file without writing; return True when it is empty (a fresh file)."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{path} is not a regular file", "point ACTIVESEC_HOME elsewhere",
                             permanent=True)
        with open(path, "rb") as fh:
            header = fh.read(100)
    except PermissionError:
        raise StoreError(
            f"cannot read the event store {path} (permission denied)",
            "run as the user who owns it or fix its permissions", permanent=True,
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot read the event store {path}: {exc.strerror}") from None
    if not header:
        return True
    if not header.startswith(SQLITE_MAGIC) or len(header) < 100:
        raise StoreError(
            f"{path} is not an ActiveSec event store (not an SQLite database, or damaged)",
            _RESTORE_HINT, permanent=True,
        )
    # 0 may still be ours with the id in the WAL (not yet checkpointed): the read-only
    # connection decides then; any other value is settled here without opening the file.
    _check_application_id(path, int.from_bytes(header[68:72], "big"), allow_zero=True)
    # a migration checkpoints at once, so the header holds a newer version's user_version
    _check_not_newer(path, int.from_bytes(header[60:64], "big"))
    return False


def _check_not_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer ActiveSec (schema {version} > {SCHEMA_VERSION})",
            "upgrade ActiveSec", permanent=True,
        )


def check_file(path: str | os.PathLike[str]) -> None:
    """Refuse, from its header alone (nothing opened or written), a file at ``path`` that
    cannot be this version's store: not SQLite, another program's, or a newer ActiveSec's —
    for a command that writes other files before it opens the store (`init --force`)."""
    _check_header(Path(path))


def _check_application_id(path: Path, app_id: int, allow_zero: bool = False) -> None:
    if app_id == APPLICATION_ID or (allow_zero and app_id == 0):
        return
    raise StoreError(
        f"{path} is an SQLite database of another program (application_id {app_id:#x})",
        "choose another location (ACTIVESEC_HOME); the file was left untouched",
        permanent=True,
    )


def _check_dir_writable(path: Path) -> None:
    d = path.parent
    if os.access(d, os.W_OK | os.X_OK) and path.exists() and not os.access(path, os.W_OK):
        raise StoreError(
            f"the event store {path} is read-only (its directory is writable)",
            f"make the file writable by you (chmod u+w {path}) or run as its owner",
            permanent=True,
        )
    if not os.access(d, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StoreError(
            f"the data directory {d} is read-only (the store needs to write {path.name} and its "
            "-wal/-shm files there)",
            f"make {d} writable by you or set ACTIVESEC_HOME to a writable directory",
            permanent=True,
        )


def _validate_readonly(path: Path, check: bool) -> int:
    """Open read-only, check schema version and (optionally) page integrity; return user_version."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    side = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
    existed = [p.exists() for p in side]
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10)
        try:
            _check_application_id(path, int(conn.execute("PRAGMA application_id").fetchone()[0]))
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if check:
                result = str(conn.execute("PRAGMA quick_check(1)").fetchone()[0])
                if result != "ok":
                    detail = " ".join(result.replace("*** in database main ***", "").split())
                    raise StoreError(f"the event store {path} is damaged ({detail})", _RESTORE_HINT,
                                     permanent=True)
        finally:
            conn.close()
    except (sqlite3.Error, StoreError) as exc:
        for p, was_there in zip(side, existed, strict=True):  # leave the directory as found
            if not was_there:
                with suppress(OSError):
                    p.unlink()
        if isinstance(exc, StoreError):
            raise
        raise _translate(exc, path, "checking") from None
    _check_not_newer(path, version)
    return version


def _create_private_file(path: Path) -> None:
    try:
        make_private_dir(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(
            f"cannot create the event store {path}: {exc.strerror}",
            f"make {path.parent} writable by you or set ACTIVESEC_HOME to a writable directory",
        ) from None


def _file_key(path: Path) -> tuple[int, int] | None:
    """``path``'s (st_dev, st_ino); None when it cannot be read (the header check then says
    why, with the error it has always given)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _release(key: tuple[int, int]) -> None:
    with _OPEN_LOCK:
        _OPEN_HERE[key] -= 1
        if _OPEN_HERE[key] <= 0:
            del _OPEN_HERE[key]


def _restrict_side_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        try:
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(PRIVATE_FILE_MODE)
        except OSError:
            pass


class Store:
    """The event store (see module docstring). Create with :meth:`Store.open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._anchors: dict[int, tuple[int, int]] = {}
        self._closed = False
        self._key: tuple[int, int] | None = None  # its entry in _OPEN_HERE
        #: opened by :meth:`open_to_read` straight from the file, on a full disk
        self.read_only = False

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def open(
        cls, path: str | os.PathLike[str], create: bool = False, *, check: bool = True
    ) -> Store:
        """Open the store at ``path``; ``create`` makes it (and its 0700 directory) if missing.

        ``check`` runs SQLite's ``quick_check`` first (a read-only pass over every page).
        """
        p = Path(path)
        if not p.exists():
            if not create:
                raise StoreError(f"no event store at {p}", "run `activesec init` first")
            _create_private_file(p)
        key = _file_key(p)
        with _OPEN_LOCK:  # held until registered: no raw read may start meanwhile
            # open here already: it was checked then, and reading it raw would drop the locks
            fresh = False if key is not None and _OPEN_HERE[key] else _check_header(p)
            if key is not None:
                _OPEN_HERE[key] += 1
        try:
            store = cls._connect(p, create, check, fresh)
        except BaseException:
            if key is not None:
                _release(key)
            raise
        store._key = key
        return store

    @classmethod
    def open_to_read(cls, path: str | os.PathLike[str], *, check: bool = True) -> Store:
        """Open the store for a command that only reads it (`status`, `export`, `doctor`):
        as :meth:`open`, but on a full disk — where SQLite cannot give its ``-wal``/``-shm``
        files their first pages, so even a read-only connection fails — the file itself,
        read-only and immutable, when no write-ahead log holds anything (every commit is then
        in the file: no agent runs, or it ended cleanly). :attr:`read_only` then says so;
        writing through it fails. Any other failure is raised as :meth:`open` raises it."""
        try:
            return cls.open(path, check=check)
        except StoreError as exc:
            p = Path(path)
            free = free_bytes(p.parent)
            if free is None or free >= FREE_SPACE_WARN_BYTES or not p.exists():
                raise
            try:
                wal_bytes = os.stat(f"{p}-wal").st_size
            except FileNotFoundError:
                wal_bytes = 0
            except OSError:
                raise exc from None
            if wal_bytes:  # commits not yet in the file: read without them is a stale world
                raise
            return cls._open_immutable(p, check, exc)

    @classmethod
    def _open_immutable(cls, p: Path, check: bool, first: StoreError) -> Store:
        key = _file_key(p)
        with _OPEN_LOCK:
            if not (key is not None and _OPEN_HERE[key]) and _check_header(p):
                raise first
            if key is not None:
                _OPEN_HERE[key] += 1
        try:
            conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            if key is not None:
                _release(key)
            raise first from None
        store = cls(conn, p)
        store._key = key
        store.read_only = True
        try:
            _check_application_id(
                p, int(conn.execute("PRAGMA application_id").fetchone()[0]))
            if store.schema_version() != SCHEMA_VERSION:  # would need a migration: a write
                raise first
            if check:
                result = str(conn.execute("PRAGMA quick_check(1)").fetchone()[0])
                if result != "ok" or store.missing_schema():
                    raise first
        except BaseException as exc:
            store.close()
            if isinstance(exc, sqlite3.Error):
                raise first from None
            raise
        return store

    @classmethod
    def _connect(cls, p: Path, create: bool, check: bool, fresh: bool) -> Store:
        if fresh and not create:
            raise StoreError(f"{p} is empty, not an initialised store", "run `activesec init`")
        _check_dir_writable(p)
        if not fresh:
            _validate_readonly(p, check)
        _restrict_side_files(p)
        try:
            conn = sqlite3.connect(
                str(p), isolation_level=None, check_same_thread=False, timeout=10
            )
        except sqlite3.Error as exc:
            raise _translate(exc, p, "opening") from None
        store = cls(conn, p)
        try:
            store._configure()
            store._migrate()
            if check:
                missing = store.missing_schema()
                if missing:
                    raise StoreError(
                        f"the event store {p} is damaged: it lacks {', '.join(missing)}",
                        _RESTORE_HINT, permanent=True,
                    )
        except BaseException:
            conn.close()
            raise
        _restrict_side_files(p)
        return store

    @_guarded("configuring")
    def _configure(self) -> None:
        c = self._conn
        if int(c.execute("PRAGMA user_version").fetchone()[0]) == 0:
            # only possible before the first table: lets retention and compaction give
            # freed pages back to the filesystem (PRAGMA incremental_vacuum)
            c.execute("PRAGMA auto_vacuum=INCREMENTAL")
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        c.execute("PRAGMA secure_delete=ON")
        c.execute("PRAGMA foreign_keys=ON")

    @_guarded("migrating")
    def _migrate(self) -> None:
        c = self._conn
        version = int(c.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:
            c.execute(f"PRAGMA application_id={APPLICATION_ID}")
        if version == SCHEMA_VERSION:
            return
        for i, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            try:
                c.execute("BEGIN IMMEDIATE")
                for stmt in _statements(migration.sql):
                    c.execute(stmt)
                if migration.backfill is not None:
                    migration.backfill(c)
                c.execute("INSERT INTO migrations(name) VALUES (?)", (migration.name,))
                c.execute(f"PRAGMA user_version={i}")
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file's own header now says "ours"

    def file_gone(self) -> bool:
        """Is the file this store was opened from no longer at its path — deleted (the data
        folder removed), or replaced by another file? Whatever is written then is lost."""
        return self._key is not None and _file_key(self.path) != self._key

    def close(self) -> None:
        """Commit what is pending and close the connection (idempotent)."""
        if self._closed:
            return
        try:
            self.commit()
        finally:
            self._closed = True
            self._conn.close()
            if self._key is not None:
                _release(self._key)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_guarded("checking")
    def missing_schema(self) -> list[str]:
        """The tables and indexes of this schema version that the file lacks (``table
        sessions``), e.g. after someone dropped one by hand; empty when all are there."""
        have = set(self._conn.execute("SELECT type, name FROM sqlite_master").fetchall())
        return [f"{kind} {name}" for kind, name in _expected_schema()
                if (kind, name) not in have]

    @_guarded("checking")
    def integrity_check(self) -> str:
        """``'ok'`` or SQLite's first complaint (a full pass over the file)."""
        return str(self._conn.execute("PRAGMA integrity_check(1)").fetchone()[0])

    @_guarded("reading")
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # ---------------------------------------------------------------- transactions
    @_guarded("writing")
    def begin(self) -> None:
        """Start a write transaction now (takes the write lock) unless one is open."""
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")

    @_guarded("committing to")
    def commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A unit of work: committed at its end, or part of the caller's open transaction
        (then the caller's :meth:`commit` covers it, and a failure rolls back all of it)."""
        outer = self._conn.in_transaction
        self.begin()
        try:
            yield self._conn
        except BaseException:
            self.rollback()
            raise
        if not outer:
            self.commit()

    # ---------------------------------------------------------------- sessions
    @_guarded("writing to")
    def begin_session(
        self,
        label: str,
        backend: str,
        *,
        screen: tuple[int, int] | None = None,
        devices: Iterable[_DeviceLike] = (),
        wall_ns: int,
        mono_ns: int,
        source: str | None = None,
    ) -> int:
        """Start a session; ``wall_ns``/``mono_ns`` are read at the same moment (the anchor)."""
        if not label:
            raise StoreError(
                "a session needs a non-empty label", "pass --user or run `activesec label NAME`"
            )
        w, h = screen if screen else (None, None)
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO sessions(label, backend, started_wall_ns, started_mono_ns, screen_w,"
                " screen_h, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (label, backend, int(wall_ns), int(mono_ns), w, h, source),
            )
            sid = int(cur.lastrowid or 0)
            self._add_devices(c, sid, devices)
        self._anchors[sid] = (int(wall_ns), int(mono_ns))
        return sid

    @_guarded("writing to")
    def end_session(self, session_id: int, wall_ns: int, mono_ns: int | None = None) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE sessions SET ended_wall_ns=?, ended_mono_ns=? WHERE id=?",
                (int(wall_ns), mono_ns, session_id),
            )

    @_guarded("writing to")
    def add_devices(self, session_id: int, devices: Iterable[_DeviceLike]) -> None:
        """Record devices (objects with ``index``, ``name``, ``type``); known ones are kept."""
        with self._tx() as c:
            self._add_devices(c, session_id, devices)

    @staticmethod
    def _add_devices(c: sqlite3.Connection, sid: int, devices: Iterable[_DeviceLike]) -> None:
        c.executemany(
            "INSERT OR IGNORE INTO devices(session_id, idx, name, type) VALUES (?, ?, ?, ?)",
            [(sid, int(d.index), str(d.name), int(d.type)) for d in devices],
        )

    @_guarded("reading")
    def devices(self, session_id: int) -> list[StoredDevice]:
        rows = self._conn.execute(
            "SELECT idx, name, type FROM devices WHERE session_id=? ORDER BY idx", (session_id,)
        ).fetchall()
        return [StoredDevice(int(i), str(n), int(t)) for i, n, t in rows]

    @_guarded("writing to")
    def record_app(self, session_id: int, t_ns: int, name: str) -> None:
        """The foreground app is ``name`` from ``t_ns`` on: a process name, never a title."""
        app = os.path.basename(str(name).strip())[:128]
        with self._tx() as c:
            c.execute(
                "INSERT INTO app_spans(session_id, t_ns, app) VALUES (?, ?, ?)",
                (session_id, int(t_ns), app),
            )

    @_guarded("reading")
    def apps(self, session_id: int) -> list[tuple[int, str]]:
        rows = self._conn.execute(
            "SELECT t_ns, app FROM app_spans WHERE session_id=? ORDER BY t_ns, rowid",
            (session_id,),
        ).fetchall()
        return [(int(t), str(a)) for t, a in rows]

    @_guarded("reading")
    def recent_apps(self, since_wall_ns: int | None = None) -> list[tuple[str, int]]:
        """(process name, wall time it last came to the foreground), most recent first: the
        names gate rules match. The store keeps when an app came to the front, not how long it
        was used (a finished session's chunks are merged into blocks of up to an hour, so input
        cannot be credited to apps afterwards)."""
        rows = self._conn.execute(
            """
            SELECT a.app, max(s.started_wall_ns + a.t_ns - s.started_mono_ns) AS last
            FROM app_spans a JOIN sessions s ON s.id = a.session_id
            WHERE a.app != ''
            GROUP BY a.app
            HAVING last >= ?
            ORDER BY last DESC, a.app
            """,
            (int(since_wall_ns) if since_wall_ns is not None else -(2**63),),
        ).fetchall()
        return [(str(name), int(last)) for name, last in rows]

    @_guarded("reading")
    def sessions(
        self, label: str | None = None, since_wall_ns: int | None = None
    ) -> list[SessionInfo]:
        """Sessions (oldest first), optionally of one label / active since a wall time."""
        sums = ", ".join(f"coalesce(sum(c.{col}), 0)" for col in _KIND_COLS)
        where: list[str] = []
        args: list[object] = []
        if label is not None:
            where.append("s.label = ?")
            args.append(label)
        if since_wall_ns is not None:
            where.append("coalesce(s.ended_wall_ns, (SELECT max(wall_t1_ns) FROM chunks"
                         " WHERE session_id = s.id), s.started_wall_ns) >= ?")
            args.append(int(since_wall_ns))
        sql = (
            "SELECT s.id, s.label, s.backend, s.started_wall_ns, s.started_mono_ns,"
            f" s.ended_wall_ns, s.screen_w, s.screen_h, s.source, {sums},"
            " coalesce(sum(c.n_injected), 0), coalesce(sum(c.n_injected_keys), 0)"
            " FROM sessions s LEFT JOIN chunks c ON c.session_id = s.id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY s.id ORDER BY s.started_wall_ns, s.id"
        )
        out = []
        for r in self._conn.execute(sql, args).fetchall():
            counts = dict(zip(KIND_NAMES.values(), (int(v) for v in r[9:15]), strict=True))
            screen = (int(r[6]), int(r[7])) if r[6] is not None and r[7] is not None else None
            out.append(
                SessionInfo(
                    id=int(r[0]), label=str(r[1]), backend=str(r[2]),
                    started_wall_ns=int(r[3]), started_mono_ns=int(r[4]),
                    ended_wall_ns=None if r[5] is None else int(r[5]),
                    screen=screen, source=r[8], counts=counts, n_injected=int(r[15]),
                    n_injected_keys=int(r[16]),
                )
            )
        return out

    @_guarded("reading")
    def own_input(self, label: str, *, after_session: int | None = None,
                  open_session: int | None = None, since_wall_ns: int = 0) -> tuple[int, int]:
        """Pointer events and keystrokes of ``label``'s sessions that were not injected — what
        enrolment counts, from the chunk counters (nothing is decoded).

        With ``after_session`` (enrolment restarted when that was the newest session): only
        later sessions, and of ``open_session`` (the one capturing at the restart) the chunks
        that begin at ``since_wall_ns`` or later.
        """
        ptr = " + ".join(f"c.n_{k}" for k in _POINTER)
        keys = " + ".join(f"c.n_{k}" for k in _KEYS)
        sql = (f"SELECT coalesce(sum({ptr} - c.n_injected + c.n_injected_keys), 0),"
               f" coalesce(sum({keys} - c.n_injected_keys), 0)"
               " FROM chunks c JOIN sessions s ON c.session_id = s.id WHERE s.label = ?")
        args: list[object] = [label]
        if after_session is not None:
            sql += " AND (s.id > ? OR (s.id = ? AND c.wall_t0_ns >= ?))"
            args += [after_session, -1 if open_session is None else open_session,
                     int(since_wall_ns)]
        row = self._conn.execute(sql, args).fetchone()
        return max(0, int(row[0])), max(0, int(row[1])) // 2

    def session(self, session_id: int) -> SessionInfo:
        for s in self.sessions():
            if s.id == session_id:
                return s
        raise StoreError(f"no session {session_id} in {self.path}", "see `activesec status`")

    # ---------------------------------------------------------------- events
    def _anchor(self, session_id: int) -> tuple[int, int]:
        a = self._anchors.get(session_id)
        if a is None:
            row = self._conn.execute(
                "SELECT started_wall_ns, started_mono_ns FROM sessions WHERE id=?", (session_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"no session {session_id} in {self.path}", "start a new session")
            a = self._anchors[session_id] = (int(row[0]), int(row[1]))
        return a

    @_guarded("writing to")
    def append(self, session_id: int, events: np.ndarray) -> int:
        """Add events to a session as one or more chunks (sorted by ``t_ns``; not committed)."""
        if events.dtype != EVENT_DTYPE:
            raise TypeError(f"expected EVENT_DTYPE, got {events.dtype}")
        if len(events) == 0:
            return 0
        wall0, mono0 = self._anchor(session_id)
        ev = events[np.argsort(events["t_ns"], kind="stable")]
        self.begin()
        rows = []
        for part in _pieces(ev):
            t0, t1 = int(part["t_ns"][0]), int(part["t_ns"][-1])
            per_kind = np.bincount(part["kind"], minlength=len(Kind) + 1)
            rows.append(
                (session_id, t0, t1, wall0 + t0 - mono0, wall0 + t1 - mono0, len(part),
                 *(int(per_kind[int(k)]) for k in KIND_NAMES), *injected_counts(part),
                 codec.encode(part))
            )
        self._conn.executemany(
            "INSERT INTO chunks(session_id, t0_ns, t1_ns, wall_t0_ns, wall_t1_ns, n, "
            + ", ".join(_KIND_COLS)
            + ", n_injected, n_injected_keys, blob)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return len(ev)

    @_guarded("compacting")
    def compact(self, session_id: int) -> int:
        """Merge a session's small chunks into few large ones; return how many were merged.

        Live capture commits a small chunk every flush interval, and a chunk's fixed cost (row,
        index entries, codec header) would dominate sparse input; merged chunks cost ~2 bytes
        per pointer event. The merge is one transaction, so a crash leaves either form.
        """
        with self._tx() as c:
            rows = c.execute(
                "SELECT id, blob FROM chunks WHERE session_id=? AND n < ? ORDER BY id",
                (session_id, COMPACT_BELOW_EVENTS),
            ).fetchall()
            if len(rows) < 2:
                return 0
            ev = np.concatenate([codec.decode(b) for _, b in rows])
            c.executemany("DELETE FROM chunks WHERE id=?", [(i,) for i, _ in rows])
            self.append(session_id, ev)
        self._release_free_pages()
        return len(rows)

    def _release_free_pages(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("PRAGMA incremental_vacuum")

    @_guarded("reading")
    def events(self, session_id: int) -> np.ndarray:
        """All events of a session, ordered by ``t_ns`` (stable)."""
        blobs = self._conn.execute(
            "SELECT blob FROM chunks WHERE session_id=? ORDER BY id", (session_id,)
        ).fetchall()
        if not blobs:
            return np.zeros(0, dtype=EVENT_DTYPE)
        ev = np.concatenate([codec.decode(b) for (b,) in blobs])
        t = ev["t_ns"]
        if len(t) > 1 and np.any(t[1:] < t[:-1]):
            ev = ev[np.argsort(t, kind="stable")]
        return ev

    def event_slices(self, session_id: int, max_events: int) -> Generator[np.ndarray]:
        """A session's events, newest first, in slices of whole chunks of at most about
        ``max_events`` (one chunk at least), each ordered by ``t_ns``: what reads a long
        session's latest part without decoding all of it (an always-on agent's session can
        hold weeks of input). Chunks are taken in time order, not id order: compaction gives
        merged chunks new ids.

        All slices come from one read transaction, so from one snapshot of the file: a running
        agent's compaction between two of them (it merges chunks into one with a new id and
        an earlier time) made the chunks it merged vanish from the slices still to come. The
        agent keeps writing meanwhile (WAL); the transaction ends with the generator (read to
        the end, or closed)."""
        began = not self._conn.in_transaction
        if began:
            self._conn.execute("BEGIN")
        try:
            spans = self._chunk_spans(session_id)
            at = len(spans)
            while at > 0:
                first, n = at - 1, spans[at - 1][2]
                while first > 0 and n + spans[first - 1][2] <= max_events:
                    first -= 1
                    n += spans[first][2]
                yield self._decode_span(session_id, spans[first][:2], spans[at - 1][:2])
                at = first
        finally:
            # a store closed first (training stopped by SIGTERM closes it before this generator
            # is collected) ended the transaction with the connection: nothing left to end
            with contextlib.suppress(sqlite3.ProgrammingError):
                if began and self._conn.in_transaction:
                    self._conn.execute("COMMIT")  # read only: nothing to write

    @_guarded("reading")
    def _chunk_spans(self, session_id: int) -> list[tuple[int, int, int]]:
        """(t0_ns, chunk id, events) of a session's chunks in time order."""
        rows = self._conn.execute(
            "SELECT t0_ns, id, n FROM chunks WHERE session_id=? ORDER BY t0_ns, id",
            (session_id,),
        ).fetchall()
        return [(int(t), int(i), int(n)) for t, i, n in rows]

    @_guarded("reading")
    def _decode_span(self, session_id: int, first: tuple[int, int], last: tuple[int, int]
                     ) -> np.ndarray:
        """Events of the chunks from ``first`` to ``last`` (``(t0_ns, id)``, both included)."""
        blobs = self._conn.execute(
            "SELECT blob FROM chunks WHERE session_id=? AND (t0_ns, id) BETWEEN (?, ?) AND (?, ?)"
            " ORDER BY t0_ns, id", (session_id, *first, *last)
        ).fetchall()
        if not blobs:  # deleted meanwhile (retention, wipe)
            return np.zeros(0, dtype=EVENT_DTYPE)
        ev = np.concatenate([codec.decode(b) for (b,) in blobs])
        return ev[np.argsort(ev["t_ns"], kind="stable")]

    @_guarded("reading")
    def counts(self) -> dict[str, int]:
        """Events per kind (``KIND_NAMES``), ``pointer``, ``keys``, ``events``, ``injected``,
        ``sessions``, ``drops`` and ``paused_discarded``."""
        c = self._conn
        row = c.execute(
            "SELECT " + ", ".join(f"coalesce(sum({col}), 0)" for col in _KIND_COLS)
            + ", coalesce(sum(n_injected), 0) FROM chunks"
        ).fetchone()
        out = dict(zip(KIND_NAMES.values(), (int(v) for v in row[:-1]), strict=True))
        out["pointer"] = sum(out[k] for k in _POINTER)
        out["keys"] = sum(out[k] for k in _KEYS)
        out["events"] = out["pointer"] + out["keys"]
        out["injected"] = int(row[-1])
        out["sessions"] = int(c.execute("SELECT count(*) FROM sessions").fetchone()[0])
        for name, value in c.execute("SELECT name, value FROM counters"):
            out[str(name)] = int(value)
        return out

    def size_bytes(self) -> int:
        """Bytes on disk: the database plus its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with suppress(FileNotFoundError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    @_guarded("writing to")
    def add_drops(self, n: int, counter: str = "drops") -> None:
        """Count events lost (``drops``) or discarded while paused (``paused_discarded``)."""
        if n:
            with self._tx() as c:
                c.execute(
                    "INSERT INTO counters(name, value) VALUES (?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (counter, int(n)),
                )

    # ---------------------------------------------------------------- control
    def _set_control(self, key: str, value: str | None) -> None:
        with self._tx() as c:
            if value is None:
                c.execute("DELETE FROM control WHERE key=?", (key,))
            else:
                c.execute(
                    "INSERT INTO control(key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def _get_control(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM control WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_guarded("writing to")
    def set_paused(self, paused: bool, wall_ns: int | None = None) -> None:
        """Pause (discard input) or resume every capture writing to this store, within a poll.

        When the pause began (``paused_since_ns``) and the last one that ended
        (``last_pause_ns``: "from-to") are kept, so whoever looks later sees that input went
        unjudged meanwhile — a parent, after a child paused the agent and resumed it."""
        now = time.time_ns() if wall_ns is None else wall_ns
        with self._tx() as c:
            row = c.execute("SELECT value FROM control WHERE key = 'paused_since_ns'").fetchone()
            since = None if row is None else str(row[0])
            upsert = ("INSERT INTO control(key, value) VALUES (?, ?)"
                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            c.execute(upsert, ("paused", "1" if paused else "0"))
            if paused and since is None:
                c.execute(upsert, ("paused_since_ns", str(now)))
            elif not paused and since is not None:
                c.execute(upsert, ("last_pause_ns", f"{since}-{now}"))
                c.execute("DELETE FROM control WHERE key = 'paused_since_ns'")

    @_guarded("reading")
    def pauses(self) -> tuple[int | None, tuple[int, int] | None]:
        """(when the pause in force began, or None; the last ended pause's (from, to), or
        None) in wall-clock ns."""
        since = self._get_control("paused_since_ns")
        last = self._get_control("last_pause_ns")
        try:
            begun = int(since) if since is not None and self.is_paused() else None
            a, _, b = (last or "").partition("-")
            return begun, ((int(a), int(b)) if last else None)
        except ValueError:  # a hand-edited value: no record rather than a failing status
            return None, None

    @_guarded("reading")
    def is_paused(self) -> bool:
        return self._get_control("paused") == "1"

    @_guarded("reading")
    def wipe_generation(self) -> int:
        return int(self._get_control("wipe_generation") or 0)

    @_guarded("reading")
    def control_state(self) -> tuple[bool, int]:
        """``(paused, wipe_generation)`` in one read: what a running writer polls."""
        rows = dict(
            self._conn.execute(
                "SELECT key, value FROM control WHERE key IN ('paused', 'wipe_generation')"
            ).fetchall()
        )
        return rows.get("paused") == "1", int(rows.get("wipe_generation") or 0)

    @_guarded("writing to")
    def set_current_label(self, label: str | None) -> None:
        """Label for the sessions that start from now on (``None``: back to the owner)."""
        self._set_control("current_label", label or None)

    @_guarded("reading")
    def current_label(self) -> str | None:
        return self._get_control("current_label")

    @_guarded("reading")
    def newest_wall_ns(self) -> int | None:
        """Wall time of the newest stored event (``None`` when the store holds none)."""
        v = self._conn.execute("SELECT max(wall_t1_ns) FROM chunks").fetchone()[0]
        return None if v is None else int(v)

    # ---------------------------------------------------------------- deletion
    @_guarded("wiping")
    def wipe(self) -> None:
        """Delete every session, event, device and app span, then scrub the file.

        ``secure_delete`` zeroes freed content, the WAL is truncated before and after a VACUUM,
        and ``wipe_generation`` is bumped so a running capture abandons its (deleted) session.
        """
        self.commit()  # VACUUM cannot run inside a transaction
        with self._tx() as c:
            for table in ("chunks", "app_spans", "devices", "sessions"):
                c.execute(f"DELETE FROM {table}")  # fixed table names
            c.execute("UPDATE counters SET value = 0")
            c.execute(
                "UPDATE control SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                " WHERE key = 'wipe_generation'"
            )
        self._anchors.clear()
        self._checkpoint_truncate()
        self._conn.execute("VACUUM")
        self._checkpoint_truncate()

    def _checkpoint_truncate(self) -> None:
        for _ in range(50):  # a reader in another process may briefly hold the WAL
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return
            time.sleep(0.05)
        raise StoreError(
            f"could not truncate the write-ahead log of {self.path} (held by another process)",
            "stop other `activesec` processes and run `activesec wipe` again",
        )

    @_guarded("applying retention to")
    def apply_retention(
        self, keep_days: int, now_wall_ns: int, *, keep_session: int | None = None
    ) -> int:
        """Delete events older than ``keep_days`` (0 keeps everything); return events deleted.

        Whole chunks go (a chunk spans at most an hour); sessions with nothing left
        that ended (or started, if never ended) before the cutoff go too, with their devices and
        app spans, except ``keep_session`` (the running capture's). Of the sessions that stay,
        the app spans that began before the cutoff go but the last of them.
        """
        if keep_days <= 0:
            return 0
        cutoff = int(now_wall_ns) - int(keep_days) * NS_PER_DAY
        with self._tx() as c:
            n = int(
                c.execute(
                    "SELECT coalesce(sum(n), 0) FROM chunks WHERE wall_t1_ns < ?", (cutoff,)
                ).fetchone()[0]
            )
            c.execute("DELETE FROM chunks WHERE wall_t1_ns < ?", (cutoff,))
            # which app was in front before the cutoff, of a session that goes on (the running
            # agent's, for weeks): only the last such span is kept, the one the events after
            # the cutoff still fall in — else one row per app switch was kept for ever
            c.execute(
                """
                DELETE FROM app_spans WHERE rowid IN (
                    SELECT a.rowid FROM app_spans a JOIN sessions s ON s.id = a.session_id
                    WHERE s.started_wall_ns + a.t_ns - s.started_mono_ns < :cut
                      AND EXISTS (
                        SELECT 1 FROM app_spans b
                        WHERE b.session_id = a.session_id
                          AND (b.t_ns > a.t_ns OR (b.t_ns = a.t_ns AND b.rowid > a.rowid))
                          AND s.started_wall_ns + b.t_ns - s.started_mono_ns < :cut))
                """,
                {"cut": cutoff},
            )
            c.execute(
                "DELETE FROM sessions WHERE coalesce(ended_wall_ns, started_wall_ns) < ?"
                " AND id IS NOT ?"
                " AND NOT EXISTS (SELECT 1 FROM chunks WHERE session_id = sessions.id)",
                (cutoff, keep_session),
            )
        if n:
            self._release_free_pages()
        return n


def _pieces(ev: np.ndarray) -> list[np.ndarray]:
    """Split time-sorted events into chunks of at most CHUNK_MAX_EVENTS and an hour each."""
    t = ev["t_ns"]
    hour = (t - t[0]) // CHUNK_MAX_SPAN_NS
    cuts = np.flatnonzero(np.diff(hour)) + 1
    out: list[np.ndarray] = []
    for part in np.split(ev, cuts):
        out.extend(part[i : i + CHUNK_MAX_EVENTS] for i in range(0, len(part), CHUNK_MAX_EVENTS))
    return out


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    out, buf = [], ""
    for line in sql.splitlines():
        line = line.split("--", 1)[0]
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def control_write(paths: Paths, change: Callable[[Store], None], *, check: bool = True) -> None:
    """Open the store, apply ``change`` (a small write: pause, resume, label) and commit; on a
    full disk, again in the space of the reserve (:func:`~activesec.core.paths.keep_reserve`):
    `pause` must work when nothing else can be stored, `activesec pause` and the dashboard's."""
    try:
        with Store.open(paths.database, check=check) as store:
            change(store)
            return
    except StoreError:  # "disk full", or "disk I/O error" when the WAL cannot be made
        free = free_bytes(paths.database)
        if free is None or free >= RESERVE_BYTES or not release_reserve(paths):
            raise
    with Store.open(paths.database, check=check) as store:
        change(store)

