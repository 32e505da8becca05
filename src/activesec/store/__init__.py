"""Store: the private SQLite event store, its batch writer, retention and export/import.

* :mod:`activesec.store.db` — :class:`~activesec.store.db.Store`: sessions, compressed event
  chunks, control flags (pause, wipe generation, current label), counters, retention, wipe.
* :mod:`activesec.store.codec` — the chunk format (columnar, delta-encoded, zlib).
* :mod:`activesec.store.schema` — named migrations behind ``PRAGMA user_version``.
* :mod:`activesec.store.writer` — :class:`~activesec.store.writer.BatchWriter`, the bounded,
  never-blocking queue and thread between a capture backend and the store.
* :mod:`activesec.store.exchange` — export to / import from the generic recording layouts.
"""
