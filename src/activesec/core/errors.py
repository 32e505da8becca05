"""Expected failures carry a one-line message and what to do about it.

The CLI prints ``error: <message> (<hint>)`` and exits non-zero, never a traceback.
"""

from __future__ import annotations


class ActiveSecError(Exception):
    """An expected failure the user can act on."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(ActiveSecError):
    """Invalid configuration value or file."""


class StoreError(ActiveSecError):
    """The event store cannot be opened, read or written."""


class CaptureError(ActiveSecError):
    """No usable capture backend (no display, no permission, ...)."""


class DataError(ActiveSecError):
    """A recording or dataset file is malformed or of the wrong layout."""


class ModelError(ActiveSecError):
    """A saved model is missing, altered or does not match this installation."""
