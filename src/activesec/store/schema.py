"""The store's schema as an ordered list of named migrations.

``PRAGMA user_version`` holds how many migrations have run; the ``migrations`` table records
their names (as sqlite-utils does), so a database tells its own history.
Append new migrations at the end; never edit or reorder a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple

#: ``PRAGMA application_id`` of an ActiveSec store ("AcSe"): tells our files from other
#: programs' SQLite files.
APPLICATION_ID = 0x41635365


class Migration(NamedTuple):
    name: str
    sql: str
    #: fills what SQL cannot compute (e.g. from the compressed event blobs); runs after ``sql``
    #: in the same transaction
    backfill: Callable[[sqlite3.Connection], None] | None = None


def _count_injected_keys(conn: sqlite3.Connection) -> None:
    """Injected key events per existing chunk (only chunks with injected events are decoded)."""
    from activesec.core.events import injected_counts
    from activesec.store import codec

    rows = conn.execute("SELECT id, blob FROM chunks WHERE n_injected > 0").fetchall()
    for chunk_id, blob in rows:
        _, n_keys = injected_counts(codec.decode(blob))
        conn.execute("UPDATE chunks SET n_injected_keys=? WHERE id=?", (n_keys, chunk_id))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE migrations (
            name TEXT PRIMARY KEY
        );
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused, even after a wipe
            label TEXT NOT NULL,
            backend TEXT NOT NULL,
            started_wall_ns INTEGER NOT NULL,  -- wall clock at started_mono_ns: the one anchor
            started_mono_ns INTEGER NOT NULL,  -- events' t_ns is on this monotonic clock
            ended_wall_ns INTEGER,
            ended_mono_ns INTEGER,
            screen_w INTEGER,
            screen_h INTEGER,
            source TEXT                        -- imported sessions: the recording's session name
        );
        CREATE INDEX sessions_label ON sessions(label, started_wall_ns);
        CREATE TABLE devices (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            name TEXT NOT NULL,
            type INTEGER NOT NULL,
            PRIMARY KEY (session_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE app_spans (              -- foreground app's process name from t_ns on
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            t_ns INTEGER NOT NULL,
            app TEXT NOT NULL
        );
        CREATE INDEX app_spans_session ON app_spans(session_id, t_ns);
        CREATE TABLE chunks (                 -- events, columnar and compressed (store/codec.py)
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            t0_ns INTEGER NOT NULL,
            t1_ns INTEGER NOT NULL,
            wall_t0_ns INTEGER NOT NULL,
            wall_t1_ns INTEGER NOT NULL,
            n INTEGER NOT NULL,
            n_move INTEGER NOT NULL,
            n_button_down INTEGER NOT NULL,
            n_button_up INTEGER NOT NULL,
            n_scroll INTEGER NOT NULL,
            n_key_down INTEGER NOT NULL,
            n_key_up INTEGER NOT NULL,
            n_injected INTEGER NOT NULL,
            blob BLOB NOT NULL
        );
        CREATE INDEX chunks_session ON chunks(session_id, id);
        CREATE INDEX chunks_wall ON chunks(wall_t1_ns);
        CREATE TABLE control (                -- flags a running capture polls
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO control(key, value) VALUES ('paused', '0'), ('wipe_generation', '0');
        INSERT INTO counters(name, value) VALUES ('drops', 0), ('paused_discarded', 0);
        """,
    ),
    # Enrolment counts the owner's own input from these counters; with only ``n_injected`` the
    # injected events could not be told apart by modality (injected keys counted as typing).
    Migration(
        "0002_injected_keys",
        "ALTER TABLE chunks ADD COLUMN n_injected_keys INTEGER NOT NULL DEFAULT 0;",
        _count_injected_keys,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
