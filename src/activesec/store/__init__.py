"""Store: the private SQLite event store, its batch writer, retention and export/import."""
