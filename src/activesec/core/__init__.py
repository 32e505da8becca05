"""Core: event types, key classes, configuration, paths, clock and errors (no other layer below)."""
